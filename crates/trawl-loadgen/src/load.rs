//! What `flood` and `ssh` share: the flags of a login flood, the plan the workers draw
//! numbered attempts from (bounded in count and time), connecting with error counts,
//! the per-connection attempt loop, the hydra `-V` attempts file and the JSON report.
//! Each generator only brings its own dialog: how to open a session and make one attempt.

use std::future::Future;
use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::json;
use tokio::net::TcpStream;
use tokio::time::timeout;

/// Flags every login flood takes (the total and the protocol are each generator's own).
#[derive(Debug, clap::Args)]
pub struct FloodArgs {
    /// Target port.
    pub port: u16,
    /// Target address (loopback only).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Concurrent connections.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Attempts per connection.
    #[arg(long, default_value_t = 3)]
    pub per_conn: u32,
    /// Stop handing out attempts after this many seconds.
    #[arg(long, default_value_t = 60.0)]
    pub max_seconds: f64,
    /// Credential tag: users are TAGuNNNN, passwords TAGpNNNN.
    #[arg(long)]
    pub tag: String,
    /// Where answered attempts are written (hydra `-V` format).
    #[arg(long)]
    pub attempts_file: PathBuf,
}

/// Counters of one flood.
#[derive(Default)]
pub struct Stats {
    connections: AtomicU64,
    answered: AtomicU64,
    attempt_errors: AtomicU64,
    connect_errors: AtomicU64,
    /// The server's greeting (or SSH handshake) failed.
    pub greeting_errors: AtomicU64,
}

/// The attempts to hand out, and where to.
pub struct Plan {
    target: SocketAddr,
    total: u64,
    per_conn: u32,
    deadline: Instant,
    tag: String,
    next: AtomicU64,
    started: Instant,
    io_timeout: Duration,
    /// Counters, shared by the workers.
    pub stats: Stats,
}

impl Plan {
    /// A plan for `total` attempts against a loopback target.
    pub fn new(args: &FloodArgs, total: u64, io_timeout: Duration) -> anyhow::Result<Plan> {
        let started = Instant::now();
        Ok(Plan {
            target: crate::loopback_target(args.host, args.port)?,
            total,
            per_conn: args.per_conn.max(1),
            deadline: started + Duration::from_secs_f64(args.max_seconds.max(0.1)),
            tag: args.tag.clone(),
            next: AtomicU64::new(0),
            started,
            io_timeout,
            stats: Stats::default(),
        })
    }

    /// Whether attempts are left and time is not up.
    pub fn going(&self) -> bool {
        Instant::now() < self.deadline && self.next.load(Ordering::Relaxed) < self.total
    }

    /// The per-operation timeout.
    pub fn io_timeout(&self) -> Duration {
        self.io_timeout
    }

    /// A fresh connection with TCP_NODELAY, or `None` (counted; after a short pause).
    pub async fn connect(&self) -> Option<TcpStream> {
        match timeout(self.io_timeout, TcpStream::connect(self.target)).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                self.stats.connections.fetch_add(1, Ordering::Relaxed);
                Some(stream)
            }
            _ => {
                self.stats.connect_errors.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
                None
            }
        }
    }

    /// The next attempt of a session that has made `made` attempts so far: its number
    /// and credentials, or `None` when the session has made `per_conn`, the total is
    /// handed out or time is up.
    pub fn next_attempt(&self, made: u32) -> Option<(u64, String, String)> {
        if made >= self.per_conn || Instant::now() >= self.deadline {
            return None;
        }
        let number = self.next.fetch_add(1, Ordering::Relaxed);
        if number >= self.total {
            return None;
        }
        let (user, pass) = credentials(&self.tag, number);
        Some((number, user, pass))
    }

    /// Counts an attempt's outcome (`answered`: the server said the login failed) and
    /// keeps its number; `false` when the session must end (no answer).
    pub fn record(&self, number: u64, answered: bool, into: &mut Vec<u64>) -> bool {
        if answered {
            self.stats.answered.fetch_add(1, Ordering::Relaxed);
            into.push(number);
        } else {
            self.stats.attempt_errors.fetch_add(1, Ordering::Relaxed);
        }
        answered
    }
}

/// Runs `concurrency` copies of `worker`, writes the attempts file and returns the report
/// (`generator` and `proto` name the dialog).
pub async fn run<W, F>(
    plan: Arc<Plan>,
    args: &FloodArgs,
    worker: W,
    generator: String,
    proto: &str,
) -> anyhow::Result<serde_json::Value>
where
    W: Fn(Arc<Plan>) -> F,
    F: Future<Output = Vec<u64>> + Send + 'static,
{
    let workers: Vec<_> = (0..args.concurrency.max(1))
        .map(|_| tokio::spawn(worker(plan.clone())))
        .collect();
    let mut answered = Vec::new();
    for handle in workers {
        answered.extend(handle.await.context("worker panicked")?);
    }
    let wall = plan.started.elapsed().as_secs_f64();
    write_attempts(&args.attempts_file, &plan.tag, &answered)?;
    let stats = &plan.stats;
    let count = stats.answered.load(Ordering::Relaxed);
    Ok(json!({
        "generator": generator,
        "proto": proto,
        "port": args.port,
        "concurrency": args.concurrency,
        "per_conn": plan.per_conn,
        "total_requested": plan.total,
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

fn write_attempts(path: &Path, tag: &str, answered: &[u64]) -> anyhow::Result<()> {
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
