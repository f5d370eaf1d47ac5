//! Fuzzing the source readers with mutated real inputs: every fixture under
//! `tests/fixtures/` (combolists, SQL and CSV dumps, Cowrie/trawl/Heralding honeypot logs,
//! bind/squid/Zeek logs, threat feeds, nmap XML, masscan, Shodan/Censys exports, social
//! text…) changed by `trawl-mutate`, spliced into each other, and scanned against the
//! fixtures' inventory. Outside data is hostile: no case may panic, every byte given is
//! counted as read unless a warning says why the rest was skipped, and every warning
//! names a line that was read.

use std::io::Cursor;
use std::path::Path;
use std::sync::OnceLock;

use proptest::prelude::*;
use trawl_watch::{Run, Settings, Watcher};

fn fixtures() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"))
}

fn watcher() -> &'static Watcher {
    static WATCHER: OnceLock<Watcher> = OnceLock::new();
    WATCHER.get_or_init(|| {
        trawl_watch::load(&fixtures().join("inventory.toml"), Settings::default())
            .expect("the fixtures' inventory loads")
    })
}

/// Every fixture but the inventory and the README.
fn seeds() -> Vec<Vec<u8>> {
    let source = |path: &Path| {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        name != "README.md" && name != "inventory.toml"
    };
    trawl_mutate::corpus(fixtures(), source, 20)
}

fn scan(data: Vec<u8>) -> Result<Run, TestCaseError> {
    let len = data.len() as u64;
    let mut run = Run::default();
    watcher().scan_reader("fuzz.txt", Box::new(Cursor::new(data)), &mut run, &|_| {});
    // A document reader that gives up (broken XML) skips the rest, with a warning.
    prop_assert!(run.bytes <= len, "{} bytes read of {len}", run.bytes);
    if run.warnings.is_empty() {
        prop_assert_eq!(run.bytes, len, "every byte is accounted for");
    }
    for warning in &run.warnings {
        prop_assert!(warning.line <= run.lines + 1, "{warning}");
    }
    Ok(run)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 384, ..ProptestConfig::default() })]

    #[test]
    fn mutated_sources_scan_without_panics(data in trawl_mutate::mutated(seeds(), 6)) {
        let run = scan(data)?;
        let _ = run.into_alerts();
    }

    #[test]
    fn noise_scans_without_panics(noise in trawl_mutate::noise(8192)) {
        scan(noise)?;
    }
}
