//! Inputs that can be read only once: standard input (`-`) and paths that are no
//! regular file (a named pipe, `/dev/stdin`, a shell's `<(zcat log.gz)`), so that
//! `zcat old/*.gz | trawl report -` and `ssh sensor cat log_auth.csv | trawl report -`
//! work as the pipelines they replace do.
//!
//! A stream is opened once, when its format is detected: the bytes read to detect it
//! (gzip's magic, the first non-empty line) are kept and read again in front of the
//! rest, and the reader waits in the [`InputFile`](super::InputFile) until the report
//! takes it, once. gzip is decoded inside the stream's reader, so the report reads it
//! as plain text from a single reader (the path gzip files take too). A trawl.db
//! (SQLite) needs random access and cannot come through a pipe. Standard input
//! redirected from a file (`trawl report - < trawl.db`) is no stream: the file is
//! read by its path ([`stdin_file`]).

use std::fmt;
use std::fs::File;
use std::io::{Cursor, IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::ReportError;

/// The argument that names standard input.
pub const STDIN: &str = "-";

/// Bytes read at most to find a stream's first non-empty line (as for files).
const MAX_HEAD: usize = 1 << 20;

/// A stream's reader, waiting to be taken once.
pub struct Stream {
    reader: Mutex<Option<Box<dyn Read + Send>>>,
}

impl fmt::Debug for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Stream")
    }
}

impl Stream {
    /// The reader (the detected head first); `None` once taken.
    pub fn take(&self) -> Option<Box<dyn Read + Send>> {
        self.reader.lock().ok()?.take()
    }
}

/// Whether `path` is read as a stream: `-`, or something that exists and is
/// neither a regular file nor a directory.
pub fn is_stream(path: &Path) -> bool {
    path.as_os_str() == STDIN || std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

/// Standard input's file, when standard input is a regular file read from its start
/// (`trawl report - < trawl.db`): it is then read by its path like any named file
/// (in parallel blocks, and a trawl.db too, which a pipe cannot carry). `None` for a
/// pipe or a terminal, a file no longer at its path, or one partly read already.
pub fn stdin_file() -> Option<PathBuf> {
    use std::io::Seek;
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let mut stdin = File::from(std::io::stdin().as_fd().try_clone_to_owned().ok()?);
    let meta = stdin.metadata().ok()?;
    if !meta.is_file() || stdin.stream_position().ok()? != 0 {
        return None;
    }
    let path = std::fs::read_link("/proc/self/fd/0").ok()?;
    let named = std::fs::metadata(&path).ok()?;
    (named.dev() == meta.dev() && named.ino() == meta.ino()).then_some(path)
}

/// The name a stream goes by in the report and its messages.
pub fn display_name(path: &Path) -> String {
    if path.as_os_str() == STDIN {
        "stdin".to_string()
    } else {
        path.display().to_string()
    }
}

/// A stream opened and looked at: its first non-empty line (lossy UTF-8, empty at
/// end of stream), whether it was gzip-compressed, and the reader of all of it.
pub struct Opened {
    /// The first non-empty line.
    pub first_line: String,
    /// Whether the stream was gzip (its reader decodes it).
    pub gzip: bool,
    /// The reader of the whole stream.
    pub stream: Stream,
}

/// Opens the stream at `path` and reads its head.
pub fn open(path: &Path) -> Result<Opened, ReportError> {
    let io = |source| ReportError::Io {
        path: display_name(path).into(),
        source,
    };
    let raw: Box<dyn Read + Send> = if path.as_os_str() == STDIN {
        let stdin = std::io::stdin();
        if stdin.is_terminal() {
            return Err(stream_error(
                path,
                "standard input is a terminal: pipe a log into it (zcat log.gz | trawl report -) or name files",
            ));
        }
        Box::new(stdin)
    } else {
        Box::new(File::open(path).map_err(io)?)
    };
    let (magic, raw) = read_ahead(raw, 16, |_| false).map_err(io)?;
    if magic.starts_with(b"SQLite format 3\0") {
        return Err(stream_error(
            path,
            "a trawl.db (SQLite) cannot be read from a pipe: give its path",
        ));
    }
    let gzip = magic.starts_with(&[0x1f, 0x8b]);
    let text: Box<dyn Read + Send> = if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(raw))
    } else {
        raw
    };
    let (head, reader) = read_ahead(text, MAX_HEAD, has_non_empty_line).map_err(io)?;
    let first_line = head
        .split(|&b| b == b'\n')
        .map(String::from_utf8_lossy)
        .find(|l| !l.trim().is_empty())
        .map(|l| l.into_owned())
        .unwrap_or_default();
    Ok(Opened {
        first_line,
        gzip,
        stream: Stream {
            reader: Mutex::new(Some(reader)),
        },
    })
}

/// The error of a stream that cannot be read as asked.
pub fn stream_error(path: &Path, reason: &'static str) -> ReportError {
    ReportError::Stream {
        name: display_name(path),
        reason,
    }
}

/// Whether `head` holds a whole non-empty line.
fn has_non_empty_line(head: &[u8]) -> bool {
    let Some(last) = memchr::memrchr(b'\n', head) else {
        return false;
    };
    head.get(..last)
        .unwrap_or_default()
        .split(|&b| b == b'\n')
        .any(|l| !l.trim_ascii().is_empty())
}

/// Reads from `reader` until `enough` says so, `limit` bytes are in, or the end;
/// returns those bytes and a reader that yields them again, then the rest.
fn read_ahead(
    mut reader: Box<dyn Read + Send>,
    limit: usize,
    enough: impl Fn(&[u8]) -> bool,
) -> std::io::Result<(Vec<u8>, Box<dyn Read + Send>)> {
    let mut head = Vec::new();
    let mut chunk = [0u8; 8192];
    while head.len() < limit && !enough(&head) {
        let want = chunk.len().min(limit - head.len());
        let n = match reader.read(chunk.get_mut(..want).unwrap_or_default()) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        head.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
    let again = Cursor::new(head.clone()).chain(reader);
    Ok((head, Box::new(again)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(bytes: &'static [u8]) -> Box<dyn Read + Send> {
        Box::new(bytes)
    }

    #[test]
    fn read_ahead_gives_every_byte_back_in_order() {
        let text = b"\n\n  \nfirst,line\nsecond\n";
        let (head, mut reader) = read_ahead(boxed(text), MAX_HEAD, has_non_empty_line).unwrap();
        assert!(head.ends_with(b"\n") && has_non_empty_line(&head));
        let mut all = Vec::new();
        reader.read_to_end(&mut all).unwrap();
        assert_eq!(all, text);
    }

    #[test]
    fn read_ahead_stops_at_the_limit_and_at_the_end() {
        let long = vec![b'x'; 100];
        let (head, _) = read_ahead(Box::new(Cursor::new(long)), 10, |_| false).unwrap();
        assert_eq!(head.len(), 10);
        let (head, _) = read_ahead(boxed(b"ab"), 16, |_| false).unwrap();
        assert_eq!(head, b"ab");
    }

    proptest::proptest! {
        /// Whatever the bytes and wherever the head stops, the reader gives back
        /// every byte once, in order.
        #[test]
        fn every_byte_comes_back_once(
            bytes in proptest::collection::vec(
                proptest::sample::select(b"\n \r\tab{\x1f\x8b\0".to_vec()), 0..3000),
            limit in 1usize..2000,
        ) {
            let (head, mut reader) =
                read_ahead(Box::new(Cursor::new(bytes.clone())), limit, has_non_empty_line)
                    .map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?;
            proptest::prop_assert!(head.len() <= limit && bytes.starts_with(&head));
            let mut all = Vec::new();
            reader.read_to_end(&mut all)
                .map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?;
            proptest::prop_assert_eq!(all, bytes);
        }
    }

    #[test]
    fn only_whole_non_empty_lines_count() {
        assert!(!has_non_empty_line(b""));
        assert!(!has_non_empty_line(b"\n \r\n"));
        assert!(!has_non_empty_line(b"\npartial"));
        assert!(has_non_empty_line(b"\nline\n"));
    }
}
