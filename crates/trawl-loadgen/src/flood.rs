//! `flood`: many concurrent connections, each doing `per_conn` failed logins, until
//! `total` attempts were handed out or `max_seconds` passed.

use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::dialog::{Client, Proto};

/// Flags of `flood`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Protocol to speak.
    #[arg(value_enum)]
    proto: Proto,
    /// Target port.
    port: u16,
    /// Target address (loopback only).
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Attempts to make in total.
    #[arg(long, default_value_t = 100_000)]
    total: u64,
    /// Concurrent connections.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Attempts per connection.
    #[arg(long, default_value_t = 3)]
    per_conn: u32,
    /// Stop handing out attempts after this many seconds.
    #[arg(long, default_value_t = 60.0)]
    max_seconds: f64,
    /// Credential tag: users are TAGuNNNN, passwords TAGpNNNN.
    #[arg(long)]
    tag: String,
    /// Where answered attempts are written (hydra `-V` format).
    #[arg(long)]
    attempts_file: std::path::PathBuf,
}

#[derive(Default)]
struct Stats {
    connections: AtomicU64,
    answered: AtomicU64,
    attempt_errors: AtomicU64,
    connect_errors: AtomicU64,
    greeting_errors: AtomicU64,
}

struct Plan {
    target: SocketAddr,
    proto: Proto,
    total: u64,
    per_conn: u32,
    deadline: Instant,
    tag: String,
    next: AtomicU64,
    stats: Stats,
}

const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs the flood and returns the JSON report.
pub async fn run(args: Args, threads: usize) -> anyhow::Result<serde_json::Value> {
    let target = crate::loopback_target(args.host, args.port)?;
    let started = Instant::now();
    let plan = Arc::new(Plan {
        target,
        proto: args.proto,
        total: args.total,
        per_conn: args.per_conn.max(1),
        deadline: started + Duration::from_secs_f64(args.max_seconds.max(0.1)),
        tag: args.tag.clone(),
        next: AtomicU64::new(0),
        stats: Stats::default(),
    });
    let workers: Vec<_> = (0..args.concurrency.max(1))
        .map(|_| tokio::spawn(worker(plan.clone())))
        .collect();
    let mut answered = Vec::new();
    for handle in workers {
        answered.extend(handle.await.context("worker panicked")?);
    }
    let wall = started.elapsed().as_secs_f64();
    write_attempts(&args.attempts_file, &plan.tag, &answered)?;
    let stats = &plan.stats;
    let count = stats.answered.load(Ordering::Relaxed);
    Ok(json!({
        "generator": format!("trawl-loadgen (Rust, tokio, {threads} threads)"),
        "proto": format!("{:?}", args.proto).to_lowercase(),
        "port": args.port,
        "concurrency": args.concurrency,
        "per_conn": plan.per_conn,
        "total_requested": args.total,
        "wall_s": (wall * 100.0).round() / 100.0,
        "answered": count,
        "answered_per_s": (count as f64 / wall.max(1e-9)).round(),
        "connections": stats.connections.load(Ordering::Relaxed),
        "attempt_errors": stats.attempt_errors.load(Ordering::Relaxed),
        "connect_errors": stats.connect_errors.load(Ordering::Relaxed),
        "greeting_errors": stats.greeting_errors.load(Ordering::Relaxed),
        "generator_cpu_ticks": own_cpu_ticks(),
        "tag": plan.tag,
        "attempts_file": args.attempts_file,
    }))
}

/// CPU ticks (utime + stime, in CLK_TCK units) this process used so far, from
/// /proc/self/stat; None where that file is missing or unreadable.
pub(crate) fn own_cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    cpu_ticks_from_stat(&stat)
}

fn cpu_ticks_from_stat(stat: &str) -> Option<u64> {
    // Fields after the command name (which may hold spaces) start at field 3 (state);
    // utime and stime are fields 14 and 15.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

pub(crate) fn credentials(tag: &str, number: u64) -> (String, String) {
    (format!("{tag}u{number:04}"), format!("{tag}p{number:04}"))
}

pub(crate) fn write_attempts(
    path: &std::path::Path,
    tag: &str,
    answered: &[u64],
) -> anyhow::Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    for &number in answered {
        let (user, pass) = credentials(tag, number);
        writeln!(
            out,
            "[ATTEMPT] target 127.0.0.1 - login \"{user}\" - pass \"{pass}\""
        )?;
    }
    out.flush()
        .with_context(|| format!("cannot write {}", path.display()))
}

/// One connection slot: returns the numbers of the attempts that were answered.
async fn worker(plan: Arc<Plan>) -> Vec<u64> {
    let mut answered = Vec::new();
    let stats = &plan.stats;
    while Instant::now() < plan.deadline && plan.next.load(Ordering::Relaxed) < plan.total {
        let stream = match timeout(IO_TIMEOUT, TcpStream::connect(plan.target)).await {
            Ok(Ok(stream)) => stream,
            _ => {
                stats.connect_errors.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        stats.connections.fetch_add(1, Ordering::Relaxed);
        let mut client = Client::new(stream, IO_TIMEOUT);
        if client.greeting(plan.proto).await.is_err() {
            stats.greeting_errors.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        for _ in 0..plan.per_conn {
            if Instant::now() >= plan.deadline {
                break;
            }
            let number = plan.next.fetch_add(1, Ordering::Relaxed);
            if number >= plan.total {
                break;
            }
            let (user, pass) = credentials(&plan.tag, number);
            match client.attempt(plan.proto, &user, &pass).await {
                Ok(()) => {
                    stats.answered.fetch_add(1, Ordering::Relaxed);
                    answered.push(number);
                }
                Err(_) => {
                    stats.attempt_errors.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
        }
    }
    answered
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_read_from_proc_stat() {
        let stat = "42 (trawl loadgen) S 1 42 42 0 -1 4194304 100 0 0 0 120 35 0 0 20 0 3 0";
        assert_eq!(cpu_ticks_from_stat(stat), Some(155));
        assert_eq!(cpu_ticks_from_stat("42 (x) S 1"), None);
        assert!(own_cpu_ticks().is_some());
    }

    #[test]
    fn credentials_match_the_kit_format() {
        assert_eq!(
            credentials("f1", 7),
            ("f1u0007".to_owned(), "f1p0007".to_owned())
        );
        assert_eq!(credentials("f1", 12345).0, "f1u12345");
    }
}
