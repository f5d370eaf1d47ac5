//! Turns the accumulated analysis into the report: DNS, resolvers,
//! endpoints, scans, HTTP/TLS/TFTP, DGA flags and the IOC list.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::OnceLock;

use ipnet::IpNet;

use crate::analyzer::{Analyzer, Counter, HttpRecord, Proto, Stats, TftpRecord, TlsRecord};
use crate::analyzer::{FastMap, Flow, FlowKey};
use crate::capture::{FileSummary, Problem};
use crate::parallel;
use crate::proto::{DnsAnswer, ip_text};
use crate::scoring::dga_flag;

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

/// [`format_time`] for many timestamps: the date and time of day are
/// formatted once per second, only the fraction per call.
#[derive(Default)]
pub(crate) struct TimeFormatter {
    /// Last whole second formatted and its text without the trailing `Z`.
    second: Option<(i64, String)>,
}

impl TimeFormatter {
    pub(crate) fn format(&mut self, ns: i64) -> String {
        let second = ns.div_euclid(1_000_000_000);
        let nanos = ns.rem_euclid(1_000_000_000);
        let prefix = match &self.second {
            Some((cached, prefix)) if *cached == second => prefix,
            _ => {
                let Some(whole) = second.checked_mul(1_000_000_000).map(format_time) else {
                    return format_time(ns);
                };
                // Out of range (the number itself) or unexpected: no caching.
                let Some(prefix) = whole.strip_suffix('Z').filter(|p| !p.contains('.')) else {
                    return format_time(ns);
                };
                &self.second.insert((second, prefix.to_string())).1
            }
        };
        let mut out = String::with_capacity(prefix.len() + 11);
        out.push_str(prefix);
        if nanos != 0 {
            // RFC 3339 fraction as `time` writes it: no trailing zeros.
            let mut digits = [b'0'; 9];
            let mut rest = nanos;
            for digit in digits.iter_mut().rev() {
                *digit = b'0' + (rest % 10) as u8;
                rest /= 10;
            }
            let end = digits.iter().rposition(|d| *d != b'0').map_or(0, |p| p + 1);
            out.push('.');
            out.extend(digits.iter().take(end).map(|d| char::from(*d)));
        }
        out.push('Z');
        out
    }
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
    let name = name.trim_end_matches('.').as_bytes();
    suffixes.iter().any(|suffix| {
        let suffix = suffix.as_bytes();
        let Some(start) = name.len().checked_sub(suffix.len()) else {
            return false;
        };
        name.get(start..)
            .is_some_and(|end| end.eq_ignore_ascii_case(suffix))
            && (start == 0 || name.get(start - 1) == Some(&b'.'))
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

impl Analyzer {
    /// Builds the report.
    pub fn finish(mut self) -> Report {
        // The DNS worker turns its table into the DNS rows while this
        // thread groups the flows by endpoint (and frees them).
        let dns_rows = std::mem::take(&mut self.dns).close();
        let flow_count = self.flows.len();
        let groups = group_flows(std::mem::take(&mut self.flows));
        let dns = dns_rows.wait();
        let hosts: Vec<Option<String>> = self
            .http
            .iter()
            .map(|h| h.host.as_deref().map(host_without_port))
            .collect();
        // On a helper thread: the DGA list, the resolvers and the IOC candidates; here: the
        // endpoints and scans. The IOC list is completed with the contacted endpoints after.
        let ((dga, resolvers, candidates), (endpoints, scans)) = parallel::join(
            || {
                let dga = dga_flags(&dns, &hosts, &self.tls);
                let resolvers = resolvers(&dns);
                let candidates = ioc_candidates(&self, &hosts, &dns);
                (dga, resolvers, candidates)
            },
            || {
                let names_by_ip = names_by_ip(&dns);
                self.endpoints_and_scans(groups, &names_by_ip)
            },
        );
        let iocs = candidates.finish(self.options.include_private, &endpoints, &resolvers);
        Report {
            summary: Summary {
                files: self.files,
                flows: flow_count,
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
        groups: Vec<(EndpointKey, EndpointAcc)>,
        names_by_ip: &FastMap<IpAddr, Vec<&str>>,
    ) -> (Vec<Endpoint>, Vec<Scan>) {
        let scans = self.scans(&groups);
        let scanned: BTreeSet<(Proto, u16)> = scans.iter().map(|s| (s.proto, s.port)).collect();
        let mut times = TimeFormatter::default();
        let endpoints = groups
            .into_iter()
            .map(|((proto, ip, port), acc)| {
                let from_dns: Vec<String> = names_by_ip
                    .get(&ip)
                    .map(|names| names.iter().map(|n| n.to_string()).collect())
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
                    clients: sorted(acc.clients),
                    first_seen: times.format(acc.first_ns),
                    last_seen: times.format(acc.last_ns),
                }
            })
            .collect();
        (endpoints, scans)
    }

    fn scans(&self, groups: &[(EndpointKey, EndpointAcc)]) -> Vec<Scan> {
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

fn resolvers(dns: &[DnsQuery]) -> Vec<Resolver> {
    let mut by_ip: BTreeMap<IpAddr, (u64, Vec<&str>)> = BTreeMap::new();
    for query in dns {
        let slot = by_ip.entry(query.resolver).or_default();
        slot.0 += query.queries;
        slot.1.push(&query.name);
    }
    by_ip
        .into_iter()
        .map(|(ip, (queries, mut names))| {
            names.sort_unstable();
            names.dedup();
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

/// Destination of a flow: protocol, address, port.
type EndpointKey = (Proto, IpAddr, u16);

/// Sums the flows per destination, sorted by destination; frees the flows.
fn group_flows(flows: FastMap<FlowKey, Flow>) -> Vec<(EndpointKey, EndpointAcc)> {
    let mut by_key: FastMap<EndpointKey, EndpointAcc> = FastMap::default();
    for flow in flows.values() {
        let acc = by_key
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
        if acc.clients.len() < MAX_LISTED && !acc.clients.contains(&flow.client.0) {
            acc.clients.push(flow.client.0);
        }
    }
    // Hashing then one sort is much cheaper than a B-tree insert per flow.
    let mut groups: Vec<_> = by_key.into_iter().collect();
    groups.sort_unstable_by_key(|(key, _)| *key);
    groups
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
    clients: Vec<IpAddr>,
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
            clients: Vec::new(),
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

fn names_by_ip(dns: &[DnsQuery]) -> FastMap<IpAddr, Vec<&str>> {
    let mut out: FastMap<IpAddr, Vec<&str>> = FastMap::default();
    for query in dns {
        for answer in &query.answers {
            if (answer.rtype == "A" || answer.rtype == "AAAA")
                && let Ok(ip) = answer.value.parse::<IpAddr>()
            {
                out.entry(ip).or_default().push(&query.name);
            }
        }
    }
    for names in out.values_mut() {
        names.sort_unstable();
        names.dedup();
    }
    out
}

/// Flagged names among the queried names (scored by the DNS worker), HTTP
/// hosts and SNIs, sorted by name.
fn dga_flags(dns: &[DnsQuery], hosts: &[Option<String>], tls: &[TlsRecord]) -> Vec<DgaFlag> {
    let queried: FastMap<&str, Option<&DgaFlag>> = dns
        .iter()
        .map(|q| (q.name.as_str(), q.dga.as_ref()))
        .collect();
    let mut others: Vec<&str> = hosts.iter().flatten().map(String::as_str).collect();
    others.extend(tls.iter().filter_map(|t| t.sni.as_deref()));
    others.retain(|n| !queried.contains_key(n));
    others.sort_unstable();
    others.dedup();
    let mut flags: Vec<DgaFlag> = queried
        .values()
        .filter_map(|flag| flag.cloned())
        .chain(others.into_iter().filter_map(dga_flag))
        .filter(|flag| flag.name.parse::<IpAddr>().is_err())
        .collect();
    flags.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    flags
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

/// The IOC list before the contacted endpoints are added: names sorted and deduplicated,
/// addresses and URLs as found.
struct IocCandidates<'a> {
    domains: Vec<&'a str>,
    ips: Vec<IpAddr>,
    urls: Vec<String>,
}

/// Names and addresses from the DNS rows, HTTP requests, TLS hellos and TFTP requests.
fn ioc_candidates<'a>(
    analyzer: &'a Analyzer,
    hosts: &'a [Option<String>],
    dns: &'a [DnsQuery],
) -> IocCandidates<'a> {
    let keep_private = analyzer.options.include_private;
    let keep_ip = |ip: IpAddr| keep_private || !is_reserved_ip(ip);
    let hosts = hosts.iter().map(|h| h.as_deref().filter(|h| !h.is_empty()));
    // Borrowed names and plain addresses, sorted and deduplicated once at
    // the end (cheaper than a set insert, and a copy, per name).
    let mut domains: Vec<&str> = Vec::new();
    let mut ips: Vec<IpAddr> = Vec::new();
    for query in dns {
        domains.push(&query.name);
        for answer in &query.answers {
            match answer.rtype.as_str() {
                "A" | "AAAA" => {
                    if let Ok(ip) = answer.value.parse() {
                        ips.push(ip);
                    }
                }
                "CNAME" => domains.push(&answer.value),
                _ => {}
            }
        }
    }
    let mut urls = Vec::new();
    for (request, host) in analyzer.http.iter().zip(hosts) {
        let host_ok = match host {
            Some(h) => match h.parse::<IpAddr>() {
                Ok(ip) => keep_ip(ip),
                Err(_) => keep_private || !is_reserved_name(h),
            },
            None => keep_ip(request.server),
        };
        if let Some(h) = host {
            domains.push(h);
        }
        if host_ok {
            urls.push(http_url(request, host));
        }
    }
    for hello in &analyzer.tls {
        if let Some(sni) = &hello.sni {
            domains.push(sni);
        }
    }
    for request in &analyzer.tftp {
        ips.push(request.server);
        if keep_ip(request.server) {
            urls.push(format!(
                "tftp://{}{}/{}",
                bracket(request.server),
                port_suffix(request.port, 69),
                request.file.trim_start_matches('/')
            ));
        }
    }
    // Most names come several times (query, HTTP host, SNI): dropping
    // repeats by hash first leaves far fewer strings to sort.
    let mut seen = FastMap::default();
    domains.retain(|d| seen.insert(*d, ()).is_none());
    domains.sort_unstable();
    IocCandidates { domains, ips, urls }
}

impl IocCandidates<'_> {
    /// Adds the contacted endpoints (not the well-known public resolvers) and filters out
    /// reserved names and addresses unless `keep_private`.
    fn finish(
        mut self,
        keep_private: bool,
        endpoints: &[Endpoint],
        resolvers: &[Resolver],
    ) -> Iocs {
        let keep_name = |n: &str| looks_like_domain(n) && (keep_private || !is_reserved_name(n));
        let keep_ip = |ip: IpAddr| keep_private || !is_reserved_ip(ip);
        let well_known: BTreeSet<IpAddr> = resolvers
            .iter()
            .filter(|r| r.operator.is_some())
            .map(|r| r.ip)
            .collect();
        for endpoint in endpoints.iter().filter(|e| e.role == "contact") {
            if !well_known.contains(&endpoint.ip) {
                self.ips.push(endpoint.ip);
            }
        }
        self.ips.sort_unstable();
        self.ips.dedup();
        self.urls.sort_unstable();
        self.urls.dedup();
        Iocs {
            domains: self
                .domains
                .into_iter()
                .filter(|d| keep_name(d))
                .map(str::to_string)
                .collect(),
            ips: self
                .ips
                .into_iter()
                .filter(|ip| keep_ip(*ip))
                .map(ip_text)
                .collect(),
            urls: self.urls,
        }
    }
}

fn bracket(ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) => format!("[{v6}]"),
        IpAddr::V4(v4) => crate::proto::ipv4_text(v4),
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
    fn time_formatter_matches_format_time() {
        let mut times = TimeFormatter::default();
        let base = 1_764_201_600_123_456_789_i64;
        for ns in [
            0,
            1,
            base,
            base + 1,
            base - base % 1_000_000_000,
            base - base % 1_000_000,
            base + 10,
            base + 1_000_000_000,
            -1,
            -1_500_000_000,
            i64::MAX,
            i64::MIN,
        ] {
            assert_eq!(times.format(ns), format_time(ns), "{ns}");
            assert_eq!(times.format(ns), format_time(ns), "{ns} (cached)");
        }
    }

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
}
