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
    // CSV rows are split between the workers by source address (every worker reads
    // every block and takes its own sources' rows, in file order): no source, pair
    // list or session is held twice, and the workers' counts merge without overlap in
    // sources. JSON lines cost too much to parse twice, so their blocks are shared out.
    let sharded = !text_files.is_empty()
        && text_files
            .iter()
            .all(|f| matches!(f.format, Format::Csv(_)));
    let mut senders = Vec::new();
    let mut feeds = Vec::new();
    if sharded {
        for _ in 0..threads {
            let (tx, rx) = mpsc::sync_channel::<Arc<Block>>(2);
            senders.push(tx);
            feeds.push(Feed::Own(rx));
        }
    } else {
        let (tx, rx) = mpsc::sync_channel::<Arc<Block>>(threads * 2);
        senders.push(tx);
        let rx = Arc::new(Mutex::new(rx));
        feeds.extend((0..threads).map(|_| Feed::Shared(Arc::clone(&rx))));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let results: Mutex<Vec<Result<Aggregator, ReportError>>> = Mutex::new(Vec::new());
    let pool = Arc::new(BufferPool::default());
    let mut read_error = None;
    // Plain threads, not the rayon pool: with sharding every worker must run at once
    // (`--threads` may exceed the pool), or a full channel would stall the reader.
    std::thread::scope(|scope| {
        for (index, feed) in feeds.into_iter().enumerate() {
            let stop = Arc::clone(&stop);
            let results = &results;
            let pool = Arc::clone(&pool);
            let shard = if sharded {
                Shard {
                    index,
                    count: threads,
                }
            } else {
                Shard::ALL
            };
            scope.spawn(move || {
                let result = worker(&feed, &stop, &pool, opts, fold_sessions, shard);
                if let Ok(mut r) = results.lock() {
                    r.push(result);
                }
            });
        }
        // Only the workers hold the receivers: if they stop, sending fails.
        'files: for file in &text_files {
            let reader = match BlockReader::new(Arc::clone(file), Arc::clone(&counter)) {
                Ok(r) if opts.block_size > 0 => r
                    .with_pool(Arc::clone(&pool))
                    .with_block_size(opts.block_size),
                Ok(r) => r.with_pool(Arc::clone(&pool)),
                Err(e) => {
                    read_error = Some(e);
                    break;
                }
            };
            for block in reader {
                bar.set_position(counter.load(Ordering::Relaxed));
                if stop.load(Ordering::Relaxed) {
                    break 'files;
                }
                match block {
                    Ok(b) => {
                        let b = Arc::new(b);
                        for tx in &senders {
                            if tx.send(Arc::clone(&b)).is_err() {
                                break 'files;
                            }
                        }
                    }
                    Err(e) => {
                        read_error = Some(e);
                        break 'files;
                    }
                }
            }
        }
        drop(senders);
    });
    bar.finish_and_clear();
    if let Some(e) = read_error {
        return Err(e);
    }
    let results = results.into_inner().unwrap_or_default();
    for r in results {
        merged.merge(r?);
    }
    Ok(merged)
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

/// Where a worker gets its blocks.
enum Feed {
    /// Every block, in file order (sharded CSV).
    Own(mpsc::Receiver<Arc<Block>>),
    /// The next block not taken by another worker.
    Shared(Arc<Mutex<mpsc::Receiver<Arc<Block>>>>),
}

impl Feed {
    fn next(&self) -> Option<Arc<Block>> {
        match self {
            Feed::Own(rx) => rx.recv().ok(),
            Feed::Shared(rx) => loop {
                let guard = rx.lock().ok()?;
                match guard.recv_timeout(Duration::from_millis(200)) {
                    Ok(b) => return Some(b),
                    Err(mpsc::RecvTimeoutError::Timeout) => continue,
                    Err(mpsc::RecvTimeoutError::Disconnected) => return None,
                }
            },
        }
    }
}

fn worker(
    feed: &Feed,
    stop: &AtomicBool,
    pool: &BufferPool,
    opts: &Options,
    fold_sessions: bool,
    shard: Shard,
) -> Result<Aggregator, ReportError> {
    let in_order = matches!(feed, Feed::Own(_));
    let mut agg = Aggregator::new(opts.session_gap_secs);
    if in_order {
        agg = agg.sessions_per_source();
    }
    while let Some(block) = feed.next() {
        agg.begin_block();
        let result = match &block.file.format {
            Format::Csv(map) => input::csvlog::parse_block(&block, map, &mut agg, opts, shard),
            Format::JsonLines => input::jsonlog::parse_block(&block, &mut agg, opts),
            Format::Sqlite => Ok(()),
        };
        if let Err(e) = result {
            stop.store(true, Ordering::Relaxed);
            return Err(e);
        }
        if fold_sessions && in_order {
            agg.end_block_in_order();
        } else if fold_sessions {
            agg.end_block();
        }
        // The last worker done with a block hands its buffer back.
        if let Some(b) = Arc::into_inner(block) {
            pool.put(b.data);
        }
    }
    Ok(agg)
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
