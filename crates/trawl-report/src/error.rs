//! Errors of the report library.

use std::path::PathBuf;

/// What can stop a report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// An input file could not be opened or read (the cause is the error's source,
    /// which `{:#}` prints after the path).
    #[error("{path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A glob matched nothing or a path does not exist.
    #[error("{0}: no such file (or the pattern matched nothing)")]
    NoInput(String),
    /// A stream (standard input, a pipe) that cannot be read as asked.
    #[error("{name}: {reason}")]
    Stream {
        /// `stdin` or the path.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// A directory given as an input holds no log this report reads.
    #[error(
        "{0}: no honeypot log in this directory (trawl.db, events.jsonl, log_auth.csv, log_session.csv/json, cowrie.json, opencanary.log)"
    )]
    NoLogIn(String),
    /// An input is also a file the report is written to.
    #[error(
        "{0}: is an input and also where the report is written (an --out file or standard output)"
    )]
    InputIsOutput(String),
    /// A glob pattern is malformed.
    #[error("bad pattern {pattern}: {message}")]
    BadPattern {
        /// The pattern.
        pattern: String,
        /// Why.
        message: String,
    },
    /// The file's format is not one trawl report reads.
    #[error("{path}: line 1: unrecognised format ({detail})")]
    UnknownFormat {
        /// The file.
        path: PathBuf,
        /// What was seen.
        detail: String,
    },
    /// A bad row under `--strict`.
    #[error("{file}:{line}: {reason}")]
    BadRow {
        /// File name.
        file: String,
        /// 1-based line.
        line: u64,
        /// What was wrong.
        reason: String,
    },
    /// A SQLite input could not be read (the cause is the error's source).
    #[error("{path}")]
    Sqlite {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: rusqlite::Error,
    },
    /// Writing the output failed (the cause is the error's source, as for the next two).
    #[error("writing report")]
    Output(#[from] std::io::Error),
    /// CSV output failed.
    #[error("writing CSV")]
    Csv(#[from] csv::Error),
    /// JSON output failed.
    #[error("writing JSON")]
    Json(#[from] serde_json::Error),
}
