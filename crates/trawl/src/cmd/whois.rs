//! `trawl whois`: lookups (RFC 3912 with referrals and a cache), offline
//! parsing of saved answers, and registrant pivots.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::ValueEnum;
use trawl_whois::cache::Cache;
use trawl_whois::pivot::{self, PivotKind};
use trawl_whois::{Client, ClientConfig, WhoisRecord, output, parse_record};

/// Flags of `trawl whois`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  trawl whois hrjlyymassqx.tech\n  trawl whois --parse saved/*.txt --format json\n  trawl whois --parse --pivot saved/\n  trawl whois --from-cache --pivot"
)]
pub struct Args {
    /// Domains to look up (with --parse: whois text files or directories of them).
    targets: Vec<String>,
    /// Parse saved whois answers offline instead of looking domains up.
    #[arg(long)]
    parse: bool,
    /// Group the records by registrant email, name, organisation and name servers.
    #[arg(long)]
    pivot: bool,
    /// Pivot only on these keys (repeatable; default all).
    #[arg(long = "by", value_enum)]
    by: Vec<PivotBy>,
    /// Smallest group shown by --pivot.
    #[arg(long, default_value_t = 1)]
    min_group: usize,
    /// Also use every answer in the cache (with --pivot: pivot over all of it).
    #[arg(long)]
    from_cache: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Ask this whois server first instead of IANA (HOST[:PORT]).
    #[arg(long)]
    server: Option<String>,
    /// IANA root whois server (HOST[:PORT]); for mirrors and tests.
    #[arg(long, default_value = trawl_whois::client::IANA)]
    iana_server: String,
    /// Do not follow registry -> registrar referrals.
    #[arg(long)]
    no_follow: bool,
    /// Connect and read timeout in seconds (the whole answer gets 3x).
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
    /// Largest answer accepted, in bytes.
    #[arg(long, default_value_t = 1024 * 1024)]
    max_bytes: usize,
    /// Cache directory (default $XDG_CACHE_HOME/trawl/whois or ~/.cache/trawl/whois).
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    /// Cache entries older than this many hours are fetched again.
    #[arg(long, default_value_t = 24 * 7)]
    cache_max_age_hours: u64,
    /// Do not read or write the cache.
    #[arg(long)]
    no_cache: bool,
    /// Print each server's raw answer (to stderr) as well.
    #[arg(long)]
    raw: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Json,
    Csv,
    /// HTML page with a link diagram (with --pivot only).
    Html,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PivotBy {
    Email,
    Name,
    Org,
    Ns,
}

impl PivotBy {
    fn kind(self) -> PivotKind {
        match self {
            PivotBy::Email => PivotKind::RegistrantEmail,
            PivotBy::Name => PivotKind::RegistrantName,
            PivotBy::Org => PivotKind::RegistrantOrg,
            PivotBy::Ns => PivotKind::NameServer,
        }
    }
}

fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("trawl").join("whois"))
}

fn cache(args: &Args) -> Option<Cache> {
    if args.no_cache {
        return None;
    }
    let dir = args.cache_dir.clone().or_else(default_cache_dir)?;
    Some(Cache::new(
        dir,
        Duration::from_secs(args.cache_max_age_hours.saturating_mul(3600)),
    ))
}

/// Runs `trawl whois`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.timeout.is_finite() && args.timeout > 0.0,
        "--timeout must be a positive number of seconds"
    );
    anyhow::ensure!(
        !args.targets.is_empty() || args.from_cache,
        "nothing to do: give domains, --parse FILE..., or --from-cache"
    );
    let mut records = Vec::new();
    let mut failures = 0;
    if args.parse {
        for target in &args.targets {
            failures += parse_path(Path::new(target), &mut records)?;
        }
    } else if !args.targets.is_empty() {
        failures = lookup_all(&args, &mut records);
    }
    if args.from_cache {
        records.extend(cached_records(&args)?);
    }
    anyhow::ensure!(
        args.pivot || args.format != Format::Html,
        "--format html is for --pivot output"
    );
    let mut out = std::io::stdout().lock();
    if args.pivot {
        let kinds: Vec<PivotKind> = if args.by.is_empty() {
            pivot::ALL.to_vec()
        } else {
            args.by.iter().map(|b| b.kind()).collect()
        };
        let groups = pivot::pivot(&records, &kinds, args.min_group);
        match args.format {
            Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&groups)?)?,
            Format::Html => write!(out, "{}", trawl_whois::html::pivot_page(&groups))?,
            Format::Csv => write!(
                out,
                "{}",
                output::to_csv(&output::GROUP_COLUMNS, &output::group_rows(&groups))?
            )?,
            Format::Table => write!(
                out,
                "{}",
                output::to_table(&output::GROUP_COLUMNS, &output::group_rows(&groups))
            )?,
        }
    } else {
        match args.format {
            Format::Json => {
                for r in &records {
                    writeln!(out, "{}", serde_json::to_string(r)?)?;
                }
            }
            Format::Csv => write!(
                out,
                "{}",
                output::to_csv(&output::COLUMNS, &output::record_rows(&records))?
            )?,
            // Html was refused above for record output.
            Format::Table | Format::Html => write!(out, "{}", output::summary_table(&records))?,
        }
    }
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn lookup_all(args: &Args, records: &mut Vec<WhoisRecord>) -> usize {
    let secs = Duration::from_secs_f64(args.timeout);
    let client = Client::new(ClientConfig {
        iana: args.iana_server.clone(),
        server: args.server.clone(),
        follow: !args.no_follow,
        connect_timeout: secs,
        read_timeout: secs,
        total_timeout: secs * 3,
        max_bytes: args.max_bytes,
        cache: cache(args),
        ..ClientConfig::default()
    });
    let mut failures = 0;
    // indicatif hides the bar when stderr is not a terminal.
    let bar = if args.targets.len() > 1 {
        indicatif::ProgressBar::new(args.targets.len() as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    for domain in &args.targets {
        bar.set_message(domain.clone());
        let result = client.lookup(domain);
        bar.inc(1);
        bar.suspend(|| match result {
            Ok(lookup) => {
                for hop in &lookup.hops {
                    let how = if hop.from_cache { "cache" } else { "network" };
                    if args.raw {
                        eprintln!("[{} {} ({how})]\n{}", hop.server, hop.query, hop.text);
                    }
                }
                if let Some(err) = &lookup.referral_error {
                    eprintln!(
                        "trawl whois: {domain}: registrar referral failed, using the registry record: {err}"
                    );
                }
                records.push(lookup.record);
            }
            Err(err) => {
                eprintln!("trawl whois: {domain}: {err}");
                failures += 1;
            }
        });
    }
    bar.finish_and_clear();
    failures
}

/// Parses a file, or every regular file in a directory. A file that is not
/// a whois answer is reported on stderr (path and line) and counted; an
/// unreadable path is an error.
fn parse_path(path: &Path, records: &mut Vec<WhoisRecord>) -> anyhow::Result<usize> {
    if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("reading directory {}", path.display()))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        let mut failures = 0;
        for file in files {
            failures += parse_path(&file, records)?;
        }
        return Ok(failures);
    }
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let text = String::from_utf8_lossy(&bytes);
    let source = path.display().to_string();
    match parse_record(&text, Some(&source)) {
        Ok(record) => {
            records.push(record);
            Ok(0)
        }
        Err(err) => {
            eprintln!("trawl whois: {source}: {err}");
            Ok(1)
        }
    }
}

/// Every domain record in the cache.
fn cached_records(args: &Args) -> anyhow::Result<Vec<WhoisRecord>> {
    let Some(cache) = cache(args) else {
        anyhow::bail!("--from-cache needs a cache directory (--cache-dir, or HOME set)")
    };
    Ok(trawl_whois::client::cached_records(&cache)?)
}
