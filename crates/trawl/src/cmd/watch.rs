//! `trawl watch`: the inventory checked against outside data, new findings reported.

use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use trawl_watch::render::{self, OutputFormat};
use trawl_watch::store::Store;
use trawl_watch::{Run, Settings};

const MAX_WARNINGS_SHOWN: usize = 20;

/// Flags of `trawl watch`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The inventory (TOML: [[entity]] tables; see docs/watch.md).
    #[arg(long, short = 'i')]
    inventory: PathBuf,
    /// Sources: files, directories, globs or `-` (stdin); gzip is read transparently.
    #[arg(default_value = "-")]
    sources: Vec<String>,
    /// Where the state store lives (default: $TRAWL_DATA_DIR, else ~/.local/share/trawl).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Show every finding, not only those no earlier run reported.
    #[arg(long)]
    all: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Show dumped passwords in clear (they are never stored).
    #[arg(long)]
    reveal: bool,
    /// No progress bar.
    #[arg(long, short = 'q')]
    quiet: bool,
    /// Keep following the files as they grow, across rotation (like `tail -F`); new findings
    /// are printed as they are found. SIGINT/SIGTERM end it with the summary.
    #[arg(long, short = 'f')]
    follow: bool,
    /// POST new findings as JSON to this URL (retried; kept and re-sent by the next run if
    /// delivery fails, which is exit code 2). See docs/watch.md "Webhook".
    #[arg(long, value_name = "URL")]
    webhook: Option<String>,
    /// Tries per webhook POST (back-off 0.5 s, doubling).
    #[arg(long, value_name = "N", default_value_t = trawl_watch::webhook::DEFAULT_ATTEMPTS)]
    webhook_attempts: u32,
    /// Most findings in one webhook POST.
    #[arg(long, value_name = "N", default_value_t = trawl_watch::webhook::DEFAULT_BATCH)]
    webhook_batch: usize,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Format {
    Table,
    Jsonl,
    Csv,
    Markdown,
}

fn data_dir(arg: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(d) = arg {
        return Ok(d);
    }
    if let Some(d) = std::env::var_os("TRAWL_DATA_DIR") {
        return Ok(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_DATA_HOME") {
        return Ok(PathBuf::from(d).join("trawl"));
    }
    let home = std::env::var_os("HOME").context("no --data-dir, TRAWL_DATA_DIR or HOME")?;
    Ok(PathBuf::from(home).join(".local/share/trawl"))
}

fn progress_bar(quiet: bool) -> ProgressBar {
    if quiet || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template("{spinner} scanning {bytes} ({bytes_per_sec})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Runs `trawl watch`: exit 1 when there are new findings, 0 when none.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let watcher = trawl_watch::load(
        &args.inventory,
        Settings {
            reveal: args.reveal,
        },
    )?;
    let mut store = Store::open(&data_dir(args.data_dir.clone())?)?;
    let hook = make_webhook(&args)?;
    let bar = progress_bar(args.quiet);
    if args.follow {
        return follow(&args, &watcher, &mut store, &bar);
    }
    let mut run = Run::default();
    watcher.scan_sources(&args.sources, &mut run, &|n| bar.inc(n))?;
    bar.finish_and_clear();
    let (lines, skipped, sources) = (run.lines, run.skipped, run.sources);
    for w in run.warnings.iter().take(MAX_WARNINGS_SHOWN) {
        eprintln!("trawl: warning: {w}");
    }
    if run.warnings.len() > MAX_WARNINGS_SHOWN {
        eprintln!(
            "trawl: {} more warnings not shown",
            run.warnings.len() - MAX_WARNINGS_SHOWN
        );
    }
    let mut alerts = run.into_alerts();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    store.record(&mut alerts, now)?;
    if hook.is_some() {
        let fresh: Vec<&trawl_watch::alert::Alert> = alerts.iter().filter(|a| a.new).collect();
        store.queue(&fresh, now)?;
    }
    let total = alerts.len();
    let new = alerts.iter().filter(|a| a.new).count();
    if !args.all {
        alerts.retain(|a| a.new);
    }
    alerts.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.category.cmp(&b.category))
    });
    let format = match args.format {
        Format::Table => OutputFormat::Table,
        Format::Jsonl => OutputFormat::Jsonl,
        Format::Csv => OutputFormat::Csv,
        Format::Markdown => OutputFormat::Markdown,
    };
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    if !alerts.is_empty() || !matches!(format, OutputFormat::Table) {
        render::write_alerts(&mut out, format, &alerts, true)?;
    }
    out.flush()?;
    eprintln!(
        "trawl: {sources} sources, {lines} lines, {skipped} skipped lines, {total} findings, {new} new"
    );
    if let Some(hook) = &hook
        && !deliver(&mut store, hook)
    {
        return Ok(ExitCode::from(2));
    }
    Ok(if new > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn make_webhook(args: &Args) -> anyhow::Result<Option<trawl_watch::webhook::Webhook>> {
    args.webhook
        .as_deref()
        .map(|url| {
            trawl_watch::webhook::Webhook::new(url, args.webhook_attempts, args.webhook_batch)
        })
        .transpose()
        .map_err(Into::into)
}

/// Posts everything queued for the webhook; false (after saying why) when delivery failed —
/// the undelivered findings stay queued for the next run.
fn deliver(store: &mut Store, hook: &trawl_watch::webhook::Webhook) -> bool {
    match trawl_watch::webhook::deliver_pending(store, hook) {
        Ok(0) => true,
        Ok(n) => {
            eprintln!("trawl: webhook: {n} findings delivered");
            true
        }
        Err(e) => {
            let left = store.pending_count().unwrap_or(0);
            eprintln!("trawl: error: {e}; {left} findings kept for the next run");
            false
        }
    }
}

fn output_format(format: Format) -> OutputFormat {
    match format {
        Format::Table => OutputFormat::Table,
        Format::Jsonl => OutputFormat::Jsonl,
        Format::Csv => OutputFormat::Csv,
        Format::Markdown => OutputFormat::Markdown,
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// A flag set by SIGINT or SIGTERM (tokio's signal handling, on a small thread of its own).
/// The handlers are installed before this returns, so an early signal is not lost.
fn stop_on_signals() -> anyhow::Result<Arc<AtomicBool>> {
    use tokio::signal::unix::{SignalKind, signal};
    let flag = Arc::new(AtomicBool::new(false));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    let (mut interrupt, mut terminate) = runtime.block_on(async {
        Ok::<_, io::Error>((
            signal(SignalKind::interrupt())?,
            signal(SignalKind::terminate())?,
        ))
    })?;
    let set = Arc::clone(&flag);
    std::thread::spawn(move || {
        runtime.block_on(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
        });
        set.store(true, Ordering::Relaxed);
    });
    Ok(flag)
}

/// `--follow`: findings are recorded and printed (and stdout flushed) after every round of
/// reading, warnings as they come; the summary and exit code as in a normal run.
fn follow(
    args: &Args,
    watcher: &trawl_watch::Watcher,
    store: &mut Store,
    bar: &ProgressBar,
) -> anyhow::Result<ExitCode> {
    let stop = stop_on_signals()?;
    let hook = make_webhook(args)?;
    let format = output_format(args.format);
    let mut run = Run::default();
    let (mut total, mut new, mut warned) = (0usize, 0usize, 0usize);
    let mut header_written = false;
    let mut emit = |run: &mut Run| -> io::Result<()> {
        // Drained as they are printed: a long follow must not keep every warning in memory.
        for w in run.warnings.drain(..) {
            if warned < MAX_WARNINGS_SHOWN {
                eprintln!("trawl: warning: {w}");
            }
            warned += 1;
        }
        let mut fresh = run.take_fresh();
        if fresh.is_empty() {
            return Ok(());
        }
        store
            .record(&mut fresh, unix_now())
            .map_err(io::Error::other)?;
        total += fresh.len();
        new += fresh.iter().filter(|a| a.new).count();
        if !args.all {
            fresh.retain(|a| a.new);
        }
        if fresh.is_empty() {
            return Ok(());
        }
        fresh.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(a.category.cmp(&b.category))
        });
        let mut out = io::stdout().lock();
        render::write_alerts(&mut out, format, &fresh, !header_written)?;
        header_written = !matches!(format, OutputFormat::Table);
        out.flush()?;
        drop(out);
        if let Some(hook) = &hook {
            let queued: Vec<&trawl_watch::alert::Alert> = fresh.iter().filter(|a| a.new).collect();
            store.queue(&queued, unix_now()).map_err(io::Error::other)?;
            deliver(store, hook);
        }
        Ok(())
    };
    trawl_watch::follow::follow(
        watcher,
        &args.sources,
        &mut run,
        &stop,
        &|n| bar.inc(n),
        &mut emit,
    )?;
    bar.finish_and_clear();
    if warned > MAX_WARNINGS_SHOWN {
        eprintln!(
            "trawl: {} more warnings not shown",
            warned - MAX_WARNINGS_SHOWN
        );
    }
    eprintln!(
        "trawl: {} sources, {} lines, {} skipped lines, {total} findings, {new} new",
        run.sources, run.lines, run.skipped
    );
    if hook.is_some() && store.pending_count()? > 0 {
        eprintln!(
            "trawl: error: {} findings not delivered to the webhook, kept for the next run",
            store.pending_count()?
        );
        return Ok(ExitCode::from(2));
    }
    Ok(if new > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
