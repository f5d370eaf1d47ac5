//! Helpers shared by the integration tests that read fixtures and trawl.db stores.
// Each test binary uses its own part of these.
#![allow(dead_code)]

use trawl_report::render::{OutputFormat, render};
use trawl_report::report::{Count, Report};
use trawl_report::{Options, analyze};

/// The path of a fixture under tests/fixtures.
pub fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// The report of `inputs`, or a panic naming them.
pub fn run_with(inputs: &[String], opts: &Options) -> Report {
    analyze(inputs, opts).unwrap_or_else(|e| panic!("analyze {inputs:?}: {e}"))
}

/// The report of one file read with `threads` workers, which must find no bad row.
pub fn read_cleanly(path: &std::path::Path, threads: usize) -> Report {
    let opts = Options {
        threads,
        ..Options::default()
    };
    let r = run_with(&[path.display().to_string()], &opts);
    assert_eq!(r.totals.bad_rows, 0, "{:?}", r.bad_rows);
    r
}

/// A top-N table as (value, count) pairs.
pub fn counts(items: &[Count]) -> Vec<(&str, u64)> {
    items.iter().map(|c| (c.value.as_str(), c.count)).collect()
}

/// The report rendered in `format`.
pub fn rendered(r: &Report, format: OutputFormat) -> String {
    let mut out = Vec::new();
    render(r, format, &mut out).expect("render");
    String::from_utf8(out).expect("UTF-8")
}

/// A new trawl.db at `path` with the sensor's `sessions` and `auth_attempts`
/// columns.
pub fn trawl_db(path: &std::path::Path) -> rusqlite::Connection {
    let db = rusqlite::Connection::open(path).expect("open");
    db.execute_batch(
        "CREATE TABLE sessions (session_id TEXT PRIMARY KEY, start_time TEXT NOT NULL, \
         end_time TEXT NOT NULL, duration REAL NOT NULL, protocol TEXT NOT NULL, \
         source_ip TEXT NOT NULL, source_port INTEGER NOT NULL, destination_ip TEXT NOT NULL, \
         destination_port INTEGER NOT NULL, num_auth_attempts INTEGER NOT NULL, \
         end_reason TEXT NOT NULL, auxiliary_data TEXT NOT NULL);
         CREATE TABLE auth_attempts (auth_id TEXT NOT NULL, session_id TEXT NOT NULL, \
         timestamp TEXT NOT NULL, protocol TEXT NOT NULL, source_ip TEXT NOT NULL, \
         source_port INTEGER NOT NULL, destination_ip TEXT NOT NULL, \
         destination_port INTEGER NOT NULL, username TEXT NOT NULL, password TEXT NOT NULL);",
    )
    .expect("schema");
    db
}
