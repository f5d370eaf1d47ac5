//! Feed readers: plain domain lists, CertStream-style JSON lines, Zeek `dns.log` (TSV and JSON)
//! and a CSV column, from files (gzip detected by its magic bytes) or stdin.
//!
//! Each reader is an iterator of `Result<FeedItem, FeedError>`: one bad line is one error with
//! its line number, and reading goes on. Lines are bounded (`MAX_LINE`): a longer line is an
//! error and is skipped without being buffered whole.

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;
use serde_json::Value;

use crate::DomainError;

/// Longest accepted line in bytes (CertStream lines with many SANs stay well below this).
pub const MAX_LINE: usize = 1 << 20;

/// Feed layouts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedFormat {
    /// Sniff from the first non-empty line.
    Auto,
    /// One domain per line (first whitespace-separated field; `#` comments).
    List,
    /// CertStream JSON lines: `data.leaf_cert.all_domains` of `certificate_update` messages.
    Certstream,
    /// Zeek `dns.log` TSV (`#fields` header, `query` column).
    ZeekTsv,
    /// Zeek `dns.log` JSON lines (`query` field).
    ZeekJson,
    /// A CSV column: a header name, or a 1-based number for files without a header.
    Csv(String),
}

impl FeedFormat {
    /// Parses a `--feed-format` value (`csv:COLUMN` for CSV).
    pub fn parse(s: &str) -> Option<FeedFormat> {
        Some(match s {
            "auto" => FeedFormat::Auto,
            "list" => FeedFormat::List,
            "certstream" => FeedFormat::Certstream,
            "zeek" | "zeek-tsv" => FeedFormat::ZeekTsv,
            "zeek-json" => FeedFormat::ZeekJson,
            _ => FeedFormat::Csv(s.strip_prefix("csv:")?.to_string()),
        })
    }
}

/// One domain read from a feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedItem {
    /// 1-based line number.
    pub line: u64,
    /// The domain as written in the feed.
    pub domain: String,
}

/// A bad line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedError {
    /// 1-based line number (0: not tied to a line, e.g. an I/O error).
    pub line: u64,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for FeedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.message)
        } else {
            write!(f, "line {}: {}", self.line, self.message)
        }
    }
}

impl std::error::Error for FeedError {}

/// Opens a feed: `None` or `-` is stdin; gzip is detected by its magic bytes.
pub fn open_input(path: Option<&Path>) -> Result<Box<dyn BufRead + Send>, DomainError> {
    let (reader, name): (Box<dyn Read + Send>, String) = match path {
        None => (Box::new(io::stdin()), "stdin".into()),
        Some(p) if p.as_os_str() == "-" => (Box::new(io::stdin()), "stdin".into()),
        Some(p) => {
            let f = File::open(p).map_err(|source| DomainError::Io {
                path: p.display().to_string(),
                source,
            })?;
            (Box::new(f), p.display().to_string())
        }
    };
    let mut buffered = BufReader::with_capacity(1 << 20, reader);
    let head = buffered.fill_buf().map_err(|source| DomainError::Io {
        path: name.clone(),
        source,
    })?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(BufReader::with_capacity(
            1 << 20,
            MultiGzDecoder::new(buffered),
        )))
    } else {
        Ok(Box::new(buffered))
    }
}

enum Line {
    Eof,
    Ok,
    TooLong,
}

/// Reads one line into `buf` (without the newline), reading at most `max` bytes of it.
fn read_line_bounded<R: BufRead + ?Sized>(
    r: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<Line> {
    buf.clear();
    let mut too_long = false;
    let mut any = false;
    loop {
        let available = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            break;
        }
        any = true;
        let (chunk, found) = match memchr::memchr(b'\n', available) {
            Some(i) => (&available[..i], Some(i)),
            None => (available, None),
        };
        if !too_long {
            if buf.len() + chunk.len() > max {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        let used = found.map_or(available.len(), |i| i + 1);
        r.consume(used);
        if found.is_some() {
            break;
        }
    }
    if !any {
        return Ok(Line::Eof);
    }
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    Ok(if too_long { Line::TooLong } else { Line::Ok })
}

/// The first whitespace-separated field of a trimmed line, as `split_whitespace` gives it;
/// ASCII lines (nearly all) are scanned by byte instead of decoded by char.
fn first_field(t: &str) -> Option<&str> {
    if !t.is_ascii() {
        return t.split_whitespace().next();
    }
    // char::is_whitespace on ASCII: U+0009..=U+000D and the space.
    let end = t
        .bytes()
        .position(|b| matches!(b, b'\t'..=b'\r' | b' '))
        .unwrap_or(t.len());
    t.get(..end).filter(|field| !field.is_empty())
}

/// Iterator over the domains of a feed.
pub struct FeedReader<R> {
    reader: R,
    format: FeedFormat,
    line: u64,
    buf: Vec<u8>,
    pending: std::collections::VecDeque<FeedItem>,
    zeek_query_col: Option<usize>,
    zeek_separator: u8,
    csv_col: Option<usize>,
    done: bool,
}

impl<R: BufRead> FeedReader<R> {
    /// A reader of `format` over `reader`.
    pub fn new(reader: R, format: FeedFormat) -> Self {
        FeedReader {
            reader,
            format,
            line: 0,
            buf: Vec::with_capacity(256),
            pending: Default::default(),
            zeek_query_col: None,
            zeek_separator: b'\t',
            csv_col: None,
            done: false,
        }
    }

    /// The format in use (after sniffing, once the first line was read).
    pub fn format(&self) -> &FeedFormat {
        &self.format
    }

    fn err(&self, message: impl Into<String>) -> Option<Result<FeedItem, FeedError>> {
        Some(Err(FeedError {
            line: self.line,
            message: message.into(),
        }))
    }

    fn item(&self, domain: &str) -> Option<Result<FeedItem, FeedError>> {
        Some(Ok(FeedItem {
            line: self.line,
            domain: domain.to_string(),
        }))
    }

    fn sniff(&mut self, text: &str) {
        if self.format != FeedFormat::Auto {
            return;
        }
        self.format = if text.starts_with("#separator") || text.starts_with("#fields") {
            FeedFormat::ZeekTsv
        } else if text.starts_with('{') {
            if text.contains("\"leaf_cert\"") || text.contains("\"message_type\"") {
                FeedFormat::Certstream
            } else {
                FeedFormat::ZeekJson
            }
        } else {
            FeedFormat::List
        };
    }

    /// Handles one line; returns an item/error, or `None` to read on.
    fn handle(&mut self, text: &str) -> Option<Result<FeedItem, FeedError>> {
        if text.trim().is_empty() {
            return None;
        }
        self.sniff(text);
        if self.format == FeedFormat::List {
            let t = text.trim();
            if t.starts_with('#') {
                return None;
            }
            return self.item(first_field(t)?);
        }
        match self.format.clone() {
            FeedFormat::Auto | FeedFormat::List => {
                let t = text.trim();
                if t.starts_with('#') {
                    return None;
                }
                let field = first_field(t)?;
                self.item(field)
            }
            FeedFormat::Certstream => self.certstream(text),
            FeedFormat::ZeekTsv => self.zeek_tsv(text),
            FeedFormat::ZeekJson => match serde_json::from_str::<Value>(text) {
                Ok(v) => match v.get("query").and_then(Value::as_str) {
                    Some(q) if !q.is_empty() && q != "-" => self.item(q),
                    Some(_) => None,
                    None if v.is_object() => None,
                    None => self.err("not a JSON object"),
                },
                Err(e) => self.err(format!("invalid JSON: {e}")),
            },
            FeedFormat::Csv(col) => self.csv(text, &col),
        }
    }

    fn certstream(&mut self, text: &str) -> Option<Result<FeedItem, FeedError>> {
        let v: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => return self.err(format!("invalid JSON: {e}")),
        };
        match v.get("message_type").and_then(Value::as_str) {
            Some("certificate_update") | None => {}
            Some(_) => return None,
        }
        let Some(domains) = v
            .pointer("/data/leaf_cert/all_domains")
            .and_then(Value::as_array)
        else {
            return self.err("no data.leaf_cert.all_domains array");
        };
        for d in domains {
            match d.as_str() {
                Some(s) => self.pending.push_back(FeedItem {
                    line: self.line,
                    domain: s.to_string(),
                }),
                None => return self.err("all_domains holds a non-string"),
            }
        }
        self.pending.pop_front().map(Ok)
    }

    fn zeek_tsv(&mut self, text: &str) -> Option<Result<FeedItem, FeedError>> {
        if let Some(rest) = text.strip_prefix("#separator") {
            let sep = rest.trim();
            self.zeek_separator = match sep {
                "\\x09" | "" => b'\t',
                s if s.starts_with("\\x") => u8::from_str_radix(&s[2..], 16).unwrap_or(b'\t'),
                s => s.bytes().next().unwrap_or(b'\t'),
            };
            return None;
        }
        if text.starts_with("#fields") {
            let sep = char::from(self.zeek_separator);
            let col = text.split(sep).skip(1).position(|f| f == "query");
            if col.is_none() {
                return self.err("#fields has no query column");
            }
            self.zeek_query_col = col;
            return None;
        }
        if text.starts_with('#') {
            return None;
        }
        let Some(col) = self.zeek_query_col else {
            return self.err("data before the #fields header");
        };
        let sep = char::from(self.zeek_separator);
        match text.split(sep).nth(col) {
            Some("-") | Some("(empty)") | Some("") => None,
            Some(q) => self.item(q),
            None => self.err(format!("fewer than {} columns", col + 1)),
        }
    }

    fn csv(&mut self, text: &str, column: &str) -> Option<Result<FeedItem, FeedError>> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(text.as_bytes());
        let record = match reader.records().next() {
            Some(Ok(r)) => r,
            Some(Err(e)) => return self.err(format!("invalid CSV: {e}")),
            None => return None,
        };
        let col = match self.csv_col {
            Some(c) => c,
            None => {
                if let Some(c) = record.iter().position(|h| h.trim() == column) {
                    self.csv_col = Some(c);
                    return None;
                }
                match column.parse::<usize>() {
                    Ok(n) if n >= 1 => {
                        self.csv_col = Some(n - 1);
                        n - 1
                    }
                    _ => return self.err(format!("header has no column {column:?}")),
                }
            }
        };
        match record.get(col) {
            Some(v) if !v.trim().is_empty() => self.item(v.trim()),
            Some(_) => None,
            None => self.err(format!("fewer than {} columns", col + 1)),
        }
    }
}

impl<R: BufRead> FeedReader<R> {
    /// Like [`Iterator::next`], but appends the domain to `out` and returns its line number:
    /// plain lists are read without an allocation per line.
    pub fn next_into(&mut self, out: &mut String) -> Option<Result<u64, FeedError>> {
        if self.format != FeedFormat::List || !self.pending.is_empty() {
            return self.next().map(|r| {
                r.map(|item| {
                    out.push_str(&item.domain);
                    item.line
                })
            });
        }
        if !self.done
            && let Some(line) = self.plain_line_into(out)
        {
            return Some(Ok(line));
        }
        while !self.done {
            let mut buf = std::mem::take(&mut self.buf);
            let read = read_line_bounded(&mut self.reader, &mut buf, MAX_LINE);
            let result = match read {
                Ok(Line::Ok) => {
                    self.line += 1;
                    match std::str::from_utf8(&buf) {
                        Ok(text) => {
                            let t = text.trim();
                            match first_field(t) {
                                Some(domain) if !t.starts_with('#') => {
                                    out.push_str(domain);
                                    Some(Ok(self.line))
                                }
                                _ => None,
                            }
                        }
                        Err(_) => Some(Err(self.error("not UTF-8"))),
                    }
                }
                Ok(Line::Eof) => {
                    self.done = true;
                    None
                }
                Err(e) => {
                    self.done = true;
                    Some(Err(FeedError {
                        line: self.line + 1,
                        message: format!("read error: {e}"),
                    }))
                }
                Ok(Line::TooLong) => {
                    self.line += 1;
                    Some(Err(self.error(format!(
                        "line longer than {MAX_LINE} bytes, skipped"
                    ))))
                }
            };
            self.buf = buf;
            if result.is_some() {
                return result;
            }
        }
        None
    }

    /// The common case of a list: the next line is whole in the reader's buffer and is one
    /// printable-ASCII field (no space, no `#`). It is appended straight from that buffer (one
    /// pass to check it, no copy into the line buffer, no trimming or splitting) and its line
    /// number returned; anything else (`None`) is left to the general path, which reads the
    /// same bytes again (and reports a read error, if that is why).
    fn plain_line_into(&mut self, out: &mut String) -> Option<u64> {
        let available = self.reader.fill_buf().ok()?;
        let end = memchr::memchr(b'\n', available)?;
        let line = available.get(..end)?;
        let plain = line.len() <= MAX_LINE
            && line.first().is_some_and(|&b| b != b'#')
            && line.iter().all(|&b| b > b' ' && b < 0x7f);
        if !plain {
            return None;
        }
        out.push_str(std::str::from_utf8(line).ok()?);
        self.reader.consume(end + 1);
        self.line += 1;
        Some(self.line)
    }

    fn error(&self, message: impl Into<String>) -> FeedError {
        FeedError {
            line: self.line,
            message: message.into(),
        }
    }
}

impl<R: BufRead> Iterator for FeedReader<R> {
    type Item = Result<FeedItem, FeedError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(item) = self.pending.pop_front() {
            return Some(Ok(item));
        }
        while !self.done {
            let mut buf = std::mem::take(&mut self.buf);
            let read = read_line_bounded(&mut self.reader, &mut buf, MAX_LINE);
            let result = match read {
                Ok(Line::Eof) => {
                    self.done = true;
                    None
                }
                Err(e) => {
                    self.done = true;
                    Some(Err(FeedError {
                        line: self.line + 1,
                        message: format!("read error: {e}"),
                    }))
                }
                Ok(Line::TooLong) => {
                    self.line += 1;
                    self.err(format!("line longer than {MAX_LINE} bytes, skipped"))
                }
                Ok(Line::Ok) => {
                    self.line += 1;
                    match std::str::from_utf8(&buf) {
                        Ok(text) => self.handle(text),
                        Err(_) => self.err("not UTF-8"),
                    }
                }
            };
            self.buf = buf;
            if result.is_some() {
                return result;
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, format: FeedFormat) -> Vec<Result<FeedItem, FeedError>> {
        FeedReader::new(text.as_bytes(), format).collect()
    }

    fn domains(text: &str, format: FeedFormat) -> Vec<(u64, String)> {
        read(text, format)
            .into_iter()
            .filter_map(Result::ok)
            .map(|i| (i.line, i.domain))
            .collect()
    }

    #[test]
    fn plain_list_skips_comments_and_blank_lines() {
        let got = domains(
            "# feed\nexample.com\n\n  paypa1.com  extra\r\n",
            FeedFormat::List,
        );
        assert_eq!(
            got,
            vec![(2, "example.com".into()), (4, "paypa1.com".into())]
        );
    }

    #[test]
    fn certstream_lines_yield_every_name() {
        let text = concat!(
            r#"{"message_type":"heartbeat"}"#,
            "\n",
            r#"{"message_type":"certificate_update","data":{"leaf_cert":{"all_domains":["paypa1.com","*.paypa1.com"]}}}"#,
            "\n",
            "{not json\n",
        );
        let got = read(text, FeedFormat::Auto);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].as_ref().unwrap().domain, "paypa1.com");
        assert_eq!(got[1].as_ref().unwrap().line, 2);
        let err = got[2].as_ref().unwrap_err();
        assert_eq!(err.line, 3);
        assert!(err.to_string().starts_with("line 3: invalid JSON"), "{err}");
    }

    #[test]
    fn zeek_tsv_finds_the_query_column() {
        let text = "#separator \\x09\n#fields\tts\tuid\tid.orig_h\tquery\tqtype\n#types\ttime\tstring\taddr\tstring\tcount\n1.0\tC1\t10.0.0.1\tpaypa1.com\t1\n2.0\tC2\t10.0.0.1\t-\t1\n3.0\tC3\n";
        let got = read(text, FeedFormat::Auto);
        assert_eq!(got[0].as_ref().unwrap().domain, "paypa1.com");
        assert_eq!(got[0].as_ref().unwrap().line, 4);
        assert_eq!(got[1].as_ref().unwrap_err().line, 6);
    }

    #[test]
    fn zeek_json_and_csv_columns() {
        let got = domains(
            "{\"ts\":1,\"query\":\"paypa1.com\"}\n{\"ts\":2}\n",
            FeedFormat::Auto,
        );
        assert_eq!(got, vec![(1, "paypa1.com".into())]);
        let got = domains(
            "rank,domain\n1,google.com\n2,\"paypa1.com\"\n",
            FeedFormat::Csv("domain".into()),
        );
        assert_eq!(
            got,
            vec![(2, "google.com".into()), (3, "paypa1.com".into())]
        );
        let got = domains("1,google.com\n", FeedFormat::Csv("2".into()));
        assert_eq!(got, vec![(1, "google.com".into())]);
        let bad = read("a,b\n", FeedFormat::Csv("domain".into()));
        assert!(bad[0].as_ref().unwrap_err().message.contains("no column"));
    }

    #[test]
    fn first_field_is_split_whitespace_on_any_text() {
        for line in [
            "a.com",
            "a.com b",
            "a.com\tb",
            "a.com\x0bb",
            "x\u{a0}y z",
            "é.fr\u{2003}b",
            "",
            "a\x1cb c",
        ] {
            let t = line.trim();
            assert_eq!(first_field(t), t.split_whitespace().next(), "{line:?}");
        }
    }

    #[test]
    fn next_into_agrees_with_the_iterator() {
        let text = "# comment\n\n  Example.COM  extra\r\nother.net\n";
        let mut bytes = text.as_bytes().to_vec();
        bytes.extend_from_slice(&[b'x', 0xff, b'\n']);
        bytes.extend_from_slice("a".repeat(MAX_LINE + 5).as_bytes());
        bytes.extend_from_slice(b"\nlast.org");
        let cert = br#"{"message_type":"certificate_update","data":{"leaf_cert":{"all_domains":["a.com","*.b.net"]}}}"#;
        for (input, format) in [
            (bytes.as_slice(), FeedFormat::List),
            (bytes.as_slice(), FeedFormat::Auto),
            (&cert[..], FeedFormat::Auto),
        ] {
            let expected: Vec<Result<(u64, String), FeedError>> =
                FeedReader::new(input, format.clone())
                    .map(|r| r.map(|i| (i.line, i.domain)))
                    .collect();
            let mut reader = FeedReader::new(input, format);
            let mut got = Vec::new();
            let mut out = String::new();
            while let Some(r) = reader.next_into(&mut out) {
                got.push(r.map(|line| (line, std::mem::take(&mut out))));
            }
            assert_eq!(got, expected);
            assert!(got.iter().any(Result::is_ok));
        }
    }

    #[test]
    fn plain_lines_read_like_any_other() {
        let text = "a.com\nb.net\n#c.org\n\nd.org\r\nUP.com\n e.com\nf.com g\nx\x7f.com\nh\u{e9}.fr\nlast.io";
        // Small buffers put line ends at every offset of the buffer.
        for capacity in [1, 2, 3, 5, 8, 64] {
            let expected: Vec<Result<(u64, String), FeedError>> =
                FeedReader::new(text.as_bytes(), FeedFormat::List)
                    .map(|r| r.map(|i| (i.line, i.domain)))
                    .collect();
            let buffered = std::io::BufReader::with_capacity(capacity, text.as_bytes());
            let mut reader = FeedReader::new(buffered, FeedFormat::List);
            let mut got = Vec::new();
            let mut out = String::new();
            while let Some(r) = reader.next_into(&mut out) {
                got.push(r.map(|line| (line, std::mem::take(&mut out))));
            }
            assert_eq!(got, expected, "capacity {capacity}");
            assert_eq!(got.len(), 9, "{got:?}");
        }
    }

    #[test]
    fn overlong_lines_are_errors_not_allocations() {
        let mut text = "a".repeat(MAX_LINE + 10);
        text.push_str("\nok.com\n");
        let got = read(&text, FeedFormat::List);
        assert!(got[0].as_ref().unwrap_err().message.contains("longer than"));
        assert_eq!(got[1].as_ref().unwrap().domain, "ok.com");
        assert_eq!(got[1].as_ref().unwrap().line, 2);
    }

    #[test]
    fn gzip_is_detected() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("feed.gz");
        let mut enc = flate2::write::GzEncoder::new(
            File::create(&path).unwrap(),
            flate2::Compression::fast(),
        );
        enc.write_all(b"paypa1.com\n").unwrap();
        enc.finish().unwrap();
        let reader = open_input(Some(&path)).unwrap();
        let got: Vec<_> = FeedReader::new(reader, FeedFormat::Auto).collect();
        assert_eq!(got[0].as_ref().unwrap().domain, "paypa1.com");
    }
}
