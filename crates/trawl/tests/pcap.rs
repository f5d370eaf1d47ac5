//! End-to-end tests of `trawl pcap`: a live loopback capture recorded with
//! tcpdump while real clients (dig, curl, tftp) talk to real local servers
//! (dnsmasq, python http.server, openssl s_server, tftpd-hpa), plus a SYN
//! burst to many 127.x.y.z addresses; and CLI behaviour (stdin, formats,
//! --iocs-only, --strict) on scapy-written captures. Every tool is required:
//! a missing one fails the test (install with scripts/test, see
//! scripts/deps/pcap.apt and pcap.pip).
//!
//! All traffic stays on 127.0.0.0/8.

#[path = "../../trawl-pcap/tests/support/tshark.rs"]
mod tshark;

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const TRAWL: &str = env!("CARGO_BIN_EXE_trawl");

/// Kills (by handle) a server this test started, when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(program: &str, args: &[&str]) -> Guard {
    tshark::require_tool(program);
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
    Guard(child)
}

fn run(program: &str, args: &[&str]) -> Output {
    tshark::require_tool(program);
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
}

/// A port free for both TCP and UDP on 127.0.0.1.
fn free_port() -> u16 {
    loop {
        let tcp = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = tcp.local_addr().expect("addr").port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() && port < 60000 {
            return port;
        }
    }
}

/// `count` consecutive ports free on 127.0.0.1 (for tftpd's data range).
fn free_range(count: u16) -> u16 {
    'search: loop {
        let base = free_port();
        for p in base..base + count {
            if UdpSocket::bind(("127.0.0.1", p)).is_err() {
                continue 'search;
            }
        }
        return base;
    }
}

fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if ready() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what} did not become ready within 20 s");
}

fn tcp_ready(addr: &str) -> bool {
    let addr: SocketAddr = addr.parse().expect("socket address");
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

fn dig(port: u16, args: &[&str]) -> String {
    let port = port.to_string();
    let mut all = vec!["@127.0.0.1", "-p", port.as_str(), "+tries=1", "+time=3"];
    all.extend_from_slice(args);
    let out = run("dig", &all);
    assert!(out.status.success(), "dig {args:?} failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn trawl(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(TRAWL)
        .arg("pcap")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("trawl runs");
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.map(<[u8]>::to_vec).unwrap_or_default();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().expect("trawl finishes");
    writer.join().expect("stdin writer");
    out
}

fn json_of(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "trawl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("trawl prints JSON")
}

/// tcpdump recording on lo until stopped with SIGINT.
struct Recorder {
    child: Guard,
    file: PathBuf,
}

impl Recorder {
    fn start(file: &Path, filter: &str) -> Recorder {
        tshark::require_tool("tcpdump");
        let mut child = Command::new("tcpdump")
            // lo frames can be 64 KiB: a 64 MiB ring holds ~1000 of them, so a
            // slow tcpdump on a busy machine does not drop the SYN burst.
            .args(["-i", "lo", "-n", "-U", "-s", "65600", "-B", "65536"])
            .args(["--immediate-mode", "-w"])
            .arg(file)
            .arg(filter)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tcpdump starts");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("listening on") {
                    let _ = tx.send(());
                }
                // tcpdump's closing statistics, shown if the test fails.
                eprintln!("tcpdump: {line}");
            }
        });
        rx.recv_timeout(Duration::from_secs(20))
            .expect("tcpdump is listening on lo (needs root / CAP_NET_RAW)");
        Recorder {
            child: Guard(child),
            file: file.to_path_buf(),
        }
    }

    fn stop(self) -> PathBuf {
        // tcpdump may lag behind on a busy machine: wait until the file has
        // stopped growing for a second (at most 20 s) before interrupting it,
        // or packets still in the kernel buffer would be lost.
        let size = || std::fs::metadata(&self.file).map_or(0, |m| m.len());
        let deadline = Instant::now() + Duration::from_secs(20);
        let (mut last, mut stable) = (size(), 0);
        while stable < 4 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(250));
            let now = size();
            stable = if now == last { stable + 1 } else { 0 };
            last = now;
        }
        let pid = self.child.0.id().to_string();
        let status = Command::new("kill").args(["-INT", &pid]).status();
        assert!(status.is_ok_and(|s| s.success()), "cannot stop tcpdump");
        let mut guard = self.child;
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if guard.0.try_wait().ok().flatten().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.file
    }
}

struct Ports {
    dns: u16,
    http: u16,
    tls: u16,
    tftp: u16,
    tftp_data: u16,
    scan: u16,
}

const SCAN_TARGETS: u8 = 48;

#[test]
fn live_loopback_capture_matches_tshark() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let ports = Ports {
        dns: free_port(),
        http: free_port(),
        tls: free_port(),
        tftp: free_port(),
        tftp_data: free_range(20),
        scan: free_port(),
    };
    let _servers = start_servers(root, &ports);
    let filter = format!(
        "port {} or port {} or port {} or port {} or portrange {}-{} or port {}",
        ports.dns,
        ports.http,
        ports.tls,
        ports.tftp,
        ports.tftp_data,
        ports.tftp_data + 19,
        ports.scan
    );
    let recorder = Recorder::start(&root.join("live.pcap"), &filter);
    make_traffic(root, &ports);
    let file = recorder.stop();

    let dns_port = ports.dns.to_string();
    let file_arg = file.to_str().expect("utf-8 path");
    let report = json_of(&trawl(
        &[
            file_arg,
            "--format",
            "json",
            "--include-private",
            "--dns-port",
            &dns_port,
        ],
        None,
    ));
    tshark::assert_matches_tshark(&file, &report, &[ports.dns]);
    check_live_report(&report, &ports, &file);

    let iocs = trawl(
        &[
            file_arg,
            "--iocs-only",
            "--include-private",
            "--dns-port",
            &dns_port,
        ],
        None,
    );
    let iocs = String::from_utf8_lossy(&iocs.stdout);
    for expected in [
        "c2.trawl-test.com".to_string(),
        "hrjlyymassqx.tech".to_string(),
        "127.0.0.77".to_string(),
        format!("http://c2.trawl-test.com:{}/payload.sh", ports.http),
        format!("tftp://127.0.0.1:{}/7up", ports.tftp),
    ] {
        assert!(
            iocs.lines().any(|l| l == expected),
            "{expected} not in IOCs:\n{iocs}"
        );
    }
    let public_only = trawl(&[file_arg, "--iocs-only", "--dns-port", &dns_port], None);
    let public_only = String::from_utf8_lossy(&public_only.stdout);
    assert!(
        !public_only.contains("127.0.0."),
        "loopback excluded by default:\n{public_only}"
    );
    assert!(public_only.lines().any(|l| l == "hrjlyymassqx.tech"));
}

fn start_servers(root: &Path, ports: &Ports) -> Vec<Guard> {
    let www = root.join("www");
    let tftp_root = root.join("tftp");
    std::fs::create_dir_all(&www).expect("www");
    std::fs::create_dir_all(&tftp_root).expect("tftp root");
    std::fs::write(www.join("payload.sh"), "#!/bin/sh\necho pwned\n").expect("payload");
    std::fs::write(tftp_root.join("7up"), vec![0x7f; 3000]).expect("7up");
    run("chmod", &["-R", "a+rX", root.to_str().expect("utf-8")]);
    let cert = root.join("cert.pem");
    let key = root.join("key.pem");
    let out = run(
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            "/CN=tls.trawl-test.com",
            "-days",
            "1",
            "-keyout",
            key.to_str().expect("utf-8"),
            "-out",
            cert.to_str().expect("utf-8"),
        ],
    );
    assert!(out.status.success(), "openssl req failed");

    let dns_port = format!("--port={}", ports.dns);
    let http_port = ports.http.to_string();
    let tls_accept = format!("127.0.0.1:{}", ports.tls);
    let tftp_addr = format!("127.0.0.1:{}", ports.tftp);
    let tftp_range = format!("{}:{}", ports.tftp_data, ports.tftp_data + 19);
    let servers = vec![
        spawn(
            "dnsmasq",
            &[
                "--no-daemon",
                "--conf-file=/dev/null",
                "--no-resolv",
                "--no-hosts",
                "--listen-address=127.0.0.1",
                "--bind-interfaces",
                &dns_port,
                "--pid-file=",
                "--local-ttl=600",
                "--host-record=c2.trawl-test.com,127.0.0.77,fd00::77",
                "--cname=alias.trawl-test.com,c2.trawl-test.com",
                "--mx-host=trawl-test.com,mail.trawl-test.com,10",
                "--txt-record=txt.trawl-test.com,v=spf1 -all",
                "--address=/nx.trawl-test.com/",
                "--address=/hrjlyymassqx.tech/127.0.0.73",
                "--address=/tcp.trawl-test.com/127.0.0.88",
            ],
        ),
        spawn(
            "python3",
            &[
                "-m",
                "http.server",
                &http_port,
                "--bind",
                "127.0.0.77",
                "--directory",
                www.to_str().expect("utf-8"),
            ],
        ),
        spawn(
            "openssl",
            &[
                "s_server",
                "-accept",
                &tls_accept,
                "-cert",
                cert.to_str().expect("utf-8"),
                "-key",
                key.to_str().expect("utf-8"),
                "-www",
                "-quiet",
            ],
        ),
        spawn(
            "in.tftpd",
            &[
                "-L",
                "-a",
                &tftp_addr,
                "-s",
                tftp_root.to_str().expect("utf-8"),
                "-R",
                &tftp_range,
                "-u",
                "nobody",
            ],
        ),
    ];
    wait_until("dnsmasq", || {
        let out = run(
            "dig",
            &[
                "@127.0.0.1",
                "-p",
                &ports.dns.to_string(),
                "+tries=1",
                "+time=1",
                "+short",
                "c2.trawl-test.com",
            ],
        );
        String::from_utf8_lossy(&out.stdout).contains("127.0.0.77")
    });
    wait_until("http.server", || {
        tcp_ready(&format!("127.0.0.77:{}", ports.http))
    });
    wait_until("openssl s_server", || tcp_ready(&tls_accept));
    let probe = root.join("probe");
    wait_until("tftpd", || {
        run(
            "tftp",
            &[
                "127.0.0.1",
                &ports.tftp.to_string(),
                "-m",
                "binary",
                "-c",
                "get",
                "7up",
                probe.to_str().expect("utf-8"),
            ],
        );
        std::fs::metadata(&probe).is_ok_and(|m| m.len() == 3000)
    });
    servers
}

fn make_traffic(root: &Path, ports: &Ports) {
    assert!(dig(ports.dns, &["c2.trawl-test.com", "A"]).contains("127.0.0.77"));
    assert!(dig(ports.dns, &["c2.trawl-test.com", "AAAA"]).contains("fd00::77"));
    assert!(dig(ports.dns, &["alias.trawl-test.com", "A"]).contains("CNAME"));
    assert!(dig(ports.dns, &["trawl-test.com", "MX"]).contains("mail.trawl-test.com"));
    assert!(dig(ports.dns, &["txt.trawl-test.com", "TXT"]).contains("v=spf1"));
    assert!(dig(ports.dns, &["nx.trawl-test.com", "A"]).contains("NXDOMAIN"));
    assert!(dig(ports.dns, &["hrjlyymassqx.tech", "A"]).contains("127.0.0.73"));
    assert!(dig(ports.dns, &["+tcp", "tcp.trawl-test.com", "A"]).contains("127.0.0.88"));

    let resolve = format!("c2.trawl-test.com:{}:127.0.0.77", ports.http);
    for (path, code) in [("payload.sh", "200"), ("missing.bin", "404")] {
        let url = format!("http://c2.trawl-test.com:{}/{path}", ports.http);
        let out = run(
            "curl",
            &[
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "-A",
                "trawl-test-agent/1.0",
                "--resolve",
                &resolve,
                &url,
            ],
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), code, "curl {url}");
    }
    let resolve = format!("tls.trawl-test.com:{}:127.0.0.1", ports.tls);
    let url = format!("https://tls.trawl-test.com:{}/", ports.tls);
    let out = run(
        "curl",
        &[
            "-sk",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--resolve",
            &resolve,
            &url,
        ],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200", "curl {url}");

    let fetched = root.join("7up.fetched");
    run(
        "tftp",
        &[
            "127.0.0.1",
            &ports.tftp.to_string(),
            "-m",
            "binary",
            "-c",
            "get",
            "7up",
            fetched.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(
        std::fs::metadata(&fetched).map(|m| m.len()).ok(),
        Some(3000),
        "tftp get"
    );

    // SYN burst to 127.0.0.0/8 only; nothing listens, the kernel answers RST.
    for i in 0..SCAN_TARGETS {
        let ip = Ipv4Addr::new(127, 1, i, i.wrapping_mul(3).wrapping_add(1));
        let addr = SocketAddr::from((ip, ports.scan));
        assert!(TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_err());
    }
}

fn check_live_report(report: &serde_json::Value, ports: &Ports, file: &Path) {
    let dns = report["dns"].as_array().expect("dns");
    let find = |name: &str, qtype: &str| {
        dns.iter()
            .find(|q| q["name"] == name && q["type"] == qtype)
            .unwrap_or_else(|| panic!("no {name} {qtype} in {dns:?}"))
    };
    assert_eq!(find("nx.trawl-test.com", "A")["rcodes"][0], "NXDOMAIN");
    let c2 = find("c2.trawl-test.com", "A");
    assert_eq!(c2["answers"][0]["value"], "127.0.0.77");
    assert_eq!(c2["answers"][0]["ttl"], 600);
    assert_eq!(c2["resolver"], "127.0.0.1");
    assert_eq!(
        find("c2.trawl-test.com", "AAAA")["answers"][0]["value"],
        "fd00::77"
    );
    assert_eq!(find("trawl-test.com", "MX")["answers"][0]["preference"], 10);
    assert_eq!(
        find("txt.trawl-test.com", "TXT")["answers"][0]["value"],
        "v=spf1 -all"
    );
    assert!(
        find("tcp.trawl-test.com", "A")["answers"][0]["value"] == "127.0.0.88",
        "DNS over TCP"
    );
    assert_eq!(find("hrjlyymassqx.tech", "A")["dga"]["mirai"], true);

    let http = report["http"].as_array().expect("http");
    assert_eq!(http.len(), 2, "{http:?}");
    for (record, (uri, status)) in http
        .iter()
        .zip([("/payload.sh", 200), ("/missing.bin", 404)])
    {
        assert_eq!(record["method"], "GET");
        assert_eq!(record["uri"], uri);
        assert_eq!(record["host"], format!("c2.trawl-test.com:{}", ports.http));
        assert_eq!(record["user_agent"], "trawl-test-agent/1.0");
        assert_eq!(record["status"], status);
    }
    let endpoints = report["endpoints"].as_array().expect("endpoints");
    let web = endpoints
        .iter()
        .find(|e| e["ip"] == "127.0.0.77" && e["port"] == ports.http)
        .expect("web endpoint");
    // Both names resolved to it: c2 directly, alias through its CNAME.
    assert_eq!(
        web["from_dns"],
        serde_json::json!(["alias.trawl-test.com", "c2.trawl-test.com"])
    );
    assert_eq!(web["state"], "established");
    assert_eq!(web["flows"], 2);
    assert!(web["received"]["bytes"].as_u64() > Some(100));

    let tls = &report["tls"][0];
    assert_eq!(tls["sni"], "tls.trawl-test.com");
    let expected = run(
        "tshark",
        &[
            "-r",
            file.to_str().expect("utf-8"),
            "-n",
            "-Y",
            "tls.handshake.type == 1",
            "-T",
            "fields",
            "-e",
            "tls.handshake.ja3",
            "-e",
            "tls.handshake.extensions_alpn_str",
        ],
    );
    let expected = String::from_utf8_lossy(&expected.stdout);
    let (ja3, alpn) = expected
        .trim()
        .split_once('\t')
        .expect("tshark saw the ClientHello");
    assert_eq!(tls["ja3"], ja3);
    let alpn: Vec<&str> = alpn.split(',').collect();
    assert_eq!(tls["alpn"], serde_json::json!(alpn));

    let tftp = &report["tftp"][0];
    assert_eq!(
        (tftp["op"].as_str(), tftp["file"].as_str()),
        (Some("RRQ"), Some("7up"))
    );

    let scans = report["scans"].as_array().expect("scans");
    let scan = scans
        .iter()
        .find(|s| s["port"] == ports.scan)
        .unwrap_or_else(|| {
            let on_port: Vec<_> = endpoints
                .iter()
                .filter(|e| e["port"] == ports.scan)
                .collect();
            panic!(
                "scan on {} not found: {scans:?}; {} endpoints on that port: {on_port:?}",
                ports.scan,
                on_port.len()
            )
        });
    assert_eq!(scan["destinations"], u64::from(SCAN_TARGETS));
    assert_eq!(scan["answered"], 0);
    let scanned = endpoints.iter().filter(|e| e["role"] == "scan").count();
    assert_eq!(scanned, usize::from(SCAN_TARGETS));
    assert!(
        endpoints
            .iter()
            .filter(|e| e["role"] == "scan")
            .all(|e| e["state"] == "syn-only")
    );
    assert!(report["problems"].as_array().expect("problems").is_empty());
}

/// Scapy-written captures from the library's generator.
fn synthetic() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../trawl-pcap/tests/gen/synthetic.py");
    let out = run(
        "python3",
        &[
            script.to_str().expect("utf-8"),
            dir.path().to_str().expect("utf-8"),
        ],
    );
    assert!(
        out.status.success(),
        "synthetic.py failed (scapy installed?): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

#[test]
fn cli_stdin_formats_and_strict() {
    let dir = synthetic();
    let seed = dir.path().join("seed_mirai.pcap");
    let seed_arg = seed.to_str().expect("utf-8");
    let bytes = std::fs::read(&seed).expect("read");

    let from_stdin = json_of(&trawl(&["-", "--format", "json"], Some(&bytes)));
    let from_file = json_of(&trawl(&[seed_arg, "--format", "json"], None));
    assert_eq!(from_stdin["dns"], from_file["dns"]);
    assert_eq!(from_stdin["endpoints"], from_file["endpoints"]);
    tshark::assert_matches_tshark(&seed, &from_stdin, &[]);

    let text = trawl(&[seed_arg], None);
    let text = String::from_utf8_lossy(&text.stdout);
    for needle in [
        "hrjlyymassqx.tech",
        "MIRAI-DGA",
        "Google Public DNS",
        "23/tcp: 41 destinations",
        "RRQ 7up",
    ] {
        assert!(text.contains(needle), "text report lacks {needle}:\n{text}");
    }
    let md = trawl(&[seed_arg, "--format", "md"], None);
    let md = String::from_utf8_lossy(&md.stdout);
    assert!(md.starts_with("# trawl pcap report"));
    assert!(md.contains("| first seen | name |"));

    let csv = trawl(&[seed_arg, "--format", "csv"], None);
    let csv = String::from_utf8_lossy(&csv.stdout);
    let mut rows = csv.lines();
    assert!(
        rows.next()
            .is_some_and(|h| h.starts_with("kind,first_seen"))
    );
    assert!(
        csv.lines()
            .any(|l| l.starts_with("dns_answer,") && l.contains("94.156.128.73"))
    );
    assert!(csv.lines().any(|l| l.starts_with("scan,")));

    let iocs_json = json_of(&trawl(&[seed_arg, "--iocs-only", "--format", "json"], None));
    assert_eq!(
        iocs_json["urls"],
        serde_json::json!(["tftp://89.33.64.118/7up"])
    );
    let iocs = trawl(&[seed_arg, "--iocs-only"], None);
    let iocs = String::from_utf8_lossy(&iocs.stdout);
    let lines: Vec<&str> = iocs.lines().collect();
    assert_eq!(
        lines,
        [
            "hrjlyymassqx.tech",
            "inandoutand.in",
            "qqqqqqqqqqqq.online",
            "89.33.64.118",
            "94.156.128.70",
            "94.156.128.73",
            "tftp://89.33.64.118/7up"
        ]
    );

    // Several files at once: one report over both.
    let vlan = dir.path().join("vlan.pcap");
    let both = json_of(&trawl(
        &[seed_arg, vlan.to_str().expect("utf-8"), "--format", "json"],
        None,
    ));
    assert_eq!(both["summary"]["files"].as_array().map(Vec::len), Some(2));

    let truncated = dir.path().join("truncated.pcap");
    let truncated_arg = truncated.to_str().expect("utf-8");
    let lenient = trawl(&[truncated_arg, "--format", "json"], None);
    assert!(lenient.status.success());
    let stderr = String::from_utf8_lossy(&lenient.stderr);
    assert!(
        stderr.contains("packet 4") && stderr.contains("truncated"),
        "{stderr}"
    );
    let strict = trawl(&[truncated_arg, "--strict"], None);
    assert_eq!(strict.status.code(), Some(1));
    let garbage = trawl(&["-", "--strict"], Some(b"definitely not a capture"));
    assert_eq!(garbage.status.code(), Some(1));
    let missing = trawl(&["/nonexistent/capture.pcap"], None);
    assert_eq!(missing.status.code(), Some(2));
}
