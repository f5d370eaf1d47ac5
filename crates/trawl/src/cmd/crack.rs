//! `trawl crack`: the sensor's captured challenge/response material against a wordlist.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{self, BufRead, BufReader, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use trawl_crack::Target;
use trawl_crack::input::{WordBatches, read_hashes};
use trawl_event::display_bytes;

/// Words handed to the worker threads at a time.
const BATCH: usize = 4096;

/// Flags of `trawl crack`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Wordlist: one candidate per line, LF or CRLF (`-` reads stdin).
    #[arg(long, short = 'w')]
    wordlist: PathBuf,
    /// Hash sources: a sensor's trawl.db, log_auth.csv or events.jsonl, or plain lists
    /// with one hash line per line.
    #[arg(required = true)]
    sources: Vec<PathBuf>,
    /// No progress bar.
    #[arg(long, short = 'q')]
    quiet: bool,
}

/// Runs `trawl crack`: prints `hash:password` per cracked hash; exit 0 when at least one
/// was cracked, 1 when none.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (lines, not_crackable) = unique_hash_lines(&args.sources)?;
    let (kept, targets): (Vec<&String>, Vec<Target>) = lines
        .iter()
        .filter_map(|line| Target::parse(line).map(|target| (line, target)))
        .unzip();
    let words = open_wordlist(&args.wordlist)?;
    let mut batches = WordBatches::new(words, BATCH);
    let bar = progress_bar(args.quiet);
    let started = Instant::now();
    let cracked = trawl_crack::crack(&targets, batches.by_ref(), &|n| bar.inc(n as u64));
    bar.finish_and_clear();
    if let Some(err) = batches.error {
        return Err(err).with_context(|| format!("wordlist {}", args.wordlist.display()));
    }
    let mut out = io::BufWriter::new(io::stdout().lock());
    for (line, found) in kept.iter().zip(&cracked.found) {
        if let Some(password) = found {
            writeln!(out, "{line}:{}", display_bytes(password))?;
        }
    }
    out.flush()?;
    summarise(
        &targets,
        &cracked,
        not_crackable + lines.len() - kept.len(),
        started,
    );
    if batches.skipped > 0 {
        eprintln!(
            "trawl crack: {} wordlist lines over {} bytes skipped",
            batches.skipped,
            trawl_crack::input::MAX_WORD
        );
    }
    let any = cracked.found.iter().any(Option::is_some);
    Ok(if any {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The distinct hash lines of all sources (the sensor writes each to three stores), in
/// first-seen order, and how many lines were unreadable.
fn unique_hash_lines(sources: &[PathBuf]) -> anyhow::Result<(Vec<String>, usize)> {
    let mut seen = HashSet::new();
    let mut lines = Vec::new();
    let mut unreadable = 0;
    for source in sources {
        let hashes = read_hashes(source)?;
        for note in &hashes.notes {
            eprintln!("trawl crack: skipped {note}");
        }
        unreadable += usize::try_from(hashes.skipped).unwrap_or(usize::MAX);
        for line in hashes.lines {
            if seen.insert(line.clone()) {
                lines.push(line);
            }
        }
    }
    Ok((lines, unreadable))
}

fn open_wordlist(path: &PathBuf) -> anyhow::Result<Box<dyn BufRead>> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(BufReader::new(io::stdin())));
    }
    let file = File::open(path).with_context(|| format!("wordlist {}", path.display()))?;
    Ok(Box::new(BufReader::with_capacity(1 << 20, file)))
}

fn progress_bar(quiet: bool) -> ProgressBar {
    if quiet || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template("{spinner} {human_pos} words tried ({per_sec})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

fn summarise(
    targets: &[Target],
    cracked: &trawl_crack::Cracked,
    not_crackable: usize,
    started: Instant,
) {
    let mut by_format: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (target, found) in targets.iter().zip(&cracked.found) {
        let entry = by_format.entry(target.format_name()).or_default();
        entry.0 += usize::from(found.is_some());
        entry.1 += 1;
    }
    let formats: Vec<String> = by_format
        .iter()
        .map(|(name, (done, all))| format!("{name} {done}/{all}"))
        .collect();
    let done: usize = by_format.values().map(|(done, _)| done).sum();
    eprintln!(
        "trawl crack: {done} of {} hashes cracked ({}) with {} words in {:.1} s; \
         {not_crackable} other values (SSH key fingerprints, unknown formats) not crackable",
        targets.len(),
        if formats.is_empty() {
            "none".to_string()
        } else {
            formats.join(", ")
        },
        cracked.words,
        started.elapsed().as_secs_f64(),
    );
}
