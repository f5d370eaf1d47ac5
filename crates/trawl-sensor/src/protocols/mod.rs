//! Every protocol the sensor speaks, and the one registry of them.
//!
//! Adding a protocol: a new module implementing [`crate::protocol::Protocol`] plus one
//! line in [`all`].

pub mod ftp;
pub mod http;
pub mod imap;
pub mod pop3;
pub mod rdp;
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
        Box::new(pop3::Pop3::plain()),
        Box::new(pop3::Pop3::implicit_tls()),
        Box::new(imap::Imap::plain()),
        Box::new(imap::Imap::implicit_tls()),
        Box::new(smtp::Smtp::plain()),
        Box::new(smtp::Smtp::implicit_tls()),
        Box::new(rdp::Rdp),
    ]
}
