//! `trawl dga`: Mirai DGA generation and brute force, generic DGA scoring.

use std::io::{BufRead, Read, Write};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use trawl_dga::mirai::{self, NaiveDate};
use trawl_dga::{eval, score};

/// Flags of `trawl dga`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The Mirai DGA (12 letters a-y under .online/.tech/.support).
    #[command(subcommand)]
    Mirai(MiraiCommand),
    /// Score names for how machine-generated they look (`-` reads stdin).
    Score {
        /// Domain names, or `-` for one name per line on stdin.
        #[arg(required = true)]
        names: Vec<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Print only names scored as DGA.
        #[arg(long)]
        only_dga: bool,
    },
    /// Precision/recall of the scorer on the built-in labelled set.
    Eval {
        /// Word list the benign names are drawn from (Debian wamerican).
        #[arg(long, default_value = "/usr/share/dict/words")]
        words: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

#[derive(Debug, Subcommand)]
enum MiraiCommand {
    /// List the names for a seed over a date range.
    Generate {
        /// Seed (decimal or 0x hex); 0 and 0x91 were seen in the wild.
        #[arg(long, value_parser = parse_seed, default_value = "0")]
        seed: u32,
        /// First date (YYYY-MM-DD).
        #[arg(long, value_parser = parse_date)]
        from: NaiveDate,
        /// Last date (YYYY-MM-DD); defaults to --from.
        #[arg(long, value_parser = parse_date)]
        to: Option<NaiveDate>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Find every (seed, date) that generates each name.
    Check {
        /// Names (or bare 12-letter labels).
        #[arg(required = true)]
        names: Vec<String>,
        /// First date searched (default 2016-01-01).
        #[arg(long, value_parser = parse_date)]
        from: Option<NaiveDate>,
        /// Last date searched (default today, UTC).
        #[arg(long, value_parser = parse_date)]
        to: Option<NaiveDate>,
        /// Highest seed tried (seeds 0..=MAX).
        #[arg(long, value_parser = parse_seed, default_value = "255")]
        max_seed: u32,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

fn parse_seed(text: &str) -> Result<u32, String> {
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.map_err(|_| format!("invalid seed {text:?}: expected a decimal or 0x-hex u32"))
}

fn parse_date(text: &str) -> Result<NaiveDate, String> {
    mirai::parse_date(text).map_err(|e| e.to_string())
}

/// Runs `trawl dga`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match args.command {
        Command::Mirai(MiraiCommand::Generate {
            seed,
            from,
            to,
            format,
        }) => generate(&mut out, seed, from, to.unwrap_or(from), format),
        Command::Mirai(MiraiCommand::Check {
            names,
            from,
            to,
            max_seed,
            format,
        }) => {
            let from = from.unwrap_or_else(mirai::default_from);
            let to = to.unwrap_or_else(mirai::today);
            check(&mut out, &names, from, to, max_seed, format)
        }
        Command::Score {
            names,
            format,
            only_dga,
        } => score_names(&mut out, &names, format, only_dga),
        Command::Eval { words, format } => evaluate(&mut out, &words, format),
    }
}

fn generate(
    out: &mut impl Write,
    seed: u32,
    from: NaiveDate,
    to: NaiveDate,
    format: Format,
) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(from <= to, "--from {from} is after --to {to}");
    for day in mirai::generate(seed, from, to) {
        match format {
            Format::Text => writeln!(out, "{}\t{:#x}\t{}", day.date, seed, day.names.join("\t"))?,
            Format::Json => writeln!(out, "{}", serde_json::to_string(&day)?)?,
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn check(
    out: &mut impl Write,
    names: &[String],
    from: NaiveDate,
    to: NaiveDate,
    max_seed: u32,
    format: Format,
) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(from <= to, "--from {from} is after --to {to}");
    let mut all_explained = true;
    for name in names {
        let shaped = mirai::matches_mirai_pattern(name)
            || (name.len() == mirai::LABEL_LEN
                && mirai::matches_mirai_pattern(&format!("{name}.online")));
        let origins = if shaped {
            mirai::find_origins(name, 0..=max_seed, from, to)
        } else {
            Vec::new()
        };
        all_explained &= !origins.is_empty();
        match format {
            Format::Json => {
                let record = serde_json::json!({
                    "name": name, "mirai_shape": shaped, "from": from, "to": to,
                    "max_seed": max_seed, "origins": origins,
                });
                writeln!(out, "{record}")?;
            }
            Format::Text if !shaped => writeln!(
                out,
                "{name}\tnot a Mirai DGA name (12 letters a-y under .online/.tech/.support)"
            )?,
            Format::Text if origins.is_empty() => writeln!(
                out,
                "{name}\tno seed 0..={max_seed} generates it between {from} and {to}"
            )?,
            Format::Text => {
                for o in &origins {
                    writeln!(
                        out,
                        "{name}\tseed {:#x} ({})\tdate {}",
                        o.seed, o.seed, o.date
                    )?;
                }
            }
        }
    }
    Ok(if all_explained {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn score_names(
    out: &mut impl Write,
    names: &[String],
    format: Format,
    only_dga: bool,
) -> anyhow::Result<ExitCode> {
    let mut emit = |name: &str| -> anyhow::Result<()> {
        let name = name.trim();
        if name.is_empty() {
            return Ok(());
        }
        let verdict = score::score_domain(name);
        if only_dga && !verdict.is_dga {
            return Ok(());
        }
        match format {
            Format::Text => {
                let label = if verdict.is_dga { "DGA" } else { "ok" };
                writeln!(
                    out,
                    "{:.3}\t{label}\t{}\t{}",
                    verdict.score,
                    printable(name),
                    verdict.reasons.join("; ")
                )?
            }
            Format::Json => {
                let record = serde_json::json!({
                    "name": name, "score": verdict.score, "is_dga": verdict.is_dga, "reasons": verdict.reasons,
                });
                writeln!(out, "{record}")?
            }
        }
        Ok(())
    };
    for name in names {
        if name == "-" {
            read_stdin_names(&mut emit)?;
        } else {
            emit(name)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Longest stdin line taken as a name (DNS names are at most 253 bytes).
const MAX_NAME_LINE: usize = 1024;

/// Feeds stdin to `emit` line by line: bytes that are not UTF-8 are
/// replaced, overlong lines are skipped with a warning naming the line.
fn read_stdin_names(emit: &mut dyn FnMut(&str) -> anyhow::Result<()>) -> anyhow::Result<()> {
    let mut input = std::io::stdin().lock();
    let mut buf = Vec::new();
    for n in 1.. {
        buf.clear();
        let read = (&mut input)
            .take(MAX_NAME_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("reading stdin line {n}"))?;
        if read == 0 {
            break;
        }
        if buf.len() > MAX_NAME_LINE && !buf.ends_with(b"\n") {
            eprintln!("trawl dga: stdin line {n}: longer than {MAX_NAME_LINE} bytes; skipped");
            skip_rest_of_line(&mut input)?;
            continue;
        }
        emit(&String::from_utf8_lossy(&buf))?;
    }
    Ok(())
}

fn skip_rest_of_line(input: &mut impl BufRead) -> anyhow::Result<()> {
    loop {
        let chunk = input.fill_buf()?;
        if chunk.is_empty() {
            return Ok(());
        }
        match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => {
                input.consume(i + 1);
                return Ok(());
            }
            None => {
                let len = chunk.len();
                input.consume(len);
            }
        }
    }
}

/// Control characters in untrusted names are shown escaped, never sent to
/// the terminal.
fn printable(name: &str) -> String {
    if name.chars().any(char::is_control) {
        name.escape_debug().to_string()
    } else {
        name.to_owned()
    }
}

fn evaluate(out: &mut impl Write, words: &str, format: Format) -> anyhow::Result<ExitCode> {
    let list = std::fs::read_to_string(words).with_context(|| {
        format!("cannot read word list {words} (install Debian package wamerican)")
    })?;
    let report = eval::evaluate(&eval::labelled_set(&list));
    if format == Format::Json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(out, "family\tnames\tflagged as DGA")?;
    for f in &report.families {
        writeln!(
            out,
            "{}\t{}\t{} ({:.1}%)",
            f.family.name(),
            f.total,
            f.flagged,
            100.0 * f.flagged as f64 / f.total.max(1) as f64
        )?;
    }
    writeln!(out, "precision\t{:.4}", report.precision)?;
    writeln!(out, "recall\t{:.4}", report.recall)?;
    writeln!(
        out,
        "false positive rate\t{:.4}",
        report.false_positive_rate
    )?;
    writeln!(
        out,
        "false positives (sample)\t{}",
        report.false_positives.join(" ")
    )?;
    writeln!(
        out,
        "missed DGA names (sample)\t{}",
        report.false_negatives.join(" ")
    )?;
    Ok(ExitCode::SUCCESS)
}
