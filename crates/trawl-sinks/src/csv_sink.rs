//! Heralding-compatible `log_auth.csv` and `log_session.csv`.
//!
//! Same columns, order and timestamp form (`%Y-%m-%d %H:%M:%S.%6f`, UTC) as Heralding
//! 1.0.7, so T-Pot/Logstash pipelines and existing scripts keep working. Quoting is the
//! csv crate's (RFC 4180: fields with `,` `"` CR LF are quoted, quotes doubled).

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use trawl_event::{AuthAttempt, Event, Session, display_bytes, heralding_timestamp};

use crate::append::AppendFile;
use crate::{Sink, SinkError};

/// Columns of `log_auth.csv`, in order.
pub const AUTH_HEADER: [&str; 11] = [
    "timestamp",
    "auth_id",
    "session_id",
    "source_ip",
    "source_port",
    "destination_ip",
    "destination_port",
    "protocol",
    "username",
    "password",
    "password_hash",
];

/// Columns of `log_session.csv`, in order.
pub const SESSION_HEADER: [&str; 9] = [
    "timestamp",
    "duration",
    "session_id",
    "source_ip",
    "source_port",
    "destination_ip",
    "destination_port",
    "protocol",
    "num_auth_attempts",
];

/// One CSV file: records are serialised by the csv crate into memory, then appended
/// through [`AppendFile`] so a failed write is resumed, never repeated.
struct CsvFile {
    out: AppendFile,
    encoder: csv::Writer<Vec<u8>>,
}

impl CsvFile {
    fn open(path: PathBuf, header: &[&str]) -> Result<Self, SinkError> {
        let has_rows = check_existing_header(&path, header)?;
        let mut file = CsvFile {
            out: AppendFile::open(path)?,
            encoder: new_encoder(),
        };
        if !has_rows {
            file.write(header)?;
            file.flush()?;
        }
        Ok(file)
    }

    fn write<T: AsRef<[u8]>>(&mut self, record: &[T]) -> Result<(), SinkError> {
        self.encoder
            .write_record(record)
            .map_err(|err| csv_error(self.out.path(), err))
    }

    /// Moves the encoded records to the file and writes them (and anything pending).
    fn flush(&mut self) -> Result<(), SinkError> {
        let encoder = std::mem::replace(&mut self.encoder, new_encoder());
        match encoder.into_inner() {
            Ok(mut encoded) => self.out.buffer().append(&mut encoded),
            Err(err) => return Err(SinkError::io(self.out.path(), err.into_error())),
        }
        self.out.flush()
    }
}

fn new_encoder() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::with_capacity(1 << 14))
}

/// Returns whether the file already has content; errors when its header differs.
fn check_existing_header(path: &Path, header: &[&str]) -> Result<bool, SinkError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(err) => return Err(SinkError::io(path, err)),
    };
    let mut first = Vec::new();
    let read = BufReader::new(file)
        .take_line(&mut first)
        .map_err(|err| SinkError::io(path, err))?;
    if read == 0 {
        return Ok(false);
    }
    let expected = header.join(",");
    let found = String::from_utf8_lossy(&first);
    if found.trim_end_matches(['\r', '\n']) != expected {
        return Err(SinkError::Format {
            path: path.to_owned(),
            message: format!(
                "line 1: header is not `{expected}`; move the file away or use another data dir"
            ),
        });
    }
    Ok(true)
}

trait TakeLine {
    fn take_line(self, into: &mut Vec<u8>) -> std::io::Result<usize>;
}

impl<R: std::io::Read> TakeLine for BufReader<R> {
    /// Reads the first line, at most 4 KiB of it.
    fn take_line(self, into: &mut Vec<u8>) -> std::io::Result<usize> {
        let mut limited = std::io::Read::take(self, 4096);
        let mut reader = BufReader::new(&mut limited);
        reader.read_until(b'\n', into)
    }
}

fn csv_error(path: &Path, err: csv::Error) -> SinkError {
    SinkError::Format {
        path: path.to_owned(),
        message: err.to_string(),
    }
}

/// Prefixes `'` to a cell a spreadsheet would evaluate as a formula.
pub fn neutralise_formula(cell: String) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell
    }
}

/// Writes `log_auth.csv` and `log_session.csv`.
pub struct CsvSink {
    auth: CsvFile,
    session: CsvFile,
    neutralise_formulas: bool,
}

impl CsvSink {
    /// Opens (appending) or creates both files in `data_dir`.
    pub fn open(data_dir: &Path, neutralise_formulas: bool) -> Result<Self, SinkError> {
        Ok(CsvSink {
            auth: CsvFile::open(data_dir.join("log_auth.csv"), &AUTH_HEADER)?,
            session: CsvFile::open(data_dir.join("log_session.csv"), &SESSION_HEADER)?,
            neutralise_formulas,
        })
    }

    fn text_cell(&self, text: String) -> String {
        if self.neutralise_formulas {
            neutralise_formula(text)
        } else {
            text
        }
    }

    fn auth_record(&self, attempt: &AuthAttempt) -> Vec<String> {
        let credential = &attempt.credential;
        vec![
            heralding_timestamp(&attempt.timestamp),
            attempt.auth_id.to_string(),
            attempt.session_id.to_string(),
            attempt.endpoints.source_ip().to_string(),
            attempt.endpoints.source.port().to_string(),
            attempt.endpoints.destination_ip().to_string(),
            attempt.endpoints.destination.port().to_string(),
            attempt.protocol.clone(),
            self.text_cell(display_bytes(&credential.username)),
            self.text_cell(display_bytes(&credential.password)),
            self.text_cell(credential.password_hash.clone().unwrap_or_default()),
        ]
    }

    fn session_record(session: &Session) -> Vec<String> {
        vec![
            heralding_timestamp(&session.start),
            session.duration().num_seconds().to_string(),
            session.session_id.to_string(),
            session.endpoints.source_ip().to_string(),
            session.endpoints.source.port().to_string(),
            session.endpoints.destination_ip().to_string(),
            session.endpoints.destination.port().to_string(),
            session.protocol.clone(),
            session.num_auth_attempts().to_string(),
        ]
    }
}

impl Sink for CsvSink {
    fn name(&self) -> &'static str {
        "csv"
    }

    /// A batch whose bytes are still pending (an earlier try failed) is not encoded
    /// again: only the rest is written.
    fn write_batch(&mut self, events: &[Arc<Event>]) -> Result<(), SinkError> {
        if !self.auth.out.has_pending() && !self.session.out.has_pending() {
            for event in events {
                match event.as_ref() {
                    Event::AuthAttempt(attempt) => {
                        let record = self.auth_record(attempt);
                        self.auth.write(&record)?;
                    }
                    Event::Session(session) => {
                        self.session.write(&Self::session_record(session))?;
                    }
                    _ => {}
                }
            }
        }
        self.auth.flush()?;
        self.session.flush()
    }

    fn close(&mut self) -> Result<(), SinkError> {
        self.auth.flush()?;
        self.session.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised() {
        assert_eq!(
            neutralise_formula("=cmd|' /C calc'!A0".into()),
            "'=cmd|' /C calc'!A0"
        );
        assert_eq!(neutralise_formula("-1+2".into()), "'-1+2");
        assert_eq!(neutralise_formula("@SUM(1)".into()), "'@SUM(1)");
        assert_eq!(neutralise_formula("admin".into()), "admin");
    }

    #[test]
    fn foreign_header_is_refused_with_line_number() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("log_auth.csv"), "a,b,c\n").expect("write");
        let err = CsvSink::open(dir.path(), false)
            .err()
            .map(|err| err.to_string())
            .unwrap_or_default();
        assert!(err.contains("line 1"), "{err}");
    }
}
