//! Honeypot analytics for `trawl report`: one streaming, parallel pass over
//! Heralding, Cowrie, OpenCanary and trawl logs that produces the analyst's
//! tables (totals, top-N, timeline, sessions), recognises IoT botnets (post-login
//! commands typed at login prompts, Mirai default credentials, Mirai / Gafgyt /
//! Hajime fingerprints), extracts payload IOCs from download commands, groups
//! sources into campaigns, and renders it all as text, JSON, CSV, Markdown or a
//! self-contained HTML page with charts.
//!
//! Memory grows with distinct values (sources, pairs, sessions), not with rows:
//! files are cut into blocks of whole records and parsed by worker threads (one
//! [`agg::Aggregator`] each) whose aggregators are merged at the end. CSV rows are
//! split between the workers by source address, so no source is held twice; JSON
//! blocks are shared out whole.

pub mod agg;
pub mod campaign;
pub mod command;
pub mod data;
pub mod error;
pub mod event;
pub mod filter;
pub mod input;
pub mod render;
pub mod report;
pub mod time;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

pub use agg::Aggregator;
pub use error::ReportError;
pub use filter::Filters;
pub use report::Report;

use input::csvlog::Shard;
use input::{Block, BlockReader, BufferPool, Format, InputFile};

/// Worker threads at most, whatever `--threads` asks.
pub const MAX_WORKERS: usize = 64;

/// How to run the analysis.
#[derive(Debug, Clone)]
pub struct Options {
    /// Which events to keep.
    pub filters: Filters,
    /// Rows in each top-N table.
    pub top: usize,
    /// Campaigns to list.
    pub campaigns: usize,
    /// Jaccard threshold for joining campaigns (1.0 = identical fingerprints only).
    pub jaccard: f64,
    /// A campaign dictionary at most this large, with no known-family pair, is flagged.
    pub tiny_dictionary: usize,
    /// Silence (seconds) that ends a session in logs without session ids.
    pub session_gap_secs: i64,
    /// Stop at the first bad row.
    pub strict: bool,
    /// Show a progress bar (only drawn when stderr is a terminal).
    pub progress: bool,
    /// Worker threads (0 = one per core).
    pub threads: usize,
    /// Bytes per block handed to a worker (0 = the default, 4 MiB).
    pub block_size: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            filters: Filters::default(),
            top: 10,
            campaigns: 20,
            jaccard: 0.6,
            tiny_dictionary: 3,
            session_gap_secs: agg::DEFAULT_GAP_SECS,
            strict: false,
            progress: false,
            threads: 0,
            block_size: 0,
        }
    }
}

/// Reads the inputs (files or glob patterns) and builds the report.
pub fn analyze(patterns: &[String], opts: &Options) -> Result<Report, ReportError> {
    analyze_with_counts(patterns, opts).map(|(report, _counts)| report)
}

/// [`analyze`], also handing back the merged counts the report was built from.
///
/// Freeing them (millions of small allocations for a 10 M-row log) takes about as
/// long as building the report; a caller about to exit can `std::mem::forget` them.
pub fn analyze_with_counts(
    patterns: &[String],
    opts: &Options,
) -> Result<(Report, Aggregator), ReportError> {
    let paths = input::expand(patterns)?;
    let files: Vec<InputFile> = paths
        .iter()
        .enumerate()
        .map(|(i, p)| input::detect(i, p))
        .collect::<Result<_, _>>()?;
    let agg = aggregate(&files, opts)?;
    let report = report::build(&agg, &files, opts);
    Ok((report, agg))
}

fn progress_bar(opts: &Options, total: u64) -> indicatif::ProgressBar {
    if !opts.progress {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} reading {bytes}/{total_bytes} [{wide_bar}] {bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style);
    }
    bar
}

/// Parses every file into one merged aggregator.
pub fn aggregate(files: &[InputFile], opts: &Options) -> Result<Aggregator, ReportError> {
    let total: u64 = files.iter().map(|f| f.size).sum();
    let bar = progress_bar(opts, total);
    let counter = Arc::new(AtomicU64::new(0));
    let mut merged = Aggregator::new(opts.session_gap_secs);
    for file in files.iter().filter(|f| matches!(f.format, Format::Sqlite)) {
        input::sqlite::read(file, &mut merged, opts)?;
        counter.fetch_add(file.size, Ordering::Relaxed);
    }
    let text_files: Vec<Arc<InputFile>> = files
        .iter()
        .filter(|f| !matches!(f.format, Format::Sqlite))
        .map(|f| Arc::new(clone_file(f)))
        .collect();
    // Sessions can be folded early only when one file holds all of them: an auth log
    // and a session log of one sensor (or a trawl.db) would otherwise count them twice.
    let fold_sessions = files.len() == 1;
    // Sharded workers each read every line: a huge `--threads` would multiply that.
    let threads = if opts.threads == 0 {
        rayon::current_num_threads()
    } else {
        opts.threads
    }
    .clamp(1, MAX_WORKERS);
    // CSV rows are split between the workers by source address: every worker reads
    // every file itself, in small blocks that stay in its core's cache, and takes its
    // own sources' rows, in file order. No source, pair list or session is held twice,
    // and the workers' counts merge without overlap in sources. JSON lines cost too
    // much to parse twice, so one reader shares their blocks out.
    let sharded = !text_files.is_empty()
        && text_files
            .iter()
            .all(|f| matches!(f.format, Format::Csv(_)));
    let shared = Shared {
        files: &text_files,
        opts,
        fold_sessions,
        counter: &counter,
        bar: &bar,
    };
    let results = if sharded {
        shared.read_sharded(threads)
    } else {
        shared.read_shared(threads)?
    };
    bar.finish_and_clear();
    for r in results {
        merged.merge(r?);
    }
    Ok(merged)
}

/// Block size for sharded workers: small enough that a block read is still in the
/// core's cache when it is parsed (4 MiB blocks cost a cache miss per line twice:
/// once in the kernel's copy, once in the parse).
const SHARD_BLOCK: usize = 256 << 10;
/// A sharded worker folds finished sessions after about this many bytes (each fold
/// walks the open sessions).
const FOLD_EVERY: usize = 4 << 20;

/// What every worker of one run shares.
struct Shared<'a> {
    files: &'a [Arc<InputFile>],
    opts: &'a Options,
    fold_sessions: bool,
    counter: &'a Arc<AtomicU64>,
    bar: &'a indicatif::ProgressBar,
}

impl Shared<'_> {
    /// One worker per shard, each reading every file; the calling thread moves the
    /// progress bar.
    fn read_sharded(&self, threads: usize) -> Vec<Result<Aggregator, ReportError>> {
        let stop = AtomicBool::new(false);
        let (done_tx, done_rx) = mpsc::channel::<()>();
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|index| {
                    let shard = Shard {
                        index,
                        count: threads,
                    };
                    let (stop, done) = (&stop, done_tx.clone());
                    scope.spawn(move || {
                        let result = self.sharded_worker(shard, stop);
                        if result.is_err() {
                            stop.store(true, Ordering::Relaxed);
                        }
                        let _ = done.send(());
                        result
                    })
                })
                .collect();
            drop(done_tx);
            // Wakes when a worker ends (or its sender is dropped by a panic) and
            // every 50 ms to move the bar.
            let mut running = threads;
            while running > 0 {
                match done_rx.recv_timeout(Duration::from_millis(50)) {
                    Ok(()) => running -= 1,
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                }
                self.bar.set_position(self.counter.load(Ordering::Relaxed));
            }
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect()
        })
    }

    /// Reads every file and aggregates the rows of `shard`. Only shard 0 counts bytes
    /// for the progress bar (every shard reads them all).
    fn sharded_worker(&self, shard: Shard, stop: &AtomicBool) -> Result<Aggregator, ReportError> {
        let mut agg = Aggregator::new(self.opts.session_gap_secs).sessions_per_source();
        let counter = if shard.index == 0 {
            Arc::clone(self.counter)
        } else {
            Arc::default()
        };
        let pool = Arc::new(BufferPool::default());
        let (block_size, fold_every) = match self.opts.block_size {
            0 => (SHARD_BLOCK, FOLD_EVERY),
            n => (n, n),
        };
        let mut since_fold = 0;
        for file in self.files {
            let Format::Csv(map) = &file.format else {
                continue;
            };
            let reader = BlockReader::new(Arc::clone(file), Arc::clone(&counter))?
                .with_pool(Arc::clone(&pool))
                .with_block_size(block_size);
            for block in reader {
                if stop.load(Ordering::Relaxed) {
                    return Ok(agg);
                }
                let block = block?;
                agg.begin_block();
                input::csvlog::parse_block(&block, map, &mut agg, self.opts, shard)?;
                since_fold += block.data.len();
                if self.fold_sessions && since_fold >= fold_every {
                    agg.end_block_in_order();
                    since_fold = 0;
                }
                pool.put(block.data);
            }
        }
        Ok(agg)
    }

    /// One reader (this thread) cutting blocks that any free worker takes.
    fn read_shared(
        &self,
        threads: usize,
    ) -> Result<Vec<Result<Aggregator, ReportError>>, ReportError> {
        let (tx, rx) = mpsc::sync_channel::<Block>(threads * 2);
        // Only the workers hold the receiver: when they have all stopped (an error
        // under --strict), it is dropped and the reader's next send fails.
        let feed = Arc::new(Mutex::new(rx));
        let stop = AtomicBool::new(false);
        let results: Mutex<Vec<Result<Aggregator, ReportError>>> = Mutex::new(Vec::new());
        let pool = Arc::new(BufferPool::default());
        let mut read_error = None;
        std::thread::scope(|scope| {
            for _ in 0..threads {
                let (stop, results, pool, feed) = (&stop, &results, &pool, Arc::clone(&feed));
                scope.spawn(move || {
                    let result = self.shared_worker(&feed, stop, pool);
                    if let Ok(mut r) = results.lock() {
                        r.push(result);
                    }
                });
            }
            drop(feed);
            'files: for file in self.files {
                let reader = match BlockReader::new(Arc::clone(file), Arc::clone(self.counter)) {
                    Ok(r) if self.opts.block_size > 0 => r
                        .with_pool(Arc::clone(&pool))
                        .with_block_size(self.opts.block_size),
                    Ok(r) => r.with_pool(Arc::clone(&pool)),
                    Err(e) => {
                        read_error = Some(e);
                        break;
                    }
                };
                for block in reader {
                    self.bar.set_position(self.counter.load(Ordering::Relaxed));
                    if stop.load(Ordering::Relaxed) {
                        break 'files;
                    }
                    match block {
                        Ok(b) => {
                            if tx.send(b).is_err() {
                                break 'files;
                            }
                        }
                        Err(e) => {
                            read_error = Some(e);
                            break 'files;
                        }
                    }
                }
            }
            drop(tx);
        });
        match read_error {
            Some(e) => Err(e),
            None => Ok(results.into_inner().unwrap_or_default()),
        }
    }

    /// Takes blocks from the shared feed until it runs dry.
    fn shared_worker(
        &self,
        feed: &Mutex<mpsc::Receiver<Block>>,
        stop: &AtomicBool,
        pool: &BufferPool,
    ) -> Result<Aggregator, ReportError> {
        let mut agg = Aggregator::new(self.opts.session_gap_secs);
        loop {
            let next = match feed.lock() {
                Ok(rx) => rx.recv().ok(),
                Err(_) => None,
            };
            let Some(block) = next else {
                return Ok(agg);
            };
            agg.begin_block();
            let result = match &block.file.format {
                Format::Csv(map) => {
                    input::csvlog::parse_block(&block, map, &mut agg, self.opts, Shard::ALL)
                }
                Format::JsonLines => input::jsonlog::parse_block(&block, &mut agg, self.opts),
                Format::Sqlite => Ok(()),
            };
            if let Err(e) = result {
                stop.store(true, Ordering::Relaxed);
                return Err(e);
            }
            if self.fold_sessions {
                agg.end_block();
            }
            pool.put(block.data);
        }
    }
}

fn clone_file(f: &InputFile) -> InputFile {
    InputFile {
        index: f.index,
        path: f.path.clone(),
        display: f.display.clone(),
        format: f.format.clone(),
        format_name: f.format_name.clone(),
        gzip: f.gzip,
        size: f.size,
    }
}

/// Paths helper for callers that already hold paths.
pub fn patterns_of(paths: &[PathBuf]) -> Vec<String> {
    paths.iter().map(|p| p.display().to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_sessions_are_folded_per_block() {
        let path = format!("{}/tests/fixtures/seed_7up.csv", env!("CARGO_MANIFEST_DIR"));
        let file = input::detect(0, std::path::Path::new(&path)).unwrap();
        let opts = Options {
            block_size: 65_536,
            threads: 2,
            ..Options::default()
        };
        let agg = aggregate(std::slice::from_ref(&file), &opts).unwrap();
        assert!(agg.done_sessions.by_id > 0, "no session was folded early");
        assert_eq!(agg.done_sessions.by_id + agg.sessions.len() as u64, 697);
    }
}
