//! trawl's `trawl.db` (tables `auth_attempts` and `sessions`, see docs/sensor-outputs.md),
//! read in rowid chunks by parallel workers.
//! Bad rows are reported with their `rowid` in place of a line number.

use std::borrow::Cow;
use std::net::IpAddr;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use crate::Options;
use crate::agg::Aggregator;
use crate::error::ReportError;
use crate::event::{Event, EventKind};
use crate::input::InputFile;
use crate::input::csvlog::{bad, clip};
use crate::time::parse_timestamp;

fn sqlite_err(file: &InputFile) -> impl Fn(rusqlite::Error) -> ReportError + '_ {
    move |source| ReportError::Sqlite {
        path: file.path.clone(),
        source,
    }
}

/// Rows per chunk of a table handed to one worker.
const CHUNK_ROWS: i64 = 65_536;

/// One table: its query (rows of a rowid range), whether its rows are sessions,
/// and its name for messages.
struct Table {
    sql: &'static str,
    sessions: bool,
    name: &'static str,
}

const TABLES: [Table; 2] = [
    Table {
        sql: "SELECT rowid, timestamp, session_id, protocol, source_ip, source_port, \
              destination_port, username, password, NULL, NULL FROM auth_attempts \
              WHERE rowid >= ?1 AND rowid < ?2",
        sessions: false,
        name: "auth_attempts",
    },
    Table {
        sql: "SELECT rowid, end_time, session_id, protocol, source_ip, source_port, \
              destination_port, '', '', duration, auxiliary_data FROM sessions \
              WHERE rowid >= ?1 AND rowid < ?2",
        sessions: true,
        name: "sessions",
    },
];

fn open(file: &InputFile) -> Result<Connection, ReportError> {
    Connection::open_with_flags(
        &file.path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite_err(file))
}

/// Reads attempts and sessions from a trawl SQLite store with `threads` workers,
/// each on its own read-only connection, taking chunks of [`CHUNK_ROWS`] rowids in
/// turn; their counts are merged into `agg` (the report does not depend on which
/// worker read which row). Text is borrowed from SQLite's row buffers, not copied.
pub fn read(
    file: &InputFile,
    agg: &mut Aggregator,
    opts: &Options,
    threads: usize,
) -> Result<(), ReportError> {
    read_in_chunks(file, agg, opts, threads, CHUNK_ROWS)
}

fn read_in_chunks(
    file: &InputFile,
    agg: &mut Aggregator,
    opts: &Options,
    threads: usize,
    chunk_rows: i64,
) -> Result<(), ReportError> {
    let conn = open(file)?;
    let mut chunks = Vec::new();
    for (index, table) in TABLES.iter().enumerate() {
        let sql = format!("SELECT min(rowid), max(rowid) FROM {}", table.name);
        let (lo, hi): (Option<i64>, Option<i64>) = conn
            .query_row(&sql, [], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(sqlite_err(file))?;
        if let (Some(lo), Some(hi)) = (lo, hi) {
            let mut from = lo;
            while from <= hi {
                let to = from.saturating_add(chunk_rows.max(1));
                chunks.push((index, from, to));
                if to == i64::MAX {
                    break;
                }
                from = to;
            }
        }
    }
    drop(conn);
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let workers = threads.clamp(1, chunks.len().max(1));
    let results: Vec<Result<Aggregator, ReportError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| scope.spawn(|| read_chunks(file, opts, &chunks, &next, &stop)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    for r in results {
        agg.merge(r?);
    }
    Ok(())
}

/// One worker: takes chunks until none is left (or another worker failed).
fn read_chunks(
    file: &InputFile,
    opts: &Options,
    chunks: &[(usize, i64, i64)],
    next: &AtomicUsize,
    stop: &AtomicBool,
) -> Result<Aggregator, ReportError> {
    let mut agg = Aggregator::new(opts.session_gap_secs);
    let conn = open(file)?;
    while !stop.load(Ordering::Relaxed) {
        let Some(&(table, from, to)) = chunks.get(next.fetch_add(1, Ordering::Relaxed)) else {
            break;
        };
        let Some(table) = TABLES.get(table) else {
            break;
        };
        if let Err(e) = read_chunk(&conn, file, table, (from, to), &mut agg, opts) {
            stop.store(true, Ordering::Relaxed);
            return Err(e);
        }
    }
    Ok(agg)
}

fn read_chunk(
    conn: &Connection,
    file: &InputFile,
    table: &Table,
    (from, to): (i64, i64),
    agg: &mut Aggregator,
    opts: &Options,
) -> Result<(), ReportError> {
    let mut stmt = conn.prepare_cached(table.sql).map_err(sqlite_err(file))?;
    let mut rows = stmt.query([from, to]).map_err(sqlite_err(file))?;
    while let Some(r) = rows.next().map_err(sqlite_err(file))? {
        let text = |i: usize| match r.get_ref(i) {
            Ok(ValueRef::Text(t) | ValueRef::Blob(t)) => String::from_utf8_lossy(t),
            Ok(ValueRef::Integer(n)) => Cow::Owned(n.to_string()),
            Ok(ValueRef::Real(x)) => Cow::Owned(x.to_string()),
            Ok(ValueRef::Null) | Err(_) => Cow::Borrowed(""),
        };
        let row = Row {
            ts: text(1),
            session: text(2),
            protocol: text(3),
            src: text(4),
            src_port: r.get(5).ok(),
            dst_port: r.get(6).ok(),
            a: text(7),
            b: text(8),
            n: r.get(9).ok(),
        };
        match row_event(&row, table.sessions) {
            Ok(ev) => {
                let extras = session_extras(&text(10));
                if let Some(version) = extras.client_version {
                    let client = Event {
                        kind: EventKind::ClientVersion {
                            version: Cow::Owned(version),
                        },
                        ..ev.clone()
                    };
                    agg.ingest(file.index, &client, &opts.filters);
                }
                if let Some(hassh) = extras.hassh {
                    let client = Event {
                        kind: EventKind::Hassh {
                            hassh: Cow::Owned(hassh),
                        },
                        ..ev.clone()
                    };
                    agg.ingest(file.index, &client, &opts.filters);
                }
                agg.ingest(file.index, &ev, &opts.filters);
            }
            Err(reason) => {
                let rowid: i64 = r.get(0).unwrap_or(0);
                bad(
                    agg,
                    opts,
                    file.index,
                    &format!("{} ({} rowid)", file.display, table.name),
                    u64::try_from(rowid).unwrap_or(0),
                    reason,
                )?;
            }
        }
    }
    Ok(())
}

/// The strings of a session's `auxiliary_data` JSON object the report counts.
#[derive(Debug, Default, PartialEq)]
struct SessionExtras {
    client_version: Option<String>,
    hassh: Option<String>,
}

/// `client_version` and `hassh` of a session's `auxiliary_data` JSON object, when
/// it has them as strings (the JSON is parsed only if it names one of them).
fn session_extras(aux: &str) -> SessionExtras {
    if !aux.contains("client_version") && !aux.contains("hassh") {
        return SessionExtras::default();
    }
    let Ok(aux) = serde_json::from_str::<serde_json::Value>(aux) else {
        return SessionExtras::default();
    };
    let string = |key: &str| aux.get(key)?.as_str().map(str::to_string);
    SessionExtras {
        client_version: string("client_version"),
        hassh: string("hassh"),
    }
}

/// One row's columns, borrowed from SQLite where they are valid UTF-8.
struct Row<'r> {
    ts: Cow<'r, str>,
    session: Cow<'r, str>,
    protocol: Cow<'r, str>,
    src: Cow<'r, str>,
    src_port: Option<i64>,
    dst_port: Option<i64>,
    a: Cow<'r, str>,
    b: Cow<'r, str>,
    n: Option<f64>,
}

fn row_event<'r>(row: &'r Row<'_>, is_session: bool) -> Result<Event<'r>, String> {
    let ts =
        parse_timestamp(&row.ts).ok_or_else(|| format!("bad timestamp {:?}", clip(&row.ts)))?;
    let src = row
        .src
        .trim()
        .parse::<IpAddr>()
        .map_err(|_| format!("bad source_ip {:?}", clip(&row.src)))?
        .to_canonical();
    let kind = if is_session {
        EventKind::SessionEnd {
            duration_ms: row
                .n
                .filter(|d| d.is_finite() && *d >= 0.0)
                .map(|d| (d * 1000.0) as u64),
            attempts: None,
        }
    } else {
        EventKind::Auth {
            username: Cow::Borrowed(&row.a),
            password: Cow::Borrowed(&row.b),
            success: None,
        }
    };
    let port = |p: Option<i64>| p.and_then(|p| u16::try_from(p).ok());
    let protocol = if row.protocol.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(row.protocol.to_ascii_lowercase())
    } else {
        Cow::Borrowed(&*row.protocol)
    };
    Ok(Event {
        ts: Some(ts),
        src: Some(src),
        src_port: port(row.src_port),
        dst_port: port(row.dst_port),
        protocol,
        session: Some(Cow::Borrowed(&row.session)),
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A trawl.db with `n` attempts from a few dozen sources, one with a bad
    /// timestamp, one whose username is not UTF-8, and a sessions table.
    fn store(dir: &std::path::Path, n: usize) -> InputFile {
        let path = dir.join("trawl.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE auth_attempts (auth_id TEXT, session_id TEXT, timestamp TEXT, \
             protocol TEXT, source_ip TEXT, source_port INTEGER, destination_ip TEXT, \
             destination_port INTEGER, username TEXT, password TEXT);
             CREATE TABLE sessions (session_id TEXT, end_time TEXT, duration REAL, \
             protocol TEXT, source_ip TEXT, source_port INTEGER, destination_port INTEGER, \
             auxiliary_data TEXT);",
        )
        .unwrap();
        conn.execute_batch("BEGIN").unwrap();
        for i in 0..n {
            let ts = if i == 77 {
                "yesterday".to_string()
            } else {
                format!("2024-05-01T10:{:02}:{:02}.000000Z", i / 60 % 60, i % 60)
            };
            conn.execute(
                "INSERT INTO auth_attempts VALUES (?1, ?2, ?3, 'SSH', ?4, 4000, '', 22, ?5, ?6)",
                rusqlite::params![
                    format!("a{i}"),
                    format!("s{}", i / 3),
                    ts,
                    format!("198.51.100.{}", i % 37),
                    if i == 5 {
                        "x".to_string()
                    } else {
                        format!("user{}", i % 11)
                    },
                    format!("pw{}", i % 13),
                ],
            )
            .unwrap();
        }
        conn.execute(
            "UPDATE auth_attempts SET username = CAST(X'FF61' AS TEXT) WHERE auth_id = 'a5'",
            [],
        )
        .unwrap();
        for i in 0..n / 3 {
            conn.execute(
                "INSERT INTO sessions VALUES (?1, '2024-05-01T11:00:00Z', 2.5, 'ssh', ?2, 4000, 22, ?3)",
                rusqlite::params![
                    format!("s{i}"),
                    format!("198.51.100.{}", i * 3 % 37),
                    match i % 3 {
                        0 => r#"{"client_version":"SSH-2.0-Go"}"#,
                        1 => r#"{"bytes_received":12}"#,
                        _ => "not json",
                    }
                ],
            )
            .unwrap();
        }
        conn.execute_batch("COMMIT").unwrap();
        crate::input::detect(0, &path).unwrap()
    }

    #[test]
    fn session_extras_reads_string_values_only() {
        let both = session_extras(r#"{"client_version":"SSH-2.0-Go","hassh":"ab","x":1}"#);
        assert_eq!(
            both,
            SessionExtras {
                client_version: Some("SSH-2.0-Go".into()),
                hassh: Some("ab".into()),
            }
        );
        assert_eq!(session_extras(r#"{"hassh":5}"#), SessionExtras::default());
        assert_eq!(
            session_extras("hassh but not JSON"),
            SessionExtras::default()
        );
        assert_eq!(session_extras(r#"["hassh"]"#), SessionExtras::default());
        assert_eq!(session_extras(""), SessionExtras::default());
    }

    #[test]
    fn chunks_and_workers_do_not_change_the_counts() {
        let dir = tempfile::tempdir().unwrap();
        let file = store(dir.path(), 3_000);
        let opts = Options::default();
        let counts = |threads: usize, chunk: i64| {
            let mut agg = Aggregator::new(300);
            read_in_chunks(&file, &mut agg, &opts, threads, chunk).unwrap();
            agg.flush_runs();
            let sessions = agg.sessions.len() as u64 + agg.done_sessions.by_id;
            let bad: Vec<(u64, String)> = agg
                .bad_shown
                .iter()
                .map(|b| (b.line, b.reason.clone()))
                .collect();
            let go = agg.client_versions.get("SSH-2.0-Go").copied();
            (
                agg.events,
                agg.sources.len(),
                agg.pairs.len(),
                sessions,
                agg.bad_total,
                bad,
                go,
            )
        };
        let whole = counts(1, i64::MAX);
        assert_eq!(whole.0, 2_999 + 1_000, "attempts and session ends");
        assert_eq!(whole.4, 1);
        assert_eq!(
            whole.5,
            vec![(78, "bad timestamp \"yesterday\"".to_string())]
        );
        assert_eq!(whole.6, Some(334), "client versions of the sessions");
        for (threads, chunk) in [(1, 100), (2, 100), (3, 7), (4, 1_000)] {
            assert_eq!(
                counts(threads, chunk),
                whole,
                "{threads} threads, chunks of {chunk}"
            );
        }
        let mut agg = Aggregator::new(300);
        read_in_chunks(&file, &mut agg, &opts, 2, 64).unwrap();
        assert!(
            agg.pairs.keys().any(|k| k.user() == "\u{fffd}a"),
            "a username that is not UTF-8 is read lossily, not fatally"
        );
    }
}
