//! `watch-data`: the `trawl watch` benchmark's input, generated deterministically from a seed.
//!
//! * `inventory.toml`: 20 entities (mail domains, one executive's personal address each) and
//!   10,000 IP ranges in all (IPv4 /20–/28 and IPv6 /48).
//! * `combolist.txt`: `email:password` / `email;password` lines at webmail and random domains,
//!   with planted inventory addresses (1 in 10,000 lines, a few with an upper-case domain) and
//!   near misses that must *not* be reported (`@acmebank.com.evil.net`, `@notacmebank.com`).
//! * `planted.tsv`: every planted address and its password (the recall check).
//! * `patterns.txt`: the fixed strings `rg -F -f` looks for (`@domain` and the addresses).
//! * `feed.txt`: a plain IP list; random addresses outside the inventory, 1 in 100,000 inside.
//! * `planted_ips.txt`: the planted feed addresses.
//!
//! The generator is splitmix64, written out here so that the same seed gives the same bytes
//! with any version of any crate.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::Ipv4Addr;
use std::path::PathBuf;

/// Options of `watch-data`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
    /// Size of the combolist in MB.
    #[arg(long, default_value_t = 2048)]
    combo_mb: u64,
    /// Addresses in the IP feed.
    #[arg(long, default_value_t = 50_000_000)]
    feed_ips: u64,
    /// IP ranges in the inventory.
    #[arg(long, default_value_t = 10_000)]
    cidrs: usize,
    /// Seed.
    #[arg(long, default_value_t = 8)]
    seed: u64,
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        let i = usize::try_from(self.below(items.len() as u64)).unwrap_or(0);
        items.get(i).copied().unwrap_or_default()
    }
}

const BRANDS: [&str; 20] = [
    "acmebank",
    "globexcorp",
    "initech",
    "umbrellapharma",
    "hooli",
    "vandelayind",
    "starkindustries",
    "waynetech",
    "wonkafoods",
    "tyrellcorp",
    "cyberdynesys",
    "soylentgreen",
    "massivedyn",
    "oscorplabs",
    "gringottsbank",
    "dundermifflin",
    "piedpiper",
    "aperturesci",
    "blackmesalabs",
    "monarchsol",
];
const WEBMAIL: [&str; 12] = [
    "gmail.com",
    "yahoo.com",
    "hotmail.com",
    "outlook.com",
    "mail.ru",
    "aol.com",
    "gmx.de",
    "web.de",
    "yandex.ru",
    "icloud.com",
    "protonmail.com",
    "qq.com",
];
const SYLLABLES: [&str; 24] = [
    "an", "bo", "ca", "de", "el", "fi", "ga", "ha", "io", "jo", "ka", "li", "ma", "ne", "or", "pa",
    "qu", "ri", "sa", "to", "ul", "vi", "wa", "ze",
];
const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&*";

fn local_part(rng: &mut Rng, out: &mut Vec<u8>) {
    for _ in 0..2 + rng.below(3) {
        out.extend_from_slice(rng.pick(&SYLLABLES).as_bytes());
    }
    if rng.below(2) == 0 {
        out.push(b'.');
        out.extend_from_slice(rng.pick(&SYLLABLES).as_bytes());
    }
    if rng.below(3) == 0 {
        out.extend_from_slice(rng.below(10_000).to_string().as_bytes());
    }
}

fn password(rng: &mut Rng, out: &mut Vec<u8>) {
    for _ in 0..6 + rng.below(9) {
        let i = usize::try_from(rng.below(ALNUM.len() as u64)).unwrap_or(0);
        out.push(ALNUM.get(i).copied().unwrap_or(b'x'));
    }
}

fn random_domain(rng: &mut Rng, out: &mut Vec<u8>) {
    if rng.below(4) != 0 {
        out.extend_from_slice(rng.pick(&WEBMAIL).as_bytes());
        return;
    }
    for _ in 0..2 + rng.below(3) {
        out.extend_from_slice(rng.pick(&SYLLABLES).as_bytes());
    }
    out.extend_from_slice(rng.pick(&[".com", ".net", ".org", ".de", ".io"]).as_bytes());
}

/// The inventory's IPv4 ranges as sorted disjoint `(first, last)` intervals (for the feed's
/// misses).
struct Ranges(Vec<(u32, u32)>);

impl Ranges {
    fn contains(&self, ip: u32) -> bool {
        let i = self.0.partition_point(|r| r.1 < ip);
        self.0.get(i).is_some_and(|r| r.0 <= ip)
    }
}

fn write_inventory(args: &Args, rng: &mut Rng) -> anyhow::Result<(Ranges, Vec<String>)> {
    let mut f = BufWriter::new(File::create(args.out.join("inventory.toml"))?);
    let mut v4 = Vec::new();
    let mut execs = Vec::new();
    let per_entity = args.cidrs.div_ceil(BRANDS.len());
    let mut written = 0;
    for (i, brand) in BRANDS.iter().enumerate() {
        let exec = format!(
            "{}.{}.home@{}",
            brand,
            SYLLABLES[i],
            WEBMAIL[i % WEBMAIL.len()]
        );
        writeln!(f, "[[entity]]\nname = \"{brand}\"")?;
        writeln!(
            f,
            "kind = \"{}\"",
            if i == 0 { "organisation" } else { "supplier" }
        )?;
        writeln!(
            f,
            "domains = [\"{brand}.com\"]\nemail_domains = [\"{brand}.com\"]"
        )?;
        write!(f, "ip_ranges = [")?;
        for k in 0..per_entity.min(args.cidrs - written) {
            if k > 0 {
                write!(f, ", ")?;
            }
            if rng.below(20) == 0 {
                write!(f, "\"2001:db8:{:x}:{:x}::/64\"", i, rng.below(0xffff))?;
            } else {
                let len = 20 + u32::try_from(rng.below(9)).unwrap_or(0);
                let mask = u32::MAX << (32 - len);
                let first = u32::try_from(rng.below(1 << 32)).unwrap_or(0) & mask;
                v4.push((first, first | !mask));
                write!(f, "\"{}/{len}\"", Ipv4Addr::from(first))?;
            }
            written += 1;
        }
        writeln!(f, "]")?;
        writeln!(
            f,
            "[[entity.executive]]\nname = \"Exec {i}\"\nemails = [\"{exec}\"]\n"
        )?;
        execs.push(exec);
    }
    f.flush()?;
    v4.sort_unstable();
    let mut merged: Vec<(u32, u32)> = Vec::with_capacity(v4.len());
    for (a, b) in v4 {
        match merged.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    let mut patterns = BufWriter::new(File::create(args.out.join("patterns.txt"))?);
    for b in BRANDS {
        writeln!(patterns, "@{b}.com")?;
    }
    for x in &execs {
        writeln!(patterns, "{x}")?;
    }
    patterns.flush()?;
    Ok((Ranges(merged), execs))
}

fn write_combolist(args: &Args, rng: &mut Rng, execs: &[String]) -> anyhow::Result<u64> {
    let mut f = BufWriter::with_capacity(1 << 20, File::create(args.out.join("combolist.txt"))?);
    let mut planted = BufWriter::new(File::create(args.out.join("planted.tsv"))?);
    let (target, mut size, mut count) = (args.combo_mb * 1_000_000, 0u64, 0u64);
    let mut line = Vec::with_capacity(128);
    let mut pw = Vec::with_capacity(32);
    let mut n = 0u64;
    while size < target {
        n += 1;
        line.clear();
        pw.clear();
        password(rng, &mut pw);
        let sep = if rng.below(5) == 0 { b';' } else { b':' };
        if n.is_multiple_of(10_000) {
            count += 1;
            let email = if count.is_multiple_of(7) {
                let i = usize::try_from(rng.below(execs.len() as u64)).unwrap_or(0);
                execs.get(i).cloned().unwrap_or_default()
            } else {
                let brand = rng.pick(&BRANDS);
                format!("user{count}@{brand}.com")
            };
            let shown = if count.is_multiple_of(50) {
                email.to_uppercase()
            } else {
                email.clone()
            };
            line.extend_from_slice(shown.as_bytes());
            writeln!(planted, "{email}\t{}", String::from_utf8_lossy(&pw))?;
        } else {
            local_part(rng, &mut line);
            line.push(b'@');
            if n % 10_000 == 5_000 {
                let brand = rng.pick(&BRANDS);
                let miss = if rng.below(2) == 0 {
                    ".com.evil.net"
                } else {
                    ".community"
                };
                line.extend_from_slice(format!("{brand}{miss}").as_bytes());
            } else {
                random_domain(rng, &mut line);
            }
        }
        line.push(sep);
        line.extend_from_slice(&pw);
        line.push(b'\n');
        f.write_all(&line)?;
        size += line.len() as u64;
    }
    f.flush()?;
    planted.flush()?;
    Ok(count)
}

fn write_feed(args: &Args, rng: &mut Rng, ranges: &Ranges) -> anyhow::Result<u64> {
    let mut f = BufWriter::with_capacity(1 << 20, File::create(args.out.join("feed.txt"))?);
    let mut planted = BufWriter::new(File::create(args.out.join("planted_ips.txt"))?);
    let mut count = 0;
    for n in 1..=args.feed_ips {
        let ip = if n.is_multiple_of(100_000) && !ranges.0.is_empty() {
            let i = usize::try_from(rng.below(ranges.0.len() as u64)).unwrap_or(0);
            let (a, b) = ranges.0.get(i).copied().unwrap_or_default();
            let ip = a + u32::try_from(rng.below(u64::from(b - a) + 1)).unwrap_or(0);
            writeln!(planted, "{}", Ipv4Addr::from(ip))?;
            count += 1;
            ip
        } else {
            loop {
                let ip = u32::try_from(rng.below(1 << 32)).unwrap_or(0);
                if !ranges.contains(ip) {
                    break ip;
                }
            }
        };
        writeln!(f, "{}", Ipv4Addr::from(ip))?;
    }
    f.flush()?;
    planted.flush()?;
    Ok(count)
}

/// Writes every file; reports what was planted.
pub fn run(args: Args) -> anyhow::Result<serde_json::Value> {
    std::fs::create_dir_all(&args.out)?;
    let mut rng = Rng(args.seed);
    let (ranges, execs) = write_inventory(&args, &mut rng)?;
    let planted_pairs = write_combolist(&args, &mut rng, &execs)?;
    let planted_ips = write_feed(&args, &mut rng, &ranges)?;
    Ok(serde_json::json!({
        "out": args.out.display().to_string(),
        "planted_pairs": planted_pairs,
        "planted_ips": planted_ips,
    }))
}
