//! `trawl whois` end to end: the built binary against fake whois servers on
//! 127.0.0.1 (IANA-like referral -> registry -> registrar on three loopback
//! ports; the only stand-ins, since tests must not reach real whois servers),
//! offline parsing of the seed's records, pivots, and error reporting.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

fn trawl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trawl"))
        .args(args)
        .output()
        .expect("run trawl")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn fixture_path(name: &str) -> String {
    format!(
        "{}/../trawl-whois/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(fixture_path(name)).expect("fixture")
}

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("whois-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// A whois server on 127.0.0.1 answering every query with `answer(query)`.
fn fake(answer: impl Fn(&str) -> String + Send + 'static) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().expect("addr").to_string();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            seen.fetch_add(1, Ordering::SeqCst);
            let mut line = String::new();
            let _ = BufReader::new(&stream).read_line(&mut line);
            let _ = stream.write_all(answer(line.trim_end()).as_bytes());
        }
    });
    (addr, count)
}

#[test]
fn lookup_follows_referrals_then_answers_from_the_cache() {
    let (registrar, registrar_hits) = fake(|_| {
        "Domain Name: HRJLYYMASSQX.TECH\r\nRegistrar: NAMECHEAP INC\r\nRegistrant Email: 4a75182b38b841e486e7e74993fb0bce.protect@whoisguard.com\r\n".to_owned()
    });
    let tech = fixture("hrjlyymassqx.tech.txt").replace("whois.namecheap.com", &registrar);
    let (registry, registry_hits) = fake(move |_| tech.clone());
    let (iana, iana_hits) = fake(move |_| format!("refer:        {registry}\n"));
    let cache = scratch("cache");
    let cache_arg = cache.to_string_lossy().into_owned();
    let args = [
        "whois",
        "--iana-server",
        &iana,
        "--cache-dir",
        &cache_arg,
        "--format",
        "json",
        "hrjlyymassqx.tech",
    ];
    let first = trawl(&args);
    assert!(first.status.success(), "stderr: {}", text(&first.stderr));
    let record: serde_json::Value = serde_json::from_slice(&first.stdout).expect("one JSON record");
    assert_eq!(record["domain"], "hrjlyymassqx.tech");
    assert_eq!(record["registrar"], "NAMECHEAP INC");
    assert_eq!(record["registrar_iana_id"], "1068");
    assert_eq!(record["created"], "2016-12-09T17:01:50Z");
    assert_eq!(record["privacy"], true);
    assert_eq!(record["privacy_service"], "WhoisGuard");
    let hits = || {
        (
            iana_hits.load(Ordering::SeqCst),
            registry_hits.load(Ordering::SeqCst),
            registrar_hits.load(Ordering::SeqCst),
        )
    };
    assert_eq!(hits(), (1, 1, 1));
    let second = trawl(&args);
    assert!(second.status.success(), "stderr: {}", text(&second.stderr));
    assert_eq!(hits(), (1, 1, 1), "the second lookup must not connect");
    assert_eq!(first.stdout, second.stdout);
    let cached = trawl(&[
        "whois",
        "--from-cache",
        "--cache-dir",
        &cache_arg,
        "--format",
        "json",
    ]);
    assert!(cached.status.success(), "stderr: {}", text(&cached.stderr));
    let records: Vec<serde_json::Value> = text(&cached.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(
        records.len(),
        1,
        "registry + registrar answers merged into one record"
    );
    assert_eq!(records[0]["registrar"], "NAMECHEAP INC");
    assert_eq!(hits(), (1, 1, 1), "--from-cache never connects");
}

#[test]
fn parse_seed_records_offline_as_csv_and_table() {
    let tech = fixture_path("hrjlyymassqx.tech.txt");
    let inn = fixture_path("inandoutand.in.txt");
    let csv = trawl(&["whois", "--parse", &tech, &inn, "--format", "csv"]);
    assert!(csv.status.success(), "stderr: {}", text(&csv.stderr));
    let out = text(&csv.stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[0].starts_with("domain,registrar,registrar_iana_id,created"),
        "{out}"
    );
    assert!(
        lines[1].starts_with("hrjlyymassqx.tech,Namecheap,1068,2016-12-09T17:01:50Z"),
        "{out}"
    );
    assert!(lines[2].contains("dlinchkravitz@gmail.com"), "{out}");
    assert!(lines[2].contains("ns3.cnmsn.com ns4.cnmsn.com"), "{out}");
    let table = trawl(&["whois", "--parse", &inn]);
    assert!(table.status.success());
    let out = text(&table.stdout);
    assert!(out.starts_with("DOMAIN"), "{out}");
    assert!(
        out.contains("inandoutand.in") && out.contains("Kravitz Dlinch"),
        "{out}"
    );
}

#[test]
fn pivot_on_the_registrant_email_finds_sibling_domains() {
    let dir = scratch("pivot");
    std::fs::write(
        dir.join("inandoutand.in.txt"),
        fixture("inandoutand.in.txt"),
    )
    .expect("write");
    std::fs::write(
        dir.join("hrjlyymassqx.tech.txt"),
        fixture("hrjlyymassqx.tech.txt"),
    )
    .expect("write");
    let sibling = fixture("inandoutand.in.txt").replace("INANDOUTAND.IN", "SIBLING-EXAMPLE.IN");
    std::fs::write(dir.join("sibling.txt"), sibling).expect("write");
    std::fs::write(dir.join("notes.md"), "# not whois\n").expect("write");
    let dir_arg = dir.to_string_lossy().into_owned();
    let out = trawl(&[
        "whois",
        "--parse",
        "--pivot",
        "--by",
        "email",
        "--min-group",
        "2",
        "--format",
        "json",
        &dir_arg,
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "notes.md is reported, the rest still pivots"
    );
    assert!(
        text(&out.stderr).contains("notes.md: no whois fields"),
        "{}",
        text(&out.stderr)
    );
    let groups: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(groups.as_array().map(Vec::len), Some(1), "{groups}");
    assert_eq!(groups[0]["kind"], "registrant_email");
    assert_eq!(groups[0]["value"], "dlinchkravitz@gmail.com");
    assert_eq!(
        groups[0]["domains"],
        serde_json::json!(["inandoutand.in", "sibling-example.in"])
    );
}

#[test]
fn pivot_as_html_page() {
    let dir = scratch("html");
    std::fs::write(dir.join("a.txt"), fixture("inandoutand.in.txt")).expect("write");
    let sibling = fixture("inandoutand.in.txt").replace("INANDOUTAND.IN", "SIBLING-EXAMPLE.IN");
    std::fs::write(dir.join("b.txt"), sibling).expect("write");
    let out = trawl(&[
        "whois",
        "--parse",
        "--pivot",
        "--format",
        "html",
        &dir.to_string_lossy(),
    ]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let page = text(&out.stdout);
    assert!(
        page.starts_with("<!DOCTYPE html>") && page.contains("<svg"),
        "{page}"
    );
    assert!(page.contains("dlinchkravitz@gmail.com (2)"), "{page}");
    let refused = trawl(&[
        "whois",
        "--parse",
        "--format",
        "html",
        &dir.to_string_lossy(),
    ]);
    assert_eq!(refused.status.code(), Some(2));
}

#[test]
fn bad_file_reports_path_and_line() {
    let dir = scratch("bad");
    let file = dir.join("bad.txt");
    std::fs::write(
        &file,
        b"Domain Name: X.COM\nRegistrar: Y\n\x00\x01\x02 junk\n",
    )
    .expect("write");
    let out = trawl(&["whois", "--parse", &file.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("bad.txt") && err.contains("line 3") && err.contains("binary"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "one-line error: {err}");
}

#[test]
fn unreachable_server_is_a_clear_failure() {
    let closed = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = closed.local_addr().expect("addr").to_string();
    drop(closed);
    let out = trawl(&[
        "whois",
        "--no-cache",
        "--server",
        &addr,
        "--timeout",
        "2",
        "example.com",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("example.com") && err.contains("cannot connect"),
        "{err}"
    );
}
