//! Rendering records and pivot groups as an aligned table or CSV (JSON is
//! plain serde).

use crate::pivot::Group;
use crate::record::WhoisRecord;

/// Column headers of [`record_rows`].
pub const COLUMNS: [&str; 16] = [
    "domain",
    "registrar",
    "registrar_iana_id",
    "created",
    "updated",
    "expires",
    "statuses",
    "name_servers",
    "registrant_name",
    "registrant_org",
    "registrant_email",
    "registrant_country",
    "admin_email",
    "tech_email",
    "privacy",
    "source",
];

fn opt(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}

/// One row per record, in [`COLUMNS`] order (lists joined with spaces).
pub fn record_rows(records: &[WhoisRecord]) -> Vec<Vec<String>> {
    records
        .iter()
        .map(|r| {
            vec![
                opt(&r.domain),
                opt(&r.registrar),
                opt(&r.registrar_iana_id),
                opt(&r.created),
                opt(&r.updated),
                opt(&r.expires),
                r.statuses.join(" "),
                r.name_servers.join(" "),
                opt(&r.registrant.name),
                opt(&r.registrant.organization),
                opt(&r.registrant.email),
                opt(&r.registrant.country),
                opt(&r.admin.email),
                opt(&r.tech.email),
                match (&r.privacy, &r.privacy_service) {
                    (true, Some(s)) => s.clone(),
                    (true, None) => "yes".to_owned(),
                    _ => String::new(),
                },
                opt(&r.source),
            ]
        })
        .collect()
}

/// CSV with a header row.
pub fn to_csv(header: &[&str], rows: &[Vec<String>]) -> Result<String, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(header)?;
    for row in rows {
        w.write_record(row)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Cells cut to 40 characters and padded into columns.
pub fn to_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let cut = |s: &str| -> String {
        if s.chars().count() > 40 {
            format!("{}…", s.chars().take(39).collect::<String>())
        } else {
            s.to_owned()
        }
    };
    let cells: Vec<Vec<String>> =
        std::iter::once(header.iter().map(|h| h.to_uppercase()).collect())
            .chain(rows.iter().map(|r| r.iter().map(|c| cut(c)).collect()))
            .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            cells
                .iter()
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in &cells {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// Columns of [`summary_table`] (a subset of [`COLUMNS`] that fits a terminal).
pub const SUMMARY_COLUMNS: [&str; 9] = [
    "domain",
    "registrar",
    "registrar_iana_id",
    "created",
    "expires",
    "name_servers",
    "registrant_name",
    "registrant_email",
    "privacy",
];

/// The records as an aligned table of [`SUMMARY_COLUMNS`].
pub fn summary_table(records: &[WhoisRecord]) -> String {
    let picks: Vec<usize> = SUMMARY_COLUMNS
        .iter()
        .filter_map(|c| COLUMNS.iter().position(|k| k == c))
        .collect();
    let rows: Vec<Vec<String>> = record_rows(records)
        .into_iter()
        .map(|row| {
            picks
                .iter()
                .map(|&i| row.get(i).cloned().unwrap_or_default())
                .collect()
        })
        .collect();
    to_table(&SUMMARY_COLUMNS, &rows)
}

/// Pivot groups as rows: kind, value, count, domains.
pub fn group_rows(groups: &[Group]) -> Vec<Vec<String>> {
    groups
        .iter()
        .map(|g| {
            vec![
                g.kind.label().to_owned(),
                g.value.clone(),
                g.domains.len().to_string(),
                g.domains.join(" "),
            ]
        })
        .collect()
}

/// Headers of [`group_rows`].
pub const GROUP_COLUMNS: [&str; 4] = ["pivot", "value", "domains", "domain_list"];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Contact;

    #[test]
    fn csv_quotes_and_table_aligns() {
        let rec = WhoisRecord {
            domain: Some("a.com".into()),
            registrar: Some("Acme, Inc.".into()),
            registrant: Contact {
                email: Some("x@a.com".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let csv = to_csv(&COLUMNS, &record_rows(std::slice::from_ref(&rec))).expect("csv");
        assert!(
            csv.lines()
                .nth(1)
                .is_some_and(|l| l.starts_with("a.com,\"Acme, Inc.\",")),
            "{csv}"
        );
        let table = summary_table(&[rec]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].find("REGISTRAR"), lines[1].find("Acme"), "{table}");
    }
}
