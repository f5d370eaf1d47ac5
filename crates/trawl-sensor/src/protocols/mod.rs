//! Every protocol the sensor speaks, and the one registry of them.
//!
//! Adding a protocol: a new module implementing [`crate::protocol::Protocol`] plus one
//! line in [`all`].

pub mod ftp;
pub mod http;
pub mod imap;
pub mod pop3;
pub mod sasl;
pub mod smtp;
pub mod telnet;

use crate::protocol::Protocol;

/// The registry: every protocol, one line each.
pub fn all() -> Vec<Box<dyn Protocol>> {
    vec![
        Box::new(ftp::Ftp),
        Box::new(telnet::Telnet),
        Box::new(http::Http { tls: false }),
        Box::new(http::Http { tls: true }),
        Box::new(pop3::Pop3 { tls: false }),
        Box::new(pop3::Pop3 { tls: true }),
        Box::new(imap::Imap { tls: false }),
        Box::new(imap::Imap { tls: true }),
        Box::new(smtp::Smtp { tls: false }),
        Box::new(smtp::Smtp { tls: true }),
    ]
}
