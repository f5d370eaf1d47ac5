//! Turns the accumulated analysis into the report: DNS, resolvers,
//! endpoints, scans, HTTP/TLS/TFTP, DGA flags and the IOC list.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::OnceLock;

use ipnet::IpNet;

use crate::analyzer::{
    Analyzer, Counter, DnsTable, HttpRecord, Proto, Stats, TftpRecord, TlsRecord,
};
use crate::capture::{FileSummary, Problem};
use crate::proto::{DnsAnswer, dns_type_name, rcode_name};

/// Share of a port's destinations that must be unanswered to call it a scan.
const SCAN_UNANSWERED_SHARE: f64 = 0.5;
/// Clients listed per endpoint / sources per scan.
const MAX_LISTED: usize = 16;

/// The whole report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// Files, counters, time span.
    pub summary: Summary,
    /// Damage found in the captures.
    pub problems: Vec<Problem>,
    /// DNS queries with their responses.
    pub dns: Vec<DnsQuery>,
    /// Resolvers asked, public ones flagged.
    pub resolvers: Vec<Resolver>,
    /// Destinations contacted.
    pub endpoints: Vec<Endpoint>,
    /// Fan-out scans.
    pub scans: Vec<Scan>,
    /// HTTP requests.
    pub http: Vec<HttpRecord>,
    /// TLS ClientHellos.
    pub tls: Vec<TlsRecord>,
    /// TFTP requests.
    pub tftp: Vec<TftpRecord>,
    /// Names that look machine-generated.
    pub dga: Vec<DgaFlag>,
    /// Deduplicated indicators.
    pub iocs: Iocs,
}

/// Run-level facts.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    /// Per-file summaries.
    pub files: Vec<FileSummary>,
    /// Counters.
    pub stats: Stats,
    /// Flows tracked.
    pub flows: usize,
    /// Earliest frame.
    pub first_seen: Option<String>,
    /// Latest frame.
    pub last_seen: Option<String>,
}

/// One (name, type, resolver) with what came back.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DnsQuery {
    /// Queried name.
    pub name: String,
    /// Query type mnemonic.
    #[serde(rename = "type")]
    pub qtype: String,
    /// Query type code.
    pub type_code: u16,
    /// Resolver asked.
    pub resolver: IpAddr,
    /// First query/response.
    pub first_seen: String,
    /// Last query/response.
    pub last_seen: String,
    /// Query packets.
    pub queries: u64,
    /// Response packets.
    pub responses: u64,
    /// Response codes (`NOERROR`, `NXDOMAIN`...).
    pub rcodes: Vec<String>,
    /// Answers with TTLs.
    pub answers: Vec<DnsAnswer>,
    /// Clients that asked.
    pub clients: Vec<IpAddr>,
    /// DGA verdict when the name looks generated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dga: Option<DgaFlag>,
}

/// A DNS server the capture talked to.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Resolver {
    /// Address.
    pub ip: IpAddr,
    /// Query packets sent to it.
    pub queries: u64,
    /// Distinct names asked.
    pub names: usize,
    /// Outside private/reserved ranges.
    pub public: bool,
    /// Operator, for well-known public resolvers.
    pub operator: Option<String>,
    /// Why it matters.
    pub note: String,
}

/// A destination ip:port/proto and the traffic to it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Endpoint {
    /// tcp or udp.
    pub proto: Proto,
    /// Destination address.
    pub ip: IpAddr,
    /// Destination port.
    pub port: u16,
    /// `scan` (part of a fan-out) or `contact`.
    pub role: &'static str,
    /// Established contact that is not DNS and not a scan: worth a look as C2.
    pub c2_candidate: bool,
    /// Names whose DNS answers gave this address (empty: contacted directly).
    pub from_dns: Vec<String>,
    /// Flows (connections / UDP conversations).
    pub flows: u64,
    /// `established`, `syn-only`, `partial` (TCP) or `two-way`, `one-way` (UDP).
    pub state: &'static str,
    /// TCP flows that completed the handshake.
    pub established_flows: u64,
    /// TCP flows with a SYN but no handshake.
    pub syn_only_flows: u64,
    /// Flows with a RST.
    pub reset_flows: u64,
    /// Client → endpoint.
    pub sent: Counter,
    /// Endpoint → client.
    pub received: Counter,
    /// Clients (up to 16).
    pub clients: Vec<IpAddr>,
    /// First packet.
    pub first_seen: String,
    /// Last packet.
    pub last_seen: String,
}

/// Fan-out to many destinations on one port.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Scan {
    /// tcp or udp.
    pub proto: Proto,
    /// Port scanned.
    pub port: u16,
    /// Distinct destination addresses.
    pub destinations: u64,
    /// Destinations that answered (handshake or reply).
    pub answered: u64,
    /// Flows.
    pub flows: u64,
    /// Packets sent by the scanner(s).
    pub packets: u64,
    /// Scanning hosts (up to 16).
    pub sources: Vec<IpAddr>,
    /// Start.
    pub first_seen: String,
    /// End.
    pub last_seen: String,
    /// Duration, seconds.
    pub duration_s: f64,
    /// New destinations per second.
    pub rate_per_s: f64,
}

/// A name the DGA scorer flagged.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DgaFlag {
    /// Domain.
    pub name: String,
    /// 0..1, higher is more machine-like.
    pub score: f64,
    /// Matches the Mirai DGA pattern (12 letters a–y under .online/.tech/.support).
    pub mirai: bool,
    /// Scorer's reasons.
    pub reasons: Vec<String>,
}

/// Deduplicated indicators.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Iocs {
    /// Domains.
    pub domains: Vec<String>,
    /// IP addresses.
    pub ips: Vec<String>,
    /// URLs.
    pub urls: Vec<String>,
}

/// Formats Unix nanoseconds as RFC 3339 UTC.
pub fn format_time(ns: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns))
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| ns.to_string())
}

/// True for private, loopback, link-local, documentation, multicast and
/// other special-use addresses.
pub fn is_reserved_ip(ip: IpAddr) -> bool {
    static RANGES: OnceLock<Vec<IpNet>> = OnceLock::new();
    let ranges = RANGES.get_or_init(|| {
        include_str!("../data/reserved_ranges.txt")
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    });
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    ranges.iter().any(|net| net.contains(&ip))
}

/// True for names under special-use suffixes (`.local`, `.arpa`...).
pub fn is_reserved_name(name: &str) -> bool {
    static SUFFIXES: OnceLock<Vec<String>> = OnceLock::new();
    let suffixes = SUFFIXES.get_or_init(|| {
        include_str!("../data/reserved_names.txt")
            .lines()
            .map(str::trim)
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(str::to_ascii_lowercase)
            .collect()
    });
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    suffixes.iter().any(|suffix| {
        name == *suffix
            || name
                .strip_suffix(suffix.as_str())
                .is_some_and(|rest| rest.ends_with('.'))
    })
}

fn public_resolver_operator(ip: IpAddr) -> Option<String> {
    include_str!("../data/public_resolvers.tsv")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('\t'))
        .find(|(addr, _)| addr.parse::<IpAddr>().ok() == Some(ip))
        .map(|(_, operator)| operator.trim().to_string())
}

fn dga_flag(name: &str) -> Option<DgaFlag> {
    let mirai = trawl_dga::mirai::matches_mirai_pattern(name);
    let score = trawl_dga::score::score_domain(name);
    (mirai || score.is_dga).then(|| DgaFlag {
        name: name.to_string(),
        score: (score.score * 1000.0).round() / 1000.0,
        mirai,
        reasons: score.reasons,
    })
}

impl Analyzer {
    /// Builds the report.
    pub fn finish(mut self) -> Report {
        let mut verdicts = DgaCache::new();
        let dns = dns_queries(std::mem::take(&mut self.dns), &mut verdicts);
        let resolvers = resolvers(&dns);
        let names_by_ip = names_by_ip(&dns);
        let (endpoints, scans) = self.endpoints_and_scans(&names_by_ip);
        let dga = dga_flags(&dns, &self.http, &self.tls, &mut verdicts);
        let iocs = iocs(&self, &dns, &endpoints, &resolvers);
        Report {
            summary: Summary {
                files: self.files,
                flows: self.flows.len(),
                first_seen: self.stats.first_ns.map(format_time),
                last_seen: self.stats.last_ns.map(format_time),
                stats: self.stats,
            },
            problems: self.problems,
            dns,
            resolvers,
            endpoints,
            scans,
            http: self.http,
            tls: self.tls,
            tftp: self.tftp,
            dga,
            iocs,
        }
    }

    fn endpoints_and_scans(
        &self,
        names_by_ip: &HashMap<IpAddr, BTreeSet<String>>,
    ) -> (Vec<Endpoint>, Vec<Scan>) {
        let mut groups: BTreeMap<(Proto, IpAddr, u16), EndpointAcc> = BTreeMap::new();
        for flow in self.flows.values() {
            let acc = groups
                .entry((flow.proto, flow.server.0, flow.server.1))
                .or_insert_with(|| EndpointAcc::new(flow.first_ns));
            acc.flows += 1;
            acc.first_ns = acc.first_ns.min(flow.first_ns);
            acc.last_ns = acc.last_ns.max(flow.last_ns);
            acc.sent.merge(flow.to_server);
            acc.received.merge(flow.to_client);
            acc.established += u64::from(flow.established);
            acc.syn_only += u64::from(flow.proto == Proto::Tcp && flow.syn && !flow.established);
            acc.reset += u64::from(flow.reset);
            if acc.clients.len() < MAX_LISTED {
                acc.clients.insert(flow.client.0);
            }
        }
        let scans = self.scans(&groups);
        let scanned: BTreeSet<(Proto, u16)> = scans.iter().map(|s| (s.proto, s.port)).collect();
        let endpoints = groups
            .into_iter()
            .map(|((proto, ip, port), acc)| {
                let from_dns: Vec<String> = names_by_ip
                    .get(&ip)
                    .map(|n| n.iter().cloned().collect())
                    .unwrap_or_default();
                // An address the capture resolved by name is a contact even on
                // a scanned port (Mirai's C2 and its scan share port 23).
                let role = if scanned.contains(&(proto, port)) && from_dns.is_empty() {
                    "scan"
                } else {
                    "contact"
                };
                let state = match proto {
                    Proto::Tcp if acc.established > 0 => "established",
                    Proto::Tcp if acc.syn_only > 0 => "syn-only",
                    Proto::Tcp => "partial",
                    Proto::Udp if acc.established > 0 => "two-way",
                    Proto::Udp => "one-way",
                };
                let is_dns = self.options.dns_ports.contains(&port);
                Endpoint {
                    proto,
                    ip,
                    port,
                    role,
                    c2_candidate: role == "contact" && !is_dns && acc.established > 0,
                    from_dns,
                    flows: acc.flows,
                    state,
                    established_flows: acc.established,
                    syn_only_flows: acc.syn_only,
                    reset_flows: acc.reset,
                    sent: acc.sent,
                    received: acc.received,
                    clients: acc.clients.into_iter().collect(),
                    first_seen: format_time(acc.first_ns),
                    last_seen: format_time(acc.last_ns),
                }
            })
            .collect();
        (endpoints, scans)
    }

    fn scans(&self, groups: &BTreeMap<(Proto, IpAddr, u16), EndpointAcc>) -> Vec<Scan> {
        let mut by_port: BTreeMap<(Proto, u16), ScanAcc> = BTreeMap::new();
        for ((proto, _, port), acc) in groups {
            let scan = by_port.entry((*proto, *port)).or_insert_with(|| ScanAcc {
                first_ns: acc.first_ns,
                ..ScanAcc::default()
            });
            scan.destinations += 1;
            scan.answered += u64::from(acc.established > 0);
            scan.flows += acc.flows;
            scan.packets += acc.sent.packets;
            scan.first_ns = scan.first_ns.min(acc.first_ns);
            scan.last_ns = scan.last_ns.max(acc.last_ns);
            for client in &acc.clients {
                if scan.sources.len() < MAX_LISTED {
                    scan.sources.insert(*client);
                }
            }
        }
        by_port
            .into_iter()
            .filter(|((_, port), acc)| {
                let unanswered = (acc.destinations - acc.answered) as f64;
                acc.destinations >= self.options.scan_min_destinations as u64
                    && unanswered >= SCAN_UNANSWERED_SHARE * acc.destinations as f64
                    && !self.options.dns_ports.contains(port)
            })
            .map(|((proto, port), acc)| {
                let duration_s = acc.last_ns.saturating_sub(acc.first_ns).max(0) as f64 / 1e9;
                Scan {
                    proto,
                    port,
                    destinations: acc.destinations,
                    answered: acc.answered,
                    flows: acc.flows,
                    packets: acc.packets,
                    sources: acc.sources.into_iter().collect(),
                    first_seen: format_time(acc.first_ns),
                    last_seen: format_time(acc.last_ns),
                    duration_s: (duration_s * 1000.0).round() / 1000.0,
                    rate_per_s: (acc.destinations as f64 / duration_s.max(0.001)).round(),
                }
            })
            .collect()
    }
}

fn sorted<T: Ord>(mut list: Vec<T>) -> Vec<T> {
    list.sort();
    list
}

/// DGA verdicts by name, so each name is scored once.
type DgaCache = HashMap<String, Option<DgaFlag>>;

fn cached_verdict(cache: &mut DgaCache, name: &str) -> Option<DgaFlag> {
    if let Some(verdict) = cache.get(name) {
        return verdict.clone();
    }
    let verdict = dga_flag(name);
    cache.insert(name.to_string(), verdict.clone());
    verdict
}

fn dns_queries(dns: DnsTable, cache: &mut DgaCache) -> Vec<DnsQuery> {
    let mut out = Vec::new();
    for (name, entries) in dns {
        let dga = cached_verdict(cache, &name);
        for ((qtype, resolver), entry) in entries {
            out.push(DnsQuery {
                name: name.clone(),
                qtype: dns_type_name(qtype),
                type_code: qtype,
                resolver,
                first_seen: format_time(entry.first_ns),
                last_seen: format_time(entry.last_ns),
                queries: entry.queries,
                responses: entry.responses,
                rcodes: sorted(entry.rcodes)
                    .iter()
                    .map(|r| rcode_name(*r))
                    .collect(),
                answers: sorted(entry.answers),
                clients: sorted(entry.clients),
                dga: dga.clone(),
            });
        }
    }
    out.sort_by(|a, b| {
        (&a.first_seen, &a.name, a.type_code, a.resolver).cmp(&(
            &b.first_seen,
            &b.name,
            b.type_code,
            b.resolver,
        ))
    });
    out
}

fn resolvers(dns: &[DnsQuery]) -> Vec<Resolver> {
    let mut by_ip: BTreeMap<IpAddr, (u64, BTreeSet<&str>)> = BTreeMap::new();
    for query in dns {
        let slot = by_ip.entry(query.resolver).or_default();
        slot.0 += query.queries;
        slot.1.insert(&query.name);
    }
    by_ip
        .into_iter()
        .map(|(ip, (queries, names))| {
            let public = !is_reserved_ip(ip);
            let operator = public_resolver_operator(ip);
            let note = match (&operator, public) {
                (Some(op), _) => {
                    format!("well-known public resolver ({op}) queried directly: likely hard-coded")
                }
                (None, true) => "public address queried directly as a resolver".to_string(),
                (None, false) => "local resolver".to_string(),
            };
            Resolver {
                ip,
                queries,
                names: names.len(),
                public,
                operator,
                note,
            }
        })
        .collect()
}

struct EndpointAcc {
    flows: u64,
    first_ns: i64,
    last_ns: i64,
    sent: Counter,
    received: Counter,
    established: u64,
    syn_only: u64,
    reset: u64,
    clients: BTreeSet<IpAddr>,
}

impl EndpointAcc {
    fn new(first_ns: i64) -> Self {
        Self {
            flows: 0,
            first_ns,
            last_ns: first_ns,
            sent: Counter::default(),
            received: Counter::default(),
            established: 0,
            syn_only: 0,
            reset: 0,
            clients: BTreeSet::new(),
        }
    }
}

#[derive(Default)]
struct ScanAcc {
    destinations: u64,
    answered: u64,
    flows: u64,
    packets: u64,
    first_ns: i64,
    last_ns: i64,
    sources: BTreeSet<IpAddr>,
}

fn names_by_ip(dns: &[DnsQuery]) -> HashMap<IpAddr, BTreeSet<String>> {
    let mut out: HashMap<IpAddr, BTreeSet<String>> = HashMap::new();
    for query in dns {
        for answer in &query.answers {
            if let Ok(ip) = answer.value.parse::<IpAddr>()
                && (answer.rtype == "A" || answer.rtype == "AAAA")
            {
                out.entry(ip).or_default().insert(query.name.clone());
            }
        }
    }
    out
}

fn dga_flags(
    dns: &[DnsQuery],
    http: &[HttpRecord],
    tls: &[TlsRecord],
    cache: &mut DgaCache,
) -> Vec<DgaFlag> {
    let mut names: BTreeSet<String> = dns.iter().map(|q| q.name.clone()).collect();
    names.extend(
        http.iter()
            .filter_map(|h| h.host.as_deref().map(host_without_port)),
    );
    names.extend(tls.iter().filter_map(|t| t.sni.clone()));
    names
        .iter()
        .filter(|n| n.parse::<IpAddr>().is_err())
        .filter_map(|n| cached_verdict(cache, n))
        .collect()
}

fn host_without_port(host: &str) -> String {
    let host = host.trim().to_ascii_lowercase();
    if host.starts_with('[') {
        return host
            .split(']')
            .next()
            .unwrap_or_default()
            .trim_start_matches('[')
            .to_string();
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.parse::<u16>().is_ok() && !name.contains(':') => name.into(),
        _ => host,
    }
}

fn looks_like_domain(name: &str) -> bool {
    name.contains('.')
        && name.parse::<IpAddr>().is_err()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
}

fn iocs(
    analyzer: &Analyzer,
    dns: &[DnsQuery],
    endpoints: &[Endpoint],
    resolvers: &[Resolver],
) -> Iocs {
    let keep_private = analyzer.options.include_private;
    let keep_name = |n: &str| looks_like_domain(n) && (keep_private || !is_reserved_name(n));
    let keep_ip = |ip: IpAddr| keep_private || !is_reserved_ip(ip);
    let mut domains = BTreeSet::new();
    let mut ips = BTreeSet::new();
    for query in dns {
        domains.insert(query.name.clone());
        for answer in &query.answers {
            match answer.rtype.as_str() {
                "A" | "AAAA" => {
                    if let Ok(ip) = answer.value.parse() {
                        ips.insert(ip);
                    }
                }
                "CNAME" => {
                    domains.insert(answer.value.clone());
                }
                _ => {}
            }
        }
    }
    let well_known: BTreeSet<IpAddr> = resolvers
        .iter()
        .filter(|r| r.operator.is_some())
        .map(|r| r.ip)
        .collect();
    for endpoint in endpoints.iter().filter(|e| e.role == "contact") {
        if !well_known.contains(&endpoint.ip) {
            ips.insert(endpoint.ip);
        }
    }
    let mut urls = BTreeSet::new();
    for request in &analyzer.http {
        let host = request
            .host
            .as_deref()
            .map(host_without_port)
            .filter(|h| !h.is_empty());
        let host_ok = match &host {
            Some(h) => match h.parse::<IpAddr>() {
                Ok(ip) => keep_ip(ip),
                Err(_) => keep_private || !is_reserved_name(h),
            },
            None => keep_ip(request.server),
        };
        if let Some(h) = &host {
            domains.insert(h.clone());
        }
        if host_ok {
            urls.insert(http_url(request, host.as_deref()));
        }
    }
    for hello in &analyzer.tls {
        if let Some(sni) = &hello.sni {
            domains.insert(sni.clone());
        }
    }
    for request in &analyzer.tftp {
        ips.insert(request.server);
        if keep_ip(request.server) {
            urls.insert(format!(
                "tftp://{}{}/{}",
                bracket(request.server),
                port_suffix(request.port, 69),
                request.file.trim_start_matches('/')
            ));
        }
    }
    Iocs {
        domains: domains.into_iter().filter(|d| keep_name(d)).collect(),
        ips: ips
            .into_iter()
            .filter(|ip| keep_ip(*ip))
            .map(|ip| ip.to_string())
            .collect(),
        urls: urls.into_iter().collect(),
    }
}

fn bracket(ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) => format!("[{v6}]"),
        IpAddr::V4(v4) => v4.to_string(),
    }
}

fn port_suffix(port: u16, default: u16) -> String {
    if port == default {
        String::new()
    } else {
        format!(":{port}")
    }
}

fn http_url(request: &HttpRecord, host: Option<&str>) -> String {
    if request.uri.starts_with("http://") || request.uri.starts_with("https://") {
        return request.uri.clone();
    }
    let authority = match host {
        Some(h) if h.contains(':') => format!("[{h}]"),
        Some(h) => h.to_string(),
        None => bracket(request.server),
    };
    format!(
        "http://{authority}{}{}",
        port_suffix(request.port, 80),
        request.uri
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_ranges() {
        for ip in [
            "10.1.2.3",
            "127.0.0.1",
            "192.168.1.1",
            "::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_reserved_ip(ip.parse().expect("ip")), "{ip}");
        }
        for ip in ["8.8.8.8", "94.156.128.73", "2606:4700::1"] {
            assert!(!is_reserved_ip(ip.parse().expect("ip")), "{ip}");
        }
    }

    #[test]
    fn reserved_names() {
        assert!(is_reserved_name("printer.local"));
        assert!(is_reserved_name("1.0.0.127.in-addr.arpa"));
        assert!(!is_reserved_name("hrjlyymassqx.tech"));
        assert!(!is_reserved_name("notlocal"));
    }

    #[test]
    fn hosts_and_urls() {
        assert_eq!(host_without_port("Evil.TLD:8080"), "evil.tld");
        assert_eq!(host_without_port("[::1]:80"), "::1");
        assert_eq!(host_without_port("::1"), "::1");
        assert_eq!(
            public_resolver_operator("8.8.8.8".parse().expect("ip")).as_deref(),
            Some("Google Public DNS")
        );
    }

    #[test]
    fn mirai_name_is_flagged() {
        let flag = dga_flag("hrjlyymassqx.tech").expect("flagged");
        assert!(flag.mirai);
        assert!(dga_flag("inandoutand.in").is_none_or(|f| !f.mirai));
    }
}
