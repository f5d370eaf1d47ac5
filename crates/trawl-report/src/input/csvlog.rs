//! Heralding-layout CSV: `log_auth.csv` (9, 10, 11 columns) and `log_session.csv`.

use std::borrow::Cow;
use std::net::IpAddr;

use crate::Options;
use crate::agg::Aggregator;
use crate::error::ReportError;
use crate::event::{Event, EventKind};
use crate::input::Block;
use crate::time::parse_timestamp;

/// Which column holds what (indexes into a row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnMap {
    /// Number of columns a row must have.
    pub width: usize,
    /// The first line is a header to skip.
    pub has_header: bool,
    /// Rows are session summaries (log_session.csv), not attempts.
    pub session_rows: bool,
    ts: usize,
    session: Option<usize>,
    src: usize,
    src_port: Option<usize>,
    dst_port: Option<usize>,
    protocol: Option<usize>,
    username: Option<usize>,
    password: Option<usize>,
    duration: Option<usize>,
    num_attempts: Option<usize>,
}

const AUTH_11: &str = "timestamp,auth_id,session_id,source_ip,source_port,destination_ip,destination_port,protocol,username,password,password_hash";
const AUTH_10: &str = "timestamp,auth_id,session_id,source_ip,source_port,destination_ip,destination_port,protocol,username,password";
const AUTH_9: &str = "timestamp,auth_id,session_id,source_ip,source_port,destination_port,protocol,username,password";
const SESSION_9: &str = "timestamp,duration,session_id,source_ip,source_port,destination_ip,destination_port,protocol,num_auth_attempts";

fn position(names: &[&str], wanted: &[&str]) -> Option<usize> {
    names.iter().position(|n| wanted.contains(n))
}

impl ColumnMap {
    /// Reads a header line (any order; Heralding and T-Pot names).
    pub fn from_header(line: &str, has_header: bool) -> Option<Self> {
        let names: Vec<String> = line
            .split(',')
            .map(|n| n.trim().trim_matches('"').to_ascii_lowercase())
            .collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let ts = position(&names, &["timestamp", "time", "date"])?;
        let src = position(&names, &["source_ip", "src_ip", "src_host"])?;
        let num_attempts = position(&names, &["num_auth_attempts"]);
        let username = position(&names, &["username", "user"]);
        if username.is_none() && num_attempts.is_none() {
            return None;
        }
        Some(ColumnMap {
            width: names.len(),
            has_header,
            session_rows: username.is_none(),
            ts,
            session: position(&names, &["session_id", "session"]),
            src,
            src_port: position(&names, &["source_port", "src_port"]),
            dst_port: position(&names, &["destination_port", "dest_port", "dst_port"]),
            protocol: position(&names, &["protocol", "proto"]),
            username,
            password: position(&names, &["password", "pass"]),
            duration: position(&names, &["duration"]),
            num_attempts,
        })
    }

    /// Detects the layout from the first line: a header, or a headerless row.
    pub fn detect(first_line: &str) -> Option<Self> {
        if first_line.to_ascii_lowercase().starts_with("timestamp,") {
            return Self::from_header(first_line, true);
        }
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(first_line.as_bytes());
        let record = reader.records().next()?.ok()?;
        parse_timestamp(record.get(0)?)?;
        let second_is_number = record.get(1).is_some_and(|f| f.parse::<f64>().is_ok());
        let header = match record.len() {
            11 => AUTH_11,
            10 => AUTH_10,
            9 if second_is_number => SESSION_9,
            9 => AUTH_9,
            _ => return None,
        };
        Self::from_header(header, false)
    }

    /// Human name of the layout.
    pub fn describe(&self) -> String {
        let kind = if self.session_rows {
            "Heralding session CSV"
        } else {
            "Heralding auth CSV"
        };
        let header = if self.has_header { "" } else { ", no header" };
        format!("{kind} ({} columns{header})", self.width)
    }
}

fn field<'r>(record: &'r csv::ByteRecord, index: Option<usize>) -> Cow<'r, str> {
    index
        .and_then(|i| record.get(i))
        .map(|bytes| match std::str::from_utf8(bytes) {
            Ok(text) => Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(bytes),
        })
        .unwrap_or(Cow::Borrowed(""))
}

fn parse_ip(text: &str) -> Option<IpAddr> {
    text.trim()
        .parse::<IpAddr>()
        .ok()
        .map(|ip| ip.to_canonical())
}

/// Parses every row of a CSV block into the aggregator.
pub fn parse_block(
    block: &Block,
    map: &ColumnMap,
    agg: &mut Aggregator,
    opts: &Options,
) -> Result<(), ReportError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(block.data.as_slice());
    let mut record = csv::ByteRecord::new();
    let file = &block.file;
    loop {
        let line = block.first_line + reader.position().line().saturating_sub(1);
        match reader.read_byte_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {}
            Err(e) => {
                bad(
                    agg,
                    opts,
                    file.index,
                    &file.display,
                    line,
                    format!("unreadable CSV: {e}"),
                )?;
                continue;
            }
        }
        let line = block.first_line + record.position().map_or(1, |p| p.line()).saturating_sub(1);
        if line == 1 && map.has_header {
            continue;
        }
        if record.len() == 1
            && record
                .get(0)
                .is_some_and(|f| f.iter().all(u8::is_ascii_whitespace))
        {
            continue;
        }
        match row_event(&record, map) {
            Ok(ev) => agg.ingest(file.index, &ev, &opts.filters),
            Err(reason) => bad(agg, opts, file.index, &file.display, line, reason)?,
        }
    }
}

/// Counts a bad row, or fails under `--strict`.
pub fn bad(
    agg: &mut Aggregator,
    opts: &Options,
    index: usize,
    file: &str,
    line: u64,
    reason: String,
) -> Result<(), ReportError> {
    if opts.strict {
        return Err(ReportError::BadRow {
            file: file.to_string(),
            line,
            reason,
        });
    }
    agg.bad_row(index, file, line, reason);
    Ok(())
}

fn row_event<'r>(record: &'r csv::ByteRecord, map: &ColumnMap) -> Result<Event<'r>, String> {
    if record.len() != map.width {
        return Err(format!(
            "expected {} columns, found {}",
            map.width,
            record.len()
        ));
    }
    let ts_text = field(record, Some(map.ts));
    let ts =
        parse_timestamp(&ts_text).ok_or_else(|| format!("bad timestamp {:?}", clip(&ts_text)))?;
    let src_text = field(record, Some(map.src));
    let src = parse_ip(&src_text).ok_or_else(|| format!("bad source_ip {:?}", clip(&src_text)))?;
    let port = |i| field(record, i).trim().parse::<u16>().ok();
    let kind = if map.session_rows {
        let duration = field(record, map.duration).trim().parse::<f64>().ok();
        EventKind::SessionEnd {
            duration_ms: duration
                .filter(|d| d.is_finite() && *d >= 0.0)
                .map(|d| (d * 1000.0) as u64),
            attempts: field(record, map.num_attempts).trim().parse().ok(),
        }
    } else {
        EventKind::Auth {
            username: field(record, map.username),
            password: field(record, map.password),
            success: None,
        }
    };
    let protocol = field(record, map.protocol);
    let protocol = if protocol.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(protocol.to_ascii_lowercase())
    } else {
        protocol
    };
    Ok(Event {
        ts: Some(ts),
        src: Some(src),
        src_port: port(map.src_port),
        dst_port: port(map.dst_port),
        protocol,
        session: map.session.map(|i| field(record, Some(i))),
        kind,
    })
}

/// At most 40 characters of hostile text for a message.
pub fn clip(text: &str) -> String {
    text.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts() {
        let seed = ColumnMap::detect(AUTH_10).unwrap();
        assert_eq!(
            (seed.width, seed.has_header, seed.session_rows),
            (10, true, false)
        );
        let old = ColumnMap::detect("2016-12-14 21:50:14.344387,06dcdb6b,824fa9fc,218.191.87.87,55928,23,telnet,root,123456").unwrap();
        assert_eq!(
            (old.width, old.has_header, old.dst_port),
            (9, false, Some(5))
        );
        let sess = ColumnMap::detect(
            "2016-12-14 21:50:14.344387,30.1,824fa9fc,218.191.87.87,55928,,23,telnet,3",
        )
        .unwrap();
        assert!(sess.session_rows);
        assert!(ColumnMap::detect(SESSION_9).unwrap().session_rows);
        assert_eq!(ColumnMap::detect(AUTH_11).unwrap().width, 11);
        assert!(ColumnMap::detect("hello,world").is_none());
    }
}
