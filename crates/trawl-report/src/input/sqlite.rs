//! trawl's `trawl.db` (tables `auth_attempts` and `sessions`, see docs/sensor-outputs.md).
//! Bad rows are reported with their `rowid` in place of a line number.

use std::borrow::Cow;
use std::net::IpAddr;

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

struct Row {
    rowid: i64,
    ts: String,
    session: String,
    protocol: String,
    src: String,
    src_port: Option<i64>,
    dst_port: Option<i64>,
    a: String,
    b: String,
    n: Option<f64>,
}

/// Reads attempts and sessions from a trawl SQLite store.
pub fn read(file: &InputFile, agg: &mut Aggregator, opts: &Options) -> Result<(), ReportError> {
    let conn = Connection::open_with_flags(
        &file.path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite_err(file))?;
    let attempts = "SELECT rowid, timestamp, session_id, protocol, source_ip, source_port, destination_port, \
        username, password, NULL FROM auth_attempts";
    let sessions = "SELECT rowid, end_time, session_id, protocol, source_ip, source_port, destination_port, \
        '', '', duration FROM sessions";
    for (sql, is_session) in [(attempts, false), (sessions, true)] {
        let mut stmt = conn.prepare(sql).map_err(sqlite_err(file))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Row {
                    rowid: r.get(0)?,
                    ts: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                    session: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
                    protocol: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
                    src: r.get::<_, Option<String>>(4)?.unwrap_or_default(),
                    src_port: r.get(5).ok(),
                    dst_port: r.get(6).ok(),
                    a: r.get::<_, Option<String>>(7)
                        .ok()
                        .flatten()
                        .unwrap_or_default(),
                    b: r.get::<_, Option<String>>(8)
                        .ok()
                        .flatten()
                        .unwrap_or_default(),
                    n: r.get(9).ok(),
                })
            })
            .map_err(sqlite_err(file))?;
        for row in rows {
            let row = row.map_err(sqlite_err(file))?;
            match row_event(&row, is_session) {
                Ok(ev) => agg.ingest(file.index, &ev, &opts.filters),
                Err(reason) => {
                    let table = if is_session {
                        "sessions"
                    } else {
                        "auth_attempts"
                    };
                    let line = u64::try_from(row.rowid).unwrap_or(0);
                    bad(
                        agg,
                        opts,
                        file.index,
                        &format!("{} ({table} rowid)", file.display),
                        line,
                        reason,
                    )?;
                }
            }
        }
    }
    Ok(())
}

fn row_event(row: &Row, is_session: bool) -> Result<Event<'_>, String> {
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
    Ok(Event {
        ts: Some(ts),
        src: Some(src),
        src_port: port(row.src_port),
        dst_port: port(row.dst_port),
        protocol: Cow::Owned(row.protocol.to_ascii_lowercase()),
        session: Some(Cow::Borrowed(&row.session)),
        kind,
    })
}
