//! Every protocol the sensor speaks, and the one registry of them.
//!
//! Adding a protocol: a new module implementing [`crate::protocol::Protocol`] plus one
//! line in [`all`].

pub mod ftp;
pub mod http;
pub mod imap;
pub mod ldap;
pub mod mongodb;
pub mod mssql;
pub mod mysql;
pub mod pop3;
pub mod postgresql;
pub mod rdp;
pub mod redis;
pub mod sasl;
pub mod smtp;
pub mod socks5;
pub mod ssh;
pub mod telnet;
pub mod vnc;

use crate::protocol::Protocol;

/// `N` random bytes from the system generator (challenges, salts, nonces); zeros if it
/// fails, which ring documents as not happening on Linux.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    use ring::rand::SecureRandom as _;
    let mut bytes = [0u8; N];
    let _ = ring::rand::SystemRandom::new().fill(&mut bytes);
    bytes
}

/// The registry: every protocol, one line each.
pub fn all() -> Vec<Box<dyn Protocol>> {
    vec![
        Box::new(ftp::Ftp),
        Box::new(telnet::Telnet),
        Box::new(ssh::Ssh::default()),
        Box::new(http::Http { tls: false }),
        Box::new(http::Http { tls: true }),
        Box::new(pop3::Pop3::plain()),
        Box::new(pop3::Pop3::implicit_tls()),
        Box::new(imap::Imap::plain()),
        Box::new(imap::Imap::implicit_tls()),
        Box::new(smtp::Smtp::plain()),
        Box::new(smtp::Smtp::implicit_tls()),
        Box::new(rdp::Rdp::default()),
        Box::new(postgresql::Postgresql::default()),
        Box::new(mysql::Mysql::default()),
        Box::new(mssql::Mssql::default()),
        Box::new(mongodb::Mongodb::default()),
        Box::new(vnc::Vnc::default()),
        Box::new(socks5::Socks5),
        Box::new(redis::Redis),
        Box::new(ldap::Ldap::plain()),
        Box::new(ldap::Ldap::implicit_tls()),
    ]
}
