//! `trawl report`: honeypot analytics over trawl, Heralding, Cowrie and OpenCanary logs.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use trawl_report::render::{OutputFormat, render};
use trawl_report::{Filters, Options, filter};

/// Output formats.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    /// Aligned tables.
    Text,
    /// JSON document.
    Json,
    /// Long CSV.
    Csv,
    /// Markdown.
    Md,
    /// Self-contained HTML with charts.
    Html,
}

/// Flags of `trawl report`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Log files or glob patterns: trawl.db, log_auth.csv, log_session.csv, events.jsonl,
    /// Heralding CSV/JSON, Cowrie JSON, OpenCanary JSON; `.gz` is read transparently;
    /// a directory stands for the logs in it (a trawl data directory's trawl.db alone:
    /// its other files hold the same events); `-` reads standard input (a named pipe or
    /// `<(zcat log.gz)` works too; `- < trawl.db` reads that file by its path).
    #[arg(required = true, value_name = "FILE|DIR|GLOB|-")]
    pub inputs: Vec<String>,
    /// Output format, of every --out file [default: from each --out file's extension
    /// (.json, .csv, .md, .html), else text].
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Write to this file instead of stdout; repeat to write several formats from one
    /// run (`--out r.html --out r.json`). A file that is also an input is refused.
    #[arg(long, value_name = "FILE")]
    pub out: Vec<PathBuf>,
    /// Keep events at or after this time (`2016-12-14` or `2016-12-14 21:50:00`, UTC),
    /// or this long ago (`24h`, `7d`; units s, m, h, d, w).
    #[arg(long)]
    pub since: Option<String>,
    /// Keep events before this time (same forms as --since).
    #[arg(long)]
    pub until: Option<String>,
    /// Keep only these protocols (repeat or comma-separate).
    #[arg(long, value_delimiter = ',')]
    pub protocol: Vec<String>,
    /// Keep only sources in these networks (CIDR or address; repeat or comma-separate;
    /// `@FILE` reads a list, one per line, `#` comments).
    #[arg(long, value_delimiter = ',', value_name = "CIDR|@FILE")]
    pub source: Vec<String>,
    /// Leave out sources in these networks: your own scanners, research scanners
    /// (same forms as --source; applied after it).
    #[arg(long, value_delimiter = ',', value_name = "CIDR|@FILE")]
    pub exclude_source: Vec<String>,
    /// Rows per top-N table.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// Campaigns to list.
    #[arg(long, default_value_t = 20)]
    pub campaigns: usize,
    /// Jaccard similarity at which two behaviour fingerprints join one campaign (0..=1).
    #[arg(long, default_value_t = 0.6)]
    pub jaccard: f64,
    /// Flag campaigns whose dictionary has at most this many pairs, none from a known family.
    #[arg(long, default_value_t = 3)]
    pub tiny_dictionary: usize,
    /// Seconds of silence that end a session in logs without session ids.
    #[arg(long, default_value_t = 300)]
    pub session_gap: i64,
    /// Stop at the first bad row instead of counting it.
    #[arg(long)]
    pub strict: bool,
    /// Worker threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

/// The networks of `--source`/`--exclude-source` values: CIDRs, addresses and
/// `@FILE` lists. A list with no network is refused for `--source` (`keep_only`):
/// an empty filter keeps every source, the opposite of what an empty allow-list
/// means.
fn networks(flag: &str, values: &[String], keep_only: bool) -> anyhow::Result<filter::Networks> {
    let mut nets = Vec::new();
    for value in values.iter().map(|v| v.trim()).filter(|v| !v.is_empty()) {
        if let Some(path) = value.strip_prefix('@') {
            let list = filter::read_networks(Path::new(path))
                .with_context(|| format!("{flag} @{path}"))?;
            if keep_only && list.is_empty() {
                bail!("{flag} @{path}: the list has no network (it would keep every source)");
            }
            nets.extend(list);
            continue;
        }
        nets.push(
            filter::parse_network(value)
                .with_context(|| format!("{flag} {value:?} is not a CIDR or an address"))?,
        );
    }
    Ok(filter::Networks::new(nets))
}

fn options(args: &Args) -> anyhow::Result<Options> {
    let now = trawl_report::time::now();
    let bound = |flag: &str, v: &Option<String>| -> anyhow::Result<Option<i64>> {
        v.as_deref()
            .map(|t| {
                trawl_report::time::parse_bound_at(t, now).with_context(|| {
                    format!("{flag} {t:?} is not a date, a timestamp or an age (24h, 7d)")
                })
            })
            .transpose()
    };
    if !(0.0..=1.0).contains(&args.jaccard) {
        bail!("--jaccard must be between 0 and 1");
    }
    Ok(Options {
        filters: Filters {
            since: bound("--since", &args.since)?,
            until: bound("--until", &args.until)?,
            protocols: args
                .protocol
                .iter()
                .map(|p| p.trim().to_ascii_lowercase())
                .filter(|p| !p.is_empty())
                .collect(),
            sources: networks("--source", &args.source, true)?,
            exclude_sources: networks("--exclude-source", &args.exclude_source, false)?,
        },
        top: args.top.max(1),
        campaigns: args.campaigns,
        jaccard: args.jaccard,
        tiny_dictionary: args.tiny_dictionary,
        session_gap_secs: args.session_gap.max(1),
        strict: args.strict,
        progress: std::io::stderr().is_terminal(),
        threads: args.threads,
        block_size: 0,
        // Without --out the report goes to standard output, which may be a file
        // (`>> log_auth.csv`): that is checked too.
        outputs: if args.out.is_empty() {
            vec![PathBuf::from("/dev/stdout")]
        } else {
            args.out.clone()
        },
    })
}

/// The format an output file's extension names (text when it names none).
fn format_of_path(out: &std::path::Path) -> Format {
    let ext = out
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("json") => Format::Json,
        Some("csv") => Format::Csv,
        Some("md" | "markdown") => Format::Md,
        Some("html" | "htm") => Format::Html,
        _ => Format::Text,
    }
}

fn output_format(format: Format) -> OutputFormat {
    match format {
        Format::Text => OutputFormat::Text,
        Format::Json => OutputFormat::Json,
        Format::Csv => OutputFormat::Csv,
        Format::Md => OutputFormat::Md,
        Format::Html => OutputFormat::Html,
    }
}

/// An --out file, opened before the inputs are read (a path that cannot be written
/// fails at once, not after the analysis) but emptied only once the report is
/// ready, so a failed run leaves the last report as it was.
struct OutFile {
    path: PathBuf,
    file: File,
    format: OutputFormat,
    /// Created by this run (removed if the run fails).
    created: bool,
}

impl OutFile {
    fn open(path: &std::path::Path, format: Option<Format>) -> anyhow::Result<Self> {
        let existed = path.exists();
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .with_context(|| format!("creating {}", path.display()))?;
        Ok(OutFile {
            path: path.to_path_buf(),
            file,
            format: output_format(format.unwrap_or_else(|| format_of_path(path))),
            created: !existed,
        })
    }

    fn write(self, report: &trawl_report::report::Report) -> anyhow::Result<()> {
        let context = || format!("writing {}", self.path.display());
        // Devices and pipes (`/dev/null`, `/dev/stdout`) have no length to cut.
        if self.file.metadata().is_ok_and(|m| m.is_file()) {
            self.file.set_len(0).with_context(context)?;
        }
        let mut out = BufWriter::new(self.file);
        render(report, self.format, &mut out).with_context(context)?;
        out.flush().with_context(context)?;
        Ok(())
    }
}

/// Runs `trawl report`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    crate::keep_freed_memory();
    let opts = options(&args)?;
    let outs: Vec<OutFile> = args
        .out
        .iter()
        .map(|path| OutFile::open(path, args.format))
        .collect::<anyhow::Result<_>>()?;
    let (report, counts) = match trawl_report::analyze_with_counts(&args.inputs, &opts) {
        Ok(done) => done,
        Err(e) => {
            for out in outs.iter().filter(|o| o.created) {
                let _ = std::fs::remove_file(&out.path);
            }
            return Err(e.into());
        }
    };
    // The process exits after printing: freeing ~millions of per-source and
    // per-pair allocations would only add time (as much as building the report).
    std::mem::forget(counts);
    if outs.is_empty() {
        let mut out = BufWriter::new(std::io::stdout().lock());
        render(
            &report,
            output_format(args.format.unwrap_or(Format::Text)),
            &mut out,
        )?;
        out.flush()?;
    }
    for out in outs {
        out.write(&report)?;
    }
    for input in &report.inputs {
        if let Some(why) = &input.skipped {
            eprintln!("trawl report: {}: {why}", input.path);
        }
    }
    if report.bad_rows.total > 0 {
        eprintln!(
            "trawl report: {} bad row(s) skipped (--strict makes them fatal):",
            report.bad_rows.total
        );
        for b in &report.bad_rows.shown {
            eprintln!(
                "  {}:{}: {}",
                b.file,
                b.line,
                trawl_report::render::printable(&b.reason, 200)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
