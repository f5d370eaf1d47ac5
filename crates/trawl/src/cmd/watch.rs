//! `trawl watch`: the inventory checked against outside data, new findings reported.

use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
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
    let mut store = Store::open(&data_dir(args.data_dir)?)?;
    let bar = progress_bar(args.quiet);
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
        render::write_alerts(&mut out, format, &alerts)?;
    }
    out.flush()?;
    eprintln!(
        "trawl: {sources} sources, {lines} lines, {skipped} skipped lines, {total} findings, {new} new"
    );
    Ok(if new > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
