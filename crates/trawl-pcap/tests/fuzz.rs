//! Fuzzing the capture readers, analyzers and renderers with mutated real captures
//! (`trawl-mutate` strategies over the scapy-written files of `tests/gen/synthetic.py`:
//! pcap in both byte orders and timestamp resolutions, pcapng with several interfaces,
//! fragments, TCP segments, VLAN, SLL2, IPv6). A capture is untrusted input: no case may
//! panic or hang; the in-memory reader (used for mapped files) and the streaming reader
//! (stdin, pipes) must agree frame for frame; every report renders in every format, and
//! its JSON parses.

#[path = "support/tshark.rs"]
mod tshark;

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use proptest::prelude::*;
use trawl_pcap::render::{Format, write_iocs, write_report};
use trawl_pcap::{Analyzer, Options, Report};

/// The synthetic captures' bytes, generated once per test binary.
fn seeds() -> &'static Vec<Vec<u8>> {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        tshark::require_tool("python3");
        let dir = tempfile::tempdir().expect("tempdir");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/gen/synthetic.py");
        let output = Command::new("python3")
            .arg(&script)
            .arg(dir.path())
            .output()
            .expect("python3 runs");
        assert!(
            output.status.success(),
            "synthetic.py failed (is scapy installed? see scripts/deps/pcap.pip): {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let mut files: Vec<_> = std::fs::read_dir(dir.path())
            .expect("capture dir")
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .collect();
        files.sort();
        let seeds: Vec<Vec<u8>> = files
            .iter()
            .map(|path| std::fs::read(path).expect("capture readable"))
            .collect();
        assert!(
            seeds.len() >= 10,
            "synthetic.py wrote {} captures",
            seeds.len()
        );
        seeds
    })
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
        data in trawl_mutate::mutated(seeds().clone(), 6)
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
