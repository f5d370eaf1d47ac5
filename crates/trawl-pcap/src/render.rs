//! Report output: terminal text, Markdown, CSV, JSON and the plain IOC list.

use std::io::{self, Write};

use crate::report::{Endpoint, Report};
use crate::{json, parallel};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Readable terminal report.
    Text,
    /// JSON document.
    Json,
    /// One CSV table with a `kind` column.
    Csv,
    /// Markdown.
    Markdown,
}

/// Writes the full report.
pub fn write_report(report: &Report, format: Format, out: &mut dyn Write) -> io::Result<()> {
    match format {
        Format::Json => write_json(report, out),
        Format::Csv => write_csv(report, out),
        Format::Text => write_text(report, out, false),
        Format::Markdown => write_text(report, out, true),
    }
}

/// Writes only the IOC list: one indicator per line (text), or JSON/CSV/Markdown.
pub fn write_iocs(report: &Report, format: Format, out: &mut dyn Write) -> io::Result<()> {
    let iocs = &report.iocs;
    let all = [
        ("domain", &iocs.domains),
        ("ip", &iocs.ips),
        ("url", &iocs.urls),
    ];
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, iocs)?;
            writeln!(out)
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(out);
            w.write_record(["type", "value"])?;
            for (kind, values) in all {
                for value in values {
                    w.write_record([kind, value.as_str()])?;
                }
            }
            w.flush()
        }
        Format::Markdown => {
            for (kind, values) in all {
                writeln!(out, "## {kind}s\n")?;
                for value in values {
                    writeln!(out, "- `{value}`")?;
                }
                writeln!(out)?;
            }
            Ok(())
        }
        Format::Text => {
            for (_, values) in all {
                for value in values {
                    writeln!(out, "{value}")?;
                }
            }
            Ok(())
        }
    }
}

/// The report as pretty JSON, byte for byte what `serde_json::to_writer_pretty`
/// writes for it, produced on two threads: this one streams the summary,
/// problems and DNS rows, a helper writes the later sections into memory
/// meanwhile.
fn write_json(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let later = || -> io::Result<Vec<u8>> {
        let mut buffer = Vec::new();
        json_field(&mut buffer, "resolvers", &report.resolvers, false)?;
        field_name(&mut buffer, "endpoints", false)?;
        json::endpoints(&mut buffer, 1, &report.endpoints)?;
        json_field(&mut buffer, "scans", &report.scans, false)?;
        field_name(&mut buffer, "http", false)?;
        json::http_records(&mut buffer, 1, &report.http)?;
        json_field(&mut buffer, "tls", &report.tls, false)?;
        json_field(&mut buffer, "tftp", &report.tftp, false)?;
        json_field(&mut buffer, "dga", &report.dga, false)?;
        json_field(&mut buffer, "iocs", &report.iocs, false)?;
        Ok(buffer)
    };
    let first = || -> io::Result<()> {
        // A concrete buffered writer lets serde_json's many small writes
        // inline instead of going through `dyn Write` one by one.
        let mut buffered = io::BufWriter::with_capacity(1 << 20, &mut *out);
        buffered.write_all(b"{")?;
        json_field(&mut buffered, "summary", &report.summary, true)?;
        json_field(&mut buffered, "problems", &report.problems, false)?;
        field_name(&mut buffered, "dns", false)?;
        json::dns_rows(&mut buffered, 1, &report.dns)?;
        buffered.flush()
    };
    let (later, first) = parallel::join(later, first);
    first?;
    out.write_all(&later?)?;
    out.write_all(b"\n}\n")?;
    out.flush()
}

/// One member of the top-level JSON object, as serde_json's pretty printer
/// writes it (two-space indent, the value nested one level deep).
fn json_field<W: Write, T: serde::Serialize + ?Sized>(
    out: &mut W,
    key: &str,
    value: &T,
    first: bool,
) -> io::Result<()> {
    field_name(out, key, first)?;
    let mut serializer = serde_json::Serializer::with_formatter(&mut *out, Nested::at(1));
    value.serialize(&mut serializer)?;
    Ok(())
}

/// The start of a top-level member: its key and `: `.
fn field_name<W: Write>(out: &mut W, key: &str, first: bool) -> io::Result<()> {
    out.write_all(if first { b"\n  \"" } else { b",\n  \"" })?;
    out.write_all(key.as_bytes())?;
    out.write_all(b"\": ")
}

/// serde_json's `PrettyFormatter` (two spaces), starting some levels deep.
pub(crate) struct Nested {
    level: usize,
    has_value: bool,
}

impl Nested {
    /// A value that starts on a line indented `level` times.
    pub(crate) fn at(level: usize) -> Self {
        Self {
            level,
            has_value: false,
        }
    }

    fn newline<W: ?Sized + Write>(&self, writer: &mut W, prefix: &[u8]) -> io::Result<()> {
        writer.write_all(prefix)?;
        for _ in 0..self.level {
            writer.write_all(b"  ")?;
        }
        Ok(())
    }
}

impl serde_json::ser::Formatter for Nested {
    fn begin_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.level += 1;
        self.has_value = false;
        writer.write_all(b"[")
    }

    fn end_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.level -= 1;
        if self.has_value {
            self.newline(writer, b"\n")?;
        }
        writer.write_all(b"]")
    }

    fn begin_array_value<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.newline(writer, if first { b"\n" } else { b",\n" })
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, _writer: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.level += 1;
        self.has_value = false;
        writer.write_all(b"{")
    }

    fn end_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.level -= 1;
        if self.has_value {
            self.newline(writer, b"\n")?;
        }
        writer.write_all(b"}")
    }

    fn begin_object_key<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.newline(writer, if first { b"\n" } else { b",\n" })
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b": ")
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, _writer: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

fn write_csv(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "kind",
        "first_seen",
        "last_seen",
        "client",
        "server",
        "port",
        "proto",
        "name",
        "type",
        "value",
        "ttl",
        "rcode",
        "count",
        "detail",
    ])?;
    for q in &report.dns {
        let rcodes = q.rcodes.join("|");
        let count = q.queries.to_string();
        let dga = q.dga.as_ref().map_or(String::new(), |d| {
            format!(
                "dga score {}{}",
                d.score,
                if d.mirai { " mirai" } else { "" }
            )
        });
        w.write_record([
            "dns_query",
            &q.first_seen,
            &q.last_seen,
            &join_ips(&q.clients),
            &q.resolver.to_string(),
            "",
            "",
            &q.name,
            &q.qtype,
            "",
            "",
            &rcodes,
            &count,
            &dga,
        ])?;
        for a in &q.answers {
            w.write_record([
                "dns_answer",
                &q.first_seen,
                &q.last_seen,
                "",
                &q.resolver.to_string(),
                "",
                "",
                &a.name,
                &a.rtype,
                &a.value,
                &a.ttl.to_string(),
                &rcodes,
                "",
                &q.name,
            ])?;
        }
    }
    for e in &report.endpoints {
        let detail = format!(
            "{} {} sent {}p/{}B received {}p/{}B from_dns {}",
            e.role,
            e.state,
            e.sent.packets,
            e.sent.bytes,
            e.received.packets,
            e.received.bytes,
            e.from_dns.join("|")
        );
        w.write_record([
            "endpoint",
            &e.first_seen,
            &e.last_seen,
            &join_ips(&e.clients),
            &e.ip.to_string(),
            &e.port.to_string(),
            &e.proto.to_string(),
            "",
            "",
            "",
            "",
            "",
            &e.flows.to_string(),
            &detail,
        ])?;
    }
    for s in &report.scans {
        let detail = format!(
            "{} destinations, {} answered, {}/s",
            s.destinations, s.answered, s.rate_per_s
        );
        w.write_record([
            "scan",
            &s.first_seen,
            &s.last_seen,
            &join_ips(&s.sources),
            "",
            &s.port.to_string(),
            &s.proto.to_string(),
            "",
            "",
            "",
            "",
            "",
            &s.flows.to_string(),
            &detail,
        ])?;
    }
    for h in &report.http {
        let status = h.status.map(|s| s.to_string()).unwrap_or_default();
        w.write_record([
            "http",
            "",
            "",
            &h.client.to_string(),
            &h.server.to_string(),
            &h.port.to_string(),
            "tcp",
            h.host.as_deref().unwrap_or(""),
            &h.method,
            &h.uri,
            "",
            &status,
            "",
            h.user_agent.as_deref().unwrap_or(""),
        ])?;
    }
    for t in &report.tls {
        w.write_record([
            "tls",
            "",
            "",
            &t.client.to_string(),
            &t.server.to_string(),
            &t.port.to_string(),
            "tcp",
            t.sni.as_deref().unwrap_or(""),
            &t.alpn.join("|"),
            &t.ja3,
            "",
            "",
            "",
            &t.ja3_string,
        ])?;
    }
    for t in &report.tftp {
        w.write_record([
            "tftp",
            "",
            "",
            &t.client.to_string(),
            &t.server.to_string(),
            &t.port.to_string(),
            "udp",
            &t.file,
            &t.op,
            &t.mode,
            "",
            "",
            "",
            "",
        ])?;
    }
    for (kind, values) in [
        ("ioc_domain", &report.iocs.domains),
        ("ioc_ip", &report.iocs.ips),
        ("ioc_url", &report.iocs.urls),
    ] {
        for v in values {
            w.write_record([kind, "", "", "", "", "", "", "", "", v, "", "", "", ""])?;
        }
    }
    for p in &report.problems {
        w.write_record([
            "problem",
            "",
            "",
            "",
            "",
            "",
            "",
            &p.file,
            "",
            &p.message,
            "",
            "",
            &p.packet.to_string(),
            "",
        ])?;
    }
    w.flush()
}

fn join_ips(ips: &[std::net::IpAddr]) -> String {
    ips.iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join("|")
}

/// Terminal text or Markdown: the same sections, different markup.
struct Doc<'a> {
    out: &'a mut dyn Write,
    md: bool,
}

impl Doc<'_> {
    fn heading(&mut self, title: &str) -> io::Result<()> {
        if self.md {
            writeln!(self.out, "\n## {title}\n")
        } else {
            writeln!(self.out, "\n== {title} ==")
        }
    }

    fn table(&mut self, header: &[&str], rows: &[Vec<String>]) -> io::Result<()> {
        if self.md {
            writeln!(self.out, "| {} |", header.join(" | "))?;
            writeln!(self.out, "|{}", "---|".repeat(header.len()))?;
            for row in rows {
                let cells: Vec<String> = row.iter().map(|c| c.replace('|', "\\|")).collect();
                writeln!(self.out, "| {} |", cells.join(" | "))?;
            }
            return Ok(());
        }
        let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
        for row in rows {
            for (i, cell) in row.iter().enumerate() {
                if let Some(w) = widths.get_mut(i) {
                    *w = (*w).max(cell.chars().count().min(60));
                }
            }
        }
        let line = |cells: Vec<String>| {
            cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{:<w$}", truncate(c, 60), w = *w))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_string()
        };
        writeln!(
            self.out,
            "{}",
            line(header.iter().map(|h| h.to_string()).collect())
        )?;
        for row in rows {
            writeln!(self.out, "{}", line(row.clone()))?;
        }
        Ok(())
    }

    fn line(&mut self, text: &str) -> io::Result<()> {
        if self.md {
            writeln!(self.out, "- {text}")
        } else {
            writeln!(self.out, "  {text}")
        }
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}

fn write_text(report: &Report, out: &mut dyn Write, md: bool) -> io::Result<()> {
    let mut doc = Doc { out, md };
    let s = &report.summary;
    if md {
        writeln!(doc.out, "# trawl pcap report")?;
    } else {
        writeln!(doc.out, "trawl pcap report")?;
    }
    doc.heading("Summary")?;
    for f in &s.files {
        doc.line(&format!(
            "{}: {} {} packets, {} bytes, link types {:?}",
            f.name, f.format, f.packets, f.bytes, f.linktypes
        ))?;
    }
    doc.line(&format!(
        "{} frames, {} TCP/UDP datagrams, {} flows, {} – {}",
        s.stats.frames,
        s.stats.datagrams,
        s.flows,
        s.first_seen.as_deref().unwrap_or("?"),
        s.last_seen.as_deref().unwrap_or("?")
    ))?;
    if !report.problems.is_empty() {
        doc.heading("Problems")?;
        for p in &report.problems {
            doc.line(&format!("{}: packet {}: {}", p.file, p.packet, p.message))?;
        }
    }
    dns_section(report, &mut doc)?;
    endpoint_sections(report, &mut doc)?;
    app_sections(report, &mut doc)?;
    doc.heading("IOCs")?;
    for (kind, values) in [
        ("domain", &report.iocs.domains),
        ("ip", &report.iocs.ips),
        ("url", &report.iocs.urls),
    ] {
        for v in values {
            doc.line(&format!("{kind:<6} {v}"))?;
        }
    }
    Ok(())
}

fn dns_section(report: &Report, doc: &mut Doc<'_>) -> io::Result<()> {
    if report.dns.is_empty() {
        return Ok(());
    }
    doc.heading("DNS")?;
    let rows: Vec<Vec<String>> = report
        .dns
        .iter()
        .map(|q| {
            let answers = q
                .answers
                .iter()
                .map(|a| format!("{} {} (ttl {})", a.rtype, a.value, a.ttl))
                .collect::<Vec<_>>()
                .join(", ");
            let flag = match &q.dga {
                Some(d) if d.mirai => "MIRAI-DGA".to_string(),
                Some(d) => format!("DGA {:.2}", d.score),
                None => String::new(),
            };
            vec![
                q.first_seen.clone(),
                q.name.clone(),
                q.qtype.clone(),
                q.resolver.to_string(),
                q.queries.to_string(),
                q.rcodes.join(","),
                answers,
                flag,
            ]
        })
        .collect();
    doc.table(
        &[
            "first seen",
            "name",
            "type",
            "resolver",
            "count",
            "rcode",
            "answers",
            "flag",
        ],
        &rows,
    )?;
    doc.heading("Resolvers")?;
    for r in &report.resolvers {
        doc.line(&format!(
            "{} – {} queries, {} names – {}",
            r.ip, r.queries, r.names, r.note
        ))?;
    }
    Ok(())
}

fn endpoint_row(e: &Endpoint) -> Vec<String> {
    vec![
        format!("{}:{}/{}", e.ip, e.port, e.proto),
        if e.from_dns.is_empty() {
            "direct".into()
        } else {
            format!("dns: {}", e.from_dns.join(","))
        },
        e.state.to_string(),
        e.flows.to_string(),
        format!("{}/{}", e.sent.packets, e.sent.bytes),
        format!("{}/{}", e.received.packets, e.received.bytes),
        e.first_seen.clone(),
        e.last_seen.clone(),
        if e.c2_candidate {
            "C2?".into()
        } else {
            String::new()
        },
    ]
}

fn endpoint_sections(report: &Report, doc: &mut Doc<'_>) -> io::Result<()> {
    let contacts: Vec<Vec<String>> = report
        .endpoints
        .iter()
        .filter(|e| e.role == "contact")
        .map(endpoint_row)
        .collect();
    if !contacts.is_empty() {
        doc.heading("Endpoints (excluding scans)")?;
        doc.table(
            &[
                "destination",
                "source",
                "state",
                "flows",
                "sent pkts/B",
                "recv pkts/B",
                "first seen",
                "last seen",
                "",
            ],
            &contacts,
        )?;
    }
    if !report.scans.is_empty() {
        doc.heading("Scans")?;
        for s in &report.scans {
            doc.line(&format!(
                "{}/{}: {} destinations ({} answered), {} flows, {} packets, {:.3}s, ~{}/s, from {}",
                s.port,
                s.proto,
                s.destinations,
                s.answered,
                s.flows,
                s.packets,
                s.duration_s,
                s.rate_per_s,
                join_ips(&s.sources)
            ))?;
        }
    }
    Ok(())
}

fn app_sections(report: &Report, doc: &mut Doc<'_>) -> io::Result<()> {
    if !report.http.is_empty() {
        doc.heading("HTTP")?;
        let rows: Vec<Vec<String>> = report
            .http
            .iter()
            .map(|h| {
                vec![
                    format!("{}:{}", h.server, h.port),
                    h.method.clone(),
                    h.host.clone().unwrap_or_default(),
                    h.uri.clone(),
                    h.user_agent.clone().unwrap_or_default(),
                    h.status
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| "-".into()),
                ]
            })
            .collect();
        doc.table(
            &["server", "method", "host", "uri", "user-agent", "status"],
            &rows,
        )?;
    }
    if !report.tls.is_empty() {
        doc.heading("TLS ClientHello")?;
        let rows: Vec<Vec<String>> = report
            .tls
            .iter()
            .map(|t| {
                vec![
                    format!("{}:{}", t.server, t.port),
                    t.sni.clone().unwrap_or_default(),
                    t.alpn.join(","),
                    t.ja3.clone(),
                ]
            })
            .collect();
        doc.table(&["server", "sni", "alpn", "ja3"], &rows)?;
    }
    if !report.tftp.is_empty() {
        doc.heading("TFTP")?;
        for t in &report.tftp {
            doc.line(&format!(
                "{} {} {} → {}:{} ({})",
                t.op, t.file, t.client, t.server, t.port, t.mode
            ))?;
        }
    }
    if !report.dga.is_empty() {
        doc.heading("DGA-like names")?;
        for d in &report.dga {
            doc.line(&format!(
                "{} score {:.2}{} {}",
                d.name,
                d.score,
                if d.mirai { " (Mirai DGA pattern)" } else { "" },
                d.reasons.join("; ")
            ))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_fields_equal_serde_json_pretty() {
        let value = serde_json::json!({
            "summary": {"files": [{"name": "a \"b\"\n", "n": 1}], "empty": {}, "none": []},
            "rows": [{"x": 1.5, "list": ["a", "b"], "deep": [[1], [], [{"k": null}]]}],
            "tail": "end",
        });
        let mut mine = b"{".to_vec();
        for (i, (key, field)) in value.as_object().expect("object").iter().enumerate() {
            json_field(&mut mine, key, field, i == 0).expect("write");
        }
        mine.extend_from_slice(b"\n}");
        let reference = serde_json::to_string_pretty(&value).expect("json");
        assert_eq!(String::from_utf8(mine).expect("utf-8"), reference);
    }
}
