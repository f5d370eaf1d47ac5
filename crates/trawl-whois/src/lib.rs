//! Whois for IOC pivots: an RFC 3912 client that follows IANA and registry
//! referrals with timeouts, a size cap and an on-disk cache; a parser for
//! the record formats in use (ICANN gTLD, older registry, GDPR-redacted)
//! into one [`WhoisRecord`]; and pivots that group many records by
//! registrant email, registrant name/organisation and name servers.
//!
//! The protocol (send the query and CRLF, read until the server closes) is
//! small enough that hand-writing it over `std::net` beats the one client
//! crate (whois-rust), which needs a node-whois `servers.json` table and
//! does not expose the referral chain, cache or limits.

pub mod cache;
pub mod client;
pub mod html;
pub mod output;
pub mod parse;
pub mod pivot;
pub mod record;

pub use client::{Client, ClientConfig, Lookup, WhoisError};
pub use parse::{ParseError, parse_record};
pub use record::{Contact, WhoisRecord};
