//! Fuzzing the capture readers, analyzers and renderers with mutated real captures
//! (`trawl-mutate` strategies over the scapy-written files of `tests/gen/synthetic.py`:
//! pcap in both byte orders and timestamp resolutions, pcapng with several interfaces,
//! fragments, TCP segments, VLAN, SLL2, IPv6). A capture is untrusted input: no case may
//! panic or hang; the in-memory reader (used for mapped files) and the streaming reader
//! (stdin, pipes) must agree frame for frame; every report renders in every format, and
//! its JSON parses.

#[path = "support/captures.rs"]
mod captures;
#[path = "support/tshark.rs"]
mod tshark;

use proptest::prelude::*;
use trawl_pcap::render::{Format, write_iocs, write_report};
use trawl_pcap::{Analyzer, Options, Report};

/// The synthetic captures' bytes.
fn seeds() -> Vec<Vec<u8>> {
    trawl_mutate::corpus(captures::captures(), |_| true, 10)
}

fn in_memory(data: &[u8]) -> Report {
    let mut analyzer = Analyzer::new(Options::default());
    analyzer.read_bytes("fuzz.pcap", data, |_| {});
    analyzer.finish()
}

/// `None` when the streaming reader refuses the file outright (no capture header).
fn streamed(data: &[u8]) -> Option<Report> {
    let mut analyzer = Analyzer::new(Options::default());
    analyzer.read("fuzz.pcap", data).ok()?;
    Some(analyzer.finish())
}

fn renders_everywhere(report: &Report) -> Result<(), TestCaseError> {
    for format in [Format::Text, Format::Markdown, Format::Csv, Format::Json] {
        let mut out = Vec::new();
        prop_assert!(write_report(report, format, &mut out).is_ok());
        let mut iocs = Vec::new();
        prop_assert!(write_iocs(report, format, &mut iocs).is_ok());
        if format == Format::Json {
            let parsed = serde_json::from_slice::<serde_json::Value>(&out);
            prop_assert!(parsed.is_ok(), "report JSON does not parse: {parsed:?}");
            let parsed = serde_json::from_slice::<serde_json::Value>(&iocs);
            prop_assert!(parsed.is_ok(), "IOC JSON does not parse: {parsed:?}");
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 384, ..ProptestConfig::default() })]

    #[test]
    fn mutated_captures_never_panic_and_both_readers_agree(
        data in trawl_mutate::mutated(seeds(), 6)
    ) {
        let report = in_memory(&data);
        renders_everywhere(&report)?;
        if let Some(stream) = streamed(&data) {
            prop_assert_eq!(
                stream.summary.stats.frames,
                report.summary.stats.frames,
                "streaming and in-memory readers differ"
            );
        }
    }

    #[test]
    fn noise_is_refused_or_reported_never_a_panic(data in trawl_mutate::noise(4096)) {
        let report = in_memory(&data);
        renders_everywhere(&report)?;
        let _ = streamed(&data);
    }
}
