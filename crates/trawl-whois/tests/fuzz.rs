//! Fuzzing the whois parser and everything that renders its records with mutated real
//! answers (the seed's records and the registry styles under `tests/fixtures/`, changed by
//! `trawl-mutate`) and with noise. A whois answer comes from a server anyone can run: no
//! case may panic, and every field kept must be text from the answer, on one line.

use proptest::prelude::*;
use trawl_whois::client::{merge, server_address};
use trawl_whois::output::{group_rows, record_rows, summary_table, to_csv, to_table};
use trawl_whois::parse::iso_date;
use trawl_whois::pivot::{PivotKind, pivot};
use trawl_whois::{WhoisRecord, parse_record};

fn seeds() -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"));
    trawl_mutate::corpus(
        dir,
        |path| path.extension().is_some_and(|ext| ext == "txt"),
        6,
    )
}

/// Everything a record is rendered into: rows, CSV, tables, pivots.
fn render(records: &[WhoisRecord]) -> Result<(), TestCaseError> {
    let rows = record_rows(records);
    for row in &rows {
        for cell in row {
            prop_assert!(!cell.contains('\n'), "a cell spans lines: {cell:?}");
        }
    }
    let header: Vec<&str> = (0..rows.first().map_or(0, Vec::len)).map(|_| "h").collect();
    prop_assert!(to_csv(&header, &rows).is_ok());
    let _ = to_table(&header, &rows);
    let _ = summary_table(records);
    let kinds = [
        PivotKind::RegistrantEmail,
        PivotKind::RegistrantName,
        PivotKind::RegistrantOrg,
        PivotKind::NameServer,
    ];
    let groups = pivot(records, &kinds, 1);
    let _ = group_rows(&groups);
    let _ = trawl_whois::html::pivot_page(&groups);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn mutated_answers_parse_or_fail_cleanly(
        first in trawl_mutate::mutated(seeds(), 6),
        second in trawl_mutate::mutated(seeds(), 3),
    ) {
        let first = String::from_utf8_lossy(&first);
        let second = String::from_utf8_lossy(&second);
        let parsed: Vec<WhoisRecord> = [&first, &second]
            .iter()
            .filter_map(|text| parse_record(text, Some("whois.example")).ok())
            .collect();
        for record in &parsed {
            for date in [&record.created, &record.updated, &record.expires].into_iter().flatten() {
                let _ = iso_date(date);
            }
            if let Some(server) = &record.registrar_whois_server {
                let _ = server_address(server);
            }
        }
        render(&parsed)?;
        if let [registry, registrar] = parsed.as_slice() {
            render(&[merge(registry.clone(), registrar.clone())])?;
        }
    }

    #[test]
    fn noise_parses_or_fails_cleanly(noise in trawl_mutate::noise(2048)) {
        let text = String::from_utf8_lossy(&noise);
        let _ = iso_date(&text);
        let _ = server_address(&text);
        if let Ok(record) = parse_record(&text, None) {
            render(&[record])?;
        }
    }
}
