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

/// Waits (bounded) until an alert whose subject starts with `email` arrives on `lines`.
fn wait_for_alert(lines: &std::sync::mpsc::Receiver<String>, seen: &mut Vec<String>, email: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let has = |seen: &[String]| seen.iter().any(|s| s.starts_with(email));
    while !has(seen) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        assert!(
            !left.is_zero(),
            "no alert for {email} within 15 s; got {seen:?}"
        );
        if let Ok(line) = lines.recv_timeout(left) {
            let alert: serde_json::Value = serde_json::from_str(&line).expect("json line");
            seen.push(alert["subject"].as_str().unwrap_or_default().to_string());
        }
    }
}

/// `trawl watch --follow` on `source` with `args` (the fixtures' inventory, state under
/// `dir`): the child, its stdout lines as they come, and the thread reading them (it ends
/// with the process).
fn spawn_follow(
    dir: &Path,
    args: &[&str],
    source: &Path,
) -> (
    std::process::Child,
    std::sync::mpsc::Receiver<String>,
    std::thread::JoinHandle<()>,
) {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_trawl"))
        .args(["watch", "--follow"])
        .args(args)
        .arg("--inventory")
        .arg(fixtures().join("inventory.toml"))
        .arg("--data-dir")
        .arg(dir.join("state"))
        .arg(source)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run trawl");
    let stdout = child.stdout.take().expect("stdout piped");
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    (child, rx, reader)
}

#[test]
fn follow_tails_appends_rotation_and_truncation_until_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("dump.log");
    std::fs::write(&log, "start@acmebank.com:pw0\n").unwrap();
    let (mut child, rx, reader) = spawn_follow(dir.path(), &["--format", "jsonl"], &log);
    let mut seen = Vec::new();
    wait_for_alert(&rx, &mut seen, "start@acmebank.com");

    let append = |text: &str| {
        let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        f.write_all(text.as_bytes()).unwrap();
    };
    append("filler@example.org:x\nappend@acmebank.com:pw1\n");
    wait_for_alert(&rx, &mut seen, "append@acmebank.com");

    // A partial line waits for its newline (the pause only gives a poll the chance to see
    // the half line; the assertion holds either way).
    append("partial@acme");
    std::thread::sleep(std::time::Duration::from_millis(500));
    append("bank.com:pw5\n");
    wait_for_alert(&rx, &mut seen, "partial@acmebank.com");

    // Rotation: a last line into the old file, rename it away, a new file under the name.
    append("old@acmebank.com:pw2\n");
    std::fs::rename(&log, dir.path().join("dump.log.1")).unwrap();
    std::fs::write(&log, "new@acmebank.com:pw3\n").unwrap();
    wait_for_alert(&rx, &mut seen, "old@acmebank.com");
    wait_for_alert(&rx, &mut seen, "new@acmebank.com");

    // Truncation (copytruncate style): shorter content in the same file is read from 0.
    std::fs::write(&log, "t@acmebank.com:x\n").unwrap();
    wait_for_alert(&rx, &mut seen, "t@acmebank.com");

    let kill = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .expect("kill must be installed");
    assert!(kill.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "trawl did not stop on SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    reader.join().unwrap();
    seen.extend(rx.try_iter().map(|line| {
        let alert: serde_json::Value = serde_json::from_str(&line).expect("json line");
        alert["subject"].as_str().unwrap_or_default().to_string()
    }));
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(1), "new findings: exit 1; {stderr}");
    let mut emails: Vec<&str> = seen
        .iter()
        .map(|s| s.split(' ').next().unwrap_or_default())
        .collect();
    emails.sort_unstable();
    assert_eq!(
        emails,
        [
            "append@acmebank.com",
            "new@acmebank.com",
            "old@acmebank.com",
            "partial@acmebank.com",
            "start@acmebank.com",
            "t@acmebank.com"
        ],
        "each alert exactly once"
    );
    assert!(
        stderr.contains("2 sources, 7 lines, 0 skipped lines, 6 findings, 6 new"),
        "{stderr}"
    );
}

// ---- scan results, social text, Zeek http.log and the webhook (issue #8) ----

const SCAN_AND_SOCIAL: &[&str] = &[
    "nmap.xml",
    "masscan.json",
    "masscan_trailing.json",
    "masscan.txt",
    "shodan.json",
    "censys.json",
    "social.txt",
    "social.jsonl",
    "zeek_http.log",
    "zeek_http.json",
];

fn find<'a>(alerts: &'a [serde_json::Value], subject: &str) -> &'a serde_json::Value {
    alerts
        .iter()
        .find(|a| a["subject"] == subject)
        .unwrap_or_else(|| panic!("no alert for {subject}"))
}

#[test]
fn scan_results_social_text_and_zeek_http_find_their_planted_findings() {
    let data = tempfile::tempdir().unwrap();
    let sources: Vec<PathBuf> = SCAN_AND_SOCIAL.iter().map(|f| fixtures().join(f)).collect();
    let out = watch(data.path(), &["--format", "jsonl"], &sources);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
    let alerts = jsonl(&out);
    // Every unexpected open port; the expected ones (443/25 in 203.0.113.0/28), closed and
    // open|filtered ports, banner records, addresses outside every range and the allow-listed
    // 203.0.113.250 are not alerted.
    assert_eq!(
        subjects(&alerts, "exposed-service"),
        [
            "192.0.2.30:23/tcp",
            "192.0.2.40:8080/tcp",
            "192.0.2.50:161/udp",
            "198.51.100.77:8443/tcp",
            "203.0.113.200:22/tcp",
            "203.0.113.200:443/tcp",
            "203.0.113.5:3389/tcp",
            "203.0.113.6:11211/tcp",
            "203.0.113.7:53/udp",
            "203.0.113.8:5432/tcp",
            "203.0.113.9:9200/tcp",
            "[2001:db8:acbe::10]:6379/tcp",
            "[2001:db8:acbe::20]:22/tcp",
            "[2001:db8:acbe::20]:3389/tcp",
        ]
    );
    let rdp = find(&alerts, "203.0.113.5:3389/tcp");
    assert_eq!(rdp["severity"], "high");
    assert_eq!(rdp["entity"], "Acme Bank");
    assert_eq!(rdp["evidence"]["line"], 21);
    assert!(
        rdp["evidence"]["snippet"]
            .as_str()
            .unwrap()
            .starts_with("203.0.113.5:3389/tcp ms-wbt-server Microsoft Terminal Services"),
        "{rdp}"
    );
    assert_eq!(
        find(&alerts, "192.0.2.30:23/tcp")["entity"],
        "Parts Supplier"
    );
    assert_eq!(find(&alerts, "203.0.113.200:22/tcp")["severity"], "medium");
    assert_eq!(find(&alerts, "203.0.113.8:5432/tcp")["severity"], "high");
    assert_eq!(find(&alerts, "203.0.113.9:9200/tcp")["severity"], "high");
    assert_eq!(find(&alerts, "192.0.2.50:161/udp")["severity"], "high");
    let home = find(&alerts, "198.51.100.77:8443/tcp");
    assert!(
        home["detail"]
            .as_str()
            .unwrap()
            .contains("home range of Jane Roe"),
        "{home}"
    );
    assert_eq!(find(&alerts, "192.0.2.40:8080/tcp")["evidence"]["line"], 2);

    let mentions: Vec<(String, String, u64)> = alerts
        .iter()
        .filter(|a| a["category"] == "targeting-mention")
        .map(|a| {
            let source = a["evidence"]["source"].as_str().unwrap();
            let file = Path::new(source).file_name().unwrap().to_string_lossy();
            (
                a["entity"].as_str().unwrap().to_string(),
                file.into_owned(),
                a["evidence"]["line"].as_u64().unwrap(),
            )
        })
        .collect();
    let mut mentions = mentions;
    mentions.sort();
    let expected: Vec<(String, String, u64)> = [
        ("Acme Bank", "social.jsonl", 1),
        ("Acme Bank", "social.jsonl", 2),
        ("Acme Bank", "social.txt", 1),
        ("Acme Bank", "social.txt", 3),
        ("Parts Supplier", "social.jsonl", 4),
        ("Parts Supplier", "social.txt", 4),
    ]
    .iter()
    .map(|(e, f, l)| (e.to_string(), f.to_string(), *l))
    .collect();
    assert_eq!(mentions, expected);
    let dox = alerts
        .iter()
        .find(|a| a["category"] == "targeting-mention" && a["evidence"]["line"] == 3)
        .unwrap();
    assert!(
        dox["detail"]
            .as_str()
            .unwrap()
            .starts_with("executive Jane Roe")
    );
    assert_eq!(dox["severity"], "high");

    assert_eq!(
        subjects(&alerts, "lookalike-domain"),
        [
            "acmebank-secure.com",
            "acmebannk.com",
            "partsuppl1er.net",
            "secure-acmebank.com",
        ]
    );
    assert_eq!(
        subjects(&alerts, "dirty-ip"),
        ["192.0.2.99/32", "2001:db8:acbe::77/128", "203.0.113.77/32"]
    );

    let again = watch(data.path(), &["--format", "jsonl"], &sources);
    assert_eq!(again.status.code(), Some(0));
    assert!(jsonl(&again).is_empty());
}

#[test]
fn malformed_scan_and_social_inputs_warn_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("state");
    // nmap XML cut by a mismatched end tag after its first host: that host is still checked.
    let broken = dir.path().join("broken.xml");
    std::fs::write(
        &broken,
        "<?xml version=\"1.0\"?>\n<nmaprun scanner=\"nmap\">\n\
         <host><address addr=\"203.0.113.11\" addrtype=\"ipv4\"/>\n\
         <ports><port protocol=\"tcp\" portid=\"23\"><state state=\"open\"/></port></ports></host>\n\
         <host><address addr=\"203.0.113.12\" addrtype=\"ipv4\"/>\n\
         <ports><port protocol=\"tcp\" portid=\"21\"></state></port></ports></host>\n\
         </nmaprun>\n",
    )
    .unwrap();
    // One element larger than the 1 MiB bound.
    let huge = dir.path().join("huge.xml");
    let mut text = String::from("<?xml version=\"1.0\"?>\n<nmaprun>\n<host comment=\"");
    text.push_str(&"A".repeat(2 << 20));
    text.push_str("\"></host></nmaprun>\n");
    std::fs::write(&huge, text).unwrap();
    let other = dir.path().join("other.xml");
    std::fs::write(
        &other,
        "<?xml version=\"1.0\"?>\n<rss version=\"2.0\"></rss>\n",
    )
    .unwrap();
    let shodan = dir.path().join("shodan.json");
    std::fs::write(
        &shodan,
        "{\"ip_str\":\"203.0.113.13\",\"port\":8080,\"transport\":\"tcp\"}\n\
         {\"ip_str\":\"203.0.113.14\",\"port\":\n\
         {\"ip_str\":\"203.0.113.15\",\"port\":70000,\"transport\":\"tcp\"}\n\
         {\"ip_str\":\"203.0.113.16\",\"port\":3306,\"transport\":\"tcp\",\"product\":\"MySQL\"}\n",
    )
    .unwrap();
    let masscan = dir.path().join("masscan.json");
    std::fs::write(
        &masscan,
        "[\n{ \"ip\": \"203.0.113.17\", \"ports\": [ {\"port\": 23, \"proto\": \"tcp\", \"status\": \"open\"} ] },\n\
         { \"ip\": \"203.0.113.18\", \"ports\": [ {\"port\": 23, \"proto\": \"icmp\", \"status\": \"open\"} ] },\n\
         { \"ip\": \"203.0.113.19\", \"ports\": [ {\"port\": 21, \"proto\": \"tcp\", \"status\": \"open\"} ] },\n]\n",
    )
    .unwrap();
    let social = dir.path().join("posts.jsonl");
    std::fs::write(
        &social,
        "{\"title\":\"weekly thread\",\"body\":\"nothing here\"}\n\
         {\"title\": broken\n\
         {\"text\":\"time to ddos acmebank again\"}\n",
    )
    .unwrap();
    let sources = [
        broken.clone(),
        huge.clone(),
        other.clone(),
        shodan.clone(),
        masscan.clone(),
        social.clone(),
    ];
    let out = watch(&data, &["--format", "jsonl"], &sources);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let has = |file: &Path, rest: &str| {
        let want = format!("{}: {rest}", file.display());
        assert!(stderr.contains(&want), "missing {want:?} in {stderr}");
    };
    has(&broken, "line 6: nmap xml:");
    has(&huge, "line 3: nmap xml:");
    assert!(stderr.contains("longer than 1048576 bytes"), "{stderr}");
    has(&other, "line 2: XML whose root is <rss>");
    has(&shodan, "line 2: shodan json: bad JSON");
    has(&shodan, "line 3: shodan json: port 70000 out of range");
    has(&masscan, "line 3: masscan json: unknown protocol");
    has(&social, "line 2: social json: bad JSON");
    assert!(stderr.contains("7 skipped lines"), "{stderr}");
    let alerts = jsonl(&out);
    assert_eq!(
        subjects(&alerts, "exposed-service"),
        [
            "203.0.113.11:23/tcp",
            "203.0.113.13:8080/tcp",
            "203.0.113.16:3306/tcp",
            "203.0.113.17:23/tcp",
            "203.0.113.19:21/tcp",
        ]
    );
    assert_eq!(
        alerts
            .iter()
            .filter(|a| a["category"] == "targeting-mention")
            .count(),
        1
    );
}

/// A loopback HTTP/1.1 server answering `statuses` in turn (then 200) and recording bodies.
fn webhook_server(
    statuses: Vec<u16>,
) -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
) {
    use std::io::{BufRead, BufReader, Read};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/alerts", listener.local_addr().unwrap());
    let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = std::sync::Arc::clone(&bodies);
    std::thread::spawn(move || {
        let mut statuses = statuses.into_iter();
        for stream in listener.incoming().take(50) {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let (mut length, mut request) = (0usize, String::new());
            reader.read_line(&mut request).unwrap();
            assert!(request.starts_with("POST /alerts "), "{request}");
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
                if let Some(v) = lower.strip_prefix("content-type:") {
                    assert_eq!(v.trim(), "application/json");
                }
            }
            let mut body = vec![0u8; length];
            reader.read_exact(&mut body).unwrap();
            seen.lock()
                .unwrap()
                .push(serde_json::from_slice(&body).expect("JSON body"));
            let status = statuses.next().unwrap_or(200);
            let answer =
                format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            stream.write_all(answer.as_bytes()).unwrap();
        }
    });
    (url, bodies)
}

fn watch_no_proxy(data: &Path, extra: &[&str], sources: &[PathBuf]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trawl"));
    cmd.arg("watch")
        .arg("--inventory")
        .arg(fixtures().join("inventory.toml"))
        .arg("--data-dir")
        .arg(data)
        .args(extra)
        .args(sources);
    for var in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
    ] {
        cmd.env_remove(var);
    }
    cmd.output().expect("run trawl")
}

#[test]
fn webhook_retries_delivers_batches_and_resends_what_failed() {
    let data = tempfile::tempdir().unwrap();
    let masscan = vec![fixtures().join("masscan.txt")];
    // 500 first, then 200: one retry, one delivery of the single new finding.
    let (url, bodies) = webhook_server(vec![500]);
    let out = watch_no_proxy(
        data.path(),
        &["--format", "jsonl", "--webhook", &url],
        &masscan,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("webhook: 1 findings delivered"), "{stderr}");
    {
        let bodies = bodies.lock().unwrap();
        assert_eq!(bodies.len(), 2, "{bodies:?}");
        assert_eq!(bodies[0], bodies[1]);
        assert_eq!(bodies[1]["source"], "trawl watch");
        assert_eq!(bodies[1]["count"], 1);
        let alert = &bodies[1]["alerts"][0];
        assert_eq!(alert["category"], "exposed-service");
        assert_eq!(alert["subject"], "203.0.113.8:5432/tcp");
        assert_eq!(alert["entity"], "Acme Bank");
        assert_eq!(alert["new"], true);
    }

    // A receiver that keeps failing: findings still printed and stored, exit 2, kept queued.
    let nmap = vec![fixtures().join("nmap.xml")];
    let (down, down_bodies) = webhook_server(vec![503; 10]);
    let out = watch_no_proxy(
        data.path(),
        &[
            "--format",
            "jsonl",
            "--webhook",
            &down,
            "--webhook-attempts",
            "2",
        ],
        &nmap,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("HTTP 503") && stderr.contains("gave up after 2 attempts"),
        "{stderr}"
    );
    assert!(
        stderr.contains("5 findings kept for the next run"),
        "{stderr}"
    );
    assert_eq!(jsonl(&out).len(), 5);
    assert_eq!(down_bodies.lock().unwrap().len(), 2);

    // Next run: nothing new, but the kept findings are sent, two a POST.
    let (url, bodies) = webhook_server(vec![]);
    let out = watch_no_proxy(
        data.path(),
        &[
            "--format",
            "jsonl",
            "--webhook",
            &url,
            "--webhook-batch",
            "2",
        ],
        &nmap,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(jsonl(&out).is_empty());
    assert!(stderr.contains("webhook: 5 findings delivered"), "{stderr}");
    let bodies = bodies.lock().unwrap();
    let counts: Vec<u64> = bodies
        .iter()
        .map(|b| b["count"].as_u64().unwrap())
        .collect();
    assert_eq!(counts, [2, 2, 1]);
    let mut sent: Vec<String> = bodies
        .iter()
        .flat_map(|b| b["alerts"].as_array().unwrap().clone())
        .map(|a| a["subject"].as_str().unwrap().to_string())
        .collect();
    sent.sort();
    assert_eq!(sent.len(), 5);
    assert!(
        sent.contains(&"203.0.113.5:3389/tcp".to_string()),
        "{sent:?}"
    );

    // Connection refused: retried, then exit 2.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let social = vec![fixtures().join("social.txt")];
    let dead = format!("http://127.0.0.1:{port}/alerts");
    let out = watch_no_proxy(
        data.path(),
        &["--webhook", &dead, "--webhook-attempts", "2"],
        &social,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("gave up after 2 attempts"), "{stderr}");
}

/// Polls (bounded) until the webhook server has received `n` bodies.
fn wait_for_bodies(bodies: &std::sync::Mutex<Vec<serde_json::Value>>, n: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while bodies.lock().unwrap().len() < n {
        assert!(
            std::time::Instant::now() < deadline,
            "webhook got {} bodies, want {n}",
            bodies.lock().unwrap().len()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn follow_mode_posts_each_round_to_the_webhook() {
    let dir = tempfile::tempdir().unwrap();
    let posts = dir.path().join("posts.log");
    std::fs::write(&posts, "they say acmebank.com got hacked again today\n").unwrap();
    let (url, bodies) = webhook_server(vec![]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_trawl"))
        .args(["watch", "--follow", "--format", "jsonl", "--webhook", &url])
        .arg("--inventory")
        .arg(fixtures().join("inventory.toml"))
        .arg("--data-dir")
        .arg(dir.path().join("state"))
        .arg(&posts)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run trawl");
    wait_for_bodies(&bodies, 1);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&posts)
        .unwrap();
    f.write_all(b"new ransomware crew says Jane Roe is their next target\n")
        .unwrap();
    drop(f);
    wait_for_bodies(&bodies, 2);
    let kill = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .expect("kill must be installed");
    assert!(kill.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "no exit on SIGTERM");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    let bodies = bodies.lock().unwrap();
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    assert_eq!(bodies[0]["alerts"][0]["category"], "targeting-mention");
    assert_eq!(bodies[0]["alerts"][0]["evidence"]["line"], 1);
    let second = &bodies[1]["alerts"][0];
    assert_eq!(second["evidence"]["line"], 2);
    assert!(
        second["detail"]
            .as_str()
            .unwrap()
            .starts_with("executive Jane Roe"),
        "{second}"
    );
}

#[test]
fn follow_on_stdin_reads_to_its_end_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_trawl"))
        .args(["watch", "--follow", "--format", "jsonl", "--inventory"])
        .arg(fixtures().join("inventory.toml"))
        .arg("--data-dir")
        .arg(dir.path())
        .arg("-")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run trawl");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"piped@acmebank.com:pw\n").unwrap();
    drop(stdin);
    let pid = child.id().to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    let Ok(out) = rx.recv_timeout(std::time::Duration::from_secs(15)) else {
        let _ = Command::new("kill").args(["-KILL", &pid]).status();
        panic!("trawl --follow did not stop at the end of stdin within 15 s");
    };
    let out = out.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        subjects(&jsonl(&out), "credential-exposure")
            .iter()
            .map(|s| s.split(' ').next().unwrap_or_default())
            .collect::<Vec<_>>(),
        ["piped@acmebank.com"]
    );
    assert!(stderr.contains("1 sources, 1 lines"), "{stderr}");
}

/// `--follow --format csv` is one CSV stream: the header once, then each round's rows.
#[test]
fn follow_csv_output_has_one_header_across_rounds() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("dump.log");
    std::fs::write(&log, "first@acmebank.com:pw0\n").unwrap();
    let (mut child, rx, reader) = spawn_follow(dir.path(), &["--format", "csv"], &log);
    let mut lines = Vec::new();
    let wait_for = |needle: &str, lines: &mut Vec<String>| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        while !lines.iter().any(|l: &String| l.contains(needle)) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            assert!(
                !left.is_zero(),
                "no row for {needle} within 15 s: {lines:?}"
            );
            if let Ok(line) = rx.recv_timeout(left) {
                lines.push(line);
            }
        }
    };
    wait_for("first@acmebank.com", &mut lines);
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    f.write_all(b"second@acmebank.com:pw1\n").unwrap();
    drop(f);
    wait_for("second@acmebank.com", &mut lines);
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let _ = child.wait();
    let _ = reader.join();
    let text = lines.join("\n");
    let mut csv = csv::Reader::from_reader(text.as_bytes());
    let header = csv.headers().expect("a header").clone();
    assert_eq!(header.get(0), Some("severity"), "{text}");
    let rows: Vec<csv::StringRecord> = csv
        .records()
        .collect::<Result<_, _>>()
        .expect("one CSV table");
    assert!(
        rows.iter().all(|r| r.get(0) != Some("severity")),
        "a second header in the stream:\n{text}"
    );
    assert_eq!(rows.len(), 2, "{text}");
}

/// Following a directory picks up files that appear in it later (daily dumps), and a file
/// rotated inside it (`dump.log` -> `dump.log.1`) is not read a second time.
#[test]
fn follow_picks_up_new_files_in_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let drop_dir = dir.path().join("dumps");
    std::fs::create_dir(&drop_dir).unwrap();
    std::fs::write(drop_dir.join("dump.log"), "early@acmebank.com:pw0\n").unwrap();
    let (child, rx, reader) = spawn_follow(dir.path(), &["--all", "--format", "jsonl"], &drop_dir);
    let mut seen = Vec::new();
    wait_for_alert(&rx, &mut seen, "early@acmebank.com");
    std::fs::rename(drop_dir.join("dump.log"), drop_dir.join("dump.log.1")).unwrap();
    std::fs::write(drop_dir.join("dump.log"), "rotated@acmebank.com:pw1\n").unwrap();
    std::fs::write(drop_dir.join("later.txt"), "later@acmebank.com:pw2\n").unwrap();
    wait_for_alert(&rx, &mut seen, "rotated@acmebank.com");
    wait_for_alert(&rx, &mut seen, "later@acmebank.com");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let output = child.wait_with_output().expect("trawl exits");
    let _ = reader.join();
    let stderr = String::from_utf8_lossy(&output.stderr);
    // dump.log, its successor after the rotation, later.txt: three files of one line each;
    // dump.log.1 read again would make it four lines.
    assert!(
        stderr.contains("trawl: 3 sources, 3 lines, 0 skipped lines"),
        "{stderr}"
    );
}

/// A Censys CLI export (one indented array) gives the same findings as the one-host-a-line
/// file, each with the line its host starts on; a broken document is a warning with a line.
#[test]
fn pretty_printed_json_documents_are_read_whole() {
    let subjects_of = |file: &str, category: &str| {
        let data = tempfile::tempdir().unwrap();
        let out = watch(
            data.path(),
            &["--format", "jsonl"],
            &[fixtures().join(file)],
        );
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!stderr.contains("warning"), "{file}: {stderr}");
        let alerts = jsonl(&out);
        (subjects(&alerts, category), alerts)
    };
    let (lines, _) = subjects_of("censys.json", "exposed-service");
    let (pretty, alerts) = subjects_of("censys_pretty.json", "exposed-service");
    assert_eq!(pretty, lines);
    assert!(!pretty.is_empty());
    let (posts, _) = subjects_of("social.jsonl", "targeting-mention");
    let (pretty_posts, _) = subjects_of("social_pretty.json", "targeting-mention");
    assert_eq!(pretty_posts, posts);
    assert!(!posts.is_empty());
    // The second host of the array starts on line 24 of the indented file.
    let text = std::fs::read_to_string(fixtures().join("censys_pretty.json")).unwrap();
    let second_ip = "\"ip\": \"192.0.2.50\"";
    let host_line = text
        .lines()
        .position(|l| l.contains(second_ip))
        .expect("second host")
        // the `{` opening the host is the line before its "ip"
        ;
    assert_eq!(
        find(&alerts, "192.0.2.50:161/udp")["evidence"]["line"],
        host_line
    );

    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, &text[..text.len() / 2]).unwrap();
    let out = watch(dir.path(), &["--format", "jsonl"], &[broken]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("broken.json: line") && stderr.contains("JSON document"),
        "{stderr}"
    );
}
