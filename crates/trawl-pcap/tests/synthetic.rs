//! Edge-case captures written by `tests/gen/synthetic.py` (scapy), read by
//! the library and checked against tshark's field extraction.

#[path = "support/captures.rs"]
mod captures;
#[path = "support/tshark.rs"]
mod tshark;

use std::path::{Path, PathBuf};
use std::process::Command;

use captures::captures;

use trawl_pcap::{Analyzer, Options, Report};

fn capture(name: &str) -> PathBuf {
    captures().join(name)
}

fn analyze_with(path: &Path, options: Options) -> (Report, serde_json::Value) {
    let mut analyzer = Analyzer::new(options);
    let file = std::fs::File::open(path).expect("capture exists");
    analyzer
        .read(&path.display().to_string(), file)
        .expect("readable");
    let report = analyzer.finish();
    let json = serde_json::to_value(&report).expect("serialises");
    (report, json)
}

fn analyze(path: &Path) -> (Report, serde_json::Value) {
    analyze_with(path, Options::default())
}

const ALL: [&str; 10] = [
    "seed_mirai.pcap",
    "multi_if.pcapng",
    "be_nano.pcap",
    "sll2.pcap",
    "vlan.pcap",
    "ipv6.pcap",
    "fragments.pcap",
    "tcp_segments.pcap",
    "null_loop.pcapng",
    "truncated.pcap",
];

#[test]
fn every_capture_matches_tshark() {
    for name in ALL {
        let path = capture(name);
        let (report, json) = analyze(&path);
        let dns = tshark::assert_matches_tshark(&path, &json, &[]);
        assert!(!dns.queries.is_empty(), "{name}: no DNS queries found");
        assert!(!report.endpoints.is_empty(), "{name}: no endpoints");
        let stats = &report.summary.stats;
        assert_eq!(stats.unsupported_linktype_frames, 0, "{name}");
        assert_eq!(stats.malformed_frames, 0, "{name}");
    }
}

#[test]
fn seed_mirai_run_gives_the_seed_iocs() {
    let (report, _) = analyze(&capture("seed_mirai.pcap"));
    let google = report
        .resolvers
        .iter()
        .find(|r| r.ip.to_string() == "8.8.8.8")
        .expect("8.8.8.8 is a resolver");
    assert!(google.note.contains("hard-coded"), "{}", google.note);
    let c2_name = report
        .dns
        .iter()
        .find(|q| q.name == "hrjlyymassqx.tech")
        .expect("C2 query");
    assert!(c2_name.dga.as_ref().is_some_and(|d| d.mirai));
    assert_eq!(c2_name.answers[0].value, "94.156.128.73");
    assert_eq!(c2_name.answers[0].ttl, 59);
    let nx = report
        .dns
        .iter()
        .find(|q| q.name == "qqqqqqqqqqqq.online")
        .expect("NXDOMAIN query");
    assert_eq!(nx.rcodes, vec!["NXDOMAIN"]);

    assert_eq!(report.scans.len(), 1, "{:?}", report.scans);
    let scan = &report.scans[0];
    assert_eq!((scan.port, scan.destinations, scan.answered), (23, 41, 1));
    let c2 = report
        .endpoints
        .iter()
        .find(|e| e.ip.to_string() == "94.156.128.73")
        .expect("C2 endpoint");
    assert_eq!(c2.role, "contact");
    assert!(c2.c2_candidate);
    assert_eq!(c2.state, "established");
    assert_eq!(c2.from_dns, vec!["hrjlyymassqx.tech"]);
    assert_eq!((c2.sent.packets, c2.received.packets), (3, 2));
    let scanned = report.endpoints.iter().filter(|e| e.role == "scan").count();
    assert_eq!(scanned, 40);
    assert!(
        report
            .endpoints
            .iter()
            .filter(|e| e.role == "scan")
            .all(|e| e.state == "syn-only")
    );

    assert_eq!(report.tftp.len(), 1);
    assert_eq!(
        (report.tftp[0].op.as_str(), report.tftp[0].file.as_str()),
        ("RRQ", "7up")
    );

    let iocs = &report.iocs;
    for domain in ["hrjlyymassqx.tech", "inandoutand.in", "qqqqqqqqqqqq.online"] {
        assert!(
            iocs.domains.contains(&domain.to_string()),
            "{domain} missing: {iocs:?}"
        );
    }
    for ip in ["94.156.128.70", "94.156.128.73", "89.33.64.118"] {
        assert!(iocs.ips.contains(&ip.to_string()), "{ip} missing: {iocs:?}");
    }
    assert!(
        !iocs.ips.contains(&"8.8.8.8".to_string()),
        "resolver is not an IOC"
    );
    assert!(
        !iocs.ips.contains(&"172.17.0.2".to_string()),
        "private excluded"
    );
    assert!(
        !iocs.ips.iter().any(|ip| ip.starts_with("203.")),
        "scan targets excluded"
    );
    assert!(iocs.urls.contains(&"tftp://89.33.64.118/7up".to_string()));
    assert!(
        report
            .dga
            .iter()
            .any(|d| d.name == "hrjlyymassqx.tech" && d.mirai)
    );
}

#[test]
fn include_private_keeps_private_addresses() {
    let (report, _) = analyze_with(
        &capture("vlan.pcap"),
        Options {
            include_private: true,
            ..Options::default()
        },
    );
    assert!(
        report.iocs.ips.contains(&"10.1.1.1".to_string()),
        "{:?}",
        report.iocs
    );
    let (report, _) = analyze(&capture("vlan.pcap"));
    assert!(!report.iocs.ips.contains(&"10.1.1.1".to_string()));
}

#[test]
fn containers_and_link_types() {
    let (report, _) = analyze(&capture("multi_if.pcapng"));
    let file = &report.summary.files[0];
    assert_eq!(file.format, "pcapng");
    assert_eq!(file.linktypes, vec![1, 101]);
    assert_eq!(file.packets, 4);
    assert_eq!(
        report.summary.first_seen.as_deref(),
        Some("2016-12-20T15:04:11.692645Z")
    );

    let (report, _) = analyze(&capture("be_nano.pcap"));
    assert_eq!(report.summary.files[0].linktypes, vec![113]);
    assert_eq!(
        report.summary.last_seen.as_deref(),
        Some("2016-12-20T15:04:11.693645Z")
    );

    let (report, _) = analyze(&capture("sll2.pcap"));
    assert_eq!(report.summary.files[0].linktypes, vec![276]);
    let (report, _) = analyze(&capture("null_loop.pcapng"));
    assert_eq!(report.summary.files[0].linktypes, vec![0, 108]);
    assert_eq!(report.dns[0].answers[0].value, "198.51.100.11");
}

#[test]
fn fragments_and_ipv6_records() {
    let (report, _) = analyze(&capture("fragments.pcap"));
    for name in ["big.example.com", "big6.example.com"] {
        let q = report.dns.iter().find(|q| q.name == name).expect(name);
        assert_eq!(q.answers.len(), 1, "{name} reassembled");
        assert_eq!(q.answers[0].value.len(), 800);
    }
    let (report, _) = analyze(&capture("ipv6.pcap"));
    let types: Vec<&str> = report.dns.iter().map(|q| q.qtype.as_str()).collect();
    assert_eq!(types, ["AAAA", "MX", "NS", "TXT"]);
    let mx = &report.dns[1].answers[0];
    assert_eq!(
        (mx.value.as_str(), mx.preference),
        ("mx1.v6.example.com", Some(10))
    );
    let v6 = report
        .endpoints
        .iter()
        .find(|e| e.port == 443)
        .expect("v6 tcp endpoint");
    assert_eq!(v6.from_dns, vec!["v6.example.com"]);
    assert_eq!(v6.state, "established");
}

#[test]
fn tcp_reassembly_for_http_dns_and_tls() {
    let path = capture("tcp_segments.pcap");
    let (report, _) = analyze(&path);
    assert_eq!(report.http.len(), 1, "{:?}", report.http);
    let http = &report.http[0];
    assert_eq!(http.method, "GET");
    assert_eq!(http.uri, "/bins/7up.mips");
    assert_eq!(http.host.as_deref(), Some("dl.example.com:8080"));
    assert_eq!(http.user_agent.as_deref(), Some("Wget/1.20"));
    assert_eq!(http.status, Some(200));
    assert!(
        report.iocs.urls.is_empty(),
        "example.com is reserved (RFC 2606)"
    );
    let options = Options {
        include_private: true,
        ..Options::default()
    };
    let (with_private, _) = analyze_with(&path, options);
    let url = "http://dl.example.com:8080/bins/7up.mips".to_string();
    assert!(
        with_private.iocs.urls.contains(&url),
        "{:?}",
        with_private.iocs
    );

    let dns = report
        .dns
        .iter()
        .find(|q| q.name == "tcp.example.com")
        .expect("DNS over TCP");
    assert_eq!(dns.answers[0].value, "198.51.100.53");

    assert_eq!(report.tls.len(), 1);
    let tls = &report.tls[0];
    assert_eq!(tls.sni.as_deref(), Some("split.example.com"));
    assert_eq!(tls.alpn, vec!["h2", "http/1.1"]);
    let expected = Command::new("tshark")
        .arg("-r")
        .arg(&path)
        .args(["-n", "-Y", "tls.handshake.type == 1", "-T", "fields"])
        .args(["-e", "tls.handshake.ja3", "-e", "tls.handshake.ja3_full"])
        .output()
        .expect("tshark runs");
    let expected = String::from_utf8_lossy(&expected.stdout);
    let mut fields = expected.trim().split('\t');
    assert_eq!(Some(tls.ja3.as_str()), fields.next());
    assert_eq!(Some(tls.ja3_string.as_str()), fields.next());
}

#[test]
fn truncated_capture_keeps_what_was_read() {
    let (report, _) = analyze(&capture("truncated.pcap"));
    assert_eq!(report.summary.files[0].packets, 3);
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert_eq!(report.problems[0].packet, 4);
    assert!(report.problems[0].message.contains("truncated"));
    assert_eq!(report.dns[0].answers[0].value, "198.51.100.5");
}

#[test]
fn damaged_captures_never_panic() {
    // Deterministic byte flips and cuts over every generated capture.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for name in ALL {
        let original = std::fs::read(capture(name)).expect("read");
        for round in 0..60 {
            let mut bytes = original.clone();
            let flips = 1 + (next() % 12) as usize;
            for _ in 0..flips {
                let at = (next() as usize) % bytes.len();
                bytes[at] = next() as u8;
            }
            if round % 3 == 0 {
                let keep = (next() as usize) % bytes.len();
                bytes.truncate(keep);
            }
            let mut analyzer = Analyzer::new(Options::default());
            analyzer
                .read(name, bytes.as_slice())
                .expect("in-memory read");
            let report = analyzer.finish();
            let mut sink = Vec::new();
            trawl_pcap::render::write_report(&report, trawl_pcap::render::Format::Text, &mut sink)
                .expect("renders");
        }
    }
}
