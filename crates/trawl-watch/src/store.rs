//! The state store: a SQLite file in the data dir remembering which alerts were reported, so a
//! scheduled re-run reports only what is new.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

use crate::WatchError;
use crate::alert::Alert;

/// The open store.
pub struct Store {
    conn: Connection,
}

fn db_err(e: rusqlite::Error) -> WatchError {
    WatchError::Store(e.to_string())
}

impl Store {
    /// Opens (creating) `DIR/watch.sqlite`.
    pub fn open(dir: &Path) -> Result<Store, WatchError> {
        std::fs::create_dir_all(dir).map_err(|source| WatchError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        let conn = Connection::open(dir.join("watch.sqlite")).map_err(db_err)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             CREATE TABLE IF NOT EXISTS alerts (
                 key TEXT PRIMARY KEY, category TEXT NOT NULL, entity TEXT NOT NULL,
                 subject TEXT NOT NULL, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL,
                 runs INTEGER NOT NULL);",
        )
        .map_err(db_err)?;
        Ok(Store { conn })
    }

    /// Records the alerts of a run at time `now`; sets `new`, `first_seen` and `last_seen`.
    pub fn record(&mut self, alerts: &mut [Alert], now: i64) -> Result<(), WatchError> {
        let tx = self.conn.transaction().map_err(db_err)?;
        for a in alerts.iter_mut() {
            let key = a.key();
            let first: Option<i64> = tx
                .query_row(
                    "SELECT first_seen FROM alerts WHERE key = ?1",
                    params![key],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db_err)?;
            a.new = first.is_none();
            a.first_seen = first.unwrap_or(now);
            a.last_seen = now;
            tx.execute(
                "INSERT INTO alerts (key, category, entity, subject, first_seen, last_seen, runs)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5, 1)
                 ON CONFLICT(key) DO UPDATE SET last_seen = ?5, runs = runs + 1",
                params![key, a.category.as_str(), a.entity, a.subject, now],
            )
            .map_err(db_err)?;
        }
        tx.commit().map_err(db_err)
    }
}
