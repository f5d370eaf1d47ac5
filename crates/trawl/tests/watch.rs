//! End-to-end tests of `trawl watch`: the built binary over the fixtures of every supported
//! format, planted findings all found, masking, dedup across two runs, malformed inputs.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../trawl-watch/tests/fixtures")
}

fn watch(data: &Path, extra: &[&str], sources: &[PathBuf]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trawl"));
    cmd.arg("watch")
        .arg("--inventory")
        .arg(fixtures().join("inventory.toml"))
        .arg("--data-dir")
        .arg(data)
        .args(extra)
        .args(sources);
    cmd.output().expect("run trawl")
}

fn jsonl(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

fn subjects(alerts: &[serde_json::Value], category: &str) -> Vec<String> {
    let mut s: Vec<String> = alerts
        .iter()
        .filter(|a| a["category"] == category)
        .map(|a| a["subject"].as_str().unwrap_or_default().to_string())
        .collect();
    s.sort();
    s
}

const ALL_FORMATS: &[&str] = &[
    "domains.txt",
    "certstream.jsonl",
    "zeek_dns.log",
    "zeek_dns.json",
    "bind_query.log",
    "squid_access.log",
    "firehol_level1.netset",
    "spamhaus_drop.txt",
    "plain_ips.txt",
    "feed.csv",
    "log_auth.csv",
    "cowrie.json",
    "events.jsonl",
    "combolist.txt",
    "dump.csv",
    "dump.sql",
];

#[test]
fn every_format_finds_its_planted_findings_then_dedups() {
    let data = tempfile::tempdir().unwrap();
    let sources: Vec<PathBuf> = ALL_FORMATS.iter().map(|f| fixtures().join(f)).collect();
    let out = watch(data.path(), &["--format", "jsonl"], &sources);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
    let alerts = jsonl(&out);
    assert_eq!(
        subjects(&alerts, "lookalike-domain"),
        [
            "acmebank-login.com",
            "acmebank-secure.com",
            "acmebannk.com",
            "acmebnak.com",
            "parts-supplier.net",
            "partsuppl1er.net",
            "secure-acmebank.com",
        ]
    );
    assert_eq!(
        subjects(&alerts, "dirty-ip"),
        [
            "192.0.2.10/32",
            "192.0.2.64/26",
            "198.51.100.77/32",
            "2001:db8:acbe::53/128",
            "2001:db8:acbe::99/128",
            "203.0.113.128/25",
            "203.0.113.9/32",
        ]
    );
    let creds = subjects(&alerts, "credential-exposure");
    let emails: Vec<&str> = creds
        .iter()
        .map(|s| s.split(' ').next().unwrap_or_default())
        .collect();
    assert_eq!(
        emails,
        [
            "bob.smith@acmebank.com",
            "carol@acmebank.com",
            "erin@partsupplier.net",
            "gina@acmebank.com",
            "ivan@partsupplier.net",
            "jane.roe.home@gmail.com",
        ]
    );
    // Masked by default: no clear password anywhere in the output.
    let text = String::from_utf8_lossy(&out.stdout);
    for clear in [
        "Summer2026!",
        "letmein",
        "Fluffy#1",
        "it's-me",
        "Tr0ub4dor&3",
    ] {
        assert!(!text.contains(clear), "{clear} printed in clear");
    }
    assert!(text.contains("len=11 first=S last=! sha1="), "{text}");
    let jane = alerts
        .iter()
        .find(|a| {
            a["subject"]
                .as_str()
                .unwrap_or_default()
                .starts_with("jane.roe.home@")
        })
        .unwrap();
    assert_eq!(jane["severity"], "critical");
    assert_eq!(jane["entity"], "Acme Bank");
    assert_eq!(jane["evidence"]["line"], 6);

    // Second run: nothing new, exit 0; --all shows everything again.
    let again = watch(data.path(), &["--format", "jsonl"], &sources);
    assert_eq!(again.status.code(), Some(0));
    assert!(jsonl(&again).is_empty());
    let all = watch(data.path(), &["--format", "jsonl", "--all"], &sources);
    assert_eq!(all.status.code(), Some(0));
    let all = jsonl(&all);
    assert_eq!(all.len(), alerts.len());
    assert!(all.iter().all(|a| a["new"] == false));
}

#[test]
fn reveal_shows_passwords_and_formats_render() {
    let data = tempfile::tempdir().unwrap();
    let combo = vec![fixtures().join("combolist.txt")];
    let out = watch(data.path(), &["--reveal", "--format", "csv"], &combo);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("severity,category,entity,subject,detail,source,line"));
    assert!(text.contains("Summer2026!"), "{text}");
    let md = watch(data.path(), &["--all", "--format", "markdown"], &combo);
    let md = String::from_utf8_lossy(&md.stdout);
    assert!(md.starts_with("| severity | category |") && md.contains("| credential-exposure |"));
    let table = watch(data.path(), &["--all"], &combo);
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.starts_with("severity") && table.contains("carol@acmebank.com"),
        "{table}"
    );
}

#[test]
fn malformed_inputs_warn_with_file_and_line_and_the_rest_is_scanned() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("state");
    let bad = dir.path().join("bad.txt");
    let mut f = std::fs::File::create(&bad).unwrap();
    f.write_all(b"zed@acmebank.com:first\n").unwrap();
    f.write_all(b"\x00\x01\x02binary\xff\n").unwrap();
    f.write_all(&vec![b'a'; 2 << 20]).unwrap();
    f.write_all(b"\nyan@acmebank.com:\xff\xfelatin\n").unwrap();
    f.write_all(b"xena@acmebank.com:last\n").unwrap();
    drop(f);
    let ips = dir.path().join("ips.txt");
    std::fs::write(&ips, "203.0.113.7\nnot-an-ip here\n192.0.2.1\n").unwrap();
    let unknown = dir.path().join("unknown.bin");
    std::fs::write(&unknown, "~~~ ??? !!!\n").unwrap();
    // A gzip cut in the middle: the lines before the cut are still scanned.
    let gz = dir.path().join("cut.txt.gz");
    let mut plain = b"kim@acmebank.com:pw1\n".to_vec();
    for i in 0..5000u64 {
        plain.extend_from_slice(
            format!("filler{i}@example.org:{}\n", i * 7919 % 1_000_003).as_bytes(),
        );
    }
    let mut enc = flate2_like_gzip(&plain);
    enc.truncate(enc.len() / 2);
    std::fs::write(&gz, enc).unwrap();
    let out = watch(
        &data,
        &["--format", "jsonl"],
        &[bad.clone(), ips.clone(), unknown.clone(), gz.clone()],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let b = bad.display().to_string();
    assert!(
        stderr.contains(&format!("{b}: line 2: binary data")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{b}: line 3: line of 2097152 bytes")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{}: line 2: ip list", ips.display())),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{}: line 1: unknown format", unknown.display())),
        "{stderr}"
    );
    assert!(stderr.contains(&gz.display().to_string()), "{stderr}");
    assert!(stderr.contains("5 skipped lines"), "{stderr}");
    let alerts = jsonl(&out);
    let emails: Vec<String> = subjects(&alerts, "credential-exposure")
        .iter()
        .map(|s| s.split(' ').next().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        emails,
        [
            "kim@acmebank.com",
            "xena@acmebank.com",
            "yan@acmebank.com",
            "zed@acmebank.com"
        ]
    );
    assert_eq!(
        subjects(&alerts, "dirty-ip"),
        ["192.0.2.1/32", "203.0.113.7/32"]
    );
}

#[test]
fn bad_inventory_is_exit_2_with_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let inv = dir.path().join("inv.toml");
    std::fs::write(
        &inv,
        "[[entity]]\nname = \"X\"\nip_ranges = [\"10.0.0.0/99\"]\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_trawl"))
        .args(["watch", "--data-dir"])
        .arg(dir.path())
        .arg("--inventory")
        .arg(&inv)
        .arg(fixtures().join("domains.txt"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line 3, column 14"), "{stderr}");
}

/// gzip via the system `gzip` tool (a real producer of the format); fails loudly if missing.
fn flate2_like_gzip(data: &[u8]) -> Vec<u8> {
    let mut child = Command::new("gzip")
        .arg("-c")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("gzip must be installed");
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    out.stdout
}
