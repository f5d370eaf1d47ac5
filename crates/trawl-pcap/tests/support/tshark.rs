//! Ground truth from tshark: the DNS query/answer set and the endpoint set of
//! a capture, extracted with `tshark -T fields`, and the same sets taken from
//! a trawl JSON report, so tests can assert they are equal.
//!
//! Shared by `trawl-pcap/tests/synthetic.rs` and `trawl/tests/pcap.rs`
//! (included with `#[path]`).

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// (name, qtype code, resolver ip).
pub type QueryKey = (String, u16, String);

/// DNS facts comparable between tshark and trawl.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct DnsSets {
    /// Queries sent: (name, qtype, resolver).
    pub queries: BTreeSet<QueryKey>,
    /// Responses: (name, qtype, resolver, rcode).
    pub responses: BTreeSet<(String, u16, String, u16)>,
    /// Answers: (question name, owner, type code, value, ttl).
    pub answers: BTreeSet<(String, String, u16, String, u32)>,
}

/// Panics with a clear message when a required tool is not installed.
pub fn require_tool(tool: &str) {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "required tool `{tool}` is not installed (see scripts/deps/pcap.apt); this test does not skip"
    );
}

fn tshark_fields(
    file: &Path,
    filter: &str,
    decode_as: &[String],
    fields: &[&str],
) -> Vec<Vec<String>> {
    require_tool("tshark");
    let mut cmd = Command::new("tshark");
    cmd.arg("-r")
        .arg(file)
        .args(["-n", "-Y", filter, "-T", "fields"]);
    cmd.args([
        "-E",
        "separator=/t",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=|",
    ]);
    for rule in decode_as {
        cmd.args(["-d", rule]);
    }
    for field in fields {
        cmd.args(["-e", field]);
    }
    let output = cmd.output().expect("tshark runs");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| line.split('\t').map(str::to_string).collect())
        .collect()
}

fn list(cell: Option<&String>) -> Vec<String> {
    cell.map(|c| {
        c.split('|')
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .collect()
    })
    .unwrap_or_default()
}

fn first(row: &[String], a: usize, b: usize) -> String {
    list(row.get(a))
        .into_iter()
        .chain(list(row.get(b)))
        .next()
        .unwrap_or_default()
}

/// DNS sets as tshark sees them (`dns_ports` besides 53 are decoded as DNS).
pub fn tshark_dns(file: &Path, dns_ports: &[u16]) -> DnsSets {
    let decode_as: Vec<String> = dns_ports
        .iter()
        .flat_map(|p| [format!("udp.port=={p},dns"), format!("tcp.port=={p},dns")])
        .collect();
    let fields = [
        "ip.src",
        "ipv6.src",
        "ip.dst",
        "ipv6.dst",
        "dns.flags.response",
        "dns.flags.rcode",
        "dns.qry.name",
        "dns.qry.type",
        "dns.count.answers",
        "dns.resp.name",
        "dns.resp.type",
        "dns.resp.ttl",
        "dns.a",
        "dns.aaaa",
        "dns.cname",
        "dns.mx.mail_exchange",
        "dns.ns",
        "dns.txt",
    ];
    let mut sets = DnsSets::default();
    for row in tshark_fields(file, "dns && !icmp && !icmpv6", &decode_as, &fields) {
        let src = first(&row, 0, 1);
        let dst = first(&row, 2, 3);
        let response = row.get(4).is_some_and(|v| v == "1" || v == "True");
        let name = list(row.get(6))
            .first()
            .cloned()
            .unwrap_or_default()
            .to_lowercase();
        let qtype: u16 = list(row.get(7))
            .first()
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        if !response {
            sets.queries.insert((name, qtype, dst));
            continue;
        }
        let rcode = list(row.get(5))
            .first()
            .and_then(|r| r.parse().ok())
            .unwrap_or(0);
        sets.responses.insert((name.clone(), qtype, src, rcode));
        let count: usize = list(row.get(8))
            .first()
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let owners = list(row.get(9));
        let types = list(row.get(10));
        let ttls = list(row.get(11));
        let mut values: Vec<(u16, std::vec::IntoIter<String>)> =
            [(1u16, 12usize), (28, 13), (5, 14), (15, 15), (2, 16)]
                .into_iter()
                .map(|(t, col)| (t, list(row.get(col)).into_iter()))
                .collect();
        let txt = list(row.get(17)).concat();
        for i in 0..count {
            let rtype: u16 = types.get(i).and_then(|t| t.parse().ok()).unwrap_or(0);
            let value = if rtype == 16 {
                Some(txt.clone())
            } else {
                values
                    .iter_mut()
                    .find(|(t, _)| *t == rtype)
                    .and_then(|(_, it)| it.next())
            };
            let Some(value) = value else { continue };
            let value = if rtype == 1 || rtype == 28 || rtype == 16 {
                value
            } else {
                value.to_lowercase()
            };
            let owner = owners.get(i).cloned().unwrap_or_default().to_lowercase();
            let ttl = ttls.get(i).and_then(|t| t.parse().ok()).unwrap_or(0);
            sets.answers
                .insert((name.clone(), owner, rtype, value, ttl));
        }
    }
    sets
}

/// Endpoint set as tshark sees it: (proto, server ip, server port), where the
/// server is the receiver of a flow's first packet (the sender, for a SYN-ACK).
pub fn tshark_endpoints(file: &Path) -> BTreeSet<(String, String, u16)> {
    let fields = [
        "ip.src",
        "ipv6.src",
        "ip.dst",
        "ipv6.dst",
        "tcp.srcport",
        "tcp.dstport",
        "udp.srcport",
        "udp.dstport",
        "tcp.flags.syn",
        "tcp.flags.ack",
    ];
    let mut seen = BTreeSet::new();
    let mut endpoints = BTreeSet::new();
    for row in tshark_fields(file, "(tcp || udp) && !icmp && !icmpv6", &[], &fields) {
        let src = first(&row, 0, 1);
        let dst = first(&row, 2, 3);
        let port = |i: usize| list(row.get(i)).first().and_then(|p| p.parse::<u16>().ok());
        let (proto, sport, dport) = match (port(4), port(5), port(6), port(7)) {
            (Some(s), Some(d), _, _) => ("tcp", s, d),
            (_, _, Some(s), Some(d)) => ("udp", s, d),
            _ => continue,
        };
        let a = (src.clone(), sport);
        let b = (dst.clone(), dport);
        let key = if a <= b {
            (proto, a.clone(), b.clone())
        } else {
            (proto, b.clone(), a.clone())
        };
        if !seen.insert(key) {
            continue;
        }
        let flag = |i: usize| row.get(i).is_some_and(|v| v == "1" || v == "True");
        let synack = proto == "tcp" && flag(8) && flag(9);
        let server = if synack { a } else { b };
        endpoints.insert((proto.to_string(), server.0, server.1));
    }
    endpoints
}

fn type_code(mnemonic: &str) -> u16 {
    match mnemonic {
        "A" => 1,
        "NS" => 2,
        "CNAME" => 5,
        "MX" => 15,
        "TXT" => 16,
        "AAAA" => 28,
        other => panic!("unexpected answer type {other}"),
    }
}

fn rcode_code(name: &str) -> u16 {
    match name {
        "NOERROR" => 0,
        "FORMERR" => 1,
        "SERVFAIL" => 2,
        "NXDOMAIN" => 3,
        "NOTIMP" => 4,
        "REFUSED" => 5,
        other => other.trim_start_matches("RCODE").parse().expect("rcode"),
    }
}

/// The same DNS sets from a trawl JSON report.
pub fn trawl_dns(report: &serde_json::Value) -> DnsSets {
    let mut sets = DnsSets::default();
    for q in report["dns"].as_array().expect("dns array") {
        let name = q["name"].as_str().expect("name").to_string();
        let qtype = q["type_code"].as_u64().expect("type_code") as u16;
        let resolver = q["resolver"].as_str().expect("resolver").to_string();
        if q["queries"].as_u64().unwrap_or(0) > 0 {
            sets.queries.insert((name.clone(), qtype, resolver.clone()));
        }
        if q["responses"].as_u64().unwrap_or(0) > 0 {
            for rcode in q["rcodes"].as_array().expect("rcodes") {
                let rcode = rcode_code(rcode.as_str().expect("rcode"));
                sets.responses
                    .insert((name.clone(), qtype, resolver.clone(), rcode));
            }
        }
        for a in q["answers"].as_array().expect("answers") {
            sets.answers.insert((
                name.clone(),
                a["name"].as_str().expect("owner").to_string(),
                type_code(a["type"].as_str().expect("type")),
                a["value"].as_str().expect("value").to_string(),
                a["ttl"].as_u64().expect("ttl") as u32,
            ));
        }
    }
    sets
}

/// The endpoint set from a trawl JSON report.
pub fn trawl_endpoints(report: &serde_json::Value) -> BTreeSet<(String, String, u16)> {
    report["endpoints"]
        .as_array()
        .expect("endpoints array")
        .iter()
        .map(|e| {
            (
                e["proto"].as_str().expect("proto").to_string(),
                e["ip"].as_str().expect("ip").to_string(),
                e["port"].as_u64().expect("port") as u16,
            )
        })
        .collect()
}

/// Asserts trawl and tshark agree on DNS and endpoints; returns the DNS sets.
pub fn assert_matches_tshark(
    file: &Path,
    report: &serde_json::Value,
    dns_ports: &[u16],
) -> DnsSets {
    let expected = tshark_dns(file, dns_ports);
    let actual = trawl_dns(report);
    assert_eq!(
        actual.queries,
        expected.queries,
        "{}: DNS queries differ from tshark",
        file.display()
    );
    assert_eq!(
        actual.responses,
        expected.responses,
        "{}: DNS responses differ from tshark",
        file.display()
    );
    assert_eq!(
        actual.answers,
        expected.answers,
        "{}: DNS answers differ from tshark",
        file.display()
    );
    assert_eq!(
        trawl_endpoints(report),
        tshark_endpoints(file),
        "{}: endpoints differ from tshark",
        file.display()
    );
    actual
}
