//! `--follow`: tails growing files across rotation, like `tail -F`.
//!
//! Each file is read to its end, then polled every [`POLL`]. Polling rather than inotify (the
//! `notify` crate) because it is the robust choice for this job: inotify watches an *inode*,
//! so a rotated log needs its watch re-armed on the new file (with a window where writes are
//! missed), it does not work on NFS/SMB/FUSE and some overlay mounts, and it has a per-user
//! watch limit; `notify`'s own answer there is a polling backend. A `stat` per file every
//! 200 ms costs nothing next to the scanning, and the latency (≤ 200 ms) is far below what an
//! alert needs. Rotation is seen as the path naming another file (device/inode) — the old
//! file's remainder is read first, then the new file from its start; truncation (the file got
//! shorter than what was read) restarts from offset 0. A path that vanished keeps being read
//! through the open descriptor until a new file appears there. Partial lines at the end are
//! kept (bounded by [`input::MAX_LINE`]) until their newline arrives. Gzip files and stdin are
//! read once to their end. Every [`RESCAN`] the directory and glob sources are expanded again
//! (a named file that did not exist yet counts too): files that appeared since are followed
//! from their start, except a file already read under another name (a log rotated to
//! `dump.log.1`: known by device and inode).

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::input::{self, LineAssembler, Piece};
use crate::{Run, SourceScan, WatchError, Watcher};

/// How often a file at its end is looked at again.
pub const POLL: Duration = Duration::from_millis(200);

/// How often the sources are expanded again to find files that appeared.
pub const RESCAN: Duration = Duration::from_secs(1);

/// At most this much is read from one file before the others get their turn.
const ROUND_BUDGET: u64 = 64 << 20;

/// One file being tailed.
struct Tailed {
    path: PathBuf,
    file: File,
    id: (u64, u64),
    offset: u64,
    lines: LineAssembler,
    scan: SourceScan,
}

/// What the reading side needs: the watcher, the run and the progress callback.
struct Ctx<'a> {
    watcher: &'a Watcher,
    progress: &'a dyn Fn(u64),
    buf: Vec<u8>,
}

fn file_id(meta: &std::fs::Metadata) -> (u64, u64) {
    (meta.dev(), meta.ino())
}

fn is_gzip(path: &Path) -> bool {
    let mut magic = [0u8; 2];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok_and(|()| magic == [0x1f, 0x8b])
}

impl Tailed {
    fn open(path: &Path) -> io::Result<Tailed> {
        let file = File::open(path)?;
        let id = file_id(&file.metadata()?);
        let name = path.display().to_string();
        Ok(Tailed {
            path: path.to_path_buf(),
            file,
            id,
            offset: 0,
            lines: LineAssembler::new(input::MAX_LINE),
            scan: SourceScan::new(&name),
        })
    }

    /// Reads what was appended (up to the round's budget); returns the bytes read.
    fn drain(&mut self, ctx: &mut Ctx<'_>, run: &mut Run) -> u64 {
        let mut total = 0u64;
        while total < ROUND_BUDGET {
            let n = match self.file.read(&mut ctx.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    run.warn(
                        self.scan.name(),
                        self.scan.line_no() + 1,
                        format!("read error: {e}"),
                    );
                    break;
                }
            };
            total += n as u64;
            self.offset += n as u64;
            run.bytes += n as u64;
            (ctx.progress)(n as u64);
            let (watcher, scan) = (ctx.watcher, &mut self.scan);
            let data = ctx.buf.get(..n).unwrap_or_default();
            self.lines
                .push(data, &mut |piece| feed(watcher, scan, piece, run));
        }
        total
    }

    /// The input of this file ended for good: a partial last line counts as a line.
    fn finish(&mut self, watcher: &Watcher, run: &mut Run) {
        let scan = &mut self.scan;
        self.lines
            .finish(&mut |piece| feed(watcher, scan, piece, run));
    }

    /// One look at the file: new bytes, then rotation or truncation.
    fn poll(&mut self, ctx: &mut Ctx<'_>, run: &mut Run) -> u64 {
        let mut read = self.drain(ctx, run);
        let Ok(meta) = std::fs::metadata(&self.path) else {
            return read; // moved away, nothing there yet: keep the old descriptor
        };
        if file_id(&meta) != self.id && meta.is_file() {
            // All that was written to the old file before the switch, however much.
            loop {
                let more = self.drain(ctx, run);
                read += more;
                if more == 0 {
                    break;
                }
            }
            self.finish(ctx.watcher, run);
            if let Ok(next) = Tailed::open(&self.path) {
                run.sources += 1;
                *self = next;
                read += self.drain(ctx, run);
            }
        } else if meta.len() < self.offset && self.file.seek(SeekFrom::Start(0)).is_ok() {
            self.finish(ctx.watcher, run);
            self.offset = 0;
            self.scan = SourceScan::new(self.scan.name());
            read += self.drain(ctx, run);
        }
        read
    }
}

fn feed(watcher: &Watcher, scan: &mut SourceScan, piece: Piece<'_>, run: &mut Run) {
    match piece {
        Piece::Line(line) => watcher.scan_line(scan, line, run),
        Piece::TooLong(len) => watcher.skip_long_line(scan, len, run),
    }
}

/// Scans the sources, then keeps following the files until `stop` is set. After every round
/// `on_round` gets the run (to emit [`Run::take_fresh`] alerts as they are found); an error
/// from it ends the follow. Stdin and gzip files are read once to their end (with no other
/// source, that ends the run).
pub fn follow(
    watcher: &Watcher,
    sources: &[String],
    run: &mut Run,
    stop: &AtomicBool,
    progress: &dyn Fn(u64),
    on_round: &mut dyn FnMut(&mut Run) -> io::Result<()>,
) -> Result<(), WatchError> {
    let output_err = |source| WatchError::Io {
        path: "output".into(),
        source,
    };
    let mut tails = Vec::new();
    let mut known: HashSet<(u64, u64)> = HashSet::new();
    for path in input::expand_sources(sources)? {
        let name = path.display().to_string();
        if path.as_os_str() == "-" || is_gzip(&path) {
            if path.as_os_str() != "-"
                && let Ok(meta) = std::fs::metadata(&path)
            {
                known.insert(file_id(&meta));
            }
            match input::open(&path) {
                Ok(reader) => watcher.scan_reader(&name, reader, run, progress),
                Err(e) => run.warn(&name, 0, format!("cannot open: {e}")),
            }
            on_round(run).map_err(output_err)?;
            continue;
        }
        match Tailed::open(&path) {
            Ok(t) => {
                run.sources += 1;
                tails.push(t);
            }
            Err(e) => run.warn(&name, 0, format!("cannot open: {e}")),
        }
    }
    let mut ctx = Ctx {
        watcher,
        progress,
        buf: vec![0; 1 << 20],
    };
    known.extend(tails.iter().map(|t| t.id));
    let mut last_rescan = Instant::now();
    // Only stdin or gzip files: nothing to follow, the run ends with their end. A directory
    // or glob is followed even while it holds no plain file yet.
    let follows_files = !tails.is_empty()
        || sources
            .iter()
            .any(|s| Path::new(s).is_dir() || s.contains(['*', '?', '[']));
    while follows_files && !stop.load(Ordering::Relaxed) {
        let mut read = 0;
        for t in &mut tails {
            read += t.poll(&mut ctx, run);
            known.insert(t.id);
        }
        if last_rescan.elapsed() >= RESCAN {
            last_rescan = Instant::now();
            read += pick_up_new_files(sources, &mut tails, &mut known, &mut ctx, run);
        }
        on_round(run).map_err(output_err)?;
        if read == 0 {
            sleep_unless_stopped(POLL, stop);
        }
    }
    for t in &mut tails {
        t.drain(&mut ctx, run);
        t.finish(watcher, run);
    }
    on_round(run).map_err(output_err)
}

/// Expands `sources` again and starts following every regular file that is neither
/// followed under its name nor `known` by device and inode; a new gzip file is read once.
/// Sources that match nothing (yet) are passed over quietly. Returns the bytes read.
fn pick_up_new_files(
    sources: &[String],
    tails: &mut Vec<Tailed>,
    known: &mut HashSet<(u64, u64)>,
    ctx: &mut Ctx<'_>,
    run: &mut Run,
) -> u64 {
    let mut read = 0;
    for source in sources.iter().filter(|s| s.as_str() != "-") {
        let Ok(paths) = input::expand_sources(std::slice::from_ref(source)) else {
            continue;
        };
        for path in paths {
            if tails.iter().any(|t| t.path == path) {
                continue;
            }
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if !known.insert(file_id(&meta)) {
                continue;
            }
            run.sources += 1;
            if is_gzip(&path) {
                let name = path.display().to_string();
                match input::open(&path) {
                    Ok(reader) => ctx.watcher.scan_reader(&name, reader, run, ctx.progress),
                    Err(e) => run.warn(&name, 0, format!("cannot open: {e}")),
                }
                continue;
            }
            match Tailed::open(&path) {
                Ok(mut t) => {
                    known.insert(t.id);
                    read += t.drain(ctx, run);
                    tails.push(t);
                }
                Err(e) => run.warn(&path.display().to_string(), 0, format!("cannot open: {e}")),
            }
        }
    }
    read
}

fn sleep_unless_stopped(total: Duration, stop: &AtomicBool) {
    let until = Instant::now() + total;
    while !stop.load(Ordering::Relaxed) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Settings;
    use crate::inventory::Inventory;
    use std::io::Write;

    fn watcher() -> Watcher {
        let inv = Inventory::parse(
            "[[entity]]\nname = \"Acme\"\nemail_domains = [\"acme.com\"]\nip_ranges = [\"192.0.2.0/24\"]\n",
        )
        .unwrap();
        Watcher::new(inv, Settings::default()).unwrap()
    }

    fn subjects(run: &mut Run) -> Vec<String> {
        run.take_fresh()
            .into_iter()
            .map(|a| a.subject.split(' ').next().unwrap_or_default().to_string())
            .collect()
    }

    #[test]
    fn new_files_are_picked_up_but_rotated_ones_are_not_read_twice() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("a.log");
        std::fs::write(&old, "a@acme.com:pw1\n").unwrap();
        let w = watcher();
        let mut run = Run::default();
        let mut ctx = Ctx {
            watcher: &w,
            progress: &|_| {},
            buf: vec![0; 64],
        };
        let sources = [dir.path().display().to_string()];
        let mut tails = Vec::new();
        let mut known = HashSet::new();
        pick_up_new_files(&sources, &mut tails, &mut known, &mut ctx, &mut run);
        assert_eq!(subjects(&mut run), ["a@acme.com"]);
        // Rotation (a.log -> a.log.1, a new a.log) and a brand new file b.log.
        std::fs::rename(&old, dir.path().join("a.log.1")).unwrap();
        std::fs::write(&old, "rotated@acme.com:pw2\n").unwrap();
        std::fs::write(dir.path().join("b.log"), "b@acme.com:pw3\n").unwrap();
        pick_up_new_files(&sources, &mut tails, &mut known, &mut ctx, &mut run);
        assert_eq!(
            subjects(&mut run),
            ["b@acme.com"],
            "a.log.1 was read as a.log"
        );
        for t in &mut tails {
            t.poll(&mut ctx, &mut run);
        }
        assert_eq!(
            subjects(&mut run),
            ["rotated@acme.com"],
            "a.log's new file via rotation"
        );
        pick_up_new_files(&sources, &mut tails, &mut known, &mut ctx, &mut run);
        assert!(subjects(&mut run).is_empty(), "nothing is read twice");
        assert_eq!(run.sources, 3);
    }

    #[test]
    fn appends_rotation_and_truncation_are_all_read_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dump.txt");
        std::fs::write(&path, "a@acme.com:pw1\npartial@ac").unwrap();
        let w = watcher();
        let mut run = Run::default();
        let mut t = Tailed::open(&path).unwrap();
        let mut ctx = Ctx {
            watcher: &w,
            progress: &|_| {},
            buf: vec![0; 7],
        };
        t.poll(&mut ctx, &mut run);
        assert_eq!(subjects(&mut run), ["a@acme.com"], "partial line waits");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"me.com:pw2\nold@acme.com:pw3\n").unwrap();
        std::fs::rename(&path, dir.path().join("dump.txt.1")).unwrap();
        f.write_all(b"late@acme.com:pw4\n").unwrap();
        std::fs::write(&path, "new@acme.com:pw5\n").unwrap();
        t.poll(&mut ctx, &mut run);
        assert_eq!(
            subjects(&mut run),
            [
                "partial@acme.com",
                "old@acme.com",
                "late@acme.com",
                "new@acme.com"
            ]
        );
        std::fs::write(&path, "t@acme.com:x\n").unwrap();
        t.poll(&mut ctx, &mut run);
        assert_eq!(subjects(&mut run), ["t@acme.com"], "truncation restarts");
        assert_eq!(t.scan.line_no(), 1);
        assert_eq!(run.sources, 1, "the rotated-in file counts as a source");
    }
}
