//! `trawl domains`: lookalike-domain permutations and feed matching (library: trawl-domains).

use std::io::{self, BufRead, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use trawl_domains::feed::{self, FeedFormat, FeedReader};
use trawl_domains::resolve::{self, Resolution, ResolveConfig};
use trawl_domains::{
    Brand, Hit, Inventory, MatchOptions, Matcher, Names, Options, Permutation, Technique,
};

/// Flags of `trawl domains`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Generate lookalike names (dnstwist + urlcrazy techniques and more).
    Permute(PermuteArgs),
    /// Find lookalikes of brands in domain feeds.
    Match(MatchArgs),
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Format {
    /// One ASCII name a line.
    List,
    /// CSV with a header.
    Csv,
    /// JSON lines, one object a line.
    Json,
    /// Aligned columns for reading.
    Table,
}

#[derive(Debug, clap::Args)]
struct ResolveArgs {
    /// Resolve A/AAAA/NS/MX of every output name and add the records.
    #[arg(long)]
    resolve: bool,
    /// Nameserver IP[:PORT] (repeatable; default: /etc/resolv.conf).
    #[arg(long = "nameserver", value_name = "IP[:PORT]")]
    nameservers: Vec<String>,
    /// Per-query timeout in milliseconds.
    #[arg(long, default_value_t = 2000)]
    timeout_ms: u64,
    /// Names resolved at the same time.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// With --resolve, print only names that have records.
    #[arg(long)]
    registered: bool,
}

#[derive(Debug, clap::Args)]
struct PermuteArgs {
    /// Domains to permute (`-` reads them from stdin, one a line).
    #[arg(value_name = "DOMAIN")]
    domains: Vec<String>,
    /// Read domains from FILE, one a line (`#` comments).
    #[arg(long, short, value_name = "FILE")]
    input: Option<PathBuf>,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = Format::List)]
    format: Format,
    /// 2 also chains two single-character edits.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=2))]
    depth: u8,
    /// Only these techniques (repeatable; names as printed, e.g. homoglyph, tld-swap).
    #[arg(long = "technique", value_name = "NAME")]
    techniques: Vec<String>,
    #[command(flatten)]
    resolve: ResolveArgs,
}

#[derive(Debug, clap::Args)]
struct MatchArgs {
    /// Feeds (files, `.gz` detected; `-` or none: stdin).
    #[arg(value_name = "FEED")]
    feeds: Vec<PathBuf>,
    /// A brand domain (repeatable); its label is its keyword.
    #[arg(long = "brand", value_name = "DOMAIN")]
    brands: Vec<String>,
    /// Inventory TOML: `allow = [...]`, `[[brand]] name, domains, keywords`.
    #[arg(long, value_name = "FILE")]
    inventory: Option<PathBuf>,
    /// Never alert on this name (repeatable).
    #[arg(long = "allow", value_name = "DOMAIN")]
    allow: Vec<String>,
    /// Feed layout: auto, list, certstream, zeek, zeek-json, csv:COLUMN.
    #[arg(long, default_value = "auto", value_parser = parse_feed_format)]
    feed_format: FeedFormat,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = Format::List)]
    format: Format,
    /// Fixed Damerau-Levenshtein limit (default: by label length).
    #[arg(long, value_name = "K")]
    max_distance: Option<usize>,
    /// Keywords this long match anywhere; shorter ones only as whole tokens.
    #[arg(long, default_value_t = 6)]
    keyword_anywhere_len: usize,
    /// Permutation depth of the brand sets.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=2))]
    depth: u8,
    /// Hide the progress bar (it is only drawn when stderr is a terminal).
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    resolve: ResolveArgs,
}

fn parse_feed_format(s: &str) -> Result<FeedFormat, String> {
    FeedFormat::parse(s).ok_or_else(|| {
        format!("unknown feed format {s:?} (auto, list, certstream, zeek, zeek-json, csv:COLUMN)")
    })
}

/// Runs `trawl domains`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Permute(a) => permute(a),
        Command::Match(a) => match_feeds(a),
    }
}

fn resolve_config(a: &ResolveArgs) -> anyhow::Result<ResolveConfig> {
    let nameservers = a
        .nameservers
        .iter()
        .map(|s| {
            resolve::parse_nameserver(s)
                .with_context(|| format!("bad --nameserver {s:?} (want IP or IP:PORT)"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(ResolveConfig {
        nameservers,
        timeout: Duration::from_millis(a.timeout_ms.max(1)),
        concurrency: a.concurrency.max(1),
    })
}

fn progress_bar(len: Option<u64>, what: &str, quiet: bool) -> ProgressBar {
    if quiet || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = match len {
        Some(n) => ProgressBar::new(n).with_style(
            ProgressStyle::with_template(
                "{spinner} {msg} {bar:30} {pos}/{len} ({per_sec}, eta {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {msg} {pos} ({per_sec})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    };
    bar.set_message(what.to_string());
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Input domains with where they came from (for error messages).
fn permute_inputs(a: &PermuteArgs) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let read_lines = |reader: Box<dyn BufRead>,
                      origin: &str,
                      out: &mut Vec<(String, String)>|
     -> anyhow::Result<()> {
        for (i, line) in reader.lines().enumerate() {
            let line = line.with_context(|| format!("{origin}: line {}", i + 1))?;
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            out.push((format!("{origin}: line {}", i + 1), t.to_string()));
        }
        Ok(())
    };
    for d in &a.domains {
        if d == "-" {
            read_lines(Box::new(io::stdin().lock()), "stdin", &mut out)?;
        } else {
            out.push((format!("argument {d:?}"), d.clone()));
        }
    }
    if let Some(path) = &a.input {
        let reader = feed::open_input(Some(path))?;
        read_lines(reader, &path.display().to_string(), &mut out)?;
    }
    if out.is_empty() {
        bail!("no domain given (DOMAIN..., - for stdin, or --input FILE)");
    }
    Ok(out)
}

fn permute(a: PermuteArgs) -> anyhow::Result<ExitCode> {
    let only = if a.techniques.is_empty() {
        None
    } else {
        Some(
            a.techniques
                .iter()
                .map(|t| {
                    Technique::from_name(t).with_context(|| {
                        let names: Vec<&str> = Technique::ALL.iter().map(|t| t.name()).collect();
                        format!("unknown technique {t:?}; known: {}", names.join(", "))
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?,
        )
    };
    let options = Options {
        depth: a.depth,
        only,
    };
    let inputs = permute_inputs(&a)?;
    let resolve_cfg = if a.resolve.resolve {
        Some(resolve_config(&a.resolve)?)
    } else {
        None
    };
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut table = Vec::new();
    let mut errors = 0usize;
    write_permutation_header(&mut out, a.format, resolve_cfg.is_some())?;
    // Without DNS or a table, each domain's output is rendered on the worker threads (its
    // names dropped right away) and written in input order. Small chunks keep few domains in
    // memory at once, so their buffers are reused instead of faulted in anew.
    let render_early = resolve_cfg.is_none() && !matches!(a.format, Format::Table);
    let chunk_len = 4 * rayon::current_num_threads().max(1);
    for chunk in inputs.chunks(chunk_len) {
        let results: Vec<_> = chunk
            .par_iter()
            .map(|(origin, d)| {
                let outcome = match trawl_domains::permute_domain(d, &options) {
                    Ok(n) if render_early => Outcome::Rendered(render_names(a.format, d, &n)?),
                    Ok(n) => Outcome::Names(n),
                    Err(e) => Outcome::Failed(e),
                };
                Ok((origin, d, outcome))
            })
            .collect::<io::Result<Vec<_>>>()?;
        for (origin, input, outcome) in results {
            let names = match outcome {
                Outcome::Rendered(text) => {
                    out.write_all(&text)?;
                    continue;
                }
                Outcome::Names(n) => n,
                Outcome::Failed(e) if inputs.len() == 1 => bail!("{e}"),
                Outcome::Failed(e) => {
                    errors += 1;
                    eprintln!("trawl: {origin}: {e}");
                    continue;
                }
            };
            let resolutions = match &resolve_cfg {
                Some(cfg) => {
                    let list: Vec<String> = names.iter().map(|p| p.domain.to_string()).collect();
                    let bar = progress_bar(
                        Some(list.len() as u64),
                        &format!("resolving {input}"),
                        false,
                    );
                    let r = resolve::resolve_all(&list, cfg, &|| bar.inc(1))?;
                    bar.finish_and_clear();
                    Some(r)
                }
                None => None,
            };
            for (i, p) in names.iter().enumerate() {
                let res = resolutions.as_ref().and_then(|r| r.get(i));
                if a.resolve.registered && !res.is_some_and(Resolution::is_registered) {
                    continue;
                }
                write_permutation(
                    &mut out,
                    a.format,
                    input,
                    &p.to_permutation(),
                    res,
                    &mut table,
                )?;
            }
        }
    }
    if matches!(a.format, Format::Table) {
        print_table(&mut out, &table)?;
    }
    out.flush()?;
    Ok(if errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// What a worker made of one input domain.
enum Outcome {
    /// Its lines, ready to write.
    Rendered(Vec<u8>),
    /// Its names, for DNS or the table.
    Names(Names),
    /// Why it was refused.
    Failed(trawl_domains::DomainError),
}

/// One domain's permutations in `format` (list, CSV or JSON lines; no DNS columns).
fn render_names(format: Format, input: &str, names: &Names) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(names.len() * 24);
    match format {
        Format::List => {
            for n in names.iter() {
                buf.extend_from_slice(n.domain.as_bytes());
                buf.push(b'\n');
            }
        }
        Format::Csv => {
            let mut w = csv::WriterBuilder::new()
                .has_headers(false)
                .from_writer(&mut buf);
            for n in names.iter() {
                let technique = trawl_domains::technique_label(n.technique, n.second);
                w.write_record([input, &technique, n.domain, n.unicode])?;
            }
            w.flush()?;
        }
        Format::Json | Format::Table => {
            let mut table = Vec::new();
            for n in names.iter() {
                write_permutation(
                    &mut buf,
                    format,
                    input,
                    &n.to_permutation(),
                    None,
                    &mut table,
                )?;
            }
        }
    }
    Ok(buf)
}

fn join_ips(v: &[std::net::IpAddr]) -> String {
    v.iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

fn resolution_fields(r: Option<&Resolution>) -> [String; 4] {
    match r {
        Some(r) => [
            join_ips(&r.a),
            join_ips(&r.aaaa),
            r.ns.join(" "),
            r.mx.join(" "),
        ],
        None => Default::default(),
    }
}

fn write_permutation_header(
    out: &mut impl Write,
    format: Format,
    resolved: bool,
) -> io::Result<()> {
    if matches!(format, Format::Csv) {
        let extra = if resolved { ",a,aaaa,ns,mx" } else { "" };
        writeln!(out, "input,technique,domain,unicode{extra}")?;
    }
    Ok(())
}

fn csv_line(fields: &[&str]) -> String {
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    let _ = w.write_record(fields);
    let bytes = w.into_inner().unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn write_permutation(
    out: &mut impl Write,
    format: Format,
    input: &str,
    p: &Permutation,
    res: Option<&Resolution>,
    table: &mut Vec<Vec<String>>,
) -> io::Result<()> {
    let technique = p.technique_name();
    match format {
        Format::List => writeln!(out, "{}", p.domain),
        Format::Csv => {
            let mut fields = vec![
                input,
                technique.as_str(),
                p.domain.as_str(),
                p.unicode.as_str(),
            ];
            let r = resolution_fields(res);
            if res.is_some() {
                fields.extend(r.iter().map(String::as_str));
            }
            out.write_all(csv_line(&fields).as_bytes())
        }
        Format::Json => {
            let mut v = serde_json::json!({
                "input": input,
                "technique": technique,
                "domain": p.domain,
                "unicode": p.unicode,
            });
            if let (Some(r), Some(obj)) = (res, v.as_object_mut()) {
                obj.insert("dns".into(), serde_json::to_value(r).unwrap_or_default());
            }
            writeln!(out, "{v}")
        }
        Format::Table => {
            let mut row = vec![technique, p.domain.clone(), p.unicode.clone()];
            if res.is_some() {
                row.extend(resolution_fields(res));
            }
            table.push(row);
            Ok(())
        }
    }
}

fn print_table(out: &mut impl Write, rows: &[Vec<String>]) -> io::Result<()> {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.extend(std::iter::repeat_n(
                    ' ',
                    widths[c] - cell.chars().count() + 2,
                ));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

fn load_brands(a: &MatchArgs) -> anyhow::Result<(Vec<Brand>, Vec<String>)> {
    let mut brands: Vec<Brand> = a.brands.iter().map(|d| Brand::from_domain(d)).collect();
    let mut allow = a.allow.clone();
    if let Some(path) = &a.inventory {
        let inv = Inventory::load(path)?;
        brands.extend(inv.brands);
        allow.extend(inv.allow);
    }
    if brands.is_empty() {
        bail!("give --brand DOMAIN or --inventory FILE");
    }
    Ok((brands, allow))
}

const CHUNK: usize = 1 << 16;
const MAX_ERRORS_SHOWN: usize = 20;

fn match_feeds(a: MatchArgs) -> anyhow::Result<ExitCode> {
    let (brands, allow) = load_brands(&a)?;
    let options = MatchOptions {
        max_distance: a.max_distance,
        keyword_anywhere_len: a.keyword_anywhere_len,
        allow,
        permutations: Options {
            depth: a.depth,
            only: None,
        },
    };
    let matcher = Matcher::new(&brands, &options)?;
    let resolve_cfg = if a.resolve.resolve {
        Some(resolve_config(&a.resolve)?)
    } else {
        None
    };
    let feeds: Vec<Option<&Path>> = if a.feeds.is_empty() {
        vec![None]
    } else {
        a.feeds.iter().map(|p| Some(p.as_path())).collect()
    };
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    if matches!(a.format, Format::Csv) {
        let extra = if resolve_cfg.is_some() {
            ",a,aaaa,ns,mx"
        } else {
            ""
        };
        writeln!(
            out,
            "domain,unicode,brand,brand_domain,technique,distance,score,explanation{extra}"
        )?;
    }
    let bar = progress_bar(None, "domains checked", a.quiet);
    let (mut seen, mut hits, mut errors) = (0u64, 0u64, 0u64);
    let mut table = Vec::new();
    for feed_path in feeds {
        let origin = feed_path.map_or("stdin".to_string(), |p| p.display().to_string());
        let reader = feed::open_input(feed_path)?;
        let format = a.feed_format.clone();
        // The next chunk is read on its own thread while rayon checks this one: the pool
        // never idles (and spins) waiting for the reader.
        std::thread::scope(|scope| -> anyhow::Result<()> {
            let (chunks_tx, chunks) = std::sync::mpsc::sync_channel::<Chunk>(2);
            scope.spawn(move || read_ahead(FeedReader::new(reader, format), &chunks_tx));
            for chunk in chunks {
                for e in &chunk.errors {
                    errors += 1;
                    if errors as usize <= MAX_ERRORS_SHOWN {
                        bar.suspend(|| eprintln!("trawl: {origin}: {e}"));
                    }
                }
                let domains = chunk.domains();
                seen += domains.len() as u64;
                let found: Vec<Hit> = matcher.hits(&domains).into_iter().map(|(_, h)| h).collect();
                hits += found.len() as u64;
                let resolutions = match &resolve_cfg {
                    Some(cfg) if !found.is_empty() => {
                        let names: Vec<String> = found.iter().map(|h| h.domain.clone()).collect();
                        Some(resolve::resolve_all(&names, cfg, &|| {})?)
                    }
                    _ => None,
                };
                for (i, h) in found.iter().enumerate() {
                    let res = resolutions.as_ref().and_then(|r| r.get(i));
                    if a.resolve.registered && !res.is_some_and(Resolution::is_registered) {
                        continue;
                    }
                    write_hit(&mut out, a.format, h, res, &mut table)?;
                }
                bar.inc(domains.len() as u64);
            }
            Ok(())
        })?;
    }
    bar.finish_and_clear();
    if matches!(a.format, Format::Table) {
        print_table(&mut out, &table)?;
    }
    out.flush()?;
    if errors as usize > MAX_ERRORS_SHOWN {
        eprintln!(
            "trawl: {} more bad lines not shown",
            errors as usize - MAX_ERRORS_SHOWN
        );
    }
    eprintln!("trawl: {seen} domains checked, {hits} alerts, {errors} bad lines");
    Ok(ExitCode::SUCCESS)
}

/// Up to [`CHUNK`] feed domains back to back in one text, each found by its end offset
/// (no allocation per line), and the bad lines met while reading them.
struct Chunk {
    text: String,
    ends: Vec<usize>,
    errors: Vec<feed::FeedError>,
}

impl Chunk {
    fn domains(&self) -> Vec<&str> {
        let mut start = 0;
        self.ends
            .iter()
            .map(|&end| {
                let domain = self.text.get(start..end).unwrap_or_default();
                start = end;
                domain
            })
            .collect()
    }
}

/// Reads a feed into chunks and sends them until the feed ends or the receiver is gone.
fn read_ahead<R: BufRead>(mut items: FeedReader<R>, chunks: &std::sync::mpsc::SyncSender<Chunk>) {
    loop {
        let mut chunk = Chunk {
            text: String::with_capacity(CHUNK * 24),
            ends: Vec::with_capacity(CHUNK),
            errors: Vec::new(),
        };
        let mut done = false;
        while chunk.ends.len() < CHUNK {
            match items.next_into(&mut chunk.text) {
                None => {
                    done = true;
                    break;
                }
                Some(Ok(_line)) => chunk.ends.push(chunk.text.len()),
                Some(Err(e)) => chunk.errors.push(e),
            }
        }
        if chunks.send(chunk).is_err() || done {
            return;
        }
    }
}

fn write_hit(
    out: &mut impl Write,
    format: Format,
    h: &Hit,
    res: Option<&Resolution>,
    table: &mut Vec<Vec<String>>,
) -> io::Result<()> {
    let technique = h.technique.name();
    let distance = h.distance.to_string();
    let score = h.score.to_string();
    match format {
        Format::List => writeln!(out, "{}", h.domain),
        Format::Csv => {
            let mut fields = vec![
                h.domain.as_str(),
                h.unicode.as_str(),
                h.brand.as_str(),
                h.brand_domain.as_str(),
                technique.as_str(),
                distance.as_str(),
                score.as_str(),
                h.explanation.as_str(),
            ];
            let r = resolution_fields(res);
            if res.is_some() {
                fields.extend(r.iter().map(String::as_str));
            }
            out.write_all(csv_line(&fields).as_bytes())
        }
        Format::Json => {
            let mut v = serde_json::to_value(h).unwrap_or_default();
            if let (Some(r), Some(obj)) = (res, v.as_object_mut()) {
                obj.insert("dns".into(), serde_json::to_value(r).unwrap_or_default());
            }
            writeln!(out, "{v}")
        }
        Format::Table => {
            let mut row = vec![
                score,
                technique,
                h.domain.clone(),
                h.brand_domain.clone(),
                h.explanation.clone(),
            ];
            if res.is_some() {
                row.extend(resolution_fields(res));
            }
            table.push(row);
            Ok(())
        }
    }
}
