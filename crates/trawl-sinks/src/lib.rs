//! trawl's event outputs: every sink turns [`trawl_event::Event`]s into one on-disk format
//! (Heralding-compatible CSV, JSON lines, SQLite) and runs on its own thread behind a
//! bounded channel, so writing never blocks a protocol task.
//!
//! Adding an output is a new module implementing [`Sink`] plus one line in
//! [`open_all`]. File formats are documented in `docs/sensor-outputs.md`.

mod append;
mod csv_sink;
mod hub;
mod jsonl;
mod sqlite;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use csv_sink::{AUTH_HEADER, CsvSink, SESSION_HEADER, neutralise_formula};
pub use hub::{EventSender, SinkHub, SinkReport, SinkSummary};
pub use jsonl::JsonlSink;
pub use sqlite::{SCHEMA, SqliteSink};
use trawl_event::Event;

/// Why a sink could not open or write.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// A file could not be created, read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A CSV file could not be written or has an unexpected header.
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong (with the line number when reading).
        message: String,
    },
    /// SQLite refused an operation.
    #[error("{path}: sqlite: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// The SQLite error.
        source: rusqlite::Error,
    },
}

impl SinkError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        SinkError::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// One output. Runs on its own thread; gets events in batches.
pub trait Sink: Send + 'static {
    /// Short name for logs (`csv`, `jsonl`, `sqlite`).
    fn name(&self) -> &'static str;
    /// Writes a batch and hands it to the OS (flushes buffers / commits).
    ///
    /// When this fails, the hub calls it again with the same batch (after a back-off)
    /// until it succeeds, and only then with a new one; an implementation makes sure each
    /// event is written once across those calls (SQLite rolls the transaction back; the
    /// file sinks resume their pending bytes without encoding the batch again).
    fn write_batch(&mut self, events: &[Arc<Event>]) -> Result<(), SinkError>;
    /// Final flush before the process exits.
    fn close(&mut self) -> Result<(), SinkError>;
}

/// Settings shared by the built-in sinks.
#[derive(Debug, Clone)]
pub struct SinkOptions {
    /// Directory that receives every output file (created if missing).
    pub data_dir: PathBuf,
    /// Prefix CSV cells that start with `=`, `+`, `-`, `@`, TAB or CR with `'` so
    /// spreadsheets do not evaluate them (off by default: it changes the data).
    pub neutralise_formulas: bool,
}

/// The one registration point of outputs: opens every built-in sink into the data dir.
pub fn open_all(options: &SinkOptions) -> Result<Vec<Box<dyn Sink>>, SinkError> {
    std::fs::create_dir_all(&options.data_dir)
        .map_err(|err| SinkError::io(&options.data_dir, err))?;
    let sinks: Vec<Box<dyn Sink>> = vec![
        Box::new(CsvSink::open(
            &options.data_dir,
            options.neutralise_formulas,
        )?),
        Box::new(JsonlSink::open(&options.data_dir)?),
        Box::new(SqliteSink::open(&options.data_dir)?),
    ];
    Ok(sinks)
}
