//! One self-contained HTML page: inline CSS and SVG, no scripts, no external
//! resources, so it opens offline and cannot phone home. All log text is
//! HTML-escaped (it is attacker-controlled).

use std::fmt::Write;

use html_escape::encode_text;

use super::{printable, svg, tables};
use crate::report::{Count, Report};

const STYLE: &str = "body{font-family:sans-serif;margin:24px;color:#222;max-width:1200px}\
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ccc}\
table{border-collapse:collapse;font-size:12px;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 6px;vertical-align:top}\
th{background:#f3f3f3}td.n{text-align:right}code,td{font-family:monospace}\
.grid{display:flex;flex-wrap:wrap;gap:24px}.grid>div{flex:1 1 560px}.flag{color:#b00;font-weight:bold}";

fn bars_of(items: &[Count]) -> Vec<(String, u64)> {
    items.iter().map(|c| (c.value.clone(), c.count)).collect()
}

fn chart(s: &mut String, title: &str, body: &str) {
    let _ = write!(s, "<div><h2>{}</h2>{body}</div>", encode_text(title));
}

/// The page.
pub fn render(r: &Report) -> String {
    let mut s = String::with_capacity(64 * 1024);
    let _ = write!(
        s,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>trawl report</title><style>{STYLE}</style></head><body><h1>trawl report</h1>"
    );
    if let Some((a, b)) = &r.time_range {
        let _ = write!(
            s,
            "<p>{} events from {} to {}; {} credential attempts, {} post-login commands, {} sources, {} sessions.</p>",
            r.totals.events,
            encode_text(a),
            encode_text(b),
            r.totals.credential_attempts,
            r.totals.command_entries + r.totals.shell_commands,
            r.totals.sources,
            r.totals.sessions
        );
    }
    let points: Vec<(String, u64, u64)> = r
        .timeline
        .points
        .iter()
        .map(|p| (p.start.clone(), p.credentials, p.commands))
        .collect();
    chart(
        &mut s,
        &format!(
            "Attempts over time ({} s buckets; blue credentials, red commands)",
            r.timeline.bucket_seconds
        ),
        &svg::timeline(&points),
    );
    s.push_str("<div class=\"grid\">");
    chart(
        &mut s,
        "Protocol split",
        &svg::donut(&bars_of(&r.protocols)),
    );
    chart(
        &mut s,
        "Top sources",
        &svg::bars(&bars_of(&r.top_sources), svg::BAR),
    );
    chart(
        &mut s,
        "Top usernames (credential attempts)",
        &svg::bars(&bars_of(&r.top_credential_usernames), svg::BAR),
    );
    chart(
        &mut s,
        "Top passwords (credential attempts)",
        &svg::bars(&bars_of(&r.top_credential_passwords), svg::BAR),
    );
    let creds: Vec<(String, u64)> = r
        .top_credentials
        .iter()
        .map(|p| (format!("{}/{}", p.username, p.password), p.count))
        .collect();
    chart(&mut s, "Top credentials", &svg::bars(&creds, svg::BAR));
    chart(
        &mut s,
        "Top post-login commands",
        &svg::bars(&bars_of(&r.top_commands), svg::COMMANDS),
    );
    s.push_str("</div>");
    for t in tables(r) {
        if t.rows.is_empty() {
            continue;
        }
        let _ = write!(s, "<h2>{}</h2><table><tr>", encode_text(&t.title));
        for h in &t.headers {
            let _ = write!(s, "<th>{}</th>", encode_text(h));
        }
        s.push_str("</tr>");
        for row in &t.rows {
            s.push_str("<tr>");
            for (i, cell) in row.iter().enumerate() {
                let numeric = t.numeric.get(i).copied().unwrap_or(false);
                let class = if numeric {
                    " class=\"n\""
                } else if cell.starts_with("tiny-") {
                    " class=\"flag\""
                } else {
                    ""
                };
                let _ = write!(s, "<td{class}>{}</td>", encode_text(&printable(cell, 300)));
            }
            s.push_str("</tr>");
        }
        s.push_str("</table>");
    }
    s.push_str("</body></html>\n");
    s
}
