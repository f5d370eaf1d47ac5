//! Lookalike-domain engine: generates the names an adversary would register to imitate a
//! domain (a superset of dnstwist and urlcrazy plus deceptive-token, dot and TLD tricks), and
//! finds such names in large feeds (plain lists, CertStream JSON lines, Zeek `dns.log`, CSV).
//!
//! * [`permute`] turns one domain into its permutations.
//! * [`Matcher`] is built once from brands and checks feed domains one by one.
//! * [`feed`] reads feeds as iterators of `(line number, domain)` with per-line errors.
//! * [`resolve`] looks names up (A/AAAA/NS/MX) with bounded concurrency and timeouts.

pub mod data;
pub mod feed;
pub mod matcher;
pub mod name;
pub mod permute;
pub mod resolve;
pub mod skeleton;

pub use feed::{FeedError, FeedFormat, FeedItem, FeedReader};
pub use matcher::{Brand, Hit, Inventory, MatchOptions, MatchTechnique, Matcher};
pub use name::{DomainName, parse_domain};
pub use permute::{
    NameRef, Names, Options, Permutation, Technique, permute, permute_domain, permute_names,
    permute_parsed, technique_label,
};

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// The input is not a usable domain name.
    #[error("invalid domain {input:?}: {reason}")]
    Invalid {
        /// What was given.
        input: String,
        /// Why it was refused.
        reason: String,
    },
    /// `--depth` outside 1..=2.
    #[error("depth must be 1 or 2, got {0}")]
    Depth(u8),
    /// An inventory file could not be used.
    #[error("inventory {path}: {reason}")]
    Inventory {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No brand was given to the matcher.
    #[error("no brand domains or keywords to match against")]
    NoBrands,
    /// I/O failure opening or reading a file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// DNS resolver set-up failure.
    #[error("resolver: {0}")]
    Resolver(String),
}
