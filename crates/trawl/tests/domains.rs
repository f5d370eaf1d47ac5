//! End-to-end tests of `trawl domains` with the built binary: permutation formats and edge
//! cases, feed matching over every feed layout, and `--resolve` against a real dnsmasq started
//! on 127.0.0.1 (Debian `dnsmasq-base`; the test fails if it is missing). No outside network.

use std::io::Write;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn trawl() -> Command {
    Command::new(env!("CARGO_BIN_EXE_trawl"))
}

fn run(args: &[&str]) -> Output {
    trawl().args(args).output().expect("trawl runs")
}

fn run_stdin(args: &[&str], input: &str) -> Output {
    let mut child = trawl()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("trawl runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("trawl finishes")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn lines(o: &Output) -> Vec<String> {
    stdout(o).lines().map(str::to_string).collect()
}

#[test]
fn permute_list_contains_seed_examples_and_no_duplicates() {
    let o = run(&["domains", "permute", "threatstream.com"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let names = lines(&o);
    assert_eq!(names[0], "threatstream.com");
    let unique: std::collections::HashSet<&String> = names.iter().collect();
    assert_eq!(unique.len(), names.len(), "duplicates in output");
    for seed in [
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
    ] {
        assert!(unique.contains(&seed.to_string()), "{seed} missing");
    }
}

#[test]
fn permute_formats_carry_technique_and_both_forms() {
    let o = run(&[
        "domains",
        "permute",
        "xn--80ak6aa92e.com",
        "--format",
        "csv",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let mut rows = csv::Reader::from_reader(text.as_bytes());
    let headers = rows.headers().unwrap().clone();
    assert_eq!(
        headers.iter().collect::<Vec<_>>(),
        ["input", "technique", "domain", "unicode"]
    );
    let records: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
    assert!(
        records.iter().any(|r| &r[1] == "addition"
            && &r[2] == "xn--0-7sbp7ba27f.com"
            && &r[3] == "аррӏе0.com")
    );
    assert!(
        records
            .iter()
            .any(|r| &r[1] == "ace-typo" && r[2].starts_with("www-xn--80ak6aa92e"))
    );

    let o = run(&[
        "domains",
        "permute",
        "paypal.com",
        "--format",
        "json",
        "--technique",
        "homoglyph",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let first: serde_json::Value =
        serde_json::from_str(stdout(&o).lines().nth(1).unwrap()).unwrap();
    assert_eq!(first["technique"], "homoglyph");
    assert_eq!(first["input"], "paypal.com");
    assert!(first["domain"].as_str().unwrap().ends_with(".com"));

    let o = run(&[
        "domains",
        "permute",
        "paypal.com",
        "--format",
        "table",
        "--technique",
        "cyrillic",
    ]);
    let text = stdout(&o);
    let row = text
        .lines()
        .find(|l| l.starts_with("cyrillic"))
        .expect("cyrillic row");
    assert!(
        row.contains("xn--80aa0cbo65f.com") && row.contains("раураӏ.com"),
        "{row}"
    );
}

#[test]
fn permute_input_edge_cases() {
    // Uppercase and a trailing dot are normalised.
    let o = run(&[
        "domains",
        "permute",
        "PayPal.COM.",
        "--technique",
        "omission",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(lines(&o).contains(&"aypal.com".to_string()));
    // Public suffixes from the PSL: the registrable label is permuted, the suffix kept.
    for (input, want, unwanted) in [
        ("example.co.uk", "exmple.co.uk", "example.co.k"),
        ("example.me.uk", "exmple.me.uk", "example.me.k"),
        ("example.github.io", "exmple.github.io", "example.githb.io"),
    ] {
        let o = run(&["domains", "permute", input]);
        let names = lines(&o);
        assert!(names.contains(&want.to_string()), "{input}: {want}");
        assert!(
            !names.contains(&unwanted.to_string()),
            "{input}: {unwanted}"
        );
    }
    let o = run(&[
        "domains",
        "permute",
        "example.co.uk",
        "--technique",
        "wrong-sld",
    ]);
    assert!(lines(&o).contains(&"example.ltd.uk".to_string()));
    // Invalid input: a clear one-line error and exit code 2.
    for bad in [
        "bad..com",
        "-bad.com",
        "co.uk",
        "xn--zz.com",
        "ex ample.com",
    ] {
        let o = run(&["domains", "permute", "--", bad]);
        assert_eq!(o.status.code(), Some(2), "{bad}");
        let err = stderr(&o);
        assert!(err.starts_with("trawl: invalid domain"), "{bad}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    // Batch input: bad lines are reported with their line number, the rest is permuted.
    let o = run_stdin(
        &["domains", "permute", "-", "--technique", "omission"],
        "# list\npaypal.com\nbad_domain\nups.com\n",
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("stdin: line 3: invalid domain \"bad_domain\""),
        "{}",
        stderr(&o)
    );
    let names = lines(&o);
    assert!(names.contains(&"aypal.com".to_string()) && names.contains(&"us.com".to_string()));
}

#[test]
fn permute_depth_two_chains_edits() {
    let o = run(&[
        "domains", "permute", "ups.com", "--depth", "2", "--format", "csv",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let chained = text
        .lines()
        .filter(|l| l.split(',').nth(1).is_some_and(|t| t.contains('+')))
        .count();
    assert!(chained > 100, "{chained} depth-2 names");
    assert!(
        text.lines()
            .any(|l| l.contains(",omission+omission,u.com,"))
            || text.contains(",u.com,"),
        "two omissions"
    );
    let o = run(&["domains", "permute", "ups.com", "--depth", "3"]);
    assert_eq!(o.status.code(), Some(2));
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "trawl-domains-e2e-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn match_reads_every_feed_layout() {
    let dir = temp_dir();
    let inventory = write(
        &dir,
        "brands.toml",
        "allow = [\"paypal-community.com\"]\n\n[[brand]]\nname = \"PayPal\"\ndomains = [\"paypal.com\"]\n\n[[brand]]\nname = \"UPS\"\ndomains = [\"ups.com\"]\n",
    );
    let list = write(
        &dir,
        "list.txt",
        "paypal.com\npaypa1.com\npaypal-community.com\ngroups.com\nups-tracking.net\n",
    );
    let certstream = write(
        &dir,
        "certstream.jsonl",
        concat!(
            "{\"message_type\":\"heartbeat\"}\n",
            "{\"message_type\":\"certificate_update\",\"data\":{\"leaf_cert\":{\"all_domains\":[\"*.paypa1.com\",\"benign.org\"]}}}\n",
            "{broken\n",
        ),
    );
    let zeek_tsv = write(
        &dir,
        "dns.log",
        "#separator \\x09\n#fields\tts\tuid\tquery\tqtype_name\n#types\ttime\tstring\tstring\tstring\n1.0\tC1\tlogin.paypa1.com\tA\n2.0\tC2\t-\tA\n",
    );
    let zeek_json = write(
        &dir,
        "dns.json",
        "{\"ts\":1.0,\"query\":\"xn--pypal-4ve.com\"}\n{\"ts\":2.0}\n",
    );
    let csv_feed = write(
        &dir,
        "feed.csv",
        "rank,domain\n1,google.com\n2,paypa1.net\n",
    );
    let plain = write(&dir, "feed.txt", "paypal-login.com\n");
    let gz_path = dir.join("feed.txt.gz");
    gzip(Path::new(&plain), &gz_path);
    let cases: Vec<(Vec<&str>, &str, Vec<&str>)> = vec![
        (
            vec![list.as_str()],
            "auto",
            vec!["paypa1.com", "ups-tracking.net"],
        ),
        (vec![certstream.as_str()], "auto", vec!["paypa1.com"]),
        (vec![zeek_tsv.as_str()], "zeek", vec!["login.paypa1.com"]),
        (
            vec![zeek_json.as_str()],
            "zeek-json",
            vec!["xn--pypal-4ve.com"],
        ),
        (vec![csv_feed.as_str()], "csv:domain", vec!["paypa1.net"]),
        (
            vec![gz_path.to_str().unwrap()],
            "list",
            vec!["paypal-login.com"],
        ),
    ];
    for (feeds, format, want) in cases {
        let mut args = vec![
            "domains",
            "match",
            "--inventory",
            inventory.as_str(),
            "--feed-format",
            format,
            "--format",
            "csv",
        ];
        args.extend(feeds.iter().copied());
        let o = run(&args);
        assert!(o.status.success(), "{format}: {}", stderr(&o));
        let text = stdout(&o);
        let got: Vec<String> = text
            .lines()
            .skip(1)
            .filter_map(|l| l.split(',').next())
            .map(str::to_string)
            .collect();
        assert_eq!(got, want, "{format}: {text}");
    }
    // A broken CertStream line is reported with its line number; reading goes on.
    let o = run(&["domains", "match", "--inventory", &inventory, &certstream]);
    assert!(
        stderr(&o).contains("line 3: invalid JSON"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("1 bad lines"), "{}", stderr(&o));
    // Stdin, JSON output with brand, technique, distance, score and explanation.
    let o = run_stdin(
        &[
            "domains",
            "match",
            "--brand",
            "paypal.com",
            "--format",
            "json",
        ],
        "paypa1.com\n",
    );
    let hit: serde_json::Value = serde_json::from_str(stdout(&o).lines().next().unwrap()).unwrap();
    assert_eq!(hit["brand_domain"], "paypal.com");
    assert_eq!(hit["technique"], "homoglyph");
    assert_eq!(hit["distance"], 1);
    assert_eq!(hit["score"], 95);
    assert!(
        hit["explanation"]
            .as_str()
            .unwrap()
            .contains("homoglyph permutation of paypal.com")
    );
    // A broken inventory is a clear error naming the file and line.
    let bad = write(
        &dir,
        "bad.toml",
        "[[brand]]\ndomains = [\"paypal.com\"]\nkeyword = \"x\"\n",
    );
    let o = run(&["domains", "match", "--inventory", &bad, &list]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("bad.toml: line 3"), "{}", stderr(&o));
    std::fs::remove_dir_all(&dir).ok();
}

/// Compresses with the system gzip (a real tool; the test fails if it is missing).
fn gzip(src: &Path, dst: &Path) {
    let out = Command::new("gzip")
        .arg("-c")
        .arg(src)
        .output()
        .expect("gzip is required for this test");
    assert!(out.status.success());
    std::fs::write(dst, out.stdout).unwrap();
}

struct Dnsmasq {
    child: Child,
    port: u16,
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn dns_query(port: u16, name: &str) -> Option<Vec<u8>> {
    let sock = UdpSocket::bind("127.0.0.1:0").ok()?;
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .ok()?;
    let mut q = vec![0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    sock.send_to(&q, ("127.0.0.1", port)).ok()?;
    let mut buf = [0u8; 512];
    let (n, _) = sock.recv_from(&mut buf).ok()?;
    Some(buf[..n].to_vec())
}

/// Starts dnsmasq on a free loopback port and waits (up to 20 s, the machine may be loaded)
/// until it answers. If it exits early (the port was taken in between), retries on another
/// port; a failure shows dnsmasq's stderr.
fn start_dnsmasq() -> Dnsmasq {
    let binary = ["/usr/sbin/dnsmasq", "/usr/bin/dnsmasq"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("dnsmasq is required for this test: apt-get install dnsmasq-base (scripts/deps/domains.apt)");
    let mut failures = Vec::new();
    for _attempt in 0..3 {
        match try_start_dnsmasq(binary) {
            Ok(d) => return d,
            Err(why) => failures.push(why),
        }
    }
    panic!("dnsmasq did not start:\n{}", failures.join("\n"));
}

fn try_start_dnsmasq(binary: &str) -> Result<Dnsmasq, String> {
    let port = {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap().port()
    };
    let child = Command::new(binary)
        .args([
            "--keep-in-foreground",
            "--no-resolv",
            "--no-hosts",
            "--no-poll",
            "--bind-interfaces",
            "--listen-address=127.0.0.1",
            "--pid-file=",
            "--user=nobody",
            "--group=nogroup",
            &format!("--port={port}"),
            "--address=/paypa1.com/10.11.12.13",
            "--address=/paypa1.com/fd00::13",
            "--mx-host=paypa1.com,mail.paypa1.com,10",
            "--address=/xn--pypal-4ve.com/10.11.12.14",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dnsmasq starts");
    let mut d = Dnsmasq { child, port };
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if dns_query(port, "paypa1.com").is_some() {
            return Ok(d);
        }
        if let Ok(Some(status)) = d.child.try_wait() {
            return Err(format!(
                "dnsmasq on 127.0.0.1:{port} exited ({status}): {}",
                dnsmasq_stderr(&mut d)
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = d.child.kill();
    let _ = d.child.wait();
    Err(format!(
        "dnsmasq did not answer on 127.0.0.1:{port} within 20 s; stderr: {}",
        dnsmasq_stderr(&mut d)
    ))
}

/// What dnsmasq wrote to stderr (call only once it has exited).
fn dnsmasq_stderr(d: &mut Dnsmasq) -> String {
    let mut text = String::new();
    if let Some(mut e) = d.child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut text);
    }
    text.trim().to_string()
}

#[test]
fn resolve_against_local_dnsmasq() {
    let dns = start_dnsmasq();
    let ns = format!("127.0.0.1:{}", dns.port);
    let o = run(&[
        "domains",
        "permute",
        "paypal.com",
        "--technique",
        "homoglyph",
        "--resolve",
        "--nameserver",
        &ns,
        "--timeout-ms",
        "1500",
        "--concurrency",
        "32",
        "--registered",
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 1, "only paypa1.com is registered: {rows:?}");
    let dns_rec = &rows[0]["dns"];
    assert_eq!(rows[0]["domain"], "paypa1.com");
    assert_eq!(dns_rec["a"], serde_json::json!(["10.11.12.13"]));
    assert_eq!(dns_rec["aaaa"], serde_json::json!(["fd00::13"]));
    assert_eq!(dns_rec["mx"], serde_json::json!(["mail.paypa1.com"]));

    let o = run_stdin(
        &[
            "domains",
            "match",
            "--brand",
            "paypal.com",
            "--resolve",
            "--nameserver",
            &ns,
            "--format",
            "csv",
        ],
        "paypa1.com\nxn--pypal-4ve.com\npaypa1.org\n",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.lines().next().unwrap().ends_with(",a,aaaa,ns,mx"));
    assert!(
        text.lines().any(|l| l.starts_with("paypa1.com,")
            && l.contains(",10.11.12.13,fd00::13,,mail.paypa1.com")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("xn--pypal-4ve.com,") && l.contains(",10.11.12.14,")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("paypa1.org,") && l.ends_with(",,,,")),
        "{text}"
    );
}
