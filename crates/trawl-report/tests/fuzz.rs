//! Fuzzing the log readers and the whole analysis with mutated real logs: every fixture
//! (the seed's Heralding rows in each column layout, gzip included, Cowrie and OpenCanary
//! JSON lines, trawl's session log, the malformed samples) changed by `trawl-mutate`,
//! written to a file and analysed with small blocks on several threads, so records are
//! cut at block boundaries too; then rendered in every format. Logs are written by
//! honeypots from attacker-chosen bytes: no case may panic, a bad row never stops a
//! lenient run, and every rendered JSON parses.

use std::io::Write as _;
use std::path::Path;

use proptest::prelude::*;
use trawl_report::render::{OutputFormat, render};
use trawl_report::{Options, analyze};

fn seeds() -> Vec<Vec<u8>> {
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"));
    let log = |path: &Path| {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        name != "README.md" && !name.ends_with(".py")
    };
    trawl_mutate::corpus(dir, log, 8)
}

fn options(threads: usize, strict: bool) -> Options {
    Options {
        threads,
        block_size: 4096,
        strict,
        ..Options::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn mutated_logs_are_analysed_and_rendered_without_panics(
        log in trawl_mutate::mutated(seeds(), 6),
        threads in 1usize..4,
        strict in any::<bool>(),
    ) {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        file.write_all(&log).expect("write log");
        file.flush().expect("flush log");
        let path = file.path().display().to_string();
        let report = analyze(&[path], &options(threads, strict));
        if !strict {
            // Lenient runs count bad rows and go on; only an unreadable file is an error.
            if let Err(err) = &report {
                let text = err.to_string();
                prop_assert!(!text.is_empty());
            }
        }
        if let Ok(report) = report {
            for format in [
                OutputFormat::Text,
                OutputFormat::Json,
                OutputFormat::Csv,
                OutputFormat::Md,
                OutputFormat::Html,
            ] {
                let mut out = Vec::new();
                prop_assert!(render(&report, format, &mut out).is_ok());
                if format == OutputFormat::Json {
                    let parsed = serde_json::from_slice::<serde_json::Value>(&out);
                    prop_assert!(parsed.is_ok(), "JSON output does not parse");
                }
            }
        }
    }
}
