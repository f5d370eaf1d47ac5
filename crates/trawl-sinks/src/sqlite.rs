//! `trawl.db`: SQLite store (WAL) with `sessions` and `auth_attempts` tables.
//!
//! Each batch from the channel is one transaction. Attempts are inserted when they
//! arrive; the session row when the connection ends (so an attempt can exist before its
//! session row; there is deliberately no foreign key).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::{Connection, params};
use trawl_event::{AuthAttempt, Event, Session, display_bytes, iso8601};

use crate::{Sink, SinkError};

/// The schema, created if missing (documented in docs/sensor-outputs.md).
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', '1');
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY,
    start_time TEXT NOT NULL,
    end_time TEXT NOT NULL,
    duration REAL NOT NULL,
    protocol TEXT NOT NULL,
    source_ip TEXT NOT NULL,
    source_port INTEGER NOT NULL,
    destination_ip TEXT NOT NULL,
    destination_port INTEGER NOT NULL,
    num_auth_attempts INTEGER NOT NULL,
    end_reason TEXT NOT NULL,
    auxiliary_data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_start_time ON sessions (start_time);
CREATE INDEX IF NOT EXISTS sessions_source_ip ON sessions (source_ip);
CREATE INDEX IF NOT EXISTS sessions_protocol ON sessions (protocol);
CREATE TABLE IF NOT EXISTS auth_attempts (
    auth_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    protocol TEXT NOT NULL,
    source_ip TEXT NOT NULL,
    source_port INTEGER NOT NULL,
    destination_ip TEXT NOT NULL,
    destination_port INTEGER NOT NULL,
    username TEXT NOT NULL,
    password TEXT NOT NULL,
    password_hash TEXT,
    mechanism TEXT NOT NULL,
    username_raw BLOB NOT NULL,
    password_raw BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS auth_attempts_session_id ON auth_attempts (session_id);
CREATE INDEX IF NOT EXISTS auth_attempts_timestamp ON auth_attempts (timestamp);
CREATE INDEX IF NOT EXISTS auth_attempts_source_ip ON auth_attempts (source_ip);
CREATE INDEX IF NOT EXISTS auth_attempts_protocol ON auth_attempts (protocol);
";

const INSERT_ATTEMPT: &str = "INSERT INTO auth_attempts (auth_id, session_id, timestamp, protocol, \
    source_ip, source_port, destination_ip, destination_port, username, password, password_hash, mechanism, \
    username_raw, password_raw) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)";

const INSERT_SESSION: &str = "INSERT OR REPLACE INTO sessions (session_id, start_time, end_time, duration, \
    protocol, source_ip, source_port, destination_ip, destination_port, num_auth_attempts, end_reason, \
    auxiliary_data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";

/// Writes `trawl.db`.
pub struct SqliteSink {
    path: PathBuf,
    connection: Connection,
}

impl SqliteSink {
    /// Opens or creates `trawl.db` in `data_dir`, in WAL mode, with the schema.
    pub fn open(data_dir: &Path) -> Result<Self, SinkError> {
        let path = data_dir.join("trawl.db");
        let connection = Connection::open(&path).map_err(|err| sqlite_error(&path, err))?;
        connection
            .pragma_update(None, "journal_mode", "WAL")
            .and_then(|()| connection.pragma_update(None, "synchronous", "NORMAL"))
            .and_then(|()| connection.pragma_update(None, "cache_size", -65_536))
            .and_then(|()| connection.pragma_update(None, "wal_autocheckpoint", 16_384))
            .and_then(|()| connection.busy_timeout(std::time::Duration::from_secs(5)))
            .and_then(|()| connection.execute_batch(SCHEMA))
            .map_err(|err| sqlite_error(&path, err))?;
        Ok(SqliteSink { path, connection })
    }

    fn write_all(&mut self, events: &[Arc<Event>]) -> rusqlite::Result<()> {
        let transaction = self.connection.transaction()?;
        {
            let mut insert_attempt = transaction.prepare_cached(INSERT_ATTEMPT)?;
            let mut insert_session = transaction.prepare_cached(INSERT_SESSION)?;
            for event in events {
                match event.as_ref() {
                    Event::AuthAttempt(attempt) => {
                        insert_attempt_row(&mut insert_attempt, attempt)?
                    }
                    Event::Session(session) => insert_session_row(&mut insert_session, session)?,
                    _ => {}
                }
            }
        }
        transaction.commit()
    }
}

fn insert_attempt_row(
    statement: &mut rusqlite::CachedStatement<'_>,
    attempt: &AuthAttempt,
) -> rusqlite::Result<()> {
    let credential = &attempt.credential;
    statement.execute(params![
        attempt.auth_id.to_string(),
        attempt.session_id.to_string(),
        iso8601(&attempt.timestamp),
        attempt.protocol,
        attempt.endpoints.source_ip().to_string(),
        attempt.endpoints.source.port(),
        attempt.endpoints.destination_ip().to_string(),
        attempt.endpoints.destination.port(),
        display_bytes(&credential.username),
        display_bytes(&credential.password),
        credential.password_hash,
        credential.mechanism.as_str(),
        credential.username,
        credential.password,
    ])?;
    Ok(())
}

fn insert_session_row(
    statement: &mut rusqlite::CachedStatement<'_>,
    session: &Session,
) -> rusqlite::Result<()> {
    statement.execute(params![
        session.session_id.to_string(),
        iso8601(&session.start),
        iso8601(&session.end),
        session.duration_secs(),
        session.protocol,
        session.endpoints.source_ip().to_string(),
        session.endpoints.source.port(),
        session.endpoints.destination_ip().to_string(),
        session.endpoints.destination.port(),
        session.num_auth_attempts() as i64,
        session.end_reason.as_str(),
        serde_json::Value::Object(session.auxiliary_data.clone()).to_string(),
    ])?;
    Ok(())
}

fn sqlite_error(path: &Path, source: rusqlite::Error) -> SinkError {
    SinkError::Sqlite {
        path: path.to_owned(),
        source,
    }
}

impl Sink for SqliteSink {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    fn write_batch(&mut self, events: &[Arc<Event>]) -> Result<(), SinkError> {
        self.write_all(events)
            .map_err(|err| sqlite_error(&self.path, err))
    }

    fn close(&mut self) -> Result<(), SinkError> {
        self.connection
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(|err| sqlite_error(&self.path, err))
    }
}
