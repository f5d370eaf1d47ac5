//! The floor of the `trawl report` benchmark: the least a program can do to print the
//! seed's four frequency tables (source_ip, username, password and the credential
//! pair, top 10 each) from a Heralding CSV log, on every core.
//!
//! It reads the file in one byte range per core (plain `read` into a 256 KiB buffer,
//! as trawl does), splits lines and commas with `memchr`, and counts each column in a
//! `hashbrown` map with `foldhash`, keys of up to 15 (pairs 31) bytes stored inline,
//! allocated by mimalloc as trawl's are.
//! Nothing else: no quoting, no timestamps, no validation, no sessions, no commands.
//! `bench/report/run.sh` times it beside `trawl report` and csvkit, and checks that its
//! tables equal trawl's, so the ratio it prints is what the machine allows for the
//! counting alone.
//!
//! usage: trawl-bench-report-floor LOG.csv [THREADS]  (prints the tables as JSON)

use std::error::Error;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

type Hasher = foldhash::fast::FixedState;
type LongKeys = hashbrown::HashMap<Box<[u8]>, u64, Hasher>;

/// Counts of one column: keys shorter than `N` bytes inline (length first), others boxed.
struct Counter<const N: usize> {
    short: hashbrown::HashMap<[u8; N], u64, Hasher>,
    long: LongKeys,
}

impl<const N: usize> Default for Counter<N> {
    fn default() -> Self {
        Counter {
            short: hashbrown::HashMap::with_hasher(Hasher::default()),
            long: LongKeys::with_hasher(Hasher::default()),
        }
    }
}

impl<const N: usize> Counter<N> {
    fn add(&mut self, key: &[u8]) {
        if key.len() < N {
            let mut inline = [0u8; N];
            inline[0] = key.len() as u8;
            inline[1..=key.len()].copy_from_slice(key);
            *self.short.entry(inline).or_insert(0) += 1;
        } else if let Some(count) = self.long.get_mut(key) {
            *count += 1;
        } else {
            self.long.insert(key.into(), 1);
        }
    }

    /// Adds `other`'s counts (the larger map is kept, the smaller one added to it).
    fn merge(&mut self, mut other: Self) {
        if other.short.len() > self.short.len() {
            std::mem::swap(&mut self.short, &mut other.short);
        }
        if other.long.len() > self.long.len() {
            std::mem::swap(&mut self.long, &mut other.long);
        }
        for (key, count) in other.short {
            *self.short.entry(key).or_insert(0) += count;
        }
        for (key, count) in other.long {
            *self.long.entry(key).or_insert(0) += count;
        }
    }

    /// The 10 largest counts, ties by key.
    fn top(&self) -> Vec<(&[u8], u64)> {
        let short = self
            .short
            .iter()
            .map(|(k, &c)| (&k[1..=usize::from(k[0])], c));
        let long = self.long.iter().map(|(k, &c)| (&k[..], c));
        let mut rows: Vec<_> = short.chain(long).collect();
        let order = |a: &(&[u8], u64), b: &(&[u8], u64)| b.1.cmp(&a.1).then(a.0.cmp(b.0));
        let cut = rows.len().min(10);
        if cut > 0 {
            rows.select_nth_unstable_by(cut - 1, order);
        }
        rows.truncate(cut);
        rows.sort_unstable_by(order);
        rows
    }
}

/// Column positions in the log's header.
#[derive(Clone, Copy)]
struct Columns {
    source: usize,
    user: usize,
    pass: usize,
}

#[derive(Default)]
struct Tables {
    sources: Counter<16>,
    users: Counter<16>,
    passwords: Counter<16>,
    /// username, NUL, password
    pairs: Counter<32>,
}

impl Tables {
    /// Adds `other`'s counts, a table per thread.
    fn merge(&mut self, other: Tables) {
        std::thread::scope(|scope| {
            scope.spawn(|| self.sources.merge(other.sources));
            scope.spawn(|| self.users.merge(other.users));
            scope.spawn(|| self.passwords.merge(other.passwords));
            scope.spawn(|| self.pairs.merge(other.pairs));
        });
    }

    fn row(&mut self, line: &[u8], cols: Columns, pair: &mut Vec<u8>) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let mut fields = [(0usize, 0usize); 16];
        let (mut count, mut start) = (0, 0);
        for comma in memchr::memchr_iter(b',', line).chain([line.len()]) {
            if count < fields.len() {
                fields[count] = (start, comma);
                count += 1;
            }
            start = comma + 1;
        }
        let field = |i: usize| (i < count).then(|| &line[fields[i].0..fields[i].1]);
        let (Some(source), Some(user), Some(pass)) =
            (field(cols.source), field(cols.user), field(cols.pass))
        else {
            return;
        };
        self.sources.add(source);
        self.users.add(user);
        self.passwords.add(pass);
        pair.clear();
        pair.extend_from_slice(user);
        pair.push(0);
        pair.extend_from_slice(pass);
        self.pairs.add(pair);
    }
}

/// Counts the lines that start in `start..end` (a line cut by `start` belongs to the
/// range before).
fn count_range(path: &str, (start, end): (u64, u64), cols: Columns) -> std::io::Result<Tables> {
    let mut file = File::open(path)?;
    let mut tables = Tables::default();
    let mut buf = vec![0u8; 256 << 10];
    let (mut partial, mut pair) = (Vec::new(), Vec::new());
    // Where buf[0] lies in the file; skip the line that started before `start`.
    let mut at = start.saturating_sub(1);
    file.seek(SeekFrom::Start(at))?;
    let mut skip = true;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            if !partial.is_empty() && !skip {
                tables.row(&partial, cols, &mut pair);
            }
            return Ok(tables);
        }
        let mut line_start = 0;
        for newline in memchr::memchr_iter(b'\n', &buf[..n]) {
            let line_at = at + line_start as u64 - partial.len() as u64;
            if skip {
                skip = false;
            } else if line_at >= end {
                return Ok(tables);
            } else if partial.is_empty() {
                tables.row(&buf[line_start..newline], cols, &mut pair);
            } else {
                partial.extend_from_slice(&buf[line_start..newline]);
                tables.row(&partial, cols, &mut pair);
            }
            partial.clear();
            line_start = newline + 1;
        }
        partial.extend_from_slice(&buf[line_start..n]);
        at += n as u64;
    }
}

fn columns(path: &str) -> Result<(Columns, u64), Box<dyn Error>> {
    let mut head = vec![0u8; 4096];
    let n = File::open(path)?.read(&mut head)?;
    let end = memchr::memchr(b'\n', &head[..n]).ok_or("no header line")?;
    let names: Vec<&[u8]> = head[..end].split(|&b| b == b',').collect();
    let find = |name: &str| {
        names
            .iter()
            .position(|n| *n == name.as_bytes())
            .ok_or_else(|| format!("no {name} column"))
    };
    let cols = Columns {
        source: find("source_ip")?,
        user: find("username")?,
        pass: find("password")?,
    };
    Ok((cols, end as u64 + 1))
}

fn json(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn table(rows: &[(&[u8], u64)]) -> String {
    let items: Vec<String> = rows
        .iter()
        .map(|(k, c)| format!("{{\"value\":{},\"count\":{c}}}", json(k)))
        .collect();
    format!("[{}]", items.join(","))
}

fn pair_table(rows: &[(&[u8], u64)]) -> String {
    let items: Vec<String> = rows
        .iter()
        .map(|(k, c)| {
            let cut = memchr::memchr(0, k).unwrap_or(k.len());
            let pass = k.get(cut + 1..).unwrap_or_default();
            format!(
                "{{\"username\":{},\"password\":{},\"count\":{c}}}",
                json(&k[..cut]),
                json(pass)
            )
        })
        .collect();
    format!("[{}]", items.join(","))
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or("usage: trawl-bench-report-floor LOG.csv [THREADS]")?;
    let threads = match args.next() {
        Some(n) => n.parse::<u64>()?.max(1),
        None => std::thread::available_parallelism().map_or(1, |n| n.get() as u64),
    };
    let (cols, body) = columns(&path)?;
    let size = std::fs::metadata(&path)?.len();
    let share = |i: u64| body + (size - body) * i / threads;
    let parts = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|i| {
                let path = &path;
                scope.spawn(move || count_range(path, (share(i), share(i + 1)), cols))
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().map_err(|_| "a worker panicked"))
            .collect::<Result<Vec<_>, _>>()
    })?;
    let mut parts = parts.into_iter();
    let mut all = parts.next().ok_or("no worker")??;
    for part in parts {
        all.merge(part?);
    }
    println!(
        "{{\"top_sources\":{},\"top_usernames\":{},\"top_passwords\":{},\"top_pairs\":{}}}",
        table(&all.sources.top()),
        table(&all.users.top()),
        table(&all.passwords.top()),
        pair_table(&all.pairs.top())
    );
    Ok(())
}
