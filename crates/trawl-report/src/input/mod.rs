//! Reading inputs: expanding globs, detecting formats, cutting files into blocks
//! of whole records for the parallel workers, and parsing blocks into events.
//!
//! Supported: Heralding / trawl `log_auth.csv` (9, 10 and 11 columns, with or
//! without header), Heralding / trawl `log_session.csv`, Cowrie JSON lines (2.x
//! `duration` and 3.x `duration_ms`), OpenCanary JSON lines, Heralding
//! `log_session.json`, trawl `events.jsonl`, trawl `trawl.db` (SQLite); any of
//! the text formats gzip-compressed, from files or from standard input and pipes
//! ([`stream`]). JSON lines are recognised line by line, so
//! a file mixing Cowrie and OpenCanary lines is read correctly.

pub mod csvlog;
pub mod jsonlog;
pub mod lines;
pub mod sqlite;
pub mod stream;

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::error::ReportError;
pub use csvlog::ColumnMap;

/// Target size of one block handed to a worker.
pub const BLOCK_SIZE: usize = 4 << 20;
/// A block never grows past this while looking for a record boundary.
pub const MAX_BLOCK: usize = 64 << 20;

/// How a file is read.
#[derive(Debug, Clone)]
pub enum Format {
    /// Heralding-style CSV (auth or session rows).
    Csv(ColumnMap),
    /// JSON lines (Cowrie, OpenCanary, Heralding session JSON, trawl events).
    JsonLines,
    /// trawl's SQLite store.
    Sqlite,
}

/// One input file.
#[derive(Debug)]
pub struct InputFile {
    /// Position in the input list.
    pub index: usize,
    /// Path as opened.
    pub path: PathBuf,
    /// Name used in messages.
    pub display: String,
    /// How to read it.
    pub format: Format,
    /// Human name of the detected format.
    pub format_name: String,
    /// gzip-compressed.
    pub gzip: bool,
    /// Size on disk.
    pub size: u64,
    /// A Heralding session log whose attempts are also in an auth log given with it
    /// (see [`mark_nested_duplicates`]): its nested attempts are not counted again.
    pub nested_attempts_elsewhere: bool,
    /// Not read: another input of the same sensor holds the same events (see
    /// [`mark_same_sensor_copies`]); the reason, naming that input.
    pub skipped: Option<String>,
    /// Standard input or a pipe: read once, from this reader (see [`stream`]);
    /// `size` is 0 and `gzip` false (the reader decodes it).
    pub stream: Option<Arc<stream::Stream>>,
}

/// Expands globs (patterns with `*?[`) and checks plain paths exist; `-` is
/// standard input (once), a path that is no regular file (a pipe) is kept as a
/// stream, and a directory stands for the honeypot logs in it ([`dir_logs`]). A file
/// named more than once (`logs/*.csv logs/a.csv`, a directory and a file in it, a
/// path through a symbolic link) is kept once, where it first came.
pub fn expand(patterns: &[String]) -> Result<Vec<PathBuf>, ReportError> {
    let mut seen = std::collections::HashSet::new();
    let mut paths = expand_all(patterns)?;
    paths.retain(|p| match p.canonicalize() {
        Ok(real) if real.is_file() => seen.insert(real),
        _ => true,
    });
    Ok(paths)
}

fn expand_all(patterns: &[String]) -> Result<Vec<PathBuf>, ReportError> {
    let mut out = Vec::new();
    let mut stdin_given = false;
    for pattern in patterns {
        if Path::new(pattern).is_dir() {
            out.extend(dir_logs(Path::new(pattern))?);
        } else if pattern == stream::STDIN {
            if stdin_given {
                return Err(stream::stream_error(
                    Path::new(pattern),
                    "standard input can be read only once: give - once",
                ));
            }
            stdin_given = true;
            out.push(stream::stdin_file().unwrap_or_else(|| PathBuf::from(pattern)));
        } else if pattern.contains(['*', '?', '[']) && !Path::new(pattern).exists() {
            let paths = glob::glob(pattern).map_err(|e| ReportError::BadPattern {
                pattern: pattern.clone(),
                message: e.msg.to_string(),
            })?;
            let mut matched: Vec<PathBuf> = paths
                .filter_map(Result::ok)
                .filter(|p| p.is_file())
                .collect();
            if matched.is_empty() {
                return Err(ReportError::NoInput(pattern.clone()));
            }
            matched.sort();
            out.extend(matched);
        } else if Path::new(pattern).is_file() || stream::is_stream(Path::new(pattern)) {
            out.push(PathBuf::from(pattern));
        } else {
            return Err(ReportError::NoInput(pattern.clone()));
        }
    }
    Ok(out)
}

/// Refuses an input that is also one of `outputs` (the same file: device and inode,
/// so another spelling or a link is caught too), before anything is read or written.
pub fn refuse_outputs(inputs: &[PathBuf], outputs: &[PathBuf]) -> Result<(), ReportError> {
    use std::os::unix::fs::MetadataExt;
    let file_id = |path: &Path| {
        std::fs::metadata(path)
            .ok()
            .filter(|m| m.is_file())
            .map(|m| (m.dev(), m.ino()))
    };
    let written: Vec<(u64, u64)> = outputs.iter().filter_map(|p| file_id(p)).collect();
    if written.is_empty() {
        return Ok(());
    }
    match inputs.iter().find(|p| {
        p.as_os_str() != stream::STDIN && file_id(p).is_some_and(|id| written.contains(&id))
    }) {
        Some(input) => Err(ReportError::InputIsOutput(input.display().to_string())),
        None => Ok(()),
    }
}

/// Names of the logs honeypots write, as [`dir_logs`] looks for them: trawl's
/// (`trawl.db`, `events.jsonl`, `log_auth.csv`, `log_session.csv`), Heralding's
/// (`log_auth.csv`, `log_session.csv`, `log_session.json`), Cowrie's (`cowrie.json`)
/// and OpenCanary's (`opencanary.log`); all but `trawl.db` also with a suffix after
/// a dot (rotations and compressed copies: `cowrie.json.2024-05-01`,
/// `log_auth.csv.1.gz`).
const LOG_NAMES: [&str; 6] = [
    "events.jsonl",
    "log_auth.csv",
    "log_session.csv",
    "log_session.json",
    "cowrie.json",
    "opencanary.log",
];

fn is_log_name(name: &str) -> bool {
    name == "trawl.db"
        || LOG_NAMES.iter().any(|log| {
            name.strip_prefix(log)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
        })
}

/// The honeypot logs in `dir` (not in its subdirectories), sorted by name; an
/// error when there are none. A sensor's copies of the same events are picked
/// from later ([`mark_same_sensor_copies`]).
fn dir_logs(dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let entries = std::fs::read_dir(dir).map_err(io_err(dir))?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_str().is_some_and(is_log_name))
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    if found.is_empty() {
        return Err(ReportError::NoLogIn(dir.display().to_string()));
    }
    found.sort();
    Ok(found)
}

/// A trawl sensor writes every event to `trawl.db`, `events.jsonl` and the CSV logs
/// of its data directory alike: of one directory's inputs, `trawl.db` is read and
/// `events.jsonl` and the CSV logs beside it are marked skipped, or without a
/// `trawl.db`, `events.jsonl` and not the CSV logs. So `trawl report trawl-data` (or
/// `trawl-data/*`) counts each event once. Heralding writes every session to both
/// `log_session.json` and `log_session.csv`: beside the JSON (which has more: client
/// versions, nested attempts), the CSV is skipped. Other honeypots' directories hold
/// none of these and are read whole.
pub fn mark_same_sensor_copies(files: &mut [InputFile]) {
    let dirs: Vec<Option<PathBuf>> = files.iter().map(dir_of).collect();
    mark_copies(files, &dirs, copy_rank, "events");
    mark_copies(files, &dirs, session_copy_rank, "sessions");
}

/// The directory an input is in (`None` for streams).
fn dir_of(f: &InputFile) -> Option<PathBuf> {
    f.stream.is_none().then(|| {
        f.path
            .canonicalize()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
    })?
}

/// Marks skipped every input not yet skipped whose `rank` is below that of another
/// input of its directory (`dirs`: each input's, in order; `what` they hold alike
/// names the reason).
fn mark_copies(
    files: &mut [InputFile],
    dirs: &[Option<PathBuf>],
    rank_of: fn(&InputFile) -> Option<u8>,
    what: &str,
) {
    let rank_of = |f: &InputFile| rank_of(f).filter(|_| f.skipped.is_none());
    // Per directory, the most complete copy given: (directory, file name, rank).
    let mut whole: Vec<(&PathBuf, String, u8)> = Vec::new();
    for (f, dir) in files.iter().zip(dirs) {
        let (Some(rank @ 1..), Some(dir)) = (rank_of(f), dir.as_ref()) else {
            continue;
        };
        let name = f
            .path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        match whole.iter_mut().find(|(d, _, _)| *d == dir) {
            Some(best) if best.2 >= rank => {}
            Some(best) => *best = (dir, name, rank),
            None => whole.push((dir, name, rank)),
        }
    }
    for (f, dir) in files.iter_mut().zip(dirs) {
        let (Some(rank), Some(dir)) = (rank_of(f), dir.as_ref()) else {
            continue;
        };
        if let Some((_, name, _)) = whole.iter().find(|(d, _, best)| *d == dir && *best > rank) {
            let reason = format!("skipped: the same {what} as {name} beside it");
            f.format_name.push_str(&format!(" ({reason})"));
            f.skipped = Some(reason);
        }
    }
}

/// How complete a copy of Heralding's sessions an input is: `log_session.json` 1,
/// `log_session.csv` 0; `None` for other inputs.
fn session_copy_rank(f: &InputFile) -> Option<u8> {
    match &f.format {
        Format::Csv(map) if map.session_rows => Some(0),
        Format::JsonLines if f.format_name.starts_with(jsonlog::HERALDING_SESSION_JSON) => Some(1),
        _ => None,
    }
}

/// How complete a copy of a trawl sensor's events an input is: `trawl.db` 2,
/// `events.jsonl` 1, a CSV log 0; `None` for other inputs.
fn copy_rank(f: &InputFile) -> Option<u8> {
    match f.format {
        Format::Sqlite => Some(2),
        Format::Csv(_) => Some(0),
        Format::JsonLines if f.format_name.starts_with(jsonlog::TRAWL_EVENTS) => Some(1),
        Format::JsonLines => None,
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ReportError + '_ {
    move |source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Counts bytes read from the file on disk (before decompression), for the progress bar.
struct CountingReader<R> {
    inner: R,
    counter: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

fn is_gzip(path: &Path) -> Result<bool, ReportError> {
    let mut magic = [0u8; 2];
    let mut f = File::open(path).map_err(io_err(path))?;
    let n = f.read(&mut magic).map_err(io_err(path))?;
    Ok(n == 2 && magic == [0x1f, 0x8b])
}

/// Opens a text input, decompressing gzip transparently; `counter` counts the
/// bytes read from disk.
pub fn open_text(
    path: &Path,
    gzip: bool,
    counter: Arc<AtomicU64>,
) -> Result<Box<dyn Read + Send>, ReportError> {
    let (reader, uncounted) = open_uncounted(path, gzip, counter)?;
    Ok(match uncounted {
        Some(counter) => Box::new(CountingReader {
            inner: reader,
            counter,
        }),
        None => reader,
    })
}

/// A reader, and the counter it leaves to its caller (see [`open_uncounted`]).
type Opened = (Box<dyn Read + Send>, Option<Arc<AtomicU64>>);

/// Opens a text input like [`open_text`], but a plain file comes back bare, with
/// the counter its reader must add to: reads of a bare `File` go straight into a
/// vector's spare capacity (a counting wrapper would zero it first), and no
/// `BufReader` copies the bytes once more (the callers read hundreds of KiB at once;
/// the gzip decoder buffers its own input).
fn open_uncounted(path: &Path, gzip: bool, counter: Arc<AtomicU64>) -> Result<Opened, ReportError> {
    let file = File::open(path).map_err(io_err(path))?;
    Ok(if gzip {
        let counted = CountingReader {
            inner: file,
            counter,
        };
        (Box::new(flate2::read::MultiGzDecoder::new(counted)), None)
    } else {
        (Box::new(file), Some(counter))
    })
}

/// Heralding writes every attempt twice, in `log_auth.csv` as it happens and again
/// nested in its session's line of `log_session.json`. When an auth log and a
/// session log of one directory (one sensor) are read together, the session log's
/// nested attempts are marked to be skipped (its sessions still count), so an
/// analyst can point the report at a Heralding directory, or a glob of it, and get
/// each attempt once. Logs of different directories are kept whole: they are
/// different sensors.
pub fn mark_nested_duplicates(files: &mut [InputFile]) {
    let auth_dirs: Vec<Option<PathBuf>> = files
        .iter()
        .filter(|f| matches!(&f.format, Format::Csv(map) if !map.session_rows))
        .map(|f| f.path.canonicalize().ok()?.parent().map(Path::to_path_buf))
        .collect();
    for file in files.iter_mut() {
        if !file
            .format_name
            .starts_with(jsonlog::HERALDING_SESSION_JSON)
        {
            continue;
        }
        let dir = file
            .path
            .canonicalize()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf));
        if dir.is_some() && auth_dirs.contains(&dir) {
            file.nested_attempts_elsewhere = true;
            file.format_name
                .push_str(" (its attempts are counted from the auth log beside it)");
        }
    }
}

/// Looks at a file and decides how to read it.
pub fn detect(index: usize, path: &Path) -> Result<InputFile, ReportError> {
    if stream::is_stream(path) {
        return detect_stream(index, path);
    }
    let size = std::fs::metadata(path).map_err(io_err(path))?.len();
    let display = path.display().to_string();
    let mut head = [0u8; 16];
    let n = File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .map_err(io_err(path))?;
    if head
        .get(..n)
        .is_some_and(|h| h.starts_with(b"SQLite format 3\0"))
    {
        return Ok(InputFile {
            index,
            path: path.to_path_buf(),
            display,
            format: Format::Sqlite,
            format_name: "trawl.db (SQLite)".into(),
            gzip: false,
            size,
            nested_attempts_elsewhere: false,
            skipped: None,
            stream: None,
        });
    }
    let gzip = is_gzip(path)?;
    let reader = open_text(path, gzip, Arc::new(AtomicU64::new(0)))?;
    let mut first = String::new();
    let mut buffered = BufReader::new(reader.take(1 << 20));
    loop {
        first.clear();
        let mut raw = Vec::new();
        let read = buffered.read_until(b'\n', &mut raw).map_err(io_err(path))?;
        first = String::from_utf8_lossy(&raw).into_owned();
        if read == 0 || !first.trim().is_empty() {
            break;
        }
    }
    let (format, format_name) = format_of(&first, path)?;
    let format_name = if gzip {
        format!("{format_name}, gzip")
    } else {
        format_name
    };
    Ok(InputFile {
        index,
        path: path.to_path_buf(),
        display,
        format,
        format_name,
        gzip,
        size,
        nested_attempts_elsewhere: false,
        skipped: None,
        stream: None,
    })
}

/// [`detect`] for a stream: opened now, read later from the reader kept.
fn detect_stream(index: usize, path: &Path) -> Result<InputFile, ReportError> {
    let opened = stream::open(path)?;
    let name = PathBuf::from(stream::display_name(path));
    let (format, format_name) = format_of(&opened.first_line, &name)?;
    let how = if opened.gzip { ", gzip" } else { "" };
    Ok(InputFile {
        index,
        path: path.to_path_buf(),
        display: stream::display_name(path),
        format,
        format_name: format!("{format_name}{how}, streamed"),
        gzip: false,
        size: 0,
        nested_attempts_elsewhere: false,
        skipped: None,
        stream: Some(Arc::new(opened.stream)),
    })
}

/// The format of a text input, from its first non-empty line.
fn format_of(first: &str, path: &Path) -> Result<(Format, String), ReportError> {
    let line = first.trim_start_matches('\u{feff}').trim();
    let (format, format_name) = if line.starts_with('{') {
        (Format::JsonLines, jsonlog::describe(line))
    } else if let Some(map) = ColumnMap::detect(line) {
        let name = map.describe();
        (Format::Csv(map), name)
    } else if line.is_empty() {
        (Format::JsonLines, "empty".to_string())
    } else {
        let detail: String = line.chars().take(60).collect();
        return Err(ReportError::UnknownFormat {
            path: path.to_path_buf(),
            detail,
        });
    };
    Ok((format, format_name))
}

/// A run of whole records from one file.
#[derive(Debug)]
pub struct Block {
    /// The file.
    pub file: Arc<InputFile>,
    /// Line number of the first byte.
    pub first_line: u64,
    /// The bytes (ends at a record boundary, or at end of file).
    pub data: Vec<u8>,
}

/// Block buffers handed back by the workers, reused by the reader: a fresh 4 MiB
/// buffer per block costs page faults and zeroing on every block.
#[derive(Debug, Default)]
pub struct BufferPool {
    free: Mutex<Vec<Vec<u8>>>,
}

/// Buffers kept for reuse (the reader's and the workers' blocks in flight).
const POOL_MAX: usize = 16;

impl BufferPool {
    /// Returns a buffer (its contents are dropped).
    pub fn put(&self, mut buf: Vec<u8>) {
        buf.clear();
        if let Ok(mut free) = self.free.lock()
            && free.len() < POOL_MAX
        {
            free.push(buf);
        }
    }

    fn take(&self) -> Vec<u8> {
        self.free
            .lock()
            .ok()
            .and_then(|mut free| free.pop())
            .unwrap_or_default()
    }
}

/// Cuts a stream into blocks ending at record boundaries.
pub struct BlockReader {
    pool: Arc<BufferPool>,
    file: Arc<InputFile>,
    reader: Box<dyn Read + Send>,
    pending: Vec<u8>,
    /// Counts the bytes read when the reader does not count them itself.
    counter: Option<Arc<AtomicU64>>,
    next_line: u64,
    done: bool,
    quoted_csv: bool,
    block_size: usize,
}

impl BlockReader {
    /// Starts reading a text file.
    pub fn new(file: Arc<InputFile>, counter: Arc<AtomicU64>) -> Result<Self, ReportError> {
        let (reader, counter) = match &file.stream {
            Some(stream) => {
                let reader = stream.take().ok_or_else(|| {
                    stream::stream_error(&file.path, "a stream can be read only once")
                })?;
                (reader, Some(counter))
            }
            None => open_uncounted(&file.path, file.gzip, counter)?,
        };
        let quoted_csv = matches!(file.format, Format::Csv(_));
        Ok(Self {
            pool: Arc::default(),
            file,
            reader,
            pending: Vec::new(),
            counter,
            next_line: 1,
            done: false,
            quoted_csv,
            block_size: BLOCK_SIZE,
        })
    }

    /// Takes block buffers from `pool` (where the consumer returns them).
    pub fn with_pool(mut self, pool: Arc<BufferPool>) -> Self {
        self.pool = pool;
        self
    }

    /// Uses blocks of about `size` bytes (tests use tiny blocks to exercise the cuts).
    pub fn with_block_size(mut self, size: usize) -> Self {
        self.block_size = size.max(1);
        self
    }

    /// Appends up to `want` bytes to `pending` (into its spare capacity).
    fn fill(&mut self, want: usize) -> Result<(), ReportError> {
        let want = want as u64;
        let got = (&mut self.reader)
            .take(want)
            .read_to_end(&mut self.pending)
            .map_err(|source| ReportError::Io {
                path: PathBuf::from(&self.file.display),
                source,
            })? as u64;
        if let Some(counter) = &self.counter {
            counter.fetch_add(got, Ordering::Relaxed);
        }
        if got < want {
            self.done = true;
        }
        Ok(())
    }
}

/// Byte offset just after the last record boundary in `data` (a newline outside quotes).
pub fn last_boundary(data: &[u8], quoted: bool) -> Option<usize> {
    // One vector scan for a quote spares the walk over every newline of the block.
    if !quoted || memchr::memchr(b'"', data).is_none() {
        return memchr::memrchr(b'\n', data).map(|p| p + 1);
    }
    let mut in_quotes = false;
    let mut last = None;
    for pos in memchr::memchr2_iter(b'"', b'\n', data) {
        match data.get(pos) {
            Some(b'"') => in_quotes = !in_quotes,
            _ if !in_quotes => last = Some(pos + 1),
            _ => {}
        }
    }
    last
}

impl Iterator for BlockReader {
    type Item = Result<Block, ReportError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.pending.is_empty() && self.done {
                return None;
            }
            if !self.done
                && let Err(e) = self.fill(self.block_size)
            {
                self.done = true;
                return Some(Err(e));
            }
            let cut = if self.done {
                Some(self.pending.len())
            } else {
                last_boundary(&self.pending, self.quoted_csv)
                    .or_else(|| {
                        (self.pending.len() >= MAX_BLOCK)
                            .then(|| last_boundary(&self.pending, false))
                            .flatten()
                    })
                    .or_else(|| (self.pending.len() >= MAX_BLOCK).then_some(self.pending.len()))
            };
            let Some(cut) = cut.filter(|&c| c > 0) else {
                if self.done {
                    return None;
                }
                continue;
            };
            let mut rest = self.pool.take();
            rest.extend_from_slice(self.pending.get(cut..).unwrap_or_default());
            let mut data = std::mem::replace(&mut self.pending, rest);
            data.truncate(cut);
            let first_line = self.next_line;
            self.next_line += memchr::memchr_iter(b'\n', &data).count() as u64;
            return Some(Ok(Block {
                file: Arc::clone(&self.file),
                first_line,
                data,
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_names_and_their_rotations() {
        for name in [
            "trawl.db",
            "events.jsonl",
            "log_auth.csv",
            "log_auth.csv.1.gz",
            "log_session.json",
            "cowrie.json.2024-05-01",
            "cowrie.json.2024_5_1",
            "opencanary.log",
        ] {
            assert!(is_log_name(name), "{name}");
        }
        for name in [
            "trawl.db-wal",
            "trawl.db.bak",
            "cowrie.jsonl",
            "log_auth.csv~",
            "notes.txt",
            "xlog_auth.csv",
        ] {
            assert!(!is_log_name(name), "{name}");
        }
    }

    #[test]
    fn boundaries_respect_quotes() {
        let data = b"a,b\n\"x\ny\",z\nc,d";
        assert_eq!(last_boundary(data, true), Some(12));
        assert_eq!(last_boundary(b"\"open\nstill", true), None);
        assert_eq!(last_boundary(b"{}\n{", false), Some(3));
    }

    #[test]
    fn tiny_blocks_keep_records_whole_and_lines_right() {
        let dir = std::env::temp_dir().join(format!("trawl-report-blocks-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log.csv");
        let text = "timestamp,auth_id,session_id,source_ip,source_port,destination_ip,destination_port,protocol,username,password\n\
            2016-12-14 21:50:14.1,a,s,192.0.2.1,1,,23,telnet,\"multi\nline\",x\n\
            2016-12-14 21:50:15.1,a,s,192.0.2.1,1,,23,telnet,root,5up\n";
        std::fs::write(&path, text).unwrap();
        let file = Arc::new(detect(0, &path).unwrap());
        for size in [1, 7, 50, 200] {
            let blocks: Vec<Block> =
                BlockReader::new(Arc::clone(&file), Arc::new(AtomicU64::new(0)))
                    .unwrap()
                    .with_block_size(size)
                    .map(Result::unwrap)
                    .collect();
            let joined: Vec<u8> = blocks.iter().flat_map(|b| b.data.clone()).collect();
            assert_eq!(joined, text.as_bytes());
            for b in &blocks {
                assert_eq!(
                    b.data.iter().filter(|&&c| c == b'"').count() % 2,
                    0,
                    "block cut inside quotes at size {size}"
                );
            }
            let last = blocks.last().unwrap();
            assert_eq!(
                last.first_line + last.data.iter().filter(|&&c| c == b'\n').count() as u64,
                5
            );
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}
