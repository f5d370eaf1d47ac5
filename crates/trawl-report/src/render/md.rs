//! Markdown tables.

use std::io::Write;

use super::{printable, tables};
use crate::report::Report;

fn cell(text: &str) -> String {
    printable(text, 200)
        .replace('|', "\\|")
        .replace('`', "\\`")
        .replace('<', "&lt;")
}

/// Writes every non-empty table as a Markdown section.
pub fn render(r: &Report, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "# trawl report")?;
    for t in tables(r) {
        if t.rows.is_empty() {
            continue;
        }
        writeln!(out, "\n## {}\n", t.title)?;
        writeln!(out, "| {} |", t.headers.join(" | "))?;
        let align: Vec<&str> = t
            .numeric
            .iter()
            .map(|n| if *n { "---:" } else { "---" })
            .collect();
        writeln!(out, "| {} |", align.join(" | "))?;
        for row in &t.rows {
            let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
            writeln!(out, "| {} |", cells.join(" | "))?;
        }
    }
    Ok(())
}
