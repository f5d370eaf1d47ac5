//! trawl's `trawl.db` (tables `auth_attempts` and `sessions`, see docs/sensor-outputs.md),
//! read in rowid chunks by parallel workers, whose rows go to the aggregator in
//! batches (see [`Batch`]).
//! Bad rows are reported with their `rowid` in place of a line number.

use std::borrow::Cow;
use std::net::IpAddr;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use crate::agg::Aggregator;
use crate::error::ReportError;
use crate::event::{Event, EventKind, Secret};
use crate::input::InputFile;
use crate::input::csvlog::{bad, clip};
use crate::time::{Micros, parse_timestamp};
use crate::{Filters, Options};

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

/// `auth_attempts` of a store without the `mechanism` and `password_hash`
/// columns (written before they were added, or by hand): no key offers.
const OLD_AUTH: Table = Table {
    sql: "SELECT rowid, timestamp, session_id, protocol, source_ip, source_port, \
          destination_port, username, password, NULL, NULL FROM auth_attempts \
          WHERE rowid >= ?1 AND rowid < ?2",
    sessions: false,
    name: "auth_attempts",
};

const TABLES: [Table; 2] = [
    Table {
        sql: "SELECT rowid, timestamp, session_id, protocol, source_ip, source_port, \
              destination_port, username, password, mechanism, password_hash FROM auth_attempts \
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
/// each on its own read-only connection, taking units of work in turn (see
/// [`plan_units`]); their counts are merged into `agg` (the report does not depend on
/// which worker read which row). Rows go to the aggregator [`BATCH`] events at a
/// time, their text copied into one reused buffer per batch (see [`Batch`]).
///
/// With `fold` (the store is the run's only input), complete sessions are folded
/// into counters at the end of each unit ([`Aggregator::end_store_unit`]), so the
/// memory held grows with the sessions open at unit edges, not with the store: a
/// 10 M-attempt store took 2.1 GB when every session was held to the end.
pub fn read(
    file: &InputFile,
    agg: &mut Aggregator,
    opts: &Options,
    (threads, fold): (usize, bool),
) -> Result<(), ReportError> {
    read_in_batches(file, agg, opts, (threads, fold), (CHUNK_ROWS, BATCH))
}

/// One unit of work: the attempts of a rowid range and the session rows written in
/// the same stretch of time, `window` (from the timestamp of the unit's first
/// attempt to that of the next unit's; `None` at the store's ends). A unit next to
/// a cut whose attempt has no readable timestamp has no known window: its sessions
/// are not folded (`foldable` false), as rows of its time may lie in its neighbour.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Unit {
    auth: Option<(i64, i64)>,
    sessions: Option<(i64, i64)>,
    window: (Option<Micros>, Option<Micros>),
    foldable: bool,
}

/// How `auth_attempts` is read: with its `mechanism` and `password_hash` columns
/// when it has them.
fn auth_table(conn: &Connection, file: &InputFile) -> Result<&'static Table, ReportError> {
    let mut stmt = conn
        .prepare("SELECT name FROM pragma_table_info('auth_attempts')")
        .map_err(sqlite_err(file))?;
    let names: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .map_err(sqlite_err(file))?
        .collect::<Result<_, _>>()
        .map_err(sqlite_err(file))?;
    let has = |n: &str| names.iter().any(|c| c.eq_ignore_ascii_case(n));
    Ok(if has("mechanism") && has("password_hash") {
        &TABLES[0]
    } else {
        &OLD_AUTH
    })
}

/// Smallest and largest rowid of `table`, if it has rows.
fn rowid_range(
    conn: &Connection,
    file: &InputFile,
    table: &str,
) -> Result<Option<(i64, i64)>, ReportError> {
    // Two subqueries: SQLite finds a lone min() or max() of the rowid at one end of
    // the table, but scans the whole table for both in one query.
    let sql = format!("SELECT (SELECT min(rowid) FROM {table}), (SELECT max(rowid) FROM {table})");
    let (lo, hi): (Option<i64>, Option<i64>) = conn
        .query_row(&sql, [], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(sqlite_err(file))?;
    Ok(lo.zip(hi))
}

/// The first row at or after rowid `at` of a table read by `sql` (rowid and time).
fn row_at(
    conn: &Connection,
    file: &InputFile,
    sql: &str,
    at: i64,
) -> Result<Option<(i64, Option<Micros>)>, ReportError> {
    let mut stmt = conn.prepare_cached(sql).map_err(sqlite_err(file))?;
    let mut rows = stmt.query([at]).map_err(sqlite_err(file))?;
    let Some(r) = rows.next().map_err(sqlite_err(file))? else {
        return Ok(None);
    };
    let rowid: i64 = r.get(0).map_err(sqlite_err(file))?;
    Ok(Some((rowid, parse_timestamp(&column_text(r, 1)))))
}

const AUTH_AT: &str =
    "SELECT rowid, timestamp FROM auth_attempts WHERE rowid >= ?1 ORDER BY rowid LIMIT 1";
const SESSION_AT: &str =
    "SELECT rowid, end_time FROM sessions WHERE rowid >= ?1 ORDER BY rowid LIMIT 1";

/// The first rowid of `sessions` in `[lo, hi]` from which session rows end at or
/// after `time` (a binary search over rowids: the sensor appends a session's row
/// when it ends, so end times grow with the rowid; a row whose end time does not
/// parse counts as late).
fn first_session_from(
    conn: &Connection,
    file: &InputFile,
    time: Micros,
    (mut lo, mut hi): (i64, i64),
) -> Result<i64, ReportError> {
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        match row_at(conn, file, SESSION_AT, mid)? {
            Some((rowid, Some(end))) if end < time => lo = rowid.saturating_add(1).max(mid + 1),
            _ => hi = mid,
        }
    }
    Ok(lo)
}

/// Cuts the store into units: attempts by [`CHUNK_ROWS`] rowids, and with each
/// chunk the session rows that end between its first attempt and the next chunk's.
/// A store with session rows only is cut by their rowids.
fn plan_units(
    conn: &Connection,
    file: &InputFile,
    chunk_rows: i64,
) -> Result<Vec<Unit>, ReportError> {
    let auth = rowid_range(conn, file, "auth_attempts")?;
    let sessions = rowid_range(conn, file, "sessions")?;
    let step = chunk_rows.max(1);
    let cuts = |(lo, hi): (i64, i64)| -> Vec<i64> {
        let mut cuts = vec![lo];
        let mut at = lo;
        while at <= hi {
            at = at.saturating_add(step);
            cuts.push(at);
            if at == i64::MAX {
                break;
            }
        }
        cuts
    };
    let Some(auth) = auth else {
        let Some(sessions) = sessions else {
            return Ok(Vec::new());
        };
        return Ok(cuts(sessions)
            .windows(2)
            .map(|w| Unit {
                auth: None,
                sessions: Some((w[0], w[1])),
                window: (None, None),
                foldable: true,
            })
            .collect());
    };
    let auth_cuts = cuts(auth);
    // The time at each cut: the timestamp of the first attempt from there.
    let mut cuts_at = vec![Cut::Edge];
    for &at in auth_cuts
        .iter()
        .skip(1)
        .take(auth_cuts.len().saturating_sub(2))
    {
        cuts_at.push(match row_at(conn, file, AUTH_AT, at)? {
            Some((_, Some(time))) => Cut::At(time),
            _ => Cut::Unknown,
        });
    }
    cuts_at.push(Cut::Edge);
    let mut session_cuts = Vec::with_capacity(cuts_at.len());
    if let Some((lo, hi)) = sessions {
        let end = hi.saturating_add(1);
        session_cuts.push(lo);
        let mut from = lo;
        for cut in cuts_at.iter().skip(1).take(cuts_at.len().saturating_sub(2)) {
            // At a cut of unknown time the unit before gets no session rows (the
            // next one takes them); neither unit folds.
            if let Cut::At(time) = cut {
                from = first_session_from(conn, file, *time, (from, end))?;
            }
            session_cuts.push(from);
        }
        session_cuts.push(end);
    }
    let time = |i: usize| match cuts_at.get(i) {
        Some(Cut::At(t)) => Some(*t),
        _ => None,
    };
    let known = |i: usize| !matches!(cuts_at.get(i), Some(Cut::Unknown) | None);
    Ok(auth_cuts
        .windows(2)
        .enumerate()
        .map(|(i, w)| Unit {
            auth: Some((w[0], w[1])),
            sessions: session_cuts
                .get(i)
                .zip(session_cuts.get(i + 1))
                .map(|(&a, &b)| (a, b))
                .filter(|(a, b)| a < b),
            window: (time(i), time(i + 1)),
            foldable: known(i) && known(i + 1),
        })
        .collect())
}

/// What is known of the time at a cut between two units.
#[derive(Debug, Clone, Copy)]
enum Cut {
    /// The store's first or last row: nothing lies beyond.
    Edge,
    /// The timestamp of the first attempt after the cut.
    At(Micros),
    /// That attempt's timestamp does not parse.
    Unknown,
}

/// [`read`] handing the aggregator `batch_events` events at a time, with units of
/// `chunk_rows` attempts.
fn read_in_batches(
    file: &InputFile,
    agg: &mut Aggregator,
    opts: &Options,
    (threads, fold): (usize, bool),
    (chunk_rows, batch_events): (i64, usize),
) -> Result<(), ReportError> {
    let conn = open(file)?;
    let units = plan_units(&conn, file, chunk_rows)?;
    let auth = auth_table(&conn, file)?;
    // Without session rows, sessions are folded as in a log read out of order.
    let session_rows = units.iter().any(|u| u.sessions.is_some());
    drop(conn);
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let workers = threads.clamp(1, units.len().max(1));
    let fold = fold.then_some(session_rows);
    let results: Vec<Result<Aggregator, ReportError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    read_units(
                        file,
                        opts,
                        (&units, auth),
                        (&next, &stop),
                        (batch_events, fold),
                    )
                })
            })
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

/// One worker: takes units until none is left (or another worker failed); with
/// `fold` (`Some(whether the store has session rows)`), folds the complete
/// sessions of each.
fn read_units(
    file: &InputFile,
    opts: &Options,
    (units, auth): (&[Unit], &Table),
    (next, stop): (&AtomicUsize, &AtomicBool),
    (batch_events, fold): (usize, Option<bool>),
) -> Result<Aggregator, ReportError> {
    let mut agg = Aggregator::new(opts.session_gap_secs);
    let mut batch = Batch::new(batch_events);
    let conn = open(file)?;
    while !stop.load(Ordering::Relaxed) {
        let Some(unit) = units.get(next.fetch_add(1, Ordering::Relaxed)) else {
            break;
        };
        agg.begin_block();
        let parts = [(auth, unit.auth), (&TABLES[1], unit.sessions)];
        for (table, range) in parts {
            let Some(range) = range else {
                continue;
            };
            let read = read_chunk(&conn, file, table, range, (&mut agg, &mut batch), opts);
            if let Err(e) = read {
                stop.store(true, Ordering::Relaxed);
                return Err(e);
            }
        }
        if let Some(session_rows) = fold
            && unit.foldable
        {
            agg.end_store_unit(unit.window, session_rows);
        }
    }
    Ok(agg)
}

/// Reads the rows of one rowid range of `table` into `batch`, handing it to `agg`
/// whenever it is full and at the end; a bad row is counted (or, with `--strict`,
/// fails the run) with its rowid in place of a line number.
fn read_chunk(
    conn: &Connection,
    file: &InputFile,
    table: &Table,
    (from, to): (i64, i64),
    (agg, batch): (&mut Aggregator, &mut Batch),
    opts: &Options,
) -> Result<(), ReportError> {
    let mut stmt = conn.prepare_cached(table.sql).map_err(sqlite_err(file))?;
    let mut rows = stmt.query([from, to]).map_err(sqlite_err(file))?;
    while let Some(r) = rows.next().map_err(sqlite_err(file))? {
        if let Err(reason) = batch.queue_row(r, table.sessions) {
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
        if batch.is_full() {
            batch.flush(agg, file.index, &opts.filters);
        }
    }
    batch.flush(agg, file.index, &opts.filters);
    Ok(())
}

/// Events handed to the aggregator at once (see [`Aggregator::ingest_batch`]).
const BATCH: usize = 16;

/// Where a queued event's text lies in its [`Batch`]'s arena.
type Span = std::ops::Range<usize>;

/// What the events of one store row share.
#[derive(Debug, Clone)]
struct Head {
    ts: Micros,
    src: IpAddr,
    src_port: Option<u16>,
    dst_port: Option<u16>,
    /// Lower case.
    protocol: Span,
    session: Span,
}

/// The kinds of event a store's rows give, their text as spans of the arena.
#[derive(Debug)]
enum Queued {
    /// An `auth_attempts` row.
    Auth { username: Span, password: Span },
    /// An `auth_attempts` row of mechanism `publickey`: the key's fingerprint.
    KeyOffer { username: Span, print: Span },
    /// An `auth_attempts` row with a hash and no password: its mechanism.
    HashedAuth { username: Span, mechanism: Span },
    /// A `client_version` in a session's `auxiliary_data`.
    ClientVersion(Span),
    /// A `hassh` in a session's `auxiliary_data`, with its `hassh_algorithms`.
    Hassh(Span, Option<Span>),
    /// A `sessions` row.
    SessionEnd { duration_ms: Option<u64> },
}

/// Rows of a chunk on their way to the aggregator, about [`BATCH`] events at a time
/// (see [`Aggregator::ingest_batch`]). SQLite overwrites a row's text when it steps
/// to the next row, so each row's text fields are copied into one arena (`text`)
/// that the events of the whole batch borrow from when they are handed on; the
/// arena and the queue are reused from batch to batch.
#[derive(Debug)]
struct Batch {
    text: String,
    queued: Vec<(Head, Queued)>,
    /// Events that fill the batch.
    limit: usize,
}

impl Batch {
    fn new(limit: usize) -> Self {
        Batch {
            text: String::with_capacity(64 * limit),
            queued: Vec::with_capacity(limit + 2),
            limit: limit.max(1),
        }
    }

    fn is_full(&self) -> bool {
        self.queued.len() >= self.limit
    }

    /// Copies `text` into the arena.
    fn copy(&mut self, text: &str) -> Span {
        let start = self.text.len();
        self.text.push_str(text);
        start..self.text.len()
    }

    /// Queues the events of store row `r`: for a session, its client version and
    /// HASSH (from `auxiliary_data`) before its end; for an attempt, the attempt.
    /// A row whose timestamp or source address does not parse queues nothing and
    /// gives the reason.
    fn queue_row(&mut self, r: &rusqlite::Row<'_>, is_session: bool) -> Result<(), String> {
        let ts = column_text(r, 1);
        let ts = parse_timestamp(&ts).ok_or_else(|| format!("bad timestamp {:?}", clip(&ts)))?;
        let src = column_text(r, 4);
        let src = src
            .trim()
            .parse::<IpAddr>()
            .map_err(|_| format!("bad source_ip {:?}", clip(&src)))?
            .to_canonical();
        let port = |i: usize| r.get::<_, i64>(i).ok().and_then(|p| u16::try_from(p).ok());
        let protocol = self.copy(&column_text(r, 3));
        if let Some(name) = self.text.get_mut(protocol.clone()) {
            name.make_ascii_lowercase();
        }
        let head = Head {
            ts,
            src,
            src_port: port(5),
            dst_port: port(6),
            protocol,
            session: self.copy(&column_text(r, 2)),
        };
        if !is_session {
            let username = self.copy(&column_text(r, 7));
            let password = column_text(r, 8);
            let (mechanism, hash) = (column_text(r, 9), column_text(r, 10));
            let queued = match Secret::of(&password, &mechanism, &hash) {
                Secret::Password => Queued::Auth {
                    username,
                    password: self.copy(&password),
                },
                Secret::Key(print) => Queued::KeyOffer {
                    username,
                    print: self.copy(&print),
                },
                Secret::Hashed(mechanism) => Queued::HashedAuth {
                    username,
                    mechanism: self.copy(mechanism),
                },
            };
            self.queued.push((head, queued));
            return Ok(());
        }
        let extras = session_extras(&column_text(r, 10));
        if let Some(version) = extras.client_version {
            let version = self.copy(&version);
            self.queued
                .push((head.clone(), Queued::ClientVersion(version)));
        }
        if let Some(hassh) = extras.hassh {
            let hassh = self.copy(&hassh);
            let algorithms = extras.hassh_algorithms.map(|a| self.copy(&a));
            self.queued
                .push((head.clone(), Queued::Hassh(hassh, algorithms)));
        }
        let duration_ms = r
            .get::<_, f64>(9)
            .ok()
            .filter(|d| d.is_finite() && *d >= 0.0)
            .map(|d| (d * 1000.0) as u64);
        self.queued.push((head, Queued::SessionEnd { duration_ms }));
        Ok(())
    }

    /// Hands the queued events to the aggregator and empties the batch.
    fn flush(&mut self, agg: &mut Aggregator, file_index: usize, filters: &Filters) {
        if self.queued.is_empty() {
            return;
        }
        {
            let text = self.text.as_str();
            let events: Vec<Event<'_>> = self
                .queued
                .iter()
                .map(|(head, kind)| queued_event(text, head, kind))
                .collect();
            agg.ingest_batch(file_index, &events, filters);
        }
        self.queued.clear();
        self.text.clear();
        // A store's text values may be huge; one such batch must not keep its size.
        self.text.shrink_to(ARENA_KEPT);
    }
}

/// Bytes of a [`Batch`]'s arena kept from one batch to the next at most.
const ARENA_KEPT: usize = 1 << 16;

/// The event of a queued row, borrowing its text from the arena `text`.
fn queued_event<'t>(text: &'t str, head: &Head, kind: &Queued) -> Event<'t> {
    let span = |s: &Span| Cow::Borrowed(text.get(s.clone()).unwrap_or_default());
    let kind = match kind {
        Queued::Auth { username, password } => EventKind::Auth {
            username: span(username),
            password: span(password),
            success: None,
        },
        Queued::KeyOffer { username, print } => EventKind::KeyOffer {
            username: span(username),
            print: span(print),
        },
        Queued::HashedAuth {
            username,
            mechanism,
        } => EventKind::HashedAuth {
            username: span(username),
            mechanism: span(mechanism),
        },
        Queued::ClientVersion(version) => EventKind::ClientVersion {
            version: span(version),
        },
        Queued::Hassh(hassh, algorithms) => EventKind::Hassh {
            hassh: span(hassh),
            algorithms: algorithms.as_ref().map(span),
        },
        Queued::SessionEnd { duration_ms } => EventKind::SessionEnd {
            duration_ms: *duration_ms,
            attempts: None,
        },
    };
    Event {
        ts: Some(head.ts),
        src: Some(head.src),
        src_port: head.src_port,
        dst_port: head.dst_port,
        protocol: span(&head.protocol),
        session: Some(span(&head.session)),
        kind,
    }
}

/// Column `i` of a row as text: text and blobs as (lossy) UTF-8, borrowed from
/// SQLite where valid; numbers printed; NULL (or no such column) empty.
/// (`str::from_utf8` checks ASCII a word at a time; the lossy decoder, for the rare
/// text that is not UTF-8, a byte at a time.)
fn column_text<'r>(r: &'r rusqlite::Row<'_>, i: usize) -> Cow<'r, str> {
    match r.get_ref(i) {
        Ok(ValueRef::Text(t) | ValueRef::Blob(t)) => match std::str::from_utf8(t) {
            Ok(text) => Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(t),
        },
        Ok(ValueRef::Integer(n)) => Cow::Owned(n.to_string()),
        Ok(ValueRef::Real(x)) => Cow::Owned(x.to_string()),
        Ok(ValueRef::Null) | Err(_) => Cow::Borrowed(""),
    }
}

/// The strings of a session's `auxiliary_data` JSON object the report counts.
#[derive(Debug, Default, PartialEq)]
struct SessionExtras {
    client_version: Option<String>,
    hassh: Option<String>,
    hassh_algorithms: Option<String>,
}

/// `client_version`, `hassh` and `hassh_algorithms` of a session's `auxiliary_data`
/// JSON object, when it has them as strings (the JSON is parsed only if it names one of them).
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
        hassh_algorithms: string("hassh_algorithms"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`read`] with units of `chunk` attempts, folding sessions as a lone input does.
    fn read_in_chunks(
        file: &InputFile,
        agg: &mut Aggregator,
        opts: &Options,
        threads: usize,
        chunk: i64,
    ) -> Result<(), ReportError> {
        read_in_batches(file, agg, opts, (threads, true), (chunk, BATCH))
    }

    /// The columns of the two tables the report reads (a store without `mechanism`
    /// and `password_hash`, as written before they were added).
    const MINIMAL_SCHEMA: &str = "CREATE TABLE auth_attempts (auth_id TEXT, session_id TEXT, \
         timestamp TEXT, protocol TEXT, source_ip TEXT, source_port INTEGER, \
         destination_ip TEXT, destination_port INTEGER, username TEXT, password TEXT);
         CREATE TABLE sessions (session_id TEXT, end_time TEXT, duration REAL, protocol TEXT, \
         source_ip TEXT, source_port INTEGER, destination_port INTEGER, auxiliary_data TEXT);";

    /// A trawl.db with `n` attempts from a few dozen sources, one with a bad
    /// timestamp, one whose username is not UTF-8, and a sessions table.
    fn store(dir: &std::path::Path, n: usize) -> InputFile {
        let path = dir.join("trawl.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(MINIMAL_SCHEMA).unwrap();
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
        let both = session_extras(
            r#"{"client_version":"SSH-2.0-Go","hassh":"ab","hassh_algorithms":"k;e;m;c","x":1}"#,
        );
        assert_eq!(
            both,
            SessionExtras {
                client_version: Some("SSH-2.0-Go".into()),
                hassh: Some("ab".into()),
                hassh_algorithms: Some("k;e;m;c".into()),
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

    /// The JSON report of `file` read with `threads` workers, chunks of `chunk`
    /// rowids and batches of `batch` events.
    fn report_json(file: &InputFile, threads: usize, (chunk, batch): (i64, usize)) -> String {
        report_json_folding(file, (threads, true), (chunk, batch)).0
    }

    /// [`report_json`], folding sessions or not, and the number of sessions the
    /// aggregator still held at the end.
    fn report_json_folding(
        file: &InputFile,
        (threads, fold): (usize, bool),
        (chunk, batch): (i64, usize),
    ) -> (String, usize) {
        let opts = Options::default();
        let mut agg = Aggregator::new(opts.session_gap_secs);
        read_in_batches(file, &mut agg, &opts, (threads, fold), (chunk, batch)).unwrap();
        let report = crate::report::build(&agg, std::slice::from_ref(file), &opts);
        (serde_json::to_string(&report).unwrap(), agg.sessions.len())
    }

    /// [`report_json_folding`] with every unit read by a worker of its own (the
    /// worst split: no session meets its rows of another unit before the merge).
    fn report_json_unit_by_unit(file: &InputFile, chunk: i64) -> String {
        let opts = Options::default();
        let conn = open(file).unwrap();
        let units = plan_units(&conn, file, chunk).unwrap();
        let auth = auth_table(&conn, file).unwrap();
        let session_rows = units.iter().any(|u| u.sessions.is_some());
        let mut agg = Aggregator::new(opts.session_gap_secs);
        for unit in units.chunks(1) {
            let (next, stop) = (AtomicUsize::new(0), AtomicBool::new(false));
            let fold = (BATCH, Some(session_rows));
            agg.merge(read_units(file, &opts, (unit, auth), (&next, &stop), fold).unwrap());
        }
        let report = crate::report::build(&agg, std::slice::from_ref(file), &opts);
        serde_json::to_string(&report).unwrap()
    }

    /// `2024-05-01T00:00:00Z` plus `secs` seconds and `micros`, as the sensor writes it.
    fn store_time(secs: i64, micros: i64) -> String {
        let (day, rest) = (secs / 86_400, secs % 86_400);
        format!(
            "2024-05-{:02}T{:02}:{:02}:{:02}.{micros:06}Z",
            day + 1,
            rest / 3600,
            rest / 60 % 60,
            rest % 60
        )
    }

    /// A store as the sensor writes one: sessions 40 s apart, each with three
    /// attempts, its row appended when it ends; every 50th session from the 7th
    /// lasts 50 minutes (attempts 25 minutes apart), every 50th from the 13th has no
    /// row yet (still open), every 50th from the 29th declares no duration.
    fn sensor_store(dir: &std::path::Path, sessions: i64) -> InputFile {
        let path = dir.join("sensor.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(MINIMAL_SCHEMA).unwrap();
        conn.execute_batch("BEGIN").unwrap();
        // (time in µs, is the session row, session number, attempt number)
        let mut rows: Vec<(i64, bool, i64, i64)> = Vec::new();
        for i in 0..sessions {
            let start = i * 40_000_000 + i % 7 * 1_000;
            let step = if i % 50 == 7 {
                1_500_000_000
            } else {
                900_000 + i % 5 * 100_000
            };
            for a in 0..3 {
                rows.push((start + a * step, false, i, a));
            }
            if i % 50 != 13 {
                rows.push((start + 2 * step + 400_000, true, i, 0));
            }
        }
        rows.sort_unstable();
        for (t, is_row, i, a) in rows {
            let ts = store_time(t / 1_000_000, t % 1_000_000);
            let ip = format!("198.51.100.{}", i % 37);
            if is_row {
                let start = i * 40_000_000 + i % 7 * 1_000;
                let duration = (i % 50 != 29).then(|| (t - start) as f64 / 1e6);
                conn.execute(
                    "INSERT INTO sessions VALUES (?1, ?2, ?3, 'ssh', ?4, 4000, 22, ?5)",
                    rusqlite::params![
                        format!("s{i}"),
                        ts,
                        duration,
                        ip,
                        if i % 4 == 0 {
                            r#"{"client_version":"SSH-2.0-Go"}"#
                        } else {
                            "{}"
                        }
                    ],
                )
                .unwrap();
            } else {
                conn.execute(
                    "INSERT INTO auth_attempts VALUES (?1, ?2, ?3, 'SSH', ?4, 4000, '', 22, ?5, ?6)",
                    rusqlite::params![
                        format!("a{i}-{a}"),
                        format!("s{i}"),
                        ts,
                        ip,
                        if a == 2 && i % 3 == 0 { "sh".to_string() } else { format!("user{}", i % 11) },
                        format!("pw{}", (i + a) % 13),
                    ],
                )
                .unwrap();
            }
        }
        conn.execute_batch("COMMIT").unwrap();
        crate::input::detect(0, &path).unwrap()
    }

    #[test]
    fn folding_a_sensor_store_by_units_keeps_the_report() {
        let dir = tempfile::tempdir().unwrap();
        let file = sensor_store(dir.path(), 1_200);
        // Attempts with no readable time at unit cuts (units of 50 and 97): the units
        // beside them keep their sessions.
        Connection::open(&file.path)
            .unwrap()
            .execute_batch(
                "UPDATE auth_attempts SET timestamp = 'soon' WHERE rowid IN (151, 1601, 389)",
            )
            .unwrap();
        let (held, all) = report_json_folding(&file, (1, false), (1_000_000, BATCH));
        assert_eq!(all, 1_200, "without folding, every session is held");
        assert!(held.contains(r#""bad_rows":{"total":3"#), "{held}");
        for (threads, chunk) in [(1, 50), (2, 50), (3, 97), (2, 333), (1, 4_000)] {
            let (folded, left) = report_json_folding(&file, (threads, true), (chunk, BATCH));
            assert_eq!(folded, held, "{threads} threads, units of {chunk} attempts");
            if chunk < 1_000 {
                // Left: sessions near a unit's edge, the long ones, the open ones
                // and those without a duration.
                assert!(left < 400, "{left} sessions held with units of {chunk}");
            }
        }
        for chunk in [50, 97, 333] {
            assert_eq!(
                report_json_unit_by_unit(&file, chunk),
                held,
                "every unit of {chunk} attempts read by a worker of its own"
            );
        }
    }

    #[test]
    fn key_offers_and_hashed_logins_of_a_store() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trawl.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(MINIMAL_SCHEMA).unwrap();
        conn.execute_batch(
            "ALTER TABLE auth_attempts ADD COLUMN mechanism TEXT;
             ALTER TABLE auth_attempts ADD COLUMN password_hash TEXT;",
        )
        .unwrap();
        let print = "ssh-ed25519 SHA256:zPutkjZe6sumQbLB17vvE1TmSs51i2VrWLaEXolsn/o";
        for (i, (user, password, mechanism, hash)) in [
            ("root", "", "publickey", print),
            ("postgres", "", "pg-md5", "$postgres$postgres*00*11"),
            ("sa", "", "", "$mysqlna$00*11"),
            ("guest", "", "user-pass", ""),
            ("admin", "admin", "user-pass", ""),
        ]
        .into_iter()
        .enumerate()
        {
            conn.execute(
                "INSERT INTO auth_attempts VALUES (?1, 's', '2024-05-01T10:00:00Z', 'ssh', \
                 '198.51.100.1', 4000, '', 22, ?2, ?3, ?4, ?5)",
                rusqlite::params![format!("a{i}"), user, password, mechanism, hash],
            )
            .unwrap();
        }
        drop(conn);
        let file = crate::input::detect(0, &path).unwrap();
        let mut agg = Aggregator::new(300);
        read_in_chunks(&file, &mut agg, &Options::default(), 1, 100).unwrap();
        agg.flush_runs();
        assert_eq!(agg.key_offers, 1);
        assert_eq!(agg.ssh_keys.get(print).map(|k| k.offered), Some(1));
        assert_eq!(agg.hashed_attempts, 2);
        let hashed: Vec<(&str, &str)> = {
            let mut v: Vec<_> = agg
                .hashed_logins
                .keys()
                .map(|(m, u)| (&**m, &**u))
                .collect();
            v.sort_unstable();
            v
        };
        assert_eq!(hashed, [("mysqlna", "sa"), ("pg-md5", "postgres")]);
        let mut pairs: Vec<(&str, &str)> = agg.pairs.keys().map(|k| (k.user(), k.pass())).collect();
        pairs.sort_unstable();
        assert_eq!(
            pairs,
            [("admin", "admin"), ("guest", "")],
            "an empty password with no hash stays a pair"
        );
    }

    #[test]
    fn units_pair_attempts_with_the_session_rows_of_their_time() {
        let dir = tempfile::tempdir().unwrap();
        let file = sensor_store(dir.path(), 100);
        let conn = open(&file).unwrap();
        let units = plan_units(&conn, &file, 30).unwrap();
        assert_eq!(units.len(), 10, "300 attempts in units of 30");
        let mut expected_from = 1;
        for unit in &units {
            let (from, to) = unit.sessions.unwrap();
            assert_eq!(from, expected_from, "session rows are cut without gaps");
            expected_from = to;
            let ends: Vec<String> = conn
                .prepare("SELECT end_time FROM sessions WHERE rowid >= ?1 AND rowid < ?2")
                .unwrap()
                .query_map([from, to], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            for end in ends {
                let end = parse_timestamp(&end).unwrap();
                assert!(
                    unit.window.0.is_none_or(|w| end >= w),
                    "{end} before {unit:?}"
                );
                assert!(
                    unit.window.1.is_none_or(|w| end < w),
                    "{end} after {unit:?}"
                );
            }
        }
        let rows: i64 = conn
            .query_row("SELECT max(rowid) FROM sessions", [], |r| r.get(0))
            .unwrap();
        assert_eq!(expected_from, rows + 1);
    }

    #[test]
    fn batches_do_not_change_the_report() {
        let dir = tempfile::tempdir().unwrap();
        let file = store(dir.path(), 3_000);
        let conn = Connection::open(&file.path).unwrap();
        // One address per session id (in `store` a session's three attempts come
        // from three addresses, and which address a session shared by several is
        // listed under depends on the order the workers' counts are merged in).
        conn.execute_batch(
            "UPDATE auth_attempts SET source_ip = (SELECT source_ip FROM sessions \
             WHERE sessions.session_id = auth_attempts.session_id);",
        )
        .unwrap();
        // Bad rows in the middle of a batch of 16 from rowid 1: an attempt whose
        // source is no address (rowid 1000) and a session with a client version
        // whose end time is no time (rowid 40, 40th session: `client_version`).
        conn.execute_batch(
            "UPDATE auth_attempts SET source_ip = 'nowhere' WHERE rowid = 1000;
             UPDATE sessions SET end_time = 'soon' WHERE rowid = 40;
             UPDATE sessions SET auxiliary_data = '{\"client_version\":\"SSH-2.0-x\",\"hassh\":\"0123456789abcdef0123456789abcdef\"}' WHERE rowid = 41;",
        )
        .unwrap();
        drop(conn);
        let opts = Options::default();
        let mut agg = Aggregator::new(300);
        read_in_chunks(&file, &mut agg, &opts, 1, 37).unwrap();
        agg.flush_runs();
        assert_eq!(agg.events, 2_998 + 999, "attempts and session ends");
        assert_eq!(agg.bad_total, 3);
        let mut bad: Vec<(u64, String)> = agg
            .bad_shown
            .iter()
            .map(|b| (b.line, b.reason.clone()))
            .collect();
        bad.sort();
        assert_eq!(
            bad,
            vec![
                (40, "bad timestamp \"soon\"".to_string()),
                (78, "bad timestamp \"yesterday\"".to_string()),
                (1_000, "bad source_ip \"nowhere\"".to_string()),
            ]
        );
        assert_eq!(
            agg.client_versions.get("SSH-2.0-Go").copied(),
            Some(333),
            "the bad session's client version is not counted"
        );
        assert_eq!(agg.client_versions.get("SSH-2.0-x").copied(), Some(1));
        // One row at a time (as before batches) is the reference: chunk sizes that
        // 16 does not divide, batches cut by chunk ends and bad rows in the middle
        // of a batch must not change a byte.
        let one_by_one = report_json(&file, 1, (i64::MAX, 1));
        assert!(one_by_one.contains("SSH-2.0-x"), "{one_by_one}");
        for (threads, chunk, batch) in [
            (1, i64::MAX, BATCH),
            (1, 37, BATCH),
            (2, 100, BATCH),
            (3, 7, BATCH),
            (2, 1_000, 5),
            (1, 999, 64),
        ] {
            assert_eq!(
                report_json(&file, threads, (chunk, batch)),
                one_by_one,
                "{threads} threads, chunks of {chunk}, batches of {batch}"
            );
        }
    }

    #[test]
    fn a_huge_value_does_not_keep_the_arena_large() {
        let conn = Connection::open_in_memory().unwrap();
        let huge = "u".repeat(4 << 20);
        let mut stmt = conn
            .prepare(
                "SELECT 1, '2024-05-01T10:00:00Z', 's1', 'SSH', '198.51.100.1', 4000, 22, \
                 ?1, 'pw', NULL, NULL",
            )
            .unwrap();
        let mut rows = stmt.query([&huge]).unwrap();
        let row = rows.next().unwrap().unwrap();
        let mut batch = Batch::new(BATCH);
        batch.queue_row(row, false).unwrap();
        assert!(batch.text.len() > huge.len());
        let mut agg = Aggregator::new(300);
        batch.flush(&mut agg, 0, &Filters::default());
        assert!(batch.queued.is_empty() && batch.text.is_empty());
        assert!(
            batch.text.capacity() <= ARENA_KEPT,
            "{}",
            batch.text.capacity()
        );
        assert_eq!(agg.events, 1);
        assert!(
            agg.pairs
                .keys()
                .any(|k| k.user() == &huge[..crate::agg::MAX_TEXT] && k.pass() == "pw")
        );
    }
}
