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
                 runs INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS outbox (
                 id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL UNIQUE,
                 body TEXT NOT NULL, queued INTEGER NOT NULL);",
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

    /// Queues alerts for the webhook (as their JSON); an alert already queued stays once.
    pub fn queue(&mut self, alerts: &[&Alert], now: i64) -> Result<(), WatchError> {
        let tx = self.conn.transaction().map_err(db_err)?;
        for a in alerts {
            let body = serde_json::to_string(a).map_err(|e| WatchError::Store(e.to_string()))?;
            tx.execute(
                "INSERT OR IGNORE INTO outbox (key, body, queued) VALUES (?1, ?2, ?3)",
                params![a.key(), body, now],
            )
            .map_err(db_err)?;
        }
        tx.commit().map_err(db_err)
    }

    /// The oldest `limit` queued alerts: (id, JSON).
    pub fn pending(&self, limit: usize) -> Result<Vec<(i64, String)>, WatchError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut stmt = self
            .conn
            .prepare("SELECT id, body FROM outbox ORDER BY id LIMIT ?1")
            .map_err(db_err)?;
        let rows = stmt
            .query_map(params![limit], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(db_err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
    }

    /// How many alerts wait for delivery.
    pub fn pending_count(&self) -> Result<u64, WatchError> {
        let n: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get(0))
            .map_err(db_err)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Removes delivered alerts from the outbox.
    pub fn delivered(&mut self, ids: &[i64]) -> Result<(), WatchError> {
        let tx = self.conn.transaction().map_err(db_err)?;
        for id in ids {
            tx.execute("DELETE FROM outbox WHERE id = ?1", params![id])
                .map_err(db_err)?;
        }
        tx.commit().map_err(db_err)
    }
}
