//! Set-for-set comparison with dnstwist's and urlcrazy's complete outputs (fixtures/README.md):
//! our permutations must contain every valid name they generate. Names we leave out must fall
//! under one of the documented exception rules (docs/domains.md, "Reference exceptions"), and
//! every exception is printed.

use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::path::PathBuf;

use trawl_domains::name::{ascii_label_ok, name_to_ascii};
use trawl_domains::{Options, permute};

const DOMAINS: &[&str] = &[
    "threatstream.com",
    "google.com",
    "paypal.com",
    "example.co.uk",
    "example.me.uk",
    "example.github.io",
    "xn--80ak6aa92e.com",
];

fn fixture(name: &str) -> Option<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/reference")
        .join(format!("{name}.gz"));
    let file = std::fs::File::open(path).ok()?;
    let mut text = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut text)
        .expect("fixture is gzip UTF-8");
    Some(text)
}

fn ours(domain: &str) -> HashSet<String> {
    permute(domain, &Options::default())
        .unwrap()
        .into_iter()
        .map(|p| p.domain)
        .collect()
}

/// Why a reference name is not ours, or `None` when it should have been generated.
fn exception(name: &str) -> Option<&'static str> {
    let labels: Vec<&str> = name.split('.').collect();
    if labels
        .iter()
        .any(|l| l.len() >= 4 && &l.as_bytes()[2..4] == b"--" && !l.starts_with("xn--"))
    {
        return Some(
            "R-LDH label (hyphens in positions 3-4 without xn--): reserved by RFC 5891 §4.2.3.1",
        );
    }
    if labels
        .iter()
        .any(|l| l.starts_with("xn--") && !ascii_label_ok(l))
    {
        return Some("xn-- label that is not valid punycode / IDNA2008 (RFC 5891 §5.4)");
    }
    if name_to_ascii(name).is_none() {
        return Some("not a valid host name (LDH rules, lengths)");
    }
    None
}

fn check(
    reference: &[String],
    source: &str,
    ours: &HashSet<String>,
    exceptions: &mut BTreeMap<String, Vec<String>>,
) -> Vec<String> {
    let mut missing = Vec::new();
    for name in reference {
        if ours.contains(name.as_str()) {
            continue;
        }
        match exception(name) {
            Some(reason) => exceptions
                .entry(format!("{source}: {reason}"))
                .or_default()
                .push(name.clone()),
            None => missing.push(name.clone()),
        }
    }
    missing
}

#[test]
fn contains_every_dnstwist_name_with_dictionaries() {
    let mut exceptions = BTreeMap::new();
    let mut missing_all = Vec::new();
    let mut compared = 0;
    for domain in DOMAINS {
        let Some(text) = fixture(&format!("{domain}.dict.tsv")) else {
            assert_ne!(*domain, "threatstream.com", "dnstwist fixture missing");
            continue;
        };
        let reference: Vec<String> = text
            .lines()
            .filter_map(|l| l.split('\t').nth(1))
            .map(str::to_string)
            .collect();
        assert!(reference.len() > 300, "{domain}: {}", reference.len());
        compared += reference.len();
        let ours = ours(domain);
        let missing = check(&reference, "dnstwist", &ours, &mut exceptions);
        missing_all.extend(missing.into_iter().map(|m| format!("{domain}: {m}")));
    }
    for (reason, names) in &exceptions {
        eprintln!(
            "exception {reason}: {} names, e.g. {:?}",
            names.len(),
            &names[..names.len().min(5)]
        );
    }
    assert!(compared > 15_000, "{compared}");
    assert!(
        missing_all.is_empty(),
        "{} dnstwist names missing: {:?}",
        missing_all.len(),
        &missing_all[..missing_all.len().min(40)]
    );
}

#[test]
fn contains_every_valid_urlcrazy_name_on_four_keyboards() {
    let mut exceptions = BTreeMap::new();
    let mut missing_all = Vec::new();
    let mut compared = 0;
    for domain in DOMAINS {
        let ours = ours(domain);
        for keyboard in ["qwerty", "qwertz", "azerty", "dvorak"] {
            let Some(text) = fixture(&format!("{domain}.{keyboard}.tsv")) else {
                continue;
            };
            let reference: Vec<String> = text
                .lines()
                .filter_map(|l| {
                    let cols: Vec<&str> = l.split('\t').collect();
                    (cols.len() == 3 && cols[2] == "true").then(|| cols[1].to_string())
                })
                .collect();
            compared += reference.len();
            let missing = check(&reference, "urlcrazy", &ours, &mut exceptions);
            missing_all.extend(
                missing
                    .into_iter()
                    .map(|m| format!("{domain}/{keyboard}: {m}")),
            );
        }
    }
    for (reason, names) in &exceptions {
        eprintln!(
            "exception {reason}: {} names, e.g. {:?}",
            names.len(),
            &names[..names.len().min(5)]
        );
    }
    assert!(compared > 40_000, "{compared}");
    missing_all.sort();
    missing_all.dedup();
    assert!(
        missing_all.is_empty(),
        "{} urlcrazy names missing: {:?}",
        missing_all.len(),
        &missing_all[..missing_all.len().min(60)]
    );
}

#[test]
fn every_seed_example_for_threatstream() {
    let ours = ours("threatstream.com");
    let seed = [
        "threststream.com",
        "theatstream.com",
        "threatsteam.com",
        "threattstream.com",
        "threatsstream.com",
        "threatstrearn.com",
        "threatstreann.com",
        "threatstraem.com",
        "wwwthreatstream.com",
        "www-threatstream.com",
        "http-www-threatstream.com",
        "threatstreamcom.us",
        "login-threatstream.com",
        "sslvpn-threatstream.com",
        "support-threatstream.com",
        "threatstream.us",
        "threatstream.co",
        "threatstreamc.om",
    ];
    let missing: Vec<&str> = seed
        .iter()
        .copied()
        .filter(|s| !ours.contains(*s))
        .collect();
    assert!(missing.is_empty(), "{missing:?}");
}
