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
pub mod fetch;
pub mod filter;
pub mod input;
pub mod ioc;
pub mod render;
pub mod report;
pub mod sshkey;
pub mod table;
pub mod time;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

pub use agg::Aggregator;
pub use error::ReportError;
pub use filter::Filters;
pub use report::Report;

use std::collections::BTreeMap;

use input::csvlog::{RowList, Shard, split_block};
use input::{BLOCK_SIZE, Block, BlockReader, BufferPool, Format, InputFile};

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
    /// Files this run will write (`--out`, or `/dev/stdout` without one): an input
    /// that is one of them is refused before anything is read
    /// ([`ReportError::InputIsOutput`]), as the report would overwrite the log it was
    /// made from (or be appended to it). Outputs that are no regular file (a terminal,
    /// a pipe, `/dev/null`) never match.
    pub outputs: Vec<std::path::PathBuf>,
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
            outputs: Vec::new(),
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
    input::refuse_outputs(&paths, &opts.outputs)?;
    let mut files: Vec<InputFile> = paths
        .iter()
        .enumerate()
        .map(|(i, p)| input::detect(i, p))
        .collect::<Result<_, _>>()?;
    input::mark_nested_duplicates(&mut files);
    input::mark_same_sensor_copies(&mut files);
    let agg = aggregate(&files, opts)?;
    let report = report::build(&agg, &files, opts);
    Ok((report, agg))
}

/// The progress bar: bytes of `total`, or only bytes read when a stream's size
/// is unknown (`streamed`).
fn progress_bar(opts: &Options, total: u64, streamed: bool) -> indicatif::ProgressBar {
    if !opts.progress {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    let template = if streamed {
        "{spinner} reading {bytes} {bytes_per_sec}"
    } else {
        "{spinner} reading {bytes}/{total_bytes} [{wide_bar}] {bytes_per_sec} eta {eta}"
    };
    if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar
}

/// Parses every file into one merged aggregator.
pub fn aggregate(files: &[InputFile], opts: &Options) -> Result<Aggregator, ReportError> {
    // Inputs marked skipped (another input of the same sensor holds their events)
    // are listed in the report, not read.
    let files: Vec<&InputFile> = files.iter().filter(|f| f.skipped.is_none()).collect();
    let total: u64 = files.iter().map(|f| f.size).sum();
    let streamed = files.iter().any(|f| f.stream.is_some());
    let bar = progress_bar(opts, total, streamed);
    let counter = Arc::new(AtomicU64::new(0));
    let mut merged = Aggregator::new(opts.session_gap_secs);
    let threads = if opts.threads == 0 {
        rayon::current_num_threads()
    } else {
        opts.threads
    }
    .clamp(1, MAX_WORKERS);
    // Sessions can be folded early only when one file holds all of them: an auth log
    // and a session log of one sensor (or two stores) would otherwise count them
    // twice. A trawl.db holds both kinds of row itself: it folds a session once both
    // of its tables have shown it complete (see `input::sqlite`).
    let fold_sessions = files.len() == 1;
    for file in files.iter().filter(|f| matches!(f.format, Format::Sqlite)) {
        input::sqlite::read(file, &mut merged, opts, (threads, fold_sessions))?;
        counter.fetch_add(file.size, Ordering::Relaxed);
        bar.set_position(counter.load(Ordering::Relaxed));
    }
    let text_files: Vec<Arc<InputFile>> = files
        .iter()
        .filter(|f| !matches!(f.format, Format::Sqlite))
        .map(|f| Arc::new(clone_file(f)))
        .collect();
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
    merged.flush_runs();
    merged.settle_fetches();
    Ok(merged)
}

/// Block size for sharded workers: small enough that a block read is still in the
/// core's cache when it is parsed (4 MiB blocks cost a cache miss per line twice:
/// once in the kernel's copy, once in the parse).
const SHARD_BLOCK: usize = 256 << 10;
/// A sharded worker folds finished sessions once it has parsed this many bytes
/// since the last fold: half a block, so after every block (a block holds whole
/// records, a little less than [`SHARD_BLOCK`]). A session's state is then mostly
/// still in cache when it is folded (folding every 4 MiB, as until session 14, cost
/// 3-6 % more wall time on the benchmark log, whose sessions each came back from
/// memory to be folded).
const FOLD_EVERY: usize = SHARD_BLOCK / 2;
/// A fold also waits for at least this many bytes per open session: each fold walks
/// every open session, so a log with very many sessions open at once is not walked
/// on every block (a Heralding row is ~150 bytes).
const FOLD_BYTES_PER_OPEN_SESSION: usize = 64;
/// Sets the run's stop flag when a worker thread unwinds from a panic, so that the
/// others (which may be waiting for its blocks) end too and the panic reaches the
/// caller instead of a hang.
struct StopOnPanic<'a>(&'a AtomicBool);

impl Drop for StopOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Ordering::Relaxed);
        }
    }
}

/// Blocks read ahead of the split workers when this thread reads for them.
const READ_AHEAD: usize = 8;
/// Blocks per shard that splitting may run ahead of parsing (see
/// [`Shared::split_worker`]; at least 1, or the workers could wait on each other).
const SPLIT_AHEAD: usize = 2;

/// The rows of block `index` that one shard takes.
struct SplitRows {
    index: usize,
    block: Arc<Block>,
    rows: RowList,
}

/// The blocks of every file, numbered in file order, read by whichever split
/// worker needs one next (or, when an input is gzip-compressed, taken from the
/// thread that decompresses them); blocks read on the way to a later one wait for
/// the worker they belong to.
struct SplitFeed {
    state: Mutex<SplitState>,
    pool: Arc<BufferPool>,
    /// Row lists handed back after parsing, for the next split.
    lists: RowListPool,
}

/// Row lists for reuse, as [`BufferPool`] keeps block buffers: the worker that
/// splits a block takes one per shard, and each shard's worker hands its list back
/// once it has parsed the rows, so no list is allocated (and freed) per block.
/// Measured: the split no longer touches fresh memory after the first blocks, but
/// the run's page faults stay the same (~46 K for 1 M rows): the aggregator's
/// growing tables fault in the pages the lists used to touch first.
#[derive(Default)]
struct RowListPool {
    free: Mutex<Vec<RowList>>,
}

/// Row lists kept for reuse at most (those in flight are far fewer).
const ROW_LISTS_KEPT: usize = 4 * MAX_WORKERS;

impl RowListPool {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<RowList>> {
        self.free
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `count` lists, reused ones first (their rows are still in them:
    /// [`split_block`] empties them).
    fn take(&self, count: usize) -> Vec<RowList> {
        let mut lists = {
            let mut free = self.lock();
            let keep = free.len().saturating_sub(count);
            free.split_off(keep)
        };
        lists.resize_with(count, RowList::default);
        lists
    }

    /// Keeps `list` for reuse, unless the pool is full or the list is huge.
    fn put(&self, list: RowList) {
        if list.worth_keeping() {
            let mut free = self.lock();
            if free.len() < ROW_LISTS_KEPT {
                free.push(list);
            }
        }
    }
}

/// Blocks read (and decompressed) by another thread, in file order.
type BlockInbox = mpsc::Receiver<Result<Block, ReportError>>;

#[derive(Default)]
struct SplitState {
    /// Next file to open.
    file: usize,
    reader: Option<BlockReader>,
    /// Where blocks come from when another thread reads the files.
    inbox: Option<BlockInbox>,
    /// Blocks read so far.
    read: usize,
    /// Number of blocks, once the last file has ended.
    total: Option<usize>,
    waiting: BTreeMap<usize, Block>,
}

impl SplitFeed {
    fn new(pool: Arc<BufferPool>, inbox: Option<BlockInbox>) -> Self {
        SplitFeed {
            state: Mutex::new(SplitState {
                inbox,
                ..SplitState::default()
            }),
            pool,
            lists: RowListPool::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SplitState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Block `index` (each is handed out once), or `None` past the last block.
    fn block(&self, shared: &Shared<'_>, index: usize) -> Result<Option<Block>, ReportError> {
        let mut state = self.lock();
        while state.read <= index && state.total.is_none() {
            match self.next(shared, &mut state)? {
                Some(block) => {
                    let at = state.read;
                    state.waiting.insert(at, block);
                    state.read += 1;
                }
                None => state.total = Some(state.read),
            }
        }
        Ok(state.waiting.remove(&index))
    }

    /// Number of blocks, once known.
    fn total(&self) -> Option<usize> {
        self.lock().total
    }

    fn next(
        &self,
        shared: &Shared<'_>,
        state: &mut SplitState,
    ) -> Result<Option<Block>, ReportError> {
        if let Some(inbox) = &state.inbox {
            // The reading thread's sender is dropped after the last block.
            return inbox.recv().map_or(Ok(None), |block| block.map(Some));
        }
        loop {
            if let Some(reader) = state.reader.as_mut() {
                match reader.next() {
                    Some(block) => return block.map(Some),
                    None => state.reader = None,
                }
            }
            let Some(file) = shared.files.get(state.file) else {
                return Ok(None);
            };
            state.file += 1;
            state.reader = Some(shared.reader(file, shared.counter, &self.pool, SHARD_BLOCK)?);
        }
    }
}

/// When a sharded worker folds its finished sessions: every [`FOLD_EVERY`] bytes
/// and [`FOLD_BYTES_PER_OPEN_SESSION`] per open session, or every block when a
/// block size is given (tests use tiny blocks).
struct Folds {
    every: usize,
    /// Whether the interval grows with the open sessions (not with a given block size).
    per_session: bool,
    since: usize,
}

impl Folds {
    fn new(opts: &Options) -> Self {
        let (every, per_session) = match opts.block_size {
            0 => (FOLD_EVERY, true),
            n => (n, false),
        };
        Folds {
            every,
            per_session,
            since: 0,
        }
    }

    /// Counts `bytes` more with `open` sessions held; true when a fold is due.
    fn due(&mut self, bytes: usize, open: usize) -> bool {
        self.since += bytes;
        let every = if self.per_session {
            self.every
                .max(open.saturating_mul(FOLD_BYTES_PER_OPEN_SESSION))
        } else {
            self.every
        };
        let due = self.since >= every;
        if due {
            self.since = 0;
        }
        due
    }
}

/// What every worker of one run shares.
struct Shared<'a> {
    files: &'a [Arc<InputFile>],
    opts: &'a Options,
    fold_sessions: bool,
    counter: &'a Arc<AtomicU64>,
    bar: &'a indicatif::ProgressBar,
}

impl Shared<'_> {
    /// One worker per shard, each taking its own rows of every block, in file
    /// order. Every file is read once, and every line split once: the workers take
    /// turns splitting the next block into lines, and hand each other shard its
    /// rows of it ([`Self::split_worker`]). Plain files are read by the workers
    /// themselves (one worker alone just reads and parses); when an input is
    /// gzip-compressed, this thread reads and decompresses every file while the
    /// workers parse ([`Self::read_for_workers`]). Either way this thread moves
    /// the progress bar.
    fn read_sharded(&self, threads: usize) -> Vec<Result<Aggregator, ReportError>> {
        let compressed = self.files.iter().any(|f| f.gzip);
        let stop = AtomicBool::new(false);
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let pool = Arc::new(BufferPool::default());
        let (block_tx, block_rx) = mpsc::sync_channel(READ_AHEAD);
        let split = SplitFeed::new(Arc::clone(&pool), compressed.then_some(block_rx));
        let (rows_txs, rows_rxs): (Vec<_>, Vec<_>) =
            (0..threads).map(|_| mpsc::channel::<SplitRows>()).unzip();
        std::thread::scope(|scope| {
            let mut handles = Vec::with_capacity(threads);
            for (index, rows_rx) in rows_rxs.into_iter().enumerate() {
                let shard = Shard {
                    index,
                    count: threads,
                };
                let (stop, done, pool) = (&stop, done_tx.clone(), &pool);
                let (split, rows_txs) = (&split, &rows_txs);
                handles.push(scope.spawn(move || {
                    let _stop_on_panic = StopOnPanic(stop);
                    let result = if threads == 1 && !compressed {
                        self.sole_worker(stop, pool)
                    } else {
                        self.split_worker(shard, split, (rows_txs, &rows_rx), stop)
                    };
                    if result.is_err() {
                        stop.store(true, Ordering::Relaxed);
                    }
                    let _ = done.send(());
                    result
                }));
            }
            drop(done_tx);
            let read_error = if compressed {
                self.read_for_workers(block_tx, &stop, &pool).err()
            } else {
                drop(block_tx);
                self.wait(&done_rx, threads);
                None
            };
            let mut results: Vec<_> = handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect();
            if let Some(e) = read_error {
                results.insert(0, Err(e));
            }
            results
        })
    }

    /// Moves the progress bar until `threads` workers have ended (or dropped their
    /// senders in a panic), waking every 50 ms.
    fn wait(&self, done: &mpsc::Receiver<()>, threads: usize) {
        let mut running = threads;
        while running > 0 {
            match done.recv_timeout(Duration::from_millis(50)) {
                Ok(()) => running -= 1,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            self.bar.set_position(self.counter.load(Ordering::Relaxed));
        }
    }

    /// Reads every file and sends its blocks to the split workers' [`SplitFeed`]
    /// (through a channel of [`READ_AHEAD`] blocks); stops early when a worker
    /// failed (`stop` is set). The sender is dropped on return (`block_tx` is
    /// moved in), which tells the workers the last block has come.
    fn read_for_workers(
        &self,
        block_tx: mpsc::SyncSender<Result<Block, ReportError>>,
        stop: &AtomicBool,
        pool: &Arc<BufferPool>,
    ) -> Result<(), ReportError> {
        for file in self.files {
            for block in self.reader(file, self.counter, pool, SHARD_BLOCK)? {
                self.bar.set_position(self.counter.load(Ordering::Relaxed));
                let mut item = Some(block);
                while let Some(block) = item.take() {
                    match block_tx.try_send(block) {
                        Ok(()) => {}
                        Err(mpsc::TrySendError::Full(block)) => {
                            if stop.load(Ordering::Relaxed) {
                                return Ok(());
                            }
                            // The workers are behind: wait for room.
                            std::thread::sleep(Duration::from_micros(200));
                            item = Some(block);
                        }
                        Err(mpsc::TrySendError::Disconnected(_)) => return Ok(()),
                    }
                }
            }
        }
        Ok(())
    }

    /// A worker's aggregator for CSV rows split `shard.count` ways, with room made
    /// up front for the sources and credential pairs it may hold: about one source
    /// per kilobyte of log and one pair per two (the benchmark logs have a source
    /// per 900 to 1,500 bytes and a pair per 1,750), at most 2^21 of each.
    ///
    /// The first shard's aggregator is the one the others are merged into (see
    /// [`Aggregator::merge`]): it makes room for the whole input, so that the merge
    /// adds the others' sources and pairs without growing its tables (growing
    /// rehashes every entry into a table of twice the size, in fresh memory: the
    /// longest step of the merge). The others make room for their share.
    fn sharded_aggregator(&self, shard: Shard) -> Aggregator {
        const MOST: u64 = 1 << 21;
        let bytes: u64 = self.files.iter().map(|f| f.size).sum();
        let shards = if shard.index == 0 {
            1
        } else {
            shard.count.max(1) as u64
        };
        let room = |per_byte: u64| usize::try_from((bytes / per_byte / shards).min(MOST));
        Aggregator::new(self.opts.session_gap_secs)
            .sessions_per_source()
            .expecting(room(1024).unwrap_or(0), room(2048).unwrap_or(0))
    }

    /// A block reader for `file` taking its buffers from `pool`, with the run's
    /// block size or else `default`.
    fn reader(
        &self,
        file: &Arc<InputFile>,
        counter: &Arc<AtomicU64>,
        pool: &Arc<BufferPool>,
        default: usize,
    ) -> Result<BlockReader, ReportError> {
        let size = match self.opts.block_size {
            0 => default,
            n => n,
        };
        Ok(BlockReader::new(Arc::clone(file), Arc::clone(counter))?
            .with_pool(Arc::clone(pool))
            .with_block_size(size))
    }

    /// Parses `shard`'s rows of one CSV block, in file order.
    fn shard_block(
        &self,
        agg: &mut Aggregator,
        block: &Block,
        shard: Shard,
        folds: &mut Folds,
    ) -> Result<(), ReportError> {
        let Format::Csv(map) = &block.file.format else {
            return Ok(());
        };
        agg.begin_block();
        input::csvlog::parse_block(block, map, agg, self.opts, shard)?;
        if self.fold_sessions && folds.due(block.data.len(), agg.sessions.len()) {
            agg.end_block_in_order();
        }
        Ok(())
    }

    /// The only worker: reads every file in small blocks (still in this core's
    /// cache when they are parsed) and takes every row.
    fn sole_worker(
        &self,
        stop: &AtomicBool,
        pool: &Arc<BufferPool>,
    ) -> Result<Aggregator, ReportError> {
        let mut agg = self.sharded_aggregator(Shard::ALL);
        let mut folds = Folds::new(self.opts);
        for file in self.files {
            for block in self.reader(file, self.counter, pool, SHARD_BLOCK)? {
                if stop.load(Ordering::Relaxed) {
                    return Ok(agg);
                }
                let block = block?;
                self.shard_block(&mut agg, &block, Shard::ALL, &mut folds)?;
                pool.put(block.data);
            }
        }
        Ok(agg)
    }

    /// A worker of a plain-file run with several shards. Blocks are numbered in
    /// file order; this worker reads and splits every `count`-th one (its own index
    /// first) and sends each other shard its rows of it, and it parses its own rows
    /// of every block in order, whoever split it. Splitting runs up to
    /// [`SPLIT_AHEAD`] blocks per shard ahead of parsing, so that no worker waits
    /// on a block that another is still waiting to be allowed to split (a worker
    /// splits block `k` once it has parsed past `k - ahead`: two workers each
    /// waiting on the other would need `k >= j + ahead` and `j >= k + ahead`).
    fn split_worker(
        &self,
        shard: Shard,
        feed: &SplitFeed,
        (senders, inbox): (&[mpsc::Sender<SplitRows>], &mpsc::Receiver<SplitRows>),
        stop: &AtomicBool,
    ) -> Result<Aggregator, ReportError> {
        let ahead = SPLIT_AHEAD * shard.count;
        let mut agg = self.sharded_aggregator(shard);
        let mut folds = Folds::new(self.opts);
        let mut ready: BTreeMap<usize, (Arc<Block>, RowList)> = BTreeMap::new();
        let (mut next_split, mut next_parse) = (shard.index, 0usize);
        let mut total: Option<usize> = None;
        loop {
            if stop.load(Ordering::Relaxed) {
                return Ok(agg);
            }
            while total.is_none_or(|t| next_split < t) && next_split < next_parse + ahead {
                match feed.block(self, next_split)? {
                    Some(block) => {
                        let block = Arc::new(block);
                        let lists = match &block.file.format {
                            Format::Csv(map) => {
                                let mut lists = feed.lists.take(shard.count);
                                split_block(&block, map, &mut lists);
                                lists
                            }
                            _ => Vec::new(),
                        };
                        for (index, rows) in lists.into_iter().enumerate() {
                            if index == shard.index {
                                ready.insert(next_split, (Arc::clone(&block), rows));
                            } else if let Some(tx) = senders.get(index) {
                                // A worker that is gone failed: its error ends the run.
                                let _ = tx.send(SplitRows {
                                    index: next_split,
                                    block: Arc::clone(&block),
                                    rows,
                                });
                            }
                        }
                    }
                    None => total = feed.total(),
                }
                next_split += shard.count;
            }
            if total.is_some_and(|t| next_parse >= t) {
                return Ok(agg);
            }
            let Some((block, rows)) = ready.remove(&next_parse) else {
                match inbox.recv_timeout(Duration::from_millis(50)) {
                    Ok(m) => {
                        ready.insert(m.index, (m.block, m.rows));
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    // Cannot happen: the senders live as long as the workers.
                    Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(agg),
                }
                total = total.or_else(|| feed.total());
                continue;
            };
            agg.begin_block();
            if let Format::Csv(map) = &block.file.format {
                input::csvlog::parse_rows(&block, map, &rows, &mut agg, self.opts)?;
            }
            if self.fold_sessions && folds.due(block.data.len(), agg.sessions.len()) {
                agg.end_block_in_order();
            }
            feed.lists.put(rows);
            if let Some(b) = Arc::into_inner(block) {
                feed.pool.put(b.data);
            }
            next_parse += 1;
        }
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
                let reader = match self.reader(file, self.counter, &pool, BLOCK_SIZE) {
                    Ok(r) => r,
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
        nested_attempts_elsewhere: f.nested_attempts_elsewhere,
        skipped: f.skipped.clone(),
        stream: f.stream.clone(),
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
    fn folds_wait_longer_the_more_sessions_are_open() {
        let mut folds = Folds::new(&Options::default());
        // Few sessions open: a fold after every block.
        assert!(folds.due(SHARD_BLOCK, 10));
        assert!(folds.due(SHARD_BLOCK, 10));
        // 100 k sessions open: a fold once 6.4 MB more are read, not before.
        let open = 100_000;
        let blocks = (open * FOLD_BYTES_PER_OPEN_SESSION).div_ceil(SHARD_BLOCK);
        for _ in 1..blocks {
            assert!(!folds.due(SHARD_BLOCK, open));
        }
        assert!(folds.due(SHARD_BLOCK, open));
        // A given block size (tests' tiny blocks) folds every block, however many are open.
        let mut given = Folds::new(&Options {
            block_size: 512,
            ..Options::default()
        });
        assert!(given.due(512, open));
        assert!(given.due(512, open));
    }

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

    /// A plain file is read and split once, by the workers in turn, which hand each
    /// other their rows: a bad row under `--strict` ends the run with its error
    /// whichever worker owns it or split it, and no worker is left waiting for rows
    /// that will never come.
    #[test]
    fn a_strict_error_in_any_shard_ends_a_plain_file_run() {
        let dir = tempfile::tempdir().unwrap();
        let plain = format!("{}/tests/fixtures/seed_7up.csv", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&plain).unwrap();
        let (header, rows) = text.split_at(text.find('\n').unwrap() + 1);
        let cut = rows[..rows.len() / 2].rfind('\n').unwrap() + 1;
        for last in 1..=8 {
            let bad_row = format!("yesterday,a,b,192.0.2.{last},1,,23,telnet,u,p\n");
            let body = format!("{}{bad_row}{}", &rows[..cut], &rows[cut..]);
            let path = dir.path().join(format!("bad{last}.csv"));
            std::fs::write(&path, format!("{header}{}", body.repeat(4))).unwrap();
            let file = input::detect(0, &path).unwrap();
            for threads in [2, 3] {
                let strict = Options {
                    block_size: 4_096,
                    threads,
                    strict: true,
                    ..Options::default()
                };
                let err = aggregate(std::slice::from_ref(&file), &strict).unwrap_err();
                assert!(err.to_string().contains("bad timestamp"), "{err}");
                let lenient = Options {
                    strict: false,
                    ..strict
                };
                let agg = aggregate(std::slice::from_ref(&file), &lenient).unwrap();
                assert_eq!(agg.bad_total, 4, "192.0.2.{last}, {threads} threads");
            }
        }
    }

    /// A gzip input is decompressed once and its blocks handed to every sharded
    /// worker: the counts equal the plain file's, and a bad row under `--strict`
    /// ends the run with its error instead of leaving the reader blocked.
    #[test]
    fn gzip_inputs_are_shared_out_to_the_shards() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let plain = format!("{}/tests/fixtures/seed_7up.csv", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read(&plain).unwrap();
        let gz = |name: &str, body: &[u8]| {
            let path = dir.path().join(name);
            let mut enc = flate2::write::GzEncoder::new(
                std::fs::File::create(&path).unwrap(),
                flate2::Compression::fast(),
            );
            enc.write_all(body).unwrap();
            enc.finish().unwrap();
            input::detect(0, &path).unwrap()
        };
        let counts = |file: &InputFile, threads: usize| {
            let opts = Options {
                block_size: 4_096,
                threads,
                ..Options::default()
            };
            let agg = aggregate(std::slice::from_ref(file), &opts).unwrap();
            let sessions = agg.done_sessions.by_id + agg.sessions.len() as u64;
            (agg.events, agg.sources.len(), agg.pairs.len(), sessions)
        };
        let compressed = gz("seed.csv.gz", &text);
        let want = counts(&input::detect(0, std::path::Path::new(&plain)).unwrap(), 1);
        for threads in [1, 2, 3] {
            assert_eq!(counts(&compressed, threads), want, "{threads} threads");
        }
        let mut bad = text.clone();
        bad.extend_from_slice(b"not,a,row\n");
        bad.extend(text.iter().skip_while(|&&b| b != b'\n').skip(1));
        let bad = gz("bad.csv.gz", &bad);
        let strict = Options {
            block_size: 4_096,
            threads: 2,
            strict: true,
            ..Options::default()
        };
        let err = aggregate(std::slice::from_ref(&bad), &strict).unwrap_err();
        assert!(err.to_string().contains("expected 10 columns"), "{err}");
        // A plain file and a compressed one in one run: every block of both is read
        // by this thread, in order, and counted once.
        let mixed = [
            input::detect(0, std::path::Path::new(&plain)).unwrap(),
            input::detect(1, &compressed.path).unwrap(),
        ];
        for threads in [1, 2, 3] {
            let opts = Options {
                block_size: 4_096,
                threads,
                ..Options::default()
            };
            let agg = aggregate(&mixed, &opts).unwrap();
            assert_eq!(agg.events, 2 * want.0, "{threads} threads");
            assert_eq!(agg.sources.len(), want.1, "{threads} threads");
        }
        // A gzip stream cut short is an error of the run, not a hang or a panic.
        let whole = std::fs::read(&compressed.path).unwrap();
        let cut = dir.path().join("cut.csv.gz");
        std::fs::write(&cut, &whole[..whole.len() / 2]).unwrap();
        let cut = input::detect(0, &cut).unwrap();
        for threads in [1, 2, 3] {
            let opts = Options {
                block_size: 4_096,
                threads,
                ..Options::default()
            };
            assert!(aggregate(std::slice::from_ref(&cut), &opts).is_err());
        }
    }
}
