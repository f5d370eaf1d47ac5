//! Heralding-layout CSV: `log_auth.csv` (9, 10, 11 columns) and `log_session.csv`.
//!
//! Lines without quotes or carriage returns are split by hand, at the commas that
//! `input/lines.rs` finds with SSE2 bit masks (an all-ASCII line needs no UTF-8
//! check): the `csv` crate's byte-at-a-time parser was a quarter of all instructions
//! on the benchmark log. Every other line is read by the `csv` crate. With several
//! workers, [`split_block`] splits a block once and sorts its rows to their shards,
//! and each worker parses its own with [`parse_rows`]; [`parse_block`] does both for
//! one worker (or for each worker of a gzip input, which all see every block).

use std::borrow::Cow;
use std::hash::BuildHasher;
use std::net::IpAddr;

use crate::Options;
use crate::agg::Aggregator;
use crate::error::ReportError;
use crate::event::{Event, EventKind, Secret};
use crate::input::Block;
use crate::input::lines::Lines;
use crate::time::{HourCache, parse_timestamp, parse_timestamp_cached};

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
    /// trawl's `password_hash`: for a key offer (empty password), the key's
    /// fingerprint.
    password_hash: Option<usize>,
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
            password_hash: position(&names, &["password_hash"]),
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

fn field<'r>(fields: &[&'r str], index: Option<usize>) -> &'r str {
    index.and_then(|i| fields.get(i).copied()).unwrap_or("")
}

fn parse_ip(text: &str) -> Option<IpAddr> {
    if let Some(v4) = dotted_quad(text.as_bytes()) {
        return Some(IpAddr::V4(v4));
    }
    text.trim()
        .parse::<IpAddr>()
        .ok()
        .map(|ip| ip.to_canonical())
}

/// The common case of a source column, read without the standard library's general
/// parser (this runs once per row): four decimal octets of 1-3 digits, no leading
/// zeros, no spaces, read octet by octet. Exactly what `Ipv4Addr::from_str` reads
/// (a proptest checks it); `None` sends anything else to the general parser.
fn dotted_quad(text: &[u8]) -> Option<std::net::Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut rest = text;
    for (k, slot) in octets.iter_mut().enumerate() {
        let (value, used) = octet(rest)?;
        *slot = value;
        rest = rest.get(used..)?;
        if k < 3 {
            rest = rest.strip_prefix(b".")?;
        }
    }
    rest.is_empty().then(|| std::net::Ipv4Addr::from(octets))
}

/// One decimal octet at the start of `text` (1 to 3 digits, no leading zero, at
/// most 255) and the digits it took; a fourth digit is left for the caller to
/// reject.
fn octet(text: &[u8]) -> Option<(u8, usize)> {
    let digit = |i: usize| {
        text.get(i)
            .map(|b| b.wrapping_sub(b'0'))
            .filter(|&d| d < 10)
    };
    let a = digit(0)?;
    let Some(b) = digit(1) else {
        return Some((a, 1));
    };
    if a == 0 {
        return None;
    }
    let Some(c) = digit(2) else {
        return Some((a * 10 + b, 2));
    };
    let value = u16::from(a) * 100 + u16::from(b) * 10 + u16::from(c);
    Some((u8::try_from(value).ok()?, 3))
}

/// Which rows of a CSV block one worker takes: the rows whose source address hashes
/// to its shard (sorted out once by [`split_block`], or picked by each worker itself
/// in [`parse_block`]), so each source (and each session, which belongs to one
/// source) lives in exactly one worker, seen in file order. Rows without a readable
/// source go to shard 0 (they are counted once, as bad).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This worker's shard.
    pub index: usize,
    /// Number of shards.
    pub count: usize,
}

impl Shard {
    /// One worker takes every row.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// True if this shard takes rows from `src` (`None`: no readable source).
    pub fn owns(&self, src: Option<IpAddr>) -> bool {
        self.count <= 1 || owner_of(src, self.count) == self.index
    }

    /// Whether this shard takes a row, by its source column.
    fn owns_fields(&self, fields: &[&str], map: &ColumnMap) -> bool {
        self.count <= 1 || self.owns(source_of(fields, map))
    }
}

/// The shard (of `count`) that takes rows from `src`; rows without a readable
/// source are shard 0's.
fn owner_of(src: Option<IpAddr>, count: usize) -> usize {
    if count <= 1 {
        return 0;
    }
    src.map_or(0, |ip| {
        // A seed of its own: the maps keyed by address use the low hash bits, and
        // a shard must not be left with only half of their buckets.
        let h = foldhash::fast::FixedState::with_seed(0x7368_6172_6473).hash_one(ip);
        (h % count as u64) as usize
    })
}

/// The source address of a row, if its source column is there and readable.
fn source_of(fields: &[&str], map: &ColumnMap) -> Option<IpAddr> {
    fields.get(map.src).and_then(|text| parse_ip(text))
}

/// Parses the rows of a CSV block that `shard` takes into the aggregator.
///
/// Fast path (hand-written on purpose): a line with no `"` and no `\r` cannot hold
/// quoting or a CRLF terminator, so it is split at its commas (found for the whole
/// block by [`Lines`]) — the same fields the `csv` crate yields, at a fraction of
/// the cost of its byte-at-a-time state machine plus one UTF-8 check per field
/// (measured: the DFA alone was a quarter of all instructions). A row of another
/// shard costs only the split and its source address, which an own row then reuses.
/// Every other line (quotes, quoted newlines, `\r`, invalid UTF-8) is read by the
/// `csv` crate, one record at a time.
pub fn parse_block(
    block: &Block,
    map: &ColumnMap,
    agg: &mut Aggregator,
    opts: &Options,
    shard: Shard,
) -> Result<(), ReportError> {
    let data = block.data.as_slice();
    let mut lines = Lines::new(data);
    let mut batch = Batch::new(block, map, opts);
    let mut line = block.first_line;
    while let Some(next) = lines.next_line() {
        let rest = data.get(next.start..).unwrap_or_default();
        let raw = data.get(next.start..next.end).unwrap_or_default();
        if next.careful {
            batch.flush(agg);
            let (consumed, newlines) = slow_record(rest, line, map, agg, opts, block, shard)?;
            lines.seek(next.start + consumed);
            line += newlines;
            continue;
        }
        let this_line = line;
        line += 1;
        if raw.is_empty() || (this_line == 1 && map.has_header) {
            continue;
        }
        let commas = lines.commas();
        let (owned, src) = owns_raw(raw, commas, map, shard);
        if !owned {
            continue;
        }
        let Some(text) = line_text(raw, next.ascii) else {
            batch.flush(agg);
            let (consumed, newlines) = slow_record(rest, this_line, map, agg, opts, block, shard)?;
            lines.seek(next.start + consumed);
            line = this_line + newlines;
            continue;
        };
        let blank = commas.is_empty() && raw.iter().all(u8::is_ascii_whitespace);
        if !blank {
            batch.row(agg, (text, commas), src, this_line)?;
        }
    }
    batch.flush(agg);
    Ok(())
}

/// Rows of one block on their way to the aggregator, [`BATCH`] at a time (see
/// [`Aggregator::ingest_batch`]).
struct Batch<'b> {
    block: &'b Block,
    map: &'b ColumnMap,
    opts: &'b Options,
    events: Vec<Event<'b>>,
    hours: HourCache,
}

impl<'b> Batch<'b> {
    fn new(block: &'b Block, map: &'b ColumnMap, opts: &'b Options) -> Self {
        Batch {
            block,
            map,
            opts,
            events: Vec::with_capacity(BATCH),
            hours: HourCache::default(),
        }
    }

    /// Adds the row in `text` (a line split at the offsets `commas` from its first
    /// byte), or counts it as bad with its line number.
    fn row(
        &mut self,
        agg: &mut Aggregator,
        (text, commas): (&'b str, &[u32]),
        src: Option<IpAddr>,
        line: u64,
    ) -> Result<(), ReportError> {
        let split = SplitLine { text, commas };
        let field = |i: Option<usize>| i.map_or("", |i| split.field(i));
        match row_event((commas.len() + 1, field), src, self.map, &mut self.hours) {
            Ok(ev) => self.events.push(ev),
            Err(reason) => {
                let file = &self.block.file;
                bad(agg, self.opts, file.index, &file.display, line, reason)?;
            }
        }
        if self.events.len() >= BATCH {
            self.flush(agg);
        }
        Ok(())
    }

    /// Hands the rows so far to the aggregator.
    fn flush(&mut self, agg: &mut Aggregator) {
        agg.ingest_batch(self.block.file.index, &self.events, &self.opts.filters);
        self.events.clear();
    }
}

/// Rows handed to the aggregator at once (see [`Aggregator::ingest_batch`]).
const BATCH: usize = 16;

/// An unquoted line and the offsets of its commas from its first byte: a field is
/// sliced out only when [`row_event`] reads it (it reads 8 of a Heralding row's 10).
struct SplitLine<'r, 'c> {
    text: &'r str,
    commas: &'c [u32],
}

impl<'r> SplitLine<'r, '_> {
    /// Field `i`; empty past the last one.
    fn field(&self, i: usize) -> &'r str {
        let from = match i.checked_sub(1) {
            None => 0,
            Some(before) => match self.commas.get(before) {
                Some(&comma) => comma as usize + 1,
                None => return "",
            },
        };
        let to = self
            .commas
            .get(i)
            .map_or(self.text.len(), |&comma| comma as usize);
        self.text.get(from..to).unwrap_or_default()
    }
}

/// One row of a block, found by [`split_block`] for the shard that takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RowRef {
    /// Block offset of its first byte.
    start: usize,
    line: u64,
    /// End of its commas in [`RowList::commas`]; they begin where the previous
    /// row's end (a careful row has none).
    commas_end: usize,
    /// Its source address, read to route it (plain rows).
    src: Option<IpAddr>,
    /// Bytes in the line (plain rows).
    len: u32,
    /// A record for the `csv` crate (quotes, `\r`, invalid UTF-8), from `start`;
    /// else a line split at its commas by hand.
    careful: bool,
    /// Every byte of a plain line is ASCII.
    ascii: bool,
}

/// The rows of one block that one shard takes, in file order.
///
/// Lists are reused from block to block (see `RowListPool` in the crate root):
/// [`split_block`] empties them before it fills them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RowList {
    rows: Vec<RowRef>,
    /// Offsets of each plain row's commas from its first byte, row after row.
    commas: Vec<u32>,
}

impl RowList {
    /// Rows a list may have held and still be kept for reuse.
    const KEEP_ROWS: usize = 1 << 16;

    /// True if the list is small enough to be kept for reuse (a huge block's
    /// list is dropped rather than held for the rest of the run).
    pub fn worth_keeping(&self) -> bool {
        self.rows.capacity() <= Self::KEEP_ROWS && self.commas.capacity() <= Self::KEEP_ROWS * 16
    }

    /// Empties the list, keeping its memory, with room for `rows` rows of
    /// `width` fields.
    fn reset(&mut self, rows: usize, width: usize) {
        self.rows.clear();
        self.commas.clear();
        self.rows.reserve(rows);
        self.commas.reserve(rows * width);
    }
}

/// Splits a CSV block into lines once and sorts its rows out to the shards of
/// `lists` (one list per shard, emptied first) by source address (the rule of
/// [`Shard::owns`]): the shards' workers then take their own rows with
/// [`parse_rows`] without reading every line again. Blank lines and the header
/// are dropped here; every other line goes to exactly one shard, which counts it
/// (or finds it bad) as [`parse_block`] would.
pub fn split_block(block: &Block, map: &ColumnMap, lists: &mut [RowList]) {
    let data = block.data.as_slice();
    let count = lists.len();
    // Room for every shard's rows at once (Heralding rows are ~150 bytes): growing
    // the lists row by row cost more copying than the split itself.
    let rows = data.len() / 96 / count.max(1) + 16;
    for list in lists.iter_mut() {
        list.reset(rows, map.width);
    }
    let mut lines = Lines::new(data);
    let mut line = block.first_line;
    while let Some(next) = lines.next_line() {
        let rest = data.get(next.start..).unwrap_or_default();
        let raw = data.get(next.start..next.end).unwrap_or_default();
        let this_line = line;
        let utf8 = next.ascii || std::str::from_utf8(raw).is_ok();
        let len = u32::try_from(raw.len())
            .ok()
            .filter(|_| !next.careful && utf8);
        let Some(len) = len else {
            let (consumed, newlines, owner) = slow_extent(rest, this_line, map, count);
            if let Some(list) = owner.and_then(|o| lists.get_mut(o)) {
                list.rows.push(RowRef {
                    start: next.start,
                    line: this_line,
                    commas_end: list.commas.len(),
                    src: None,
                    len: 0,
                    careful: true,
                    ascii: false,
                });
            }
            lines.seek(next.start + consumed);
            line = this_line + newlines;
            continue;
        };
        line += 1;
        let commas = lines.commas();
        if raw.is_empty()
            || (this_line == 1 && map.has_header)
            || (commas.is_empty() && raw.iter().all(u8::is_ascii_whitespace))
        {
            continue;
        }
        let src = source_raw(raw, commas, map);
        let Some(list) = lists.get_mut(owner_of(src, count)) else {
            continue;
        };
        list.commas.extend_from_slice(commas);
        list.rows.push(RowRef {
            start: next.start,
            line: this_line,
            commas_end: list.commas.len(),
            src,
            len,
            careful: false,
            ascii: next.ascii,
        });
    }
}

/// The source address of an unquoted, valid UTF-8 line (`commas`: offsets of its
/// commas from its first byte), if its column is there and reads.
fn source_raw(raw: &[u8], commas: &[u32], map: &ColumnMap) -> Option<IpAddr> {
    let src = source_field(raw, commas, map)?;
    match dotted_quad(src) {
        Some(v4) => Some(IpAddr::V4(v4)),
        None => parse_ip(std::str::from_utf8(src).ok()?),
    }
}

/// The bytes of the source column of an unquoted line (`commas`: offsets of its
/// commas from its first byte), if the line has that column.
fn source_field<'r>(raw: &'r [u8], commas: &[u32], map: &ColumnMap) -> Option<&'r [u8]> {
    let from = match map.src {
        0 => 0,
        n => *commas.get(n - 1)? as usize + 1,
    };
    let to = commas.get(map.src).map_or(raw.len(), |&c| c as usize);
    raw.get(from..to)
}

/// How far the `csv` crate's record at the start of `rest` reaches (bytes, and
/// newlines in them), and which shard takes it: as [`slow_record`] reads it, with
/// unreadable records shard 0's and blank ones or the header nobody's.
fn slow_extent(
    rest: &[u8],
    line: u64,
    map: &ColumnMap,
    count: usize,
) -> (usize, u64, Option<usize>) {
    let (result, record, consumed) = read_record(rest);
    let newlines = |upto: usize| newlines_in(rest, upto);
    let owner = match result {
        Ok(false) => None,
        Ok(true) => {
            let start = record
                .position()
                .and_then(|p| usize::try_from(p.byte()).ok())
                .unwrap_or(0);
            let owned: Vec<Cow<'_, str>> = record.iter().map(String::from_utf8_lossy).collect();
            let blank =
                matches!(owned.as_slice(), [only] if only.bytes().all(|b| b.is_ascii_whitespace()));
            let header = line + newlines(start) == 1 && map.has_header;
            let fields: Vec<&str> = owned.iter().map(AsRef::as_ref).collect();
            (!blank && !header).then(|| owner_of(source_of(&fields, map), count))
        }
        Err(_) => Some(0),
    };
    (consumed, newlines(consumed), owner)
}

/// One record read by the `csv` crate from the start of `rest`: whether there was
/// one (or why it is unreadable), its fields, and the bytes it took.
fn read_record(rest: &[u8]) -> (csv::Result<bool>, csv::ByteRecord, usize) {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(rest);
    let mut record = csv::ByteRecord::new();
    let result = reader.read_byte_record(&mut record);
    let consumed = record_extent(rest, reader.position().byte());
    (result, record, consumed)
}

/// Newlines in the first `upto` bytes of `rest`.
fn newlines_in(rest: &[u8], upto: usize) -> u64 {
    memchr::memchr_iter(b'\n', rest.get(..upto).unwrap_or_default()).count() as u64
}

/// Bytes the `csv` crate took for one record (at least the current line, so that
/// reading never stalls).
fn record_extent(rest: &[u8], position: u64) -> usize {
    let consumed = usize::try_from(position)
        .unwrap_or(rest.len())
        .min(rest.len());
    if consumed == 0 {
        memchr::memchr(b'\n', rest).map_or(rest.len(), |p| p + 1)
    } else {
        consumed
    }
}

/// Ingests the rows [`split_block`] found in `block` for one shard.
pub fn parse_rows(
    block: &Block,
    map: &ColumnMap,
    list: &RowList,
    agg: &mut Aggregator,
    opts: &Options,
) -> Result<(), ReportError> {
    let data = block.data.as_slice();
    let mut batch = Batch::new(block, map, opts);
    let mut commas_from = 0;
    for (i, row) in list.rows.iter().enumerate() {
        if let Some(ahead) = list.rows.get(i + PREFETCH_ROWS) {
            prefetch_line(data, ahead);
        }
        let commas = list
            .commas
            .get(commas_from..row.commas_end)
            .unwrap_or_default();
        commas_from = row.commas_end;
        if row.careful {
            batch.flush(agg);
            let rest = data.get(row.start..).unwrap_or_default();
            slow_record(rest, row.line, map, agg, opts, block, Shard::ALL)?;
            continue;
        }
        let raw = data
            .get(row.start..)
            .and_then(|rest| rest.get(..row.len as usize))
            .unwrap_or_default();
        // `split_block` sent lines that are not valid UTF-8 the careful way.
        let Some(text) = line_text(raw, row.ascii) else {
            continue;
        };
        batch.row(agg, (text, commas), row.src, row.line)?;
    }
    batch.flush(agg);
    Ok(())
}

/// Rows ahead of the one parsed whose bytes [`parse_rows`] asks for.
const PREFETCH_ROWS: usize = 8;

/// Starts reading every cache line of `row`'s bytes in `data` without waiting for
/// them. A shard's rows are every other row or so of a block that another core may
/// have split, and without this the first read of each row's fields waited for
/// memory (a fifth of the row parse's samples).
fn prefetch_line(data: &[u8], row: &RowRef) {
    if let Some(bytes) = data.get(row.start..row.start + row.len as usize) {
        crate::table::prefetch_slice(bytes);
    }
}

/// The line as text: `None` if it is not valid UTF-8.
fn line_text(raw: &[u8], ascii: bool) -> Option<&str> {
    if ascii {
        debug_assert!(raw.is_ascii());
        // SAFETY: every byte is below 0x80 (the line scanner's SSE2 sign-bit mask,
        // or the byte loop elsewhere, says so), and ASCII is valid UTF-8. The
        // checked conversion was 5 % of all instructions on the benchmark log.
        Some(unsafe { std::str::from_utf8_unchecked(raw) })
    } else {
        std::str::from_utf8(raw).ok()
    }
}

/// Whether `shard` takes an unquoted line (`commas`: the offsets of its commas
/// from its first byte), and its source address if that was read to decide. The
/// rule is [`Shard::owns_fields`]'s: a line whose source column is missing or
/// unreadable is shard 0's, a blank line every shard's, and one that is not valid
/// UTF-8 there goes to the `csv` crate, whose lossy fields decide.
fn owns_raw(raw: &[u8], commas: &[u32], map: &ColumnMap, shard: Shard) -> (bool, Option<IpAddr>) {
    let src = source_field(raw, commas, map);
    if let Some(v4) = src.and_then(dotted_quad) {
        let ip = Some(IpAddr::V4(v4));
        return (shard.owns(ip), ip);
    }
    match src.map(std::str::from_utf8) {
        Some(Ok(text)) => {
            let ip = parse_ip(text);
            (shard.owns(ip), ip)
        }
        Some(Err(_)) => (true, None),
        None if shard.count <= 1 || raw.iter().all(u8::is_ascii_whitespace) => (true, None),
        None => (shard.owns(None), None),
    }
}

/// Reads one record at the start of `rest` with the `csv` crate; returns the bytes
/// it took and the newlines in them.
fn slow_record(
    rest: &[u8],
    line: u64,
    map: &ColumnMap,
    agg: &mut Aggregator,
    opts: &Options,
    block: &Block,
    shard: Shard,
) -> Result<(usize, u64), ReportError> {
    let (result, record, consumed) = read_record(rest);
    let newlines = |upto: usize| newlines_in(rest, upto);
    let lines = newlines(consumed);
    let file = &block.file;
    match result {
        Ok(false) => {}
        Ok(true) => {
            let start = record
                .position()
                .and_then(|p| usize::try_from(p.byte()).ok())
                .unwrap_or(0);
            let record_line = line + newlines(start);
            if !(record_line == 1 && map.has_header) {
                let owned: Vec<Cow<'_, str>> = record.iter().map(String::from_utf8_lossy).collect();
                let fields: Vec<&str> = owned.iter().map(AsRef::as_ref).collect();
                row(&fields, record_line, map, agg, opts, block, shard)?;
            }
        }
        Err(e) if shard.owns(None) => bad(
            agg,
            opts,
            file.index,
            &file.display,
            line,
            format!("unreadable CSV: {e}"),
        )?,
        Err(_) => {}
    }
    Ok((consumed, lines))
}

/// Ingests one row's fields (or counts it as bad) if `shard` takes it.
fn row(
    fields: &[&str],
    line: u64,
    map: &ColumnMap,
    agg: &mut Aggregator,
    opts: &Options,
    block: &Block,
    shard: Shard,
) -> Result<(), ReportError> {
    if let [only] = fields
        && only.bytes().all(|b| b.is_ascii_whitespace())
    {
        return Ok(());
    }
    if !shard.owns_fields(fields, map) {
        return Ok(());
    }
    let file = &block.file;
    let by_index = (fields.len(), |i| field(fields, i));
    match row_event(by_index, None, map, &mut HourCache::default()) {
        Ok(ev) => agg.ingest(file.index, &ev, &opts.filters),
        Err(reason) => bad(agg, opts, file.index, &file.display, line, reason)?,
    }
    Ok(())
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

/// The event of one row, given as its number of fields and a reader of field
/// `i` (empty for `None`); `src`: its source address when already read.
fn row_event<'r>(
    (count, field): (usize, impl Fn(Option<usize>) -> &'r str),
    src: Option<IpAddr>,
    map: &ColumnMap,
    hours: &mut HourCache,
) -> Result<Event<'r>, String> {
    if count != map.width {
        return Err(format!("expected {} columns, found {count}", map.width));
    }
    let ts_text = field(Some(map.ts));
    let ts = parse_timestamp_cached(ts_text, hours)
        .ok_or_else(|| format!("bad timestamp {:?}", clip(ts_text)))?;
    let src_text = field(Some(map.src));
    let src = src
        .or_else(|| parse_ip(src_text))
        .ok_or_else(|| format!("bad source_ip {:?}", clip(src_text)))?;
    let port = |i| parse_port(field(i));
    let kind = if map.session_rows {
        let duration = field(map.duration).trim().parse::<f64>().ok();
        EventKind::SessionEnd {
            duration_ms: duration
                .filter(|d| d.is_finite() && *d >= 0.0)
                .map(|d| (d * 1000.0) as u64),
            attempts: field(map.num_attempts).trim().parse().ok(),
        }
    } else {
        let password = field(map.password);
        // Only an empty password can stand for a key offer or a hash.
        let hash = if password.is_empty() {
            field(map.password_hash)
        } else {
            ""
        };
        Secret::of(password, "", hash)
            .login(Cow::Borrowed(field(map.username)), Cow::Borrowed(password))
    };
    let protocol = field(map.protocol);
    let protocol = if protocol.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(protocol.to_ascii_lowercase())
    } else {
        Cow::Borrowed(protocol)
    };
    Ok(Event {
        ts: Some(ts),
        src: Some(src),
        src_port: port(map.src_port),
        dst_port: port(map.dst_port),
        protocol,
        session: map.session.map(|i| Cow::Borrowed(field(Some(i)))),
        kind,
    })
}

/// A port number: plain digits read directly, anything else as `str::parse`
/// (after trimming) reads it.
fn parse_port(text: &str) -> Option<u16> {
    let b = text.as_bytes();
    if (1..=5).contains(&b.len()) {
        let (mut n, mut digits) = (0u32, true);
        for &c in b {
            let d = c.wrapping_sub(b'0');
            digits &= d < 10;
            n = n * 10 + u32::from(d);
        }
        if digits {
            return u16::try_from(n).ok();
        }
    }
    text.trim().parse::<u16>().ok()
}

/// At most 40 characters of hostile text for a message.
pub fn clip(text: &str) -> String {
    text.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An in-memory CSV input with column map `map`.
    fn csv_input(map: &ColumnMap) -> std::sync::Arc<crate::input::InputFile> {
        std::sync::Arc::new(crate::input::InputFile {
            index: 0,
            path: "t.csv".into(),
            display: "t.csv".into(),
            format: crate::input::Format::Csv(map.clone()),
            format_name: String::new(),
            gzip: false,
            size: 0,
            nested_attempts_elsewhere: false,
            skipped: None,
            stream: None,
        })
    }

    #[test]
    fn fast_path_and_csv_crate_read_the_same_rows() {
        let map = ColumnMap::detect(AUTH_10).unwrap();
        let file = csv_input(&map);
        let text = format!(
            "{AUTH_10}\n\
             2016-12-14 21:50:14.1,a,s1,192.0.2.1,1,,23,telnet,root,5up\n\
             \n\
             2016-12-14 21:50:15.1,a,s1,192.0.2.1,1,,23,TELNET,\"a,b\",\"multi\nline\"\n\
             2016-12-14 21:50:16.1,a,s2,192.0.2.2,1,,23,telnet,admin,admin\r\n\
             \x20\x20\n\
             2016-12-14 21:50:17.1,a,s2,not-an-ip,1,,23,telnet,admin,admin\n\
             2016-12-14 21:50:18.1,a,s2,192.0.2.2,1\n\
             2016-12-14 21:50:19.1,a,s3,192.0.2.3,1,,23,telnet,ré,x\n"
        );
        let mut data = text.into_bytes();
        data.extend_from_slice(b"2016-12-14 21:50:20.1,a,s3,192.0.2.3,1,,23,telnet,u\xff,x\n");
        let block = Block {
            file,
            first_line: 1,
            data,
        };
        let mut agg = Aggregator::new(300);
        parse_block(&block, &map, &mut agg, &Options::default(), Shard::ALL).unwrap();
        assert_eq!(
            agg.events, 5,
            "header, blank and whitespace lines are skipped"
        );
        let bad: Vec<(u64, &str)> = agg
            .bad_shown
            .iter()
            .map(|b| (b.line, b.reason.as_str()))
            .collect();
        assert_eq!(
            bad,
            vec![
                (8, "bad source_ip \"not-an-ip\""),
                (9, "expected 10 columns, found 5")
            ]
        );
        let has = |user: &str, pass: &str| {
            agg.pairs
                .keys()
                .any(|k| k.user() == user && k.pass() == pass)
        };
        assert!(
            has("a,b", "multi\nline")
                && has("admin", "admin")
                && has("ré", "x")
                && has("u\u{fffd}", "x")
        );
        agg.flush_runs();
        assert!(agg.protocols.contains_key("telnet") && !agg.protocols.contains_key("TELNET"));
    }

    #[test]
    fn shards_take_every_row_exactly_once() {
        let map = ColumnMap::detect(AUTH_10).unwrap();
        let file = csv_input(&map);
        let mut text = format!("{AUTH_10}\n");
        for i in 0..200 {
            text.push_str(&format!(
                "2016-12-14 21:50:{:02}.1,a,s{i},192.0.2.{},1,,23,telnet,root,{i}\n",
                i % 60,
                i % 37
            ));
        }
        text.push_str(
            "2016-12-14 21:51:15.1,a,q,192.0.2.1,1,,23,telnet,\"a,b\",\"multi\nline\"\n\
             2016-12-14 21:51:16.1,a,r,192.0.2.2,1,,23,telnet,admin,admin\r\n\
             \x20\x20\n\
             \n\
             2016-12-14 21:51:17.1,a,s,not-an-ip,1,,23,telnet,admin,admin\n\
             2016-12-14 21:51:18.1,a,s,192.0.2.2,1\n\
             short,row\n\
             2016-12-14 21:51:19.1,a,t,192.0.2.3,1,,23,telnet,r\u{e9},x\n",
        );
        let mut data = text.into_bytes();
        data.extend_from_slice(b"2016-12-14 21:51:20.1,a,u,192.0.2.3,1,,23,telnet,u\xff,x\n");
        data.extend_from_slice(b"2016-12-14 21:51:21.1,a,v,192.0.\xff.3,1,,23,telnet,u,x\n");
        let block = Block {
            file,
            first_line: 1,
            data,
        };
        let mut whole = Aggregator::new(300);
        parse_block(&block, &map, &mut whole, &Options::default(), Shard::ALL).unwrap();
        for count in [2, 3, 5] {
            let (mut events, mut bad, mut lines) = (0, 0, Vec::new());
            for index in 0..count {
                let mut part = Aggregator::new(300);
                let shard = Shard { index, count };
                parse_block(&block, &map, &mut part, &Options::default(), shard).unwrap();
                events += part.events;
                bad += part.bad_total;
                lines.extend(part.bad_shown.iter().map(|b| b.line));
            }
            lines.sort_unstable();
            let whole_lines: Vec<u64> = whole.bad_shown.iter().map(|b| b.line).collect();
            assert_eq!(
                (events, bad, lines),
                (whole.events, whole.bad_total, whole_lines),
                "{count} shards"
            );
        }
        assert_eq!((whole.events, whole.bad_total), (204, 4));
    }

    /// Row lists are reused from block to block: a list that held another block's
    /// rows (more of them, other lines) comes out of [`split_block`] exactly as a
    /// fresh one, and each shard's rows parse to what [`parse_block`] reads for
    /// that shard.
    #[test]
    fn reused_row_lists_hold_only_their_block() {
        let map = ColumnMap::detect(AUTH_10).unwrap();
        let file = csv_input(&map);
        let mut big = format!("{AUTH_10}\n");
        for i in 0..500 {
            big.push_str(&format!(
                "2016-12-14 21:52:{:02}.1,a,b{i},198.51.100.{},2,,22,ssh,u{i},p\n",
                i % 60,
                i % 211
            ));
        }
        let mut small = String::new();
        for i in 0..40 {
            small.push_str(&format!(
                "2016-12-14 21:50:{:02}.1,a,s{i},192.0.2.{},1,,23,telnet,root,{i}\n",
                i % 60,
                i % 7
            ));
        }
        small.push_str(
            "2016-12-14 21:51:15.1,a,q,192.0.2.1,1,,23,telnet,\"a,b\",\"multi\nline\"\n\
             2016-12-14 21:51:16.1,a,r,192.0.2.2,1,,23,telnet,admin,admin\r\n\
             \n\
             2016-12-14 21:51:17.1,a,s,not-an-ip,1,,23,telnet,admin,admin\n\
             short,row\n\
             2016-12-14 21:51:19.1,a,t,192.0.2.3,1,,23,telnet,r\u{e9},x\n",
        );
        let block = |text: &str, first_line| Block {
            file: std::sync::Arc::clone(&file),
            first_line,
            data: text.as_bytes().to_vec(),
        };
        let (big, small) = (block(&big, 1), block(&small, 502));
        for count in [1, 2, 3, 5] {
            let mut reused = vec![RowList::default(); count];
            split_block(&big, &map, &mut reused);
            assert!(reused.iter().map(|l| l.rows.len()).sum::<usize>() >= 500);
            split_block(&small, &map, &mut reused);
            let mut fresh = vec![RowList::default(); count];
            split_block(&small, &map, &mut fresh);
            assert_eq!(reused, fresh, "{count} shards");
            let (mut events, mut bad) = (0, 0);
            for (index, list) in reused.iter().enumerate() {
                let mut split = Aggregator::new(300);
                parse_rows(&small, &map, list, &mut split, &Options::default()).unwrap();
                let mut whole = Aggregator::new(300);
                let shard = Shard { index, count };
                parse_block(&small, &map, &mut whole, &Options::default(), shard).unwrap();
                let lines = |a: &Aggregator| a.bad_shown.iter().map(|b| b.line).collect::<Vec<_>>();
                assert_eq!(
                    (
                        split.events,
                        split.bad_total,
                        lines(&split),
                        split.sources.len()
                    ),
                    (
                        whole.events,
                        whole.bad_total,
                        lines(&whole),
                        whole.sources.len()
                    ),
                    "shard {index} of {count}"
                );
                events += split.events;
                bad += split.bad_total;
            }
            assert_eq!((events, bad), (43, 2), "{count} shards");
        }
    }

    /// Nearby addresses (a /22 of them, and one address per /16) spread evenly
    /// over the shards, and a row without a readable source is shard 0's.
    #[test]
    fn addresses_spread_over_the_shards() {
        for count in [2, 3, 7] {
            for step in [1u32, 1 << 16] {
                let mut per_shard = vec![0usize; count];
                for i in 0..1024u32 {
                    let ip = IpAddr::V4(std::net::Ipv4Addr::from_bits(0xc000_0200 + i * step));
                    per_shard[owner_of(Some(ip), count)] += 1;
                }
                let fair = 1024 / count;
                assert!(
                    per_shard
                        .iter()
                        .all(|&n| n > fair * 3 / 4 && n < fair * 5 / 4),
                    "{count} shards, step {step}: {per_shard:?}"
                );
            }
            let v6: IpAddr = "2001:db8::1".parse().unwrap();
            assert!(owner_of(Some(v6), count) < count);
            assert_eq!(owner_of(None, count), 0);
        }
    }

    #[test]
    fn dotted_quads_read_as_the_standard_parser_reads_them() {
        for text in [
            "192.0.2.1",
            "0.0.0.0",
            "255.255.255.255",
            "256.1.1.1",
            "01.2.3.4",
            "1.2.3",
            "1.2.3.4.5",
            "1..2.3",
            " 1.2.3.4",
            "1.2.3.4 ",
            "1.2.3.-4",
            "1.2.3.4a",
            "",
            "::1",
            "::ffff:192.0.2.1",
            "1000.1.1.1",
            "1.2.3.04",
            "0.0.0.00",
            "9.99.199.249",
        ] {
            let std = text
                .trim()
                .parse::<IpAddr>()
                .ok()
                .map(|ip| ip.to_canonical());
            assert_eq!(parse_ip(text), std, "{text:?}");
            if let Some(v4) = dotted_quad(text.as_bytes()) {
                assert_eq!(Some(IpAddr::V4(v4)), std, "{text:?}");
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn dotted_quad_never_disagrees(
            text in "[0-9.]{0,16}|([0-9]{1,4}\\.){3}[0-9]{1,4}|([0-2]?[0-9]{1,2}\\.){3}[0-9]{1,3}"
        ) {
            let std = text.parse::<std::net::Ipv4Addr>().ok();
            proptest::prop_assert_eq!(dotted_quad(text.as_bytes()), std);
            proptest::prop_assert_eq!(
                parse_ip(&text),
                text.trim().parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
            );
        }
    }

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

    proptest::proptest! {
        #[test]
        fn ports_read_as_str_parse_reads_them(text in "[0-9 +a\u{a0}]{0,7}") {
            proptest::prop_assert_eq!(parse_port(&text), text.trim().parse::<u16>().ok());
        }
    }
}
