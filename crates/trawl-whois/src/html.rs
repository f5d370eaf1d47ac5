//! A self-contained HTML page for pivot groups: a link diagram (shared
//! values on the left, domains on the right, one line per registration) and
//! the same data as a table. No scripts, no external assets; every value from
//! a whois answer is HTML-escaped (five-character replacement, too small to
//! justify a crate).

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::pivot::Group;

fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

const ROW: usize = 22;
const LEFT_X: usize = 330;
const RIGHT_X: usize = 650;

fn color(kind: &str) -> &'static str {
    match kind {
        "registrant_email" => "#c0392b",
        "registrant_name" => "#8e44ad",
        "registrant_org" => "#2471a3",
        _ => "#1e8449",
    }
}

fn diagram(groups: &[Group]) -> String {
    let mut domain_rows: BTreeMap<&str, usize> = BTreeMap::new();
    for g in groups {
        for d in &g.domains {
            let next = domain_rows.len();
            domain_rows.entry(d.as_str()).or_insert(next);
        }
    }
    let rows = groups.len().max(domain_rows.len()).max(1);
    let height = rows * ROW + 20;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="1000" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    let y = |row: usize| row * ROW + 20;
    for (i, g) in groups.iter().enumerate() {
        let colour = color(g.kind.label());
        for d in &g.domains {
            let j = domain_rows.get(d.as_str()).copied().unwrap_or(0);
            let _ = write!(
                svg,
                r#"<line x1="{LEFT_X}" y1="{}" x2="{RIGHT_X}" y2="{}" stroke="{colour}" stroke-opacity="0.5"/>"#,
                y(i) - 4,
                y(j) - 4
            );
        }
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="end" fill="{colour}">{} ({})</text>"#,
            LEFT_X - 6,
            y(i),
            esc(&g.value),
            g.domains.len()
        );
    }
    for (d, j) in &domain_rows {
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}">{}</text>"#,
            RIGHT_X + 6,
            y(*j),
            esc(d)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// The page.
pub fn pivot_page(groups: &[Group]) -> String {
    let mut rows = String::new();
    for g in groups {
        let _ = write!(
            rows,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(g.kind.label()),
            esc(&g.value),
            g.domains.len(),
            esc(&g.domains.join(" "))
        );
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>trawl whois pivot</title>\
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}\
.k span{{margin-right:1.5em}}</style></head><body>\n<h1>Whois pivot</h1>\n\
<p class=\"k\"><span style=\"color:#c0392b\">registrant email</span><span style=\"color:#8e44ad\">registrant name</span>\
<span style=\"color:#2471a3\">registrant organisation</span><span style=\"color:#1e8449\">name server</span></p>\n{}\n\
<h2>Groups</h2>\n<table><tr><th>pivot</th><th>value</th><th>domains</th><th>domain list</th></tr>{}</table>\n</body></html>\n",
        diagram(groups),
        rows
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pivot::PivotKind;

    #[test]
    fn values_are_escaped_and_every_link_drawn() {
        let groups = vec![Group {
            kind: PivotKind::RegistrantEmail,
            value: "<script>alert(1)</script>@x.com".into(),
            domains: vec!["a.in".into(), "b\"onload=x.in".into()],
        }];
        let page = pivot_page(&groups);
        assert!(!page.contains("<script>"), "{page}");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;@x.com"));
        assert!(page.contains("b&quot;onload=x.in"));
        assert_eq!(page.matches("<line ").count(), 2);
    }
}
