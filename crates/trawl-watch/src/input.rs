//! Sources: files, directories (walked), globs and `-` (stdin), gzip detected by its magic
//! bytes, read as bounded lines so a hostile file cannot make memory grow.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

use crate::WatchError;

/// Longest line kept (longer ones are skipped with a warning, never buffered whole).
pub const MAX_LINE: usize = 1 << 20;

/// Expands the given sources into files (`-` stays `-`), in a stable order.
pub fn expand_sources(sources: &[String]) -> Result<Vec<PathBuf>, WatchError> {
    let mut out = Vec::new();
    for s in sources {
        let p = Path::new(s);
        if s == "-" || p.is_file() {
            out.push(p.to_path_buf());
        } else if p.is_dir() {
            walk_dir(p, &mut out)?;
        } else if s.contains(['*', '?', '[']) {
            let paths = glob::glob(s).map_err(|e| WatchError::Source {
                path: s.clone(),
                reason: e.to_string(),
            })?;
            let mut found: Vec<PathBuf> = paths.filter_map(Result::ok).collect();
            found.sort();
            for f in found {
                if f.is_dir() {
                    walk_dir(&f, &mut out)?;
                } else {
                    out.push(f);
                }
            }
        } else {
            return Err(WatchError::Source {
                path: s.clone(),
                reason: "no such file, directory or glob match".into(),
            });
        }
    }
    Ok(out)
}

fn walk_dir(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), WatchError> {
    let io_err = |source| WatchError::Io {
        path: dir.display().to_string(),
        source,
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io_err)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for e in entries {
        if e.is_dir() {
            walk_dir(&e, out)?;
        } else if e.is_file() {
            out.push(e);
        }
    }
    Ok(())
}

/// Opens a source; gzip (by magic bytes) is decompressed transparently.
pub fn open(path: &Path) -> Result<Box<dyn BufRead + Send>, WatchError> {
    let io_err = |source| WatchError::Io {
        path: path.display().to_string(),
        source,
    };
    let raw: Box<dyn Read + Send> = if path.as_os_str() == "-" {
        Box::new(io::stdin())
    } else {
        Box::new(File::open(path).map_err(io_err)?)
    };
    let mut buffered = BufReader::with_capacity(1 << 18, raw);
    let head = buffered.fill_buf().map_err(io_err)?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(BufReader::with_capacity(
            1 << 18,
            MultiGzDecoder::new(buffered),
        )))
    } else {
        Ok(Box::new(buffered))
    }
}

/// One read step.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// End of input.
    Eof,
    /// A line is in the buffer (without `\n` / `\r\n`).
    Ok,
    /// The line was longer than the bound; it was consumed and dropped.
    TooLong(usize),
}

/// Reads one line into `buf`, keeping at most `max` bytes; returns how many bytes it consumed.
pub fn read_line_bounded<R: BufRead + ?Sized>(
    r: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<(Line, usize)> {
    buf.clear();
    let (mut total, mut any) = (0usize, false);
    loop {
        let available = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            let state = if !any {
                Line::Eof
            } else if total > max {
                Line::TooLong(total)
            } else {
                Line::Ok
            };
            return Ok((state, total));
        }
        any = true;
        let (chunk, done) = match memchr::memchr(b'\n', available) {
            Some(i) => (&available[..i], Some(i + 1)),
            None => (available, None),
        };
        if total + chunk.len() <= max {
            buf.extend_from_slice(chunk);
        }
        total += chunk.len();
        let used = done.unwrap_or(chunk.len());
        r.consume(used);
        if done.is_some() {
            if total > max {
                buf.clear();
                return Ok((Line::TooLong(total), total + 1));
            }
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
            return Ok((Line::Ok, total + 1));
        }
    }
}

/// A piece cut by [`LineAssembler`].
#[derive(Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    /// A whole line (without `\n` / `\r\n`).
    Line(&'a [u8]),
    /// A line longer than the bound, dropped; its length.
    TooLong(usize),
}

/// Cuts bytes that arrive in pieces (a file being appended to) into bounded lines. A partial
/// line is kept until its newline arrives, but never more than `max` bytes of it: past that
/// only its length is counted and it comes out as [`Piece::TooLong`].
#[derive(Debug)]
pub struct LineAssembler {
    partial: Vec<u8>,
    len: usize,
    max: usize,
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

impl LineAssembler {
    /// An empty assembler keeping lines of at most `max` bytes.
    pub fn new(max: usize) -> LineAssembler {
        LineAssembler {
            partial: Vec::new(),
            len: 0,
            max,
        }
    }

    /// Bytes of the partial line waiting for its newline.
    pub fn pending(&self) -> usize {
        self.len
    }

    /// Feeds bytes; every line they complete goes to `emit`.
    pub fn push(&mut self, mut data: &[u8], emit: &mut dyn FnMut(Piece<'_>)) {
        while let Some(i) = memchr::memchr(b'\n', data) {
            let (head, rest) = data.split_at(i);
            self.len += head.len();
            if self.len > self.max {
                emit(Piece::TooLong(self.len));
            } else if self.partial.is_empty() {
                emit(Piece::Line(strip_cr(head)));
            } else {
                self.partial.extend_from_slice(head);
                emit(Piece::Line(strip_cr(&self.partial)));
            }
            self.partial.clear();
            self.len = 0;
            data = rest.get(1..).unwrap_or_default();
        }
        self.len += data.len();
        if self.len <= self.max {
            self.partial.extend_from_slice(data);
        } else {
            self.partial = Vec::new();
        }
    }

    /// The input ended for good: a partial line left over is a line too.
    pub fn finish(&mut self, emit: &mut dyn FnMut(Piece<'_>)) {
        if self.len > self.max {
            emit(Piece::TooLong(self.len));
        } else if self.len > 0 {
            emit(Piece::Line(strip_cr(&self.partial)));
        }
        self.partial.clear();
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assemble(pieces: &[&[u8]], max: usize) -> Vec<String> {
        let mut asm = LineAssembler::new(max);
        let mut out = Vec::new();
        let mut emit = |p: Piece<'_>| {
            out.push(match p {
                Piece::Line(l) => String::from_utf8_lossy(l).into_owned(),
                Piece::TooLong(n) => format!("<{n}>"),
            })
        };
        for p in pieces {
            asm.push(p, &mut emit);
        }
        asm.finish(&mut emit);
        out
    }

    #[test]
    fn partial_lines_wait_for_their_newline_and_stay_bounded() {
        assert_eq!(
            assemble(&[b"ab", b"c\r\nde", b"f\n", b"\ng"], 10),
            ["abc", "def", "", "g"]
        );
        assert_eq!(
            assemble(&[b"0123456", b"789abc", b"def\nok\n"], 10),
            ["<16>", "ok"]
        );
        assert_eq!(assemble(&[b"0123456789abc"], 10), ["<13>"]);
        let mut asm = LineAssembler::new(10);
        asm.push(&[b'x'; 1000], &mut |_| {});
        assert_eq!(asm.pending(), 1000);
        assert!(asm.partial.capacity() <= 16, "dropped bytes are not kept");
    }

    #[test]
    fn long_lines_are_dropped_and_reading_goes_on() {
        let mut data = b"short\r\n".to_vec();
        data.extend(std::iter::repeat_n(b'x', 100));
        data.extend_from_slice(b"\nlast");
        let mut r = BufReader::with_capacity(16, &data[..]);
        let mut buf = Vec::new();
        assert_eq!(read_line_bounded(&mut r, &mut buf, 50).unwrap().0, Line::Ok);
        assert_eq!(buf, b"short");
        assert_eq!(
            read_line_bounded(&mut r, &mut buf, 50).unwrap().0,
            Line::TooLong(100)
        );
        assert_eq!(read_line_bounded(&mut r, &mut buf, 50).unwrap().0, Line::Ok);
        assert_eq!(buf, b"last");
        assert_eq!(
            read_line_bounded(&mut r, &mut buf, 50).unwrap().0,
            Line::Eof
        );
    }
}
