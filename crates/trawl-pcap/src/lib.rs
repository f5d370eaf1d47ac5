//! Network IOCs from packet captures: the one job of this crate is to turn
//! pcap/pcapng files into the report an analyst wants (DNS queries and
//! answers, endpoints, scans kept apart from C2-like flows, HTTP requests,
//! TLS ClientHellos with JA3, TFTP requests, DGA-like names, IOC list).
//!
//! Layers: [`capture`] (pcap-parser, streaming) → [`decode`] (etherparse,
//! fragment reassembly) → [`analyzer`] (flows, TCP reassembly via
//! [`stream`], parsers in [`proto`]) → [`report`] → [`render`]. DNS
//! messages are parsed, tabled and DGA-scored on a second thread during
//! reading (`dns`), which then builds the DNS rows while this thread groups
//! the flows; the JSON sections are written on two threads (`parallel`).
//!
//! ```no_run
//! let mut analyzer = trawl_pcap::Analyzer::new(trawl_pcap::Options::default());
//! analyzer.read("capture.pcap", std::fs::File::open("capture.pcap")?)?;
//! let report = analyzer.finish();
//! trawl_pcap::render::write_report(&report, trawl_pcap::render::Format::Text, &mut std::io::stdout())?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod analyzer;
pub mod capture;
pub mod decode;
mod dns;
mod json;
mod parallel;
pub mod proto;
pub mod render;
pub mod report;
mod scoring;
pub mod stream;

pub use analyzer::{Analyzer, Options};
pub use capture::{CaptureError, Problem};
pub use report::Report;
