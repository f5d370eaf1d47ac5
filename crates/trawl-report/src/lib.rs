//! Honeypot analytics for `trawl report`: one streaming, parallel pass over
//! Heralding, Cowrie, OpenCanary and trawl logs that produces the analyst's
//! tables (totals, top-N, timeline, sessions), recognises IoT botnets (post-login
//! commands typed at login prompts, Mirai default credentials, Mirai / Gafgyt /
//! Hajime fingerprints), extracts payload IOCs from download commands, groups
//! sources into campaigns, and renders it all as text, JSON, CSV, Markdown or a
//! self-contained HTML page with charts.
//!
//! Memory grows with distinct values (sources, pairs, sessions), not with rows:
//! files are cut into blocks of whole records, parsed by a pool of workers
//! (one [`agg::Aggregator`] each) and the aggregators are merged at the end.

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

use input::{Block, BlockReader, BufferPool, Format, InputFile};

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
    let paths = input::expand(patterns)?;
    let files: Vec<InputFile> = paths
        .iter()
        .enumerate()
        .map(|(i, p)| input::detect(i, p))
        .collect::<Result<_, _>>()?;
    let agg = aggregate(&files, opts)?;
    Ok(report::build(&agg, &files, opts))
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
    let threads = if opts.threads == 0 {
        rayon::current_num_threads()
    } else {
        opts.threads
    }
    .max(1);
    let (tx, rx) = mpsc::sync_channel::<Block>(threads * 2);
    let rx = Arc::new(Mutex::new(rx));
    let stop = Arc::new(AtomicBool::new(false));
    let results: Mutex<Vec<Result<Aggregator, ReportError>>> = Mutex::new(Vec::new());
    let pool = Arc::new(BufferPool::default());
    let mut read_error = None;
    rayon::in_place_scope(|scope| {
        for _ in 0..threads {
            let rx = Arc::clone(&rx);
            let stop = Arc::clone(&stop);
            let results = &results;
            let pool = Arc::clone(&pool);
            scope.spawn(move |_| {
                let result = worker(&rx, &stop, &pool, opts, fold_sessions);
                if let Ok(mut r) = results.lock() {
                    r.push(result);
                }
            });
        }
        // Only the workers hold the receiver: if they all stop, sending fails.
        drop(rx);
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

fn worker(
    rx: &Mutex<mpsc::Receiver<Block>>,
    stop: &AtomicBool,
    pool: &BufferPool,
    opts: &Options,
    fold_sessions: bool,
) -> Result<Aggregator, ReportError> {
    let mut agg = Aggregator::new(opts.session_gap_secs);
    loop {
        let block = {
            let Ok(guard) = rx.lock() else { break };
            match guard.recv_timeout(Duration::from_millis(200)) {
                Ok(b) => b,
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        };
        agg.begin_block();
        let result = match &block.file.format {
            Format::Csv(map) => input::csvlog::parse_block(&block, map, &mut agg, opts),
            Format::JsonLines => input::jsonlog::parse_block(&block, &mut agg, opts),
            Format::Sqlite => Ok(()),
        };
        if let Err(e) = result {
            stop.store(true, Ordering::Relaxed);
            return Err(e);
        }
        if fold_sessions {
            agg.end_block();
        }
        pool.put(block.data);
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
