//! Aligned terminal tables, counts right-aligned first like `sort | uniq -c`.
//! Hand-written: a dozen lines of width arithmetic; a table crate would add
//! terminal-detection dependencies for no gain.

use std::io::Write;

use unicode_width::UnicodeWidthStr;

use super::{Table, printable, tables};
use crate::report::Report;

const MAX_CELL: usize = 90;

/// Writes every non-empty table.
pub fn render(r: &Report, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "trawl report")?;
    for t in tables(r) {
        if t.rows.is_empty() {
            continue;
        }
        writeln!(out)?;
        write_table(&t, out)?;
    }
    Ok(())
}

fn write_table(t: &Table, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "{}", t.title)?;
    writeln!(out, "{}", "-".repeat(t.title.width()))?;
    let cells: Vec<Vec<String>> = t
        .rows
        .iter()
        .map(|r| r.iter().map(|c| printable(c, MAX_CELL)).collect())
        .collect();
    let mut widths: Vec<usize> = t.headers.iter().map(|h| h.width()).collect();
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.width());
        }
    }
    let headers: Vec<String> = t.headers.iter().map(|h| (*h).to_string()).collect();
    write_row(&headers, &widths, &t.numeric, out)?;
    for row in &cells {
        write_row(row, &widths, &t.numeric, out)?;
    }
    Ok(())
}

fn write_row(
    row: &[String],
    widths: &[usize],
    numeric: &[bool],
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let mut line = String::from(" ");
    let last = row.len().saturating_sub(1);
    for (i, cell) in row.iter().enumerate() {
        let width = widths.get(i).copied().unwrap_or(0);
        let pad = " ".repeat(width.saturating_sub(cell.width()));
        let right = numeric.get(i).copied().unwrap_or(false);
        line.push(' ');
        if right {
            line.push_str(&pad);
            line.push_str(cell);
        } else {
            line.push_str(cell);
            if i != last {
                line.push_str(&pad);
            }
        }
        line.push(' ');
    }
    writeln!(out, "{}", line.trim_end())
}
