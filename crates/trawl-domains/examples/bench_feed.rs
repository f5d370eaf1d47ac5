//! Benchmark helper for `bench/domains/run.sh` (not a test).
//!
//! `bench_feed gen DIR TOTAL BRANDS_FILE`: writes `DIR/feed.txt` (TOTAL domains: background
//! names made from a word list, digits and real TLDs, plus planted lookalikes of every technique
//! of every brand), `DIR/planted.tsv` (domain, technique, brand) and `DIR/brands.toml`.
//! `bench_feed permute DOMAINS_FILE`: in-process permutation time, one thread (what dnstwist's
//! Python loop is compared with).
//! `bench_feed check DIR`: in-process `Matcher::check` rate on `DIR/feed.txt`, one thread
//! (feed loaded into memory first, so this is the matcher alone).
//! `bench_feed score DIR HITS_CSV`: recall per technique of the planted names and false alerts
//! (alerts on background names) per 100k, from `trawl domains match --format csv` output.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use trawl_domains::{Options, permute};

/// xorshift64*: deterministic, good enough to shuffle benchmark data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const PER_TECHNIQUE: usize = 5;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("gen") if args.len() == 5 => {
            let total: usize = args[3].parse().expect("TOTAL is a number");
            generate(Path::new(&args[2]), total, Path::new(&args[4]));
        }
        Some("score") if args.len() == 4 => score(Path::new(&args[2]), Path::new(&args[3])),
        Some("permute") if args.len() == 3 => permute_timing(Path::new(&args[2])),
        Some("check") if args.len() == 3 => check_timing(Path::new(&args[2])),
        _ => {
            eprintln!(
                "usage: bench_feed gen DIR TOTAL BRANDS_FILE | score DIR HITS_CSV | permute DOMAINS_FILE"
            );
            std::process::exit(2);
        }
    }
}

fn words() -> Vec<String> {
    let text = include_str!("../data/misspellings.txt");
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| (4..=10).contains(&w.len()))
        .map(str::to_string)
        .collect()
}

fn generate(dir: &Path, total: usize, brands_file: &Path) {
    std::fs::create_dir_all(dir).expect("create DIR");
    let brands: Vec<String> = BufReader::new(File::open(brands_file).expect("BRANDS_FILE"))
        .lines()
        .map_while(Result::ok)
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut planted: Vec<(String, String, String)> = Vec::new();
    // Names under a brand's own registrable domain are never alerted: not planted.
    let own: HashSet<&str> = brands.iter().map(String::as_str).collect();
    let mut seen = HashSet::new();
    for b in &brands {
        let perms = permute(b, &Options::default()).expect("brand permutes");
        let mut by_tech: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for p in perms.into_iter().skip(1) {
            by_tech
                .entry(p.technique_name())
                .or_default()
                .push(p.domain);
        }
        for (tech, names) in by_tech {
            for _ in 0..PER_TECHNIQUE.min(names.len()) {
                let name = names[rng.below(names.len())].clone();
                let registrable = psl::domain_str(&name).unwrap_or(&name);
                if !own.contains(registrable) && seen.insert(name.clone()) {
                    planted.push((name, tech.clone(), b.clone()));
                }
            }
        }
    }
    // Background names are unrelated to the brands: no word that is a brand's label.
    let brand_labels: HashSet<String> = brands
        .iter()
        .filter_map(|b| b.split('.').next())
        .map(str::to_string)
        .collect();
    let words: Vec<String> = words()
        .into_iter()
        .filter(|w| !brand_labels.contains(w))
        .collect();
    let tlds = [
        "com", "net", "org", "info", "io", "co", "de", "uk", "ru", "xyz", "top", "online", "shop",
        "app", "fr", "nl", "com.br", "co.uk",
    ];
    let mut feed = BufWriter::new(File::create(dir.join("feed.txt")).expect("feed.txt"));
    let background = total.saturating_sub(planted.len());
    let every = (background / planted.len().max(1)).max(1);
    let mut p = planted.iter();
    for i in 0..background {
        let w1 = &words[rng.below(words.len())];
        let tld = tlds[rng.below(tlds.len())];
        let name = match rng.below(6) {
            0 => format!("{w1}{}.{tld}", &words[rng.below(words.len())]),
            1 => format!("{w1}-{}.{tld}", &words[rng.below(words.len())]),
            2 => format!("www.{w1}{}.{tld}", rng.below(1000)),
            3 => format!("mail.{w1}.{tld}"),
            4 => format!("{w1}{}.{tld}", rng.below(100)),
            _ => format!("{w1}.{tld}"),
        };
        writeln!(feed, "{name}").expect("write feed");
        if i % every == 0
            && let Some((name, _, _)) = p.next()
        {
            writeln!(feed, "{name}").expect("write feed");
        }
    }
    for (name, _, _) in p {
        writeln!(feed, "{name}").expect("write feed");
    }
    feed.flush().expect("flush feed");
    let mut truth = BufWriter::new(File::create(dir.join("planted.tsv")).expect("planted.tsv"));
    for (name, tech, brand) in &planted {
        writeln!(truth, "{name}\t{tech}\t{brand}").expect("write planted");
    }
    truth.flush().expect("flush planted");
    let mut inv = BufWriter::new(File::create(dir.join("brands.toml")).expect("brands.toml"));
    for b in &brands {
        writeln!(inv, "[[brand]]\ndomains = [\"{b}\"]\n").expect("write brands");
    }
    inv.flush().expect("flush brands");
    eprintln!(
        "{} brands, {} planted, {} feed lines",
        brands.len(),
        planted.len(),
        background + planted.len()
    );
}

fn score(dir: &Path, hits: &Path) {
    let mut planted: HashMap<String, String> = HashMap::new();
    for line in BufReader::new(File::open(dir.join("planted.tsv")).expect("planted.tsv"))
        .lines()
        .map_while(Result::ok)
    {
        let mut f = line.split('\t');
        if let (Some(name), Some(tech)) = (f.next(), f.next()) {
            planted.insert(name.to_string(), tech.to_string());
        }
    }
    let feed_lines = BufReader::new(File::open(dir.join("feed.txt")).expect("feed.txt"))
        .lines()
        .count();
    let mut reader = csv::Reader::from_path(hits).expect("hits csv");
    let mut found = HashSet::new();
    let mut false_alerts = 0usize;
    let mut false_by_rule: BTreeMap<String, usize> = BTreeMap::new();
    for rec in reader.records().map_while(Result::ok) {
        let domain = rec.get(0).unwrap_or_default().to_string();
        if planted.contains_key(&domain) {
            found.insert(domain);
        } else {
            false_alerts += 1;
            *false_by_rule
                .entry(rec.get(4).unwrap_or_default().to_string())
                .or_default() += 1;
        }
    }
    let mut per_tech: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (name, tech) in &planted {
        let e = per_tech.entry(tech).or_default();
        e.0 += 1;
        if found.contains(name) {
            e.1 += 1;
        }
    }
    let mut all_ok = true;
    for (tech, (n, ok)) in &per_tech {
        println!(
            "recall {tech:<22} {ok}/{n} = {:.1} %",
            100.0 * *ok as f64 / *n as f64
        );
        all_ok &= ok == n;
    }
    let background = feed_lines - planted.len();
    println!(
        "planted {} found {} recall {:.2} % ({})",
        planted.len(),
        found.len(),
        100.0 * found.len() as f64 / planted.len() as f64,
        if all_ok {
            "100 % for every technique"
        } else {
            "MISSES"
        }
    );
    println!(
        "false alerts {false_alerts} on {background} background names = {:.1} per 100k {:?}",
        false_alerts as f64 * 100_000.0 / background as f64,
        false_by_rule
    );
}

fn permute_timing(file: &Path) {
    let domains: Vec<String> = BufReader::new(File::open(file).expect("DOMAINS_FILE"))
        .lines()
        .map_while(Result::ok)
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    let start = std::time::Instant::now();
    let cpu0 = cpu_seconds();
    let mut names = 0usize;
    for d in &domains {
        names += permute(d, &Options::default())
            .expect("domain permutes")
            .len();
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    println!(
        "{} domains {names} names in {secs:.3} s wall, {cpu:.3} s CPU: {:.0} names per CPU-second (one thread)",
        domains.len(),
        names as f64 / cpu
    );
}

fn check_timing(dir: &Path) {
    let inventory = trawl_domains::Inventory::load(&dir.join("brands.toml")).expect("brands.toml");
    let start = std::time::Instant::now();
    let matcher =
        trawl_domains::Matcher::new(&inventory.brands, &trawl_domains::MatchOptions::default())
            .expect("matcher builds");
    let build = start.elapsed().as_secs_f64();
    let feed: Vec<String> = BufReader::new(File::open(dir.join("feed.txt")).expect("feed.txt"))
        .lines()
        .map_while(Result::ok)
        .collect();
    let start = std::time::Instant::now();
    let cpu0 = cpu_seconds();
    let hits = feed.iter().filter(|d| matcher.check(d).is_some()).count();
    let secs = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    if std::env::var_os("BENCH_SHOW").is_some() {
        let mut by_rule: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for d in &feed {
            if let Some(h) = matcher.check(d) {
                by_rule
                    .entry(h.technique.name())
                    .or_default()
                    .push(format!("{} ~ {}", h.domain, h.brand_domain));
            }
        }
        for (rule, v) in by_rule {
            println!("{rule}: {} e.g. {:?}", v.len(), &v[..v.len().min(6)]);
        }
    }
    println!(
        "matcher built in {build:.2} s ({} names indexed); {} domains checked in {secs:.2} s wall, {cpu:.2} s CPU = {:.0} domains/s per core (CPU time), {:.0}/s wall, one thread; {hits} alerts",
        matcher.permutation_count(),
        feed.len(),
        feed.len() as f64 / cpu,
        feed.len() as f64 / secs
    );
}

/// CPU time this thread has run, from /proc/thread-self/schedstat (Linux), in seconds: on a
/// shared machine this is what "per core" means.
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .next()
                .and_then(|n| n.parse::<f64>().ok())
        })
        .map_or(0.0, |ns| ns / 1e9)
}
