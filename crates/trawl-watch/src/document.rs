//! Pretty-printed JSON documents: a Censys CLI export (`censys search … -o hosts.json`
//! writes one indented array), `jq .` output, a single indented object. Line by line they
//! are fragments, so a source whose first line is a lone `[` or `{` and whose next line is
//! not a JSON record by itself is read whole (at most [`MAX_DOCUMENT`] bytes) and each
//! element of the top-level array, or the one object, is scanned as one record, with the
//! line it starts on as evidence. masscan's `-oJ` output also starts with `[` but has one
//! record a line; it stays on the line path.

use std::io::{BufRead, Read};

use serde_json::value::RawValue;

use crate::{Run, SourceScan, Watcher};

/// Largest JSON document read whole.
pub const MAX_DOCUMENT: u64 = 256 << 20;

/// A first line that opens a JSON document: `[` or `{` alone.
pub fn is_opening(line: &[u8]) -> bool {
    matches!(line.trim_ascii(), b"[" | b"{")
}

/// Whether `line` (the first non-empty line after an opening one) is a whole JSON record by
/// itself, masscan style (`{…},`): if not, the source is one indented document.
pub fn is_record_line(line: &[u8]) -> bool {
    let text = line.trim_ascii();
    let text = text.strip_prefix(b",").unwrap_or(text);
    let text = text.strip_suffix(b",").unwrap_or(text);
    serde_json::from_slice::<serde::de::IgnoredAny>(text).is_ok()
}

impl Watcher {
    /// Scans a JSON document whose first lines (`head`, newlines included) were already
    /// read; the rest comes from `reader`.
    pub(crate) fn scan_json_document(
        &self,
        scan: &mut SourceScan,
        head: Vec<u8>,
        reader: &mut dyn BufRead,
        run: &mut Run,
        progress: &dyn Fn(u64),
    ) {
        let first_line = scan.line_no + 1;
        let lines_before = run.lines;
        let mut doc = head;
        let room = MAX_DOCUMENT.saturating_sub(doc.len() as u64);
        let read = reader.take(room + 1).read_to_end(&mut doc);
        if let Ok(n) = read {
            run.bytes += n as u64;
            progress(n as u64);
        }
        let lines = memchr::memchr_iter(b'\n', &doc).count() as u64
            + u64::from(!doc.is_empty() && !doc.ends_with(b"\n"));
        // The document's lines count as read lines, whatever happens to them below.
        run.lines = lines_before + lines;
        if let Err(e) = read {
            run.skipped += 1;
            run.warn(
                &scan.name,
                first_line,
                format!("read error, JSON document skipped: {e}"),
            );
            return;
        }
        if doc.len() as u64 > MAX_DOCUMENT {
            run.skipped += 1;
            run.warn(
                &scan.name,
                first_line,
                format!("JSON document larger than {MAX_DOCUMENT} bytes; rest of source skipped"),
            );
            return;
        }
        let records = match document_records(&doc) {
            Ok(records) => records,
            Err(e) => {
                run.skipped += 1;
                let line = first_line + (e.line() as u64).saturating_sub(1);
                run.warn(&scan.name, line, format!("JSON document: {e}; skipped"));
                scan.line_no = first_line - 1 + lines;
                return;
            }
        };
        for record in records {
            let offset = (record.get().as_ptr() as usize).saturating_sub(doc.as_ptr() as usize);
            let before = doc.get(..offset).unwrap_or_default();
            scan.line_no = first_line - 1 + memchr::memchr_iter(b'\n', before).count() as u64;
            self.scan_line(scan, &one_line(record.get()), run);
        }
        scan.line_no = first_line - 1 + lines;
        run.lines = lines_before + lines;
    }
}

/// A record on one line: JSON strings hold no raw line breaks, so every line break (with
/// the indentation after it) is layout and becomes one space.
fn one_line(record: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(record.len());
    let mut after_break = false;
    for b in record.bytes() {
        match b {
            b'\n' | b'\r' => after_break = true,
            b' ' | b'\t' if after_break => {}
            _ => {
                if after_break {
                    out.push(b' ');
                    after_break = false;
                }
                out.push(b);
            }
        }
    }
    out
}

/// The elements of a top-level array, or the one top-level value.
fn document_records(doc: &[u8]) -> Result<Vec<&RawValue>, serde_json::Error> {
    if doc.trim_ascii_start().starts_with(b"[") {
        serde_json::from_slice::<Vec<&RawValue>>(doc)
    } else {
        serde_json::from_slice::<&RawValue>(doc).map(|value| vec![value])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openings_and_record_lines() {
        assert!(is_opening(b"[") && is_opening(b"  {\r") && !is_opening(b"[{}]"));
        assert!(is_record_line(br#"{"ip":"192.0.2.1","ports":[]},"#));
        assert!(is_record_line(br#",{"ip":"192.0.2.1"}"#));
        assert!(!is_record_line(br#"    "ip": "192.0.2.1","#));
        assert!(!is_record_line(b"    {"));
    }

    #[test]
    fn records_are_put_on_one_line() {
        let record = "{\n    \"ip\": \"192.0.2.1\",\r\n    \"note\": \"a  b\"\n}";
        assert_eq!(
            one_line(record),
            b"{ \"ip\": \"192.0.2.1\", \"note\": \"a  b\" }".to_vec()
        );
    }

    #[test]
    fn records_keep_their_place_in_the_document() {
        let doc = b"[\n  {\n    \"a\": 1\n  },\n  {\"b\": 2}\n]\n";
        let records = document_records(doc).expect("an array");
        assert_eq!(records.len(), 2);
        assert!(records[0].get().starts_with('{') && records[1].get() == "{\"b\": 2}");
        let single = document_records(b"{\n \"x\": [1,\n 2]\n}").expect("an object");
        assert_eq!(single.len(), 1);
        assert!(document_records(b"[\n {\"a\": 1},\n").is_err());
    }
}
