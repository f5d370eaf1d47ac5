//! `ssh`: the SSH login flood, with a russh client. Many concurrent connections, each doing
//! a full key exchange and then `per_conn` password attempts (several per connection, as
//! brute-forcers do), until `total` attempts were handed out or `max_seconds` passed.
//! Answered attempts (the server replied "failure") are written in hydra's `-V` format
//! for the Heralding kit's `bench_count.py`, like `flood`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use russh::client::{AuthResult, Config, Handler};
use russh::keys::PublicKeyOrCertificate;
use serde_json::json;
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::flood::{credentials, own_cpu_ticks, write_attempts};

/// Flags of `ssh`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Target port.
    port: u16,
    /// Target address (loopback only).
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Attempts to make in total.
    #[arg(long, default_value_t = 10_000)]
    total: u64,
    /// Concurrent connections.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Password attempts per connection.
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
    handshake_errors: AtomicU64,
}

struct Plan {
    target: SocketAddr,
    config: Arc<Config>,
    total: u64,
    per_conn: u32,
    deadline: Instant,
    tag: String,
    next: AtomicU64,
    stats: Stats,
}

const IO_TIMEOUT: Duration = Duration::from_secs(15);

/// Accepts any host key: the target is a honeypot on loopback.
struct AnyHostKey;

impl Handler for AnyHostKey {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        _key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

/// Runs the SSH flood and returns the JSON report.
pub async fn run(args: Args, threads: usize) -> anyhow::Result<serde_json::Value> {
    let target = crate::loopback_target(args.host, args.port)?;
    let started = Instant::now();
    let config = Config {
        inactivity_timeout: Some(IO_TIMEOUT),
        nodelay: true,
        ..Config::default()
    };
    let plan = Arc::new(Plan {
        target,
        config: Arc::new(config),
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
        "generator": format!("trawl-loadgen ssh (russh 0.65 client, tokio, {threads} threads)"),
        "proto": "ssh",
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
        "greeting_errors": stats.handshake_errors.load(Ordering::Relaxed),
        "generator_cpu_ticks": own_cpu_ticks(),
        "tag": plan.tag,
        "attempts_file": args.attempts_file,
    }))
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
        let connect = russh::client::connect_stream(plan.config.clone(), stream, AnyHostKey);
        let mut session = match timeout(IO_TIMEOUT, connect).await {
            Ok(Ok(session)) => session,
            _ => {
                stats.handshake_errors.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        };
        for _ in 0..plan.per_conn {
            if Instant::now() >= plan.deadline {
                break;
            }
            let number = plan.next.fetch_add(1, Ordering::Relaxed);
            if number >= plan.total {
                break;
            }
            let (user, pass) = credentials(&plan.tag, number);
            match timeout(IO_TIMEOUT, session.authenticate_password(user, pass)).await {
                Ok(Ok(AuthResult::Failure { .. })) => {
                    stats.answered.fetch_add(1, Ordering::Relaxed);
                    answered.push(number);
                }
                _ => {
                    stats.attempt_errors.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
        }
        let _ = session
            .disconnect(russh::Disconnect::ByApplication, "", "")
            .await;
    }
    answered
}
