//! Alert output: table, JSON lines, CSV and Markdown.

use std::io::{self, Write};

use crate::alert::Alert;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// Aligned columns for a terminal.
    Table,
    /// One JSON object a line.
    Jsonl,
    /// CSV with a header.
    Csv,
    /// A Markdown table.
    Markdown,
}

const COLUMNS: [&str; 9] = [
    "severity",
    "category",
    "entity",
    "subject",
    "detail",
    "source",
    "line",
    "first_seen",
    "last_seen",
];

fn row(a: &Alert) -> [String; 9] {
    [
        a.severity.as_str().to_string(),
        a.category.as_str().to_string(),
        a.entity.clone(),
        a.subject.clone(),
        a.detail.clone(),
        a.evidence.source.clone(),
        a.evidence.line.to_string(),
        utc(a.first_seen),
        utc(a.last_seen),
    ]
}

/// Writes the alerts. `header`: write the CSV or Markdown header row first (a follow run
/// writes it once, then appends rows to the same table; the terminal table always has
/// one, and JSON lines none).
pub fn write_alerts(
    out: &mut impl Write,
    format: OutputFormat,
    alerts: &[Alert],
    header: bool,
) -> io::Result<()> {
    match format {
        OutputFormat::Jsonl => {
            for a in alerts {
                serde_json::to_writer(&mut *out, a)?;
                out.write_all(b"\n")?;
            }
        }
        OutputFormat::Csv => {
            let mut w = csv::Writer::from_writer(&mut *out);
            if header {
                w.write_record(COLUMNS).map_err(io::Error::other)?;
            }
            for a in alerts {
                w.write_record(row(a)).map_err(io::Error::other)?;
            }
            w.flush()?;
        }
        OutputFormat::Markdown => {
            if header {
                writeln!(out, "| {} |", COLUMNS.join(" | "))?;
                writeln!(out, "|{}", "---|".repeat(COLUMNS.len()))?;
            }
            for a in alerts {
                let cells: Vec<String> = row(a).iter().map(|c| c.replace('|', "\\|")).collect();
                writeln!(out, "| {} |", cells.join(" | "))?;
            }
        }
        OutputFormat::Table => write_table(out, alerts)?,
    }
    Ok(())
}

fn write_table(out: &mut impl Write, alerts: &[Alert]) -> io::Result<()> {
    let shown = [0usize, 1, 2, 3, 5, 6, 4];
    let rows: Vec<[String; 9]> = alerts.iter().map(row).collect();
    let mut widths = [0usize; 9];
    for (i, c) in COLUMNS.iter().enumerate() {
        widths[i] = c.len();
    }
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count()).min(60);
        }
    }
    let line = |cells: &[String; 9]| -> String {
        shown
            .iter()
            .map(|&i| {
                if i == 4 {
                    cells[i].clone()
                } else {
                    format!("{:<w$}", cells[i], w = widths[i])
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
    };
    let header: [String; 9] = COLUMNS.map(str::to_string);
    writeln!(out, "{}", line(&header).trim_end())?;
    for r in &rows {
        writeln!(out, "{}", line(r).trim_end())?;
    }
    Ok(())
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ` (proleptic Gregorian, civil-from-days).
pub fn utc(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(subject: &str) -> Alert {
        Alert {
            entity: "Example".into(),
            category: crate::alert::Category::LookalikeDomain,
            severity: crate::alert::Severity::High,
            subject: subject.into(),
            detail: "lookalike".into(),
            evidence: crate::alert::Evidence {
                source: "feed.txt".into(),
                line: 3,
                snippet: subject.into(),
            },
            count: 1,
            first_seen: 0,
            last_seen: 0,
            new: true,
        }
    }

    #[test]
    fn csv_and_markdown_rounds_append_rows_under_one_header() {
        for format in [OutputFormat::Csv, OutputFormat::Markdown] {
            let mut out = Vec::new();
            write_alerts(&mut out, format, &[alert("examp1e.com")], true).expect("write");
            write_alerts(&mut out, format, &[alert("exarnple.com")], false).expect("write");
            let text = String::from_utf8(out).expect("utf-8");
            assert_eq!(text.matches("entity").count(), 1, "{format:?}:\n{text}");
            assert!(text.contains("examp1e.com") && text.contains("exarnple.com"));
        }
        let mut out = Vec::new();
        write_alerts(
            &mut out,
            OutputFormat::Csv,
            &[alert("a.com"), alert("b.com")],
            true,
        )
        .expect("write");
        let rows: Vec<csv::StringRecord> = csv::Reader::from_reader(out.as_slice())
            .records()
            .collect::<Result<_, _>>()
            .expect("parses");
        assert_eq!(rows.len(), 2);
    }

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(1_709_164_800), "2024-02-29T00:00:00Z");
        assert_eq!(utc(1_798_761_599), "2026-12-31T23:59:59Z");
    }
}
