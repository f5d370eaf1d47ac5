//! Scan results (nmap XML, masscan JSON and list output, Shodan and Censys JSON exports) turned
//! into `exposed-service` alerts: a port open on an entity's address that the inventory's
//! `[[entity.services]]` do not expect for that range.
//!
//! The line formats are parsed with `serde_json` per line; nmap XML is one document, read as a
//! stream with `quick-xml` through [`Bounded`], which caps every XML event (element, text) at
//! [`MAX_XML_EVENT`] bytes and counts lines for the evidence. Hostile XML cannot grow memory:
//! quick-xml never expands DTD entities, each event is bounded and a host keeps at most
//! [`MAX_PORTS_PER_HOST`] ports.

use std::collections::HashMap;
use std::io::{self, BufRead, Read};
use std::net::IpAddr;
use std::sync::OnceLock;

use ipnet::IpNet;
use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};
use serde_json::Value;

use crate::alert::{Alert, Category, Evidence, Severity, shorten};
use crate::format::{Items, parse_net};
use crate::inventory::{Entity, Service};
use crate::ipindex::{IpIndex, RangeOwner, to_u128};
use crate::{Run, Watcher};

/// Largest single XML event (a start tag with its attributes, a text node) in nmap XML.
pub const MAX_XML_EVENT: usize = 1 << 20;
/// Most open ports kept for one `<host>` (TCP and UDP together).
pub const MAX_PORTS_PER_HOST: usize = 2 * 65_536;

/// One open port reported by a scanner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenPort {
    /// The scanned address.
    pub ip: IpAddr,
    /// Port number.
    pub port: u16,
    /// UDP (else TCP).
    pub udp: bool,
    /// What the scanner says runs there (service name, product, version), may be empty.
    pub product: String,
}

impl OpenPort {
    /// `tcp` or `udp`.
    pub fn proto(&self) -> &'static str {
        if self.udp { "udp" } else { "tcp" }
    }

    /// `IP:PORT/PROTO` (`[IPv6]:PORT/PROTO`).
    pub fn endpoint(&self) -> String {
        match self.ip {
            IpAddr::V4(ip) => format!("{ip}:{}/{}", self.port, self.proto()),
            IpAddr::V6(ip) => format!("[{ip}]:{}/{}", self.port, self.proto()),
        }
    }
}

/// Risky services (data file): by port and protocol, and by name for non-standard ports.
struct RiskTable {
    by_port: HashMap<(u16, bool), String>,
    by_name: HashMap<String, String>,
}

fn risk_table() -> &'static RiskTable {
    static TABLE: OnceLock<RiskTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = RiskTable {
            by_port: HashMap::new(),
            by_name: HashMap::new(),
        };
        let lines = include_str!("data/risky_services.txt").lines();
        for line in lines.filter(|l| !l.trim().is_empty() && !l.starts_with('#')) {
            let mut words = line.split_whitespace();
            let (Some(spec), Some(name)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(service) = Service::try_from(spec.to_string()) else {
                continue;
            };
            table
                .by_port
                .insert((service.port, service.udp), name.to_string());
            table.by_name.insert(name.to_string(), name.to_string());
            for alias in words {
                table.by_name.insert(alias.to_string(), name.to_string());
            }
        }
        table
    })
}

/// Severity of an unexpected open port and, when it is a known risky service, its name.
pub fn risk(p: &OpenPort) -> (Severity, Option<&'static str>) {
    let table = risk_table();
    if let Some(name) = table.by_port.get(&(p.port, p.udp)) {
        return (Severity::High, Some(name.as_str()));
    }
    let product = p.product.to_ascii_lowercase();
    let by_name = product
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .find_map(|word| table.by_name.get(word));
    match by_name {
        Some(name) => (Severity::High, Some(name.as_str())),
        None => (Severity::Medium, None),
    }
}

/// The ranges scan results are checked against, with each entity's expected services.
#[derive(Debug, Default)]
pub struct ServiceIndex {
    owners: IpIndex,
    expected: Vec<Vec<(IpNet, Vec<Service>)>>,
}

impl ServiceIndex {
    /// Entity ranges, executives' home ranges and the `services` ranges themselves.
    pub fn new(entities: &[Entity]) -> ServiceIndex {
        let mut owners = Vec::new();
        let mut expected = Vec::with_capacity(entities.len());
        for (i, e) in entities.iter().enumerate() {
            let own = e
                .ip_ranges
                .iter()
                .chain(e.services.iter().map(|s| &s.range));
            RangeOwner::push_entity(&mut owners, i, own, &e.executives);
            expected.push(
                e.services
                    .iter()
                    .map(|s| (s.range, s.expected.clone()))
                    .collect(),
            );
        }
        ServiceIndex {
            owners: IpIndex::new(owners),
            expected,
        }
    }

    /// True when a `services` entry of the entity covering the address lists the port.
    pub fn is_expected(&self, entity: usize, p: &OpenPort) -> bool {
        let want = Service {
            port: p.port,
            udp: p.udp,
        };
        self.expected.get(entity).is_some_and(|list| {
            list.iter()
                .any(|(range, services)| range.contains(&p.ip) && services.contains(&want))
        })
    }

    /// The owners (entity, range, executive) of an address, one per entity.
    fn owners_of(&self, ip: IpAddr) -> Vec<RangeOwner> {
        let x = to_u128(ip);
        let mut found: Vec<RangeOwner> = Vec::new();
        if self.owners.touches(x, x) {
            self.owners.overlapping(x, x, |o| {
                if !found.iter().any(|f| f.entity == o.entity) {
                    found.push(o.clone());
                }
            });
        }
        found
    }
}

impl Watcher {
    /// Alerts for the open ports no `services` entry expects.
    pub(crate) fn check_ports(
        &self,
        source: &str,
        line: u64,
        ports: &[OpenPort],
        feed: &str,
        run: &mut Run,
    ) {
        for p in ports {
            let x = to_u128(p.ip);
            if self.allowed_ips.covers(x, x) {
                continue;
            }
            for owner in self.services.owners_of(p.ip) {
                if self.services.is_expected(owner.entity, p) {
                    continue;
                }
                let Some(entity) = self.inventory.entities.get(owner.entity) else {
                    continue;
                };
                run.add(exposure_alert(&entity.name, &owner, p, source, line, feed));
            }
        }
    }
}

fn exposure_alert(
    entity: &str,
    owner: &RangeOwner,
    p: &OpenPort,
    source: &str,
    line: u64,
    feed: &str,
) -> Alert {
    let (severity, risky) = risk(p);
    let whose = match &owner.executive {
        Some(x) => format!("home range of {x}"),
        None => "entity range".to_string(),
    };
    let what = match (risky, p.product.is_empty()) {
        (Some(name), true) => format!(" ({name})"),
        (Some(name), false) if p.product.starts_with(name) => format!(" ({})", p.product),
        (Some(name), false) => format!(" ({name}: {})", p.product),
        (None, false) => format!(" ({})", p.product),
        (None, true) => String::new(),
    };
    Alert {
        entity: entity.to_string(),
        category: Category::ExposedService,
        severity,
        subject: p.endpoint(),
        detail: format!(
            "port {}/{}{what} open in {feed} {source}; not expected for {} ({whose})",
            p.port,
            p.proto(),
            owner.range
        ),
        evidence: Evidence {
            source: source.to_string(),
            line,
            snippet: shorten(format!("{} {}", p.endpoint(), p.product).trim(), 200),
        },
        count: 1,
        first_seen: 0,
        last_seen: 0,
        new: true,
    }
}

fn parse_ip(s: &str) -> Result<IpAddr, String> {
    s.trim()
        .parse::<IpAddr>()
        .map_err(|_| format!("not an IP address: {:?}", shorten(s, 60)))
}

fn is_udp(proto: &str) -> Result<bool, String> {
    match proto.to_ascii_lowercase().as_str() {
        "tcp" => Ok(false),
        "udp" => Ok(true),
        other => Err(format!("unknown protocol {:?}", shorten(other, 20))),
    }
}

fn json_port(v: Option<&Value>) -> Result<u16, String> {
    let n = v
        .and_then(|p| {
            p.as_u64()
                .or_else(|| p.as_str().and_then(|s| s.parse().ok()))
        })
        .ok_or("no port number")?;
    u16::try_from(n).map_err(|_| format!("port {n} out of range"))
}

/// masscan `-oL`: `open tcp 80 192.0.2.1 1390000000` (`banner ...` lines and other states
/// are ignored; `#` comments).
pub fn masscan_list(t: &str, items: &mut Items) -> Result<(), String> {
    if t.starts_with('#') {
        return Ok(());
    }
    let f: Vec<&str> = t.split_ascii_whitespace().collect();
    let [status, proto, port, ip, ..] = f.as_slice() else {
        return Err("fewer than 4 fields (want: open PROTO PORT IP TIMESTAMP)".into());
    };
    if *status != "open" {
        return Ok(());
    }
    let port = port.parse().map_err(|_| format!("bad port {port:?}"))?;
    items.ports.push(OpenPort {
        ip: parse_ip(ip)?,
        port,
        udp: is_udp(proto)?,
        product: String::new(),
    });
    Ok(())
}

/// A masscan `-oJ` record line (`{ "ip": ..., "ports": [ {"port", "proto", "status"} ] }`,
/// a leading or trailing `,` and the `[`/`]` lines tolerated) or a masscan `--ndjson`
/// record (`{"ip", "port", "proto", "rec_type": "status", "data": {"status"}}`).
pub fn masscan_json(v: &Value, items: &mut Items) -> Result<(), String> {
    let ip = parse_ip(v.get("ip").and_then(Value::as_str).ok_or("no \"ip\"")?)?;
    let records: Vec<&Value> = match v.get("ports").and_then(Value::as_array) {
        Some(ports) => ports.iter().collect(),
        None => vec![v],
    };
    for r in records {
        let status = r
            .get("status")
            .or_else(|| r.pointer("/data/status"))
            .and_then(Value::as_str);
        if status != Some("open") {
            continue; // banner records and closed ports
        }
        let proto = r.get("proto").and_then(Value::as_str).unwrap_or("tcp");
        items.ports.push(OpenPort {
            ip,
            port: json_port(r.get("port"))?,
            udp: is_udp(proto)?,
            product: String::new(),
        });
    }
    Ok(())
}

/// A Shodan banner (`shodan download` / `shodan parse` JSON lines): `ip_str`, `port`,
/// `transport`, `product`, `version`, `hostnames` (the host names are checked as domains).
pub fn shodan(v: &Value, items: &mut Items) -> Result<(), String> {
    let ip = parse_ip(
        v.get("ip_str")
            .and_then(Value::as_str)
            .ok_or("no \"ip_str\"")?,
    )?;
    let proto = v.get("transport").and_then(Value::as_str).unwrap_or("tcp");
    let product = ["product", "version"]
        .iter()
        .filter_map(|k| v.get(*k).and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join(" ");
    let module = v.pointer("/_shodan/module").and_then(Value::as_str);
    let product = match (product.is_empty(), module) {
        (true, Some(m)) => m.to_string(),
        _ => product,
    };
    items.ports.push(OpenPort {
        ip,
        port: json_port(v.get("port"))?,
        udp: is_udp(proto)?,
        product: shorten(&product, 100),
    });
    if let Some(names) = v.get("hostnames").and_then(Value::as_array) {
        items
            .domains
            .extend(names.iter().filter_map(Value::as_str).map(str::to_string));
    }
    Ok(())
}

/// A Censys host (one a line, or a one-line array of hosts): `ip` and `services[]` with
/// `port`, `service_name`, `transport_protocol`.
pub fn censys(v: &Value, items: &mut Items) -> Result<(), String> {
    if let Some(hosts) = v.as_array() {
        return hosts.iter().try_for_each(|h| censys(h, items));
    }
    let ip = parse_ip(v.get("ip").and_then(Value::as_str).ok_or("no \"ip\"")?)?;
    let services = v
        .get("services")
        .and_then(Value::as_array)
        .ok_or("no \"services\" array")?;
    for s in services {
        let proto = s
            .get("transport_protocol")
            .and_then(Value::as_str)
            .unwrap_or("tcp");
        let product = s
            .get("service_name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        items.ports.push(OpenPort {
            ip,
            port: json_port(s.get("port"))?,
            udp: is_udp(proto)?,
            product: shorten(product, 100),
        });
    }
    Ok(())
}

/// A `BufRead` that refuses to hand out more than `limit` bytes between two [`Bounded::reset`]
/// calls (one XML event) and counts the lines it has passed.
pub struct Bounded<R> {
    inner: R,
    limit: usize,
    since_reset: usize,
    /// Newlines consumed so far.
    pub newlines: u64,
    /// Bytes consumed so far.
    pub bytes: u64,
}

impl<R: BufRead> Bounded<R> {
    /// Wraps `inner`.
    pub fn new(inner: R, limit: usize) -> Bounded<R> {
        Bounded {
            inner,
            limit,
            since_reset: 0,
            newlines: 0,
            bytes: 0,
        }
    }

    /// Starts a new event.
    pub fn reset(&mut self) {
        self.since_reset = 0;
    }
}

impl<R: BufRead> Read for Bounded<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = {
            let available = self.fill_buf()?;
            let n = available.len().min(out.len());
            out[..n].copy_from_slice(&available[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Bounded<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        let room = self.limit.saturating_sub(self.since_reset);
        if room == 0 {
            return Err(io::Error::other(format!(
                "an XML element or text longer than {} bytes",
                self.limit
            )));
        }
        let available = self.inner.fill_buf()?;
        Ok(&available[..available.len().min(room)])
    }

    fn consume(&mut self, n: usize) {
        if let Ok(available) = self.inner.fill_buf() {
            let seen = &available[..n.min(available.len())];
            self.newlines += memchr::memchr_iter(b'\n', seen).count() as u64;
        }
        self.inner.consume(n);
        self.since_reset += n;
        self.bytes += n as u64;
    }
}

/// The port being read inside `<port>`.
struct PendingPort {
    port: u16,
    udp: bool,
    open: bool,
    product: String,
    line: u64,
}

/// One `<host>` of nmap XML.
#[derive(Default)]
struct NmapHost {
    ip: Option<IpAddr>,
    ports: Vec<(OpenPort, u64)>,
    pending: Option<PendingPort>,
}

fn attr(e: &BytesStart<'_>, key: &str) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| AsRef::<str>::as_ref(&a.key) == key)
        .and_then(|a| {
            a.normalized_value(XmlVersion::Implicit1_0)
                .ok()
                .map(|v| v.into_owned())
        })
}

fn element_name<'e>(e: &'e BytesStart<'_>) -> &'e str {
    e.local_name().into_inner()
}

impl NmapHost {
    /// Handles a start (or empty) element inside `<host>`.
    fn element(&mut self, e: &BytesStart<'_>, line: u64) {
        match element_name(e) {
            "address" => {
                let kind = attr(e, "addrtype");
                if matches!(kind.as_deref(), Some("ipv4" | "ipv6")) {
                    self.ip = attr(e, "addr")
                        .and_then(|a| parse_net(&a))
                        .map(|n| n.addr());
                }
            }
            "port" => {
                let port = attr(e, "portid").and_then(|p| p.parse().ok());
                let udp = attr(e, "protocol").and_then(|p| is_udp(&p).ok());
                self.pending = match (port, udp) {
                    (Some(port), Some(udp)) => Some(PendingPort {
                        port,
                        udp,
                        open: false,
                        product: String::new(),
                        line,
                    }),
                    _ => None, // sctp, ip protocol scans
                };
            }
            "state" => {
                if let Some(p) = &mut self.pending {
                    p.open = attr(e, "state").as_deref() == Some("open");
                }
            }
            "service" => {
                if let Some(p) = &mut self.pending {
                    let words: Vec<String> = ["name", "product", "version"]
                        .iter()
                        .filter_map(|k| attr(e, k))
                        .collect();
                    p.product = shorten(&words.join(" "), 100);
                }
            }
            _ => {}
        }
    }

    fn end_port(&mut self) {
        let (Some(p), Some(ip)) = (self.pending.take(), self.ip) else {
            return;
        };
        if p.open && self.ports.len() < MAX_PORTS_PER_HOST {
            let open = OpenPort {
                ip,
                port: p.port,
                udp: p.udp,
                product: p.product,
            };
            self.ports.push((open, p.line));
        }
    }
}

impl Watcher {
    /// Reads an nmap XML document (`-oX`): `first` is line `first_line` of the source (already
    /// counted), `rest` the remainder. A malformed document is a warning with its line; the
    /// hosts before the error are still checked.
    pub(crate) fn scan_nmap_xml(
        &self,
        source: &str,
        first: &[u8],
        rest: impl BufRead,
        first_line: u64,
        run: &mut Run,
        progress: &dyn Fn(u64),
    ) {
        let counted = first.len() as u64 + 1;
        let first = io::Cursor::new([first, b"\n"].concat());
        let bounded = Bounded::new(first.chain(rest), MAX_XML_EVENT);
        let mut xml = quick_xml::Reader::from_reader(bounded);
        let mut buf = Vec::new();
        let mut host: Option<NmapHost> = None;
        let mut root_seen = false;
        let mut reported = counted;
        loop {
            buf.clear();
            xml.get_mut().reset();
            let event = xml.read_event_into(&mut buf);
            let line = first_line + xml.get_ref().newlines;
            let bytes = xml.get_ref().bytes;
            progress(bytes.saturating_sub(reported));
            reported = reported.max(bytes);
            let event = match event {
                Ok(ev) => ev,
                Err(e) => {
                    run.skipped += 1;
                    run.warn(
                        source,
                        line,
                        format!("nmap xml: {e}; rest of the document skipped"),
                    );
                    break;
                }
            };
            match event {
                Event::Eof => break,
                Event::Start(e) | Event::Empty(e) if !root_seen => {
                    root_seen = true;
                    if element_name(&e) != "nmaprun" {
                        let root = element_name(&e).to_string();
                        run.skipped += 1;
                        run.warn(
                            source,
                            line,
                            format!(
                                "XML whose root is <{}>, not nmap's <nmaprun>; skipped",
                                shorten(&root, 40)
                            ),
                        );
                        break;
                    }
                }
                Event::Start(e) if element_name(&e) == "host" => host = Some(NmapHost::default()),
                Event::Start(e) | Event::Empty(e) => {
                    if let Some(h) = &mut host {
                        h.element(&e, line);
                    }
                }
                Event::End(e) => match (e.local_name().into_inner(), &mut host) {
                    ("port", Some(h)) => h.end_port(),
                    ("host", Some(_)) => {
                        if let Some(h) = host.take() {
                            self.nmap_host_done(source, h, run);
                        }
                    }
                    _ => {}
                },
                _ => {}
            }
        }
        run.bytes += xml.get_ref().bytes.saturating_sub(counted);
        run.lines += xml.get_ref().newlines.saturating_sub(1);
    }

    fn nmap_host_done(&self, source: &str, host: NmapHost, run: &mut Run) {
        for (port, line) in host.ports {
            self.check_ports(source, line, std::slice::from_ref(&port), "nmap xml", run);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(ip: &str, port: u16, udp: bool, product: &str) -> OpenPort {
        OpenPort {
            ip: ip.parse().unwrap(),
            port,
            udp,
            product: product.into(),
        }
    }

    #[test]
    fn masscan_list_and_json_records() {
        let mut items = Items::default();
        masscan_list("open tcp 3389 203.0.113.5 1390000000", &mut items).unwrap();
        masscan_list(
            "banner tcp 80 203.0.113.5 1390000000 http Server: x",
            &mut items,
        )
        .unwrap();
        masscan_list("# end", &mut items).unwrap();
        assert!(masscan_list("open tcp", &mut items).is_err());
        assert!(masscan_list("open tcp 99999 203.0.113.5 1", &mut items).is_err());
        let v: Value = serde_json::from_str(
            r#"{ "ip": "203.0.113.6", "timestamp": "1", "ports": [ {"port": 53, "proto": "udp", "status": "open", "reason": "x", "ttl": 5} ] }"#,
        )
        .unwrap();
        masscan_json(&v, &mut items).unwrap();
        let nd: Value = serde_json::from_str(
            r#"{"ip":"203.0.113.7","timestamp":"1","port":6379,"proto":"tcp","rec_type":"status","data":{"status":"open","reason":"syn-ack","ttl":64}}"#,
        )
        .unwrap();
        masscan_json(&nd, &mut items).unwrap();
        assert_eq!(
            items.ports,
            [
                port("203.0.113.5", 3389, false, ""),
                port("203.0.113.6", 53, true, ""),
                port("203.0.113.7", 6379, false, "")
            ]
        );
    }

    #[test]
    fn shodan_and_censys_records() {
        let mut items = Items::default();
        let s: Value = serde_json::from_str(
            r#"{"ip_str":"2001:db8::1","port":443,"transport":"tcp","product":"nginx","version":"1.25","hostnames":["a.example"]}"#,
        )
        .unwrap();
        shodan(&s, &mut items).unwrap();
        let c: Value = serde_json::from_str(
            r#"{"ip":"192.0.2.9","services":[{"port":22,"service_name":"SSH","transport_protocol":"TCP"},{"port":161,"service_name":"SNMP","transport_protocol":"UDP"}]}"#,
        )
        .unwrap();
        censys(&c, &mut items).unwrap();
        assert_eq!(items.ports[0].endpoint(), "[2001:db8::1]:443/tcp");
        assert_eq!(items.ports[0].product, "nginx 1.25");
        assert_eq!(items.domains, ["a.example"]);
        assert_eq!(items.ports[2], port("192.0.2.9", 161, true, "SNMP"));
        let bad: Value = serde_json::from_str(r#"{"ip":"nope","services":[]}"#).unwrap();
        assert!(censys(&bad, &mut items).unwrap_err().contains("not an IP"));
    }

    #[test]
    fn risk_by_port_and_by_name() {
        assert_eq!(
            risk(&port("192.0.2.1", 3389, false, "")),
            (Severity::High, Some("ms-wbt-server"))
        );
        assert_eq!(
            risk(&port("192.0.2.1", 16379, false, "redis key-value store")),
            (Severity::High, Some("redis"))
        );
        assert_eq!(
            risk(&port("192.0.2.1", 8443, false, "nginx")),
            (Severity::Medium, None)
        );
        assert_eq!(risk(&port("192.0.2.1", 161, true, "")).0, Severity::High);
    }

    fn watcher() -> Watcher {
        let inv = crate::inventory::Inventory::parse(
            r#"
[[entity]]
name = "Acme"
ip_ranges = ["203.0.113.0/24"]
allow = { ips = ["203.0.113.250/32"] }
[[entity.services]]
range = "203.0.113.0/28"
expected = ["443/tcp"]
"#,
        )
        .unwrap();
        Watcher::new(inv, crate::Settings::default()).unwrap()
    }

    fn scan(doc: &str) -> Run {
        let mut run = Run::default();
        let reader = Box::new(io::Cursor::new(doc.as_bytes().to_vec()));
        watcher().scan_reader("scan.xml", reader, &mut run, &|_| {});
        run
    }

    #[test]
    fn nmap_document_unexpected_open_ports_only() {
        let run = scan(
            "<?xml version=\"1.0\"?>\n<!DOCTYPE nmaprun>\n<nmaprun>\n\
             <host><address addr=\"203.0.113.5\" addrtype=\"ipv4\"/><ports>\n\
             <port protocol=\"tcp\" portid=\"443\"><state state=\"open\"/></port>\n\
             <port protocol=\"tcp\" portid=\"445\"><state state=\"open\"/><service name=\"microsoft-ds\"/></port>\n\
             <port protocol=\"tcp\" portid=\"80\"><state state=\"filtered\"/></port>\n\
             </ports></host>\n\
             <host><address addr=\"203.0.113.99\" addrtype=\"ipv4\"/><ports>\n\
             <port protocol=\"tcp\" portid=\"443\"><state state=\"open\"/></port>\n\
             </ports></host>\n\
             <host><address addr=\"203.0.113.250\" addrtype=\"ipv4\"/><ports>\n\
             <port protocol=\"tcp\" portid=\"22\"><state state=\"open\"/></port>\n\
             </ports></host>\n</nmaprun>\n",
        );
        assert!(run.warnings.is_empty(), "{:?}", run.warnings);
        assert_eq!(run.lines, 15);
        let alerts = run.into_alerts();
        let got: Vec<(&str, Severity, u64)> = alerts
            .iter()
            .map(|a| (a.subject.as_str(), a.severity, a.evidence.line))
            .collect();
        assert_eq!(
            got,
            [
                ("203.0.113.5:445/tcp", Severity::High, 6),
                ("203.0.113.99:443/tcp", Severity::Medium, 10)
            ]
        );
    }

    #[test]
    fn nmap_entities_are_not_expanded_and_errors_have_lines() {
        let run = scan(
            "<?xml version=\"1.0\"?>\n<!DOCTYPE nmaprun [<!ENTITY a \"aaaaaaaaaa\">]>\n\
             <nmaprun><host><address addr=\"&a;\" addrtype=\"ipv4\"/></host>\n<oops></nmaprun>\n",
        );
        assert_eq!(run.warnings.len(), 1, "{:?}", run.warnings);
        assert_eq!(run.warnings[0].line, 4);
        assert!(run.into_alerts().is_empty());
    }

    #[test]
    fn bounded_reader_caps_an_event_and_counts_lines() {
        let data = b"ab\ncd\nef";
        let mut r = Bounded::new(&data[..], 4);
        let mut out = [0u8; 16];
        assert_eq!(r.read(&mut out).unwrap(), 4);
        assert!(r.read(&mut out).is_err());
        r.reset();
        assert_eq!(r.read(&mut out).unwrap(), 4);
        assert_eq!(r.newlines, 2);
        assert_eq!(r.bytes, 8);
    }
}
