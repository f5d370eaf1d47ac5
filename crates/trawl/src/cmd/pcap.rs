//! `trawl pcap`: network IOCs from pcap/pcapng captures (files or stdin).

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Context;
use clap::ValueEnum;
use indicatif::{ProgressBar, ProgressStyle};
use trawl_pcap::render::{self, Format};
use trawl_pcap::{Analyzer, Options};

/// Flags of `trawl pcap`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Capture files (pcap or pcapng); `-` reads stdin.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    format: OutputFormat,
    /// Print only the deduplicated IOC list (domains, IPs, URLs).
    #[arg(long)]
    iocs_only: bool,
    /// Keep private/reserved addresses and special-use names in the IOC list.
    #[arg(long)]
    include_private: bool,
    /// Exit with status 1 when a capture is truncated or corrupt.
    #[arg(long)]
    strict: bool,
    /// Extra port carrying DNS besides 53 (repeatable).
    #[arg(long = "dns-port", value_name = "PORT")]
    dns_ports: Vec<u16>,
    /// Distinct destinations on one port that make a scan.
    #[arg(long, default_value_t = 16, value_name = "N")]
    scan_threshold: usize,
    /// Most flows tracked (memory bound); further flows are only counted.
    #[arg(long, default_value_t = 1_000_000, value_name = "N")]
    max_flows: usize,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum OutputFormat {
    Text,
    Json,
    Csv,
    Md,
}

impl From<OutputFormat> for Format {
    fn from(value: OutputFormat) -> Self {
        match value {
            OutputFormat::Text => Format::Text,
            OutputFormat::Json => Format::Json,
            OutputFormat::Csv => Format::Csv,
            OutputFormat::Md => Format::Markdown,
        }
    }
}

/// Runs `trawl pcap`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut dns_ports = vec![53];
    dns_ports.extend(args.dns_ports.iter().copied());
    let mut analyzer = Analyzer::new(Options {
        dns_ports,
        include_private: args.include_private,
        scan_min_destinations: args.scan_threshold.max(2),
        max_flows: args.max_flows.max(1),
    });
    for name in &args.files {
        read_one(&mut analyzer, name)?;
    }
    let report = analyzer.finish();
    for problem in &report.problems {
        eprintln!(
            "trawl pcap: {}: packet {}: {}",
            problem.file, problem.packet, problem.message
        );
    }
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    if args.iocs_only {
        render::write_iocs(&report, args.format.into(), &mut out)?;
    } else {
        render::write_report(&report, args.format.into(), &mut out)?;
    }
    out.flush()?;
    let failed = args.strict && !report.problems.is_empty();
    // Freeing a report of a big capture takes longer than exiting does.
    std::mem::forget(report);
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn read_one(analyzer: &mut Analyzer, name: &str) -> anyhow::Result<()> {
    if name == "-" {
        analyzer.read(name, io::stdin())?;
        return Ok(());
    }
    let file = File::open(name).with_context(|| format!("cannot open {name}"))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let progress = progress_bar(name, size);
    analyzer.read_file(name, &file, |bytes| {
        if let Some(bar) = &progress {
            bar.set_position(bytes);
        }
    })?;
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    Ok(())
}

/// A byte progress bar for files over 16 MiB when stderr is a terminal.
fn progress_bar(name: &str, size: u64) -> Option<ProgressBar> {
    if size < 16 << 20 || !io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(size);
    let style = ProgressStyle::with_template(
        "{msg} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    )
    .ok()?
    .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(name.to_string());
    Some(bar)
}
