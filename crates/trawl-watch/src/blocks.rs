//! The fast path for the two bulk formats, credential dumps and plain IP lists: the rest of the
//! source is read in 4 MiB blocks of whole lines instead of line by line.
//!
//! * Dumps: the block is searched at once ([`crate::creds::CredScanner::candidate_lines`]);
//!   only lines holding a pattern are cut out and parsed, the others are merely counted
//!   (`memchr`'s vectorised newline count).
//! * IP lists: a line that is a canonical dotted quad is parsed without allocating and looked
//!   up in the `u32` view of the range index; only hits (and every other line) take the
//!   general per-line path.
//!
//! Output is identical to the per-line path: a block with a NUL byte or a possibly over-long
//! line is handed to that path line by line, a line that is a candidate goes through exactly
//! the same [`Watcher::scan_line`], and line numbers, counts and warnings are the same.

use std::io::{self, BufRead};

use crate::format::Format;
use crate::input::MAX_LINE;
use crate::ipindex::parse_v4_exact;
use crate::{Run, SourceScan, Watcher};

/// Bytes read at a time (more than [`MAX_LINE`], so a full block without a newline is an
/// over-long line).
const BLOCK: usize = 4 << 20;

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn newlines(data: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', data).count() as u64
}

/// True when a line of `region` may be longer than [`MAX_LINE`]: such a line would fill a
/// whole aligned half-`MAX_LINE` window without a newline.
fn may_hold_long_line(region: &[u8]) -> bool {
    region
        .chunks(MAX_LINE / 2)
        .any(|window| memchr::memchr(b'\n', window).is_none())
}

impl Watcher {
    /// Scans the rest of a dump or IP list in blocks (see the module doc).
    pub(crate) fn scan_blocks(
        &self,
        scan: &mut SourceScan,
        reader: &mut dyn BufRead,
        run: &mut Run,
        progress: &dyn Fn(u64),
    ) {
        let mut buf = vec![0u8; BLOCK];
        let mut scratch = Vec::new();
        let (mut filled, mut dropping) = (0usize, None::<usize>);
        loop {
            let n = match reader.read(buf.get_mut(filled..).unwrap_or_default()) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    run.skipped += 1;
                    run.warn(
                        &scan.name,
                        scan.line_no + 1,
                        format!("read error, rest of source skipped: {e}"),
                    );
                    return;
                }
            };
            run.bytes += n as u64;
            progress(n as u64);
            let end = filled + n;
            let data = buf.get(..end).unwrap_or_default();
            let mut start = 0;
            if let Some(len) = dropping {
                match memchr::memchr(b'\n', data) {
                    Some(i) => {
                        self.skip_long_line(scan, len + i, run);
                        dropping = None;
                        start = i + 1;
                    }
                    None => {
                        dropping = Some(len + end);
                        filled = 0;
                        continue;
                    }
                }
            }
            let rest = data.get(start..).unwrap_or_default();
            let keep_from = match memchr::memrchr(b'\n', rest) {
                Some(last) => {
                    let region = rest.get(..=last).unwrap_or_default();
                    self.scan_region(scan, region, &mut scratch, run);
                    start + last + 1
                }
                None => start,
            };
            buf.copy_within(keep_from..end, 0);
            filled = end - keep_from;
            if filled == buf.len() {
                dropping = Some(filled);
                filled = 0;
            }
        }
        if let Some(len) = dropping {
            self.skip_long_line(scan, len + filled, run);
        } else if filled > MAX_LINE {
            self.skip_long_line(scan, filled, run);
        } else if filled > 0 {
            let last = buf.get(..filled).unwrap_or_default();
            self.scan_line(scan, strip_cr(last), run);
        }
    }

    /// Scans whole lines (`region` ends with `\n`).
    fn scan_region(
        &self,
        scan: &mut SourceScan,
        region: &[u8],
        scratch: &mut Vec<u8>,
        run: &mut Run,
    ) {
        if memchr::memchr(0, region).is_some() || may_hold_long_line(region) {
            self.scan_region_by_line(scan, region, run);
            return;
        }
        match scan.format {
            Some(Format::Dump) => self.scan_dump_region(scan, region, scratch, run),
            Some(Format::IpList) => self.scan_ip_region(scan, region, run),
            _ => self.scan_region_by_line(scan, region, run),
        }
    }

    fn scan_region_by_line(&self, scan: &mut SourceScan, region: &[u8], run: &mut Run) {
        let body = region.strip_suffix(b"\n").unwrap_or(region);
        for line in body.split(|b| *b == b'\n') {
            if line.len() > MAX_LINE {
                self.skip_long_line(scan, line.len(), run);
            } else {
                self.scan_line(scan, strip_cr(line), run);
            }
        }
    }

    /// Only the lines holding a pattern are parsed; the others are counted.
    fn scan_dump_region(
        &self,
        scan: &mut SourceScan,
        region: &[u8],
        scratch: &mut Vec<u8>,
        run: &mut Run,
    ) {
        let Some(creds) = &self.creds else {
            let lines = newlines(region);
            scan.line_no += lines;
            run.lines += lines;
            return;
        };
        let mut counted = 0usize;
        creds.candidate_lines(region, scratch, |start, end| {
            let before = newlines(region.get(counted..start).unwrap_or_default());
            scan.line_no += before;
            run.lines += before;
            let line = region.get(start..end).unwrap_or_default();
            self.scan_line(scan, strip_cr(line), run);
            counted = (end + 1).min(region.len());
        });
        let after = newlines(region.get(counted..).unwrap_or_default());
        scan.line_no += after;
        run.lines += after;
    }

    /// Canonical IPv4 lines outside every range are only counted; the rest take the full path.
    fn scan_ip_region(&self, scan: &mut SourceScan, region: &[u8], run: &mut Run) {
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', region) {
            let line = strip_cr(region.get(start..end).unwrap_or_default());
            start = end + 1;
            match parse_v4_exact(line) {
                Some(ip) if !self.ranges.touches_v4(ip) => {
                    scan.line_no += 1;
                    run.lines += 1;
                }
                _ => self.scan_line(scan, line, run),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Settings;
    use crate::inventory::Inventory;

    fn watcher() -> Watcher {
        let inv = Inventory::parse(
            "[[entity]]\nname = \"Acme\"\nemail_domains = [\"acme.com\"]\nip_ranges = [\"192.0.2.0/24\"]\n",
        )
        .unwrap();
        Watcher::new(inv, Settings::default()).unwrap()
    }

    /// Scans `data` with the block path and with the line-by-line path; both must agree.
    fn both(data: &[u8]) -> (Vec<String>, Vec<String>) {
        let w = watcher();
        let summary = |mut run: Run, scan: &SourceScan| {
            let mut out = vec![format!(
                "lines={} skipped={} last={}",
                run.lines,
                run.skipped,
                scan.line_no()
            )];
            out.extend(run.warnings.iter().map(ToString::to_string));
            out.extend(
                run.take_fresh()
                    .iter()
                    .map(|a| format!("{} {} line {}", a.subject, a.detail, a.evidence.line)),
            );
            out
        };
        let mut run = Run::default();
        let mut scan = SourceScan::new("t");
        let mut reader = std::io::BufReader::new(data);
        let mut line = Vec::new();
        // Sniff the format from the first line, as scan_reader does, then go block-wise.
        crate::input::read_line_bounded(&mut reader, &mut line, MAX_LINE).unwrap();
        w.scan_line(&mut scan, &line, &mut run);
        w.scan_blocks(&mut scan, &mut reader, &mut run, &|_| {});
        let fast = summary(run, &scan);
        let mut run = Run::default();
        let mut scan = SourceScan::new("t");
        let mut reader = std::io::BufReader::new(data);
        loop {
            match crate::input::read_line_bounded(&mut reader, &mut line, MAX_LINE).unwrap() {
                (crate::input::Line::Eof, _) => break,
                (crate::input::Line::TooLong(n), _) => w.skip_long_line(&mut scan, n, &mut run),
                (crate::input::Line::Ok, _) => w.scan_line(&mut scan, &line, &mut run),
            }
        }
        (fast, summary(run, &scan))
    }

    #[test]
    fn dump_blocks_agree_with_lines() {
        let mut data = Vec::new();
        for i in 0..300_000 {
            data.extend_from_slice(
                match i % 50_000 {
                    7 => format!("a{i}@ACME.com:pw{i}\r\n"),
                    9 => format!("b{i}@acme.com.evil.net:pw\n"),
                    _ => format!("filler{i}@example.org:pw{i}\n"),
                }
                .as_bytes(),
            );
        }
        let (fast, slow) = both(&data);
        assert_eq!(fast, slow);
        assert_eq!(fast.len(), 1 + 6);
        data.extend_from_slice(b"nul\0@acme.com:x\n");
        data.extend(std::iter::repeat_n(b'y', 5 << 20));
        data.extend_from_slice(b"\nend@acme.com:last");
        let (fast, slow) = both(&data);
        assert_eq!(fast, slow);
        assert!(fast.iter().any(|l| l.contains("binary data")), "{fast:?}");
        assert!(fast.iter().any(|l| l.contains("5242880 bytes")), "{fast:?}");
        assert!(
            fast.iter().any(|l| l.starts_with("end@acme.com")),
            "{fast:?}"
        );
    }

    #[test]
    fn ip_blocks_agree_with_lines() {
        let mut data = Vec::new();
        for i in 0..200_000u32 {
            let ip = std::net::Ipv4Addr::from(i.wrapping_mul(2_654_435_761));
            data.extend_from_slice(format!("{ip}\n").as_bytes());
            if i % 40_000 == 3 {
                data.extend_from_slice(format!("192.0.2.{}\n", i % 256).as_bytes());
                data.extend_from_slice(b"192.0.2.0/25 ; SBL1\n010.1.1.1\nnot an ip\n");
            }
        }
        let (fast, slow) = both(&data);
        assert_eq!(fast, slow);
        assert!(
            fast.iter().any(|l| l.starts_with("192.0.2.0/25")),
            "{fast:?}"
        );
    }
}
