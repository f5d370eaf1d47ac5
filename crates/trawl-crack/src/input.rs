//! Where hashes and words come from. Hash sources are recognised by content: a SQLite
//! `trawl.db` (its `auth_attempts.password_hash`), JSON lines (`events.jsonl`, the
//! `password_hash` field), CSV with a `password_hash` header column (`log_auth.csv`), or
//! else a plain list with one hash per line. Lines are bounded; an over-long or unreadable
//! line is counted and named, never fatal.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use crate::CrackError;
use crate::formats::MAX_HASH_LEN;

/// Longest line read from a hash source (a CSV row carries more than the hash).
const MAX_LINE: usize = 4 * MAX_HASH_LEN;
/// Longest word tried (hashcat's limit is 256).
pub const MAX_WORD: usize = 1024;
/// Problems named per source before only counting.
const MAX_NOTES: usize = 5;

/// The hash strings of one source and what was skipped.
#[derive(Debug, Default)]
pub struct Hashes {
    /// Non-empty `password_hash` values, in file order (duplicates kept).
    pub lines: Vec<String>,
    /// Lines that could not be read (too long, bad JSON, bad CSV).
    pub skipped: u64,
    /// The first few of those, as `path:line: reason`.
    pub notes: Vec<String>,
}

impl Hashes {
    fn skip(&mut self, path: &Path, line: u64, reason: &str) {
        self.skipped += 1;
        if self.notes.len() < MAX_NOTES {
            self.notes
                .push(format!("{}:{line}: {reason}", path.display()));
        }
    }
}

/// Reads the hash strings of one source file.
pub fn read_hashes(path: &Path) -> Result<Hashes, CrackError> {
    let io = |source| CrackError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut file = File::open(path).map_err(io)?;
    let mut magic = [0u8; 16];
    let got = file.read(&mut magic).map_err(io)?;
    if magic.get(..got) == Some(b"SQLite format 3\0".as_slice()) {
        return read_sqlite(path);
    }
    let file = File::open(path).map_err(io)?;
    read_text(path, BufReader::new(file))
}

fn read_sqlite(path: &Path) -> Result<Hashes, CrackError> {
    let sqlite = |source| CrackError::Sqlite {
        path: path.display().to_string(),
        source,
    };
    let db =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(sqlite)?;
    let mut statement = db
        .prepare(
            "SELECT password_hash FROM auth_attempts \
             WHERE password_hash IS NOT NULL AND password_hash != '' ORDER BY rowid",
        )
        .map_err(sqlite)?;
    let lines = statement
        .query_map([], |row| row.get::<_, String>(0))
        .map_err(sqlite)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sqlite)?;
    Ok(Hashes {
        lines,
        ..Hashes::default()
    })
}

/// How a text source holds its hashes.
enum TextKind {
    Jsonl,
    Csv { column: usize },
    Plain,
}

fn kind_of(first: &str) -> TextKind {
    if first.trim_start().starts_with('{') {
        return TextKind::Jsonl;
    }
    match csv_fields(first)
        .and_then(|fields| fields.iter().position(|field| field == "password_hash"))
    {
        Some(column) => TextKind::Csv { column },
        None => TextKind::Plain,
    }
}

fn csv_fields(line: &str) -> Option<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(line.as_bytes());
    let record = reader.records().next()?.ok()?;
    Some(record.iter().map(str::to_string).collect())
}

/// Reads hashes from JSON lines, a CSV with a `password_hash` column or a plain list.
pub fn read_text(path: &Path, mut reader: impl BufRead) -> Result<Hashes, CrackError> {
    let mut hashes = Hashes::default();
    let mut kind = None;
    let mut buffer = Vec::new();
    let mut number = 0u64;
    while let Some(complete) =
        next_line(&mut reader, &mut buffer, MAX_LINE).map_err(|source| CrackError::Io {
            path: path.display().to_string(),
            source,
        })?
    {
        number += 1;
        if !complete {
            hashes.skip(path, number, "line too long");
            continue;
        }
        let line = String::from_utf8_lossy(&buffer);
        let line = line.trim_end_matches(['\r', '\n']);
        if line.trim().is_empty() {
            continue;
        }
        let kind = kind.get_or_insert_with(|| kind_of(line));
        match kind {
            TextKind::Csv { .. } if number == 1 => {}
            TextKind::Csv { column } => match csv_fields(line) {
                Some(fields) => push_nonempty(&mut hashes, fields.get(*column).map(String::as_str)),
                None => hashes.skip(path, number, "not a CSV row"),
            },
            TextKind::Jsonl => match serde_json::from_str::<serde_json::Value>(line) {
                Ok(value) => push_nonempty(&mut hashes, value["password_hash"].as_str()),
                Err(err) => hashes.skip(path, number, &format!("not JSON: {err}")),
            },
            TextKind::Plain => push_nonempty(&mut hashes, Some(line.trim())),
        }
    }
    Ok(hashes)
}

fn push_nonempty(hashes: &mut Hashes, value: Option<&str>) {
    if let Some(value) = value.filter(|value| !value.is_empty()) {
        hashes.lines.push(value.to_string());
    }
}

/// Reads one line into `buffer` (without its newline). `Some(false)` when the line was
/// longer than `max` (the rest of it is consumed and dropped), `None` at the end.
pub fn next_line(
    reader: &mut impl BufRead,
    buffer: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Option<bool>> {
    buffer.clear();
    let mut complete = true;
    let mut any = false;
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            return Ok(any.then_some(complete));
        }
        any = true;
        let (chunk, newline) = match memchr(b'\n', available) {
            Some(at) => (&available[..at], true),
            None => (available, false),
        };
        if complete && buffer.len() + chunk.len() <= max {
            buffer.extend_from_slice(chunk);
        } else {
            complete = false;
            buffer.clear();
        }
        let used = chunk.len() + usize::from(newline);
        reader.consume(used);
        if newline {
            return Ok(Some(complete));
        }
    }
}

fn memchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&byte| byte == needle)
}

/// Words from a wordlist, `batch` at a time: one per line, LF or CRLF, empty lines and
/// lines over [`MAX_WORD`] bytes skipped. `skipped` counts the over-long ones.
pub struct WordBatches<R> {
    reader: R,
    batch: usize,
    buffer: Vec<u8>,
    /// Over-long lines dropped so far.
    pub skipped: u64,
    /// An I/O error that ended the list early.
    pub error: Option<std::io::Error>,
}

impl<R: BufRead> WordBatches<R> {
    /// Batches of `batch` words from `reader`.
    pub fn new(reader: R, batch: usize) -> Self {
        WordBatches {
            reader,
            batch: batch.max(1),
            buffer: Vec::new(),
            skipped: 0,
            error: None,
        }
    }
}

impl<R: BufRead> Iterator for WordBatches<R> {
    type Item = Vec<Vec<u8>>;

    fn next(&mut self) -> Option<Vec<Vec<u8>>> {
        let mut words = Vec::with_capacity(self.batch);
        while words.len() < self.batch {
            match next_line(&mut self.reader, &mut self.buffer, MAX_WORD) {
                Ok(Some(true)) => {
                    let word = self.buffer.strip_suffix(b"\r").unwrap_or(&self.buffer);
                    if !word.is_empty() {
                        words.push(word.to_vec());
                    }
                }
                Ok(Some(false)) => self.skipped += 1,
                Ok(None) => break,
                Err(err) => {
                    self.error = Some(err);
                    break;
                }
            }
        }
        (!words.is_empty()).then_some(words)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_csv_and_plain_sources() {
        let path = Path::new("x");
        let jsonl = "{\"type\":\"session\"}\n{\"password_hash\":\"$vnc$*AA*BB\"}\nnot json\n";
        let hashes = read_text(path, jsonl.as_bytes()).unwrap();
        assert_eq!(hashes.lines, ["$vnc$*AA*BB"]);
        assert_eq!(hashes.skipped, 1);
        assert!(hashes.notes[0].starts_with("x:3: not JSON"));
        let csv = "timestamp,password,password_hash\n1,,\"a,b\"\n2,x,\n3,,h\n";
        assert_eq!(read_text(path, csv.as_bytes()).unwrap().lines, ["a,b", "h"]);
        let plain = "\n h1 \r\nh2";
        assert_eq!(
            read_text(path, plain.as_bytes()).unwrap().lines,
            ["h1", "h2"]
        );
    }

    #[test]
    fn long_lines_are_skipped_and_reading_goes_on() {
        let text = format!("{}\nshort\n", "x".repeat(MAX_LINE + 10));
        let hashes = read_text(Path::new("x"), text.as_bytes()).unwrap();
        assert_eq!(
            (hashes.lines.as_slice(), hashes.skipped),
            (&["short".to_string()][..], 1)
        );
        let words = format!("a\r\n\n{}\nb", "w".repeat(MAX_WORD + 1));
        let mut batches = WordBatches::new(words.as_bytes(), 1);
        let all: Vec<Vec<Vec<u8>>> = batches.by_ref().collect();
        assert_eq!(all, vec![vec![b"a".to_vec()], vec![b"b".to_vec()]]);
        assert_eq!(batches.skipped, 1);
    }
}
