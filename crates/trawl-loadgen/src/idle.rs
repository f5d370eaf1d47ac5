//! `idle`: opens N connections that never speak, holds them, and meanwhile runs a fresh
//! login on a new connection every few seconds, timing connect → greeting → refusal.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::timeout;

use crate::dialog::{Client, Proto};

/// Flags of `idle`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Port to hold idle connections on.
    #[arg(long)]
    port: u16,
    /// Target address (loopback only).
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Idle connections to open.
    #[arg(long, default_value_t = 1000)]
    n: u64,
    /// Seconds to hold them (after the last one opened).
    #[arg(long, default_value_t = 20.0)]
    hold: f64,
    /// Seconds between probes.
    #[arg(long, default_value_t = 1.0)]
    probe_every: f64,
    /// Protocol of the probe logins (none: no probes).
    #[arg(long, value_enum)]
    probe_proto: Option<Proto>,
    /// Port of the probe logins (default: --port).
    #[arg(long)]
    probe_port: Option<u16>,
    /// Probe credential tag.
    #[arg(long, default_value = "idle")]
    tag: String,
    /// Source address of the probe logins (loopback only). A fresh login comes from
    /// another attacker than the idle flood, and a source address of its own keeps the
    /// probe's connect() out of the kernel's ephemeral-port search over the ~20,000 ports
    /// the idle connections hold (which would be timed as honeypot latency).
    #[arg(long, default_value = "127.0.0.2")]
    probe_source: IpAddr,
    /// Connections opened at once.
    #[arg(long, default_value_t = 256)]
    open_concurrency: usize,
}

#[derive(Default)]
struct Counts {
    opened: AtomicU64,
    greeted: AtomicU64,
    connect_errors: AtomicU64,
    closed_by_server: AtomicU64,
}

/// Runs the idle test and returns the JSON report.
pub async fn run(args: Args, nofile: u64) -> anyhow::Result<serde_json::Value> {
    let target = crate::loopback_target(args.host, args.port)?;
    let probe_target = crate::loopback_target(args.host, args.probe_port.unwrap_or(args.port))?;
    let probe_source = crate::loopback_target(args.probe_source, 0)?;
    let counts = Arc::new(Counts::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let gate = Arc::new(Semaphore::new(args.open_concurrency.max(1)));
    let started = Instant::now();
    let holders: Vec<_> = (0..args.n)
        .map(|_| {
            tokio::spawn(hold_one(
                target,
                counts.clone(),
                gate.clone(),
                stop_rx.clone(),
            ))
        })
        .collect();
    let mut probes = Vec::new();
    let mut number = 0u64;
    let every = Duration::from_secs_f64(args.probe_every.max(0.05));
    // Probe while connections open, then for `hold` seconds once all are open.
    let mut all_open_at: Option<Instant> = None;
    loop {
        tokio::time::sleep(every).await;
        let settled = counts.opened.load(Ordering::Relaxed)
            + counts.connect_errors.load(Ordering::Relaxed)
            >= args.n;
        if settled && all_open_at.is_none() {
            all_open_at = Some(Instant::now());
        }
        if let Some(proto) = args.probe_proto {
            number += 1;
            let user = format!("{}u{number:04}", args.tag);
            let pass = format!("{}p{number:04}", args.tag);
            let result = probe_on_own_thread(probe_source, probe_target, proto, &user, &pass).await;
            probes.push(json!({
                "t": round2(started.elapsed().as_secs_f64()),
                "all_open": all_open_at.is_some(),
                "opened": counts.opened.load(Ordering::Relaxed),
                "user": user,
                "ok": result.is_ok(),
                "ms": result.as_ref().map(|d| round2(d.as_secs_f64() * 1000.0)).ok(),
                "error": result.err().map(|e| format!("{e:#}")),
            }));
        }
        let held_long_enough = all_open_at
            .is_some_and(|at| at.elapsed() >= Duration::from_secs_f64(args.hold.max(0.0)));
        let overall_limit = started.elapsed() > Duration::from_secs_f64(args.hold.max(0.0) + 300.0);
        if held_long_enough || overall_limit {
            break;
        }
    }
    let still_open_before_release =
        counts.opened.load(Ordering::Relaxed) - counts.closed_by_server.load(Ordering::Relaxed);
    let _ = stop_tx.send(true);
    for holder in holders {
        let _ = holder.await;
    }
    let latencies: Vec<f64> = probes
        .iter()
        .filter_map(|probe| probe["ms"].as_f64())
        .collect();
    let max_ms = latencies.iter().copied().fold(0.0, f64::max);
    let held_max_ms = probes
        .iter()
        .filter(|probe| probe["all_open"].as_bool() == Some(true))
        .filter_map(|probe| probe["ms"].as_f64())
        .fold(0.0, f64::max);
    Ok(json!({
        "summary": true,
        "n": args.n,
        "port": args.port,
        "client_nofile": nofile,
        "opened": counts.opened.load(Ordering::Relaxed),
        "connect_errors": counts.connect_errors.load(Ordering::Relaxed),
        "greeted": counts.greeted.load(Ordering::Relaxed),
        "closed_by_server": counts.closed_by_server.load(Ordering::Relaxed),
        "still_open_before_release": still_open_before_release,
        "probes": probes.len(),
        "probes_answered": latencies.len(),
        "probe_max_ms": max_ms,
        "probe_max_ms_while_all_open": held_max_ms,
        "probe_median_ms": median(&latencies),
        "probe_source": args.probe_source,
        "probe_log": probes,
    }))
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied()
}

async fn hold_one(
    target: SocketAddr,
    counts: Arc<Counts>,
    gate: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
) {
    let connected = {
        let _permit = gate.acquire().await;
        timeout(Duration::from_secs(10), TcpStream::connect(target)).await
    };
    let Ok(Ok(mut stream)) = connected else {
        counts.connect_errors.fetch_add(1, Ordering::Relaxed);
        return;
    };
    counts.opened.fetch_add(1, Ordering::Relaxed);
    let mut greeted = false;
    let mut buffer = [0u8; 1024];
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            read = stream.read(&mut buffer) => match read {
                Ok(0) | Err(_) => {
                    counts.closed_by_server.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Ok(_) if !greeted => {
                    greeted = true;
                    counts.greeted.fetch_add(1, Ordering::Relaxed);
                }
                Ok(_) => {}
            },
        }
    }
}

/// Runs one probe on a thread and runtime of its own: the idle connections' connect()
/// calls can each block the generator's runtime threads for milliseconds while the
/// kernel searches ephemeral ports, and that queueing is the client's, not the
/// honeypot's latency.
async fn probe_on_own_thread(
    source: SocketAddr,
    target: SocketAddr,
    proto: Proto,
    user: &str,
    pass: &str,
) -> anyhow::Result<Duration> {
    let (user, pass) = (user.to_owned(), pass.to_owned());
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("probe".into())
        .spawn(move || {
            let result = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(anyhow::Error::from)
                .and_then(|runtime| runtime.block_on(probe(source, target, proto, &user, &pass)));
            let _ = done_tx.send(result);
        })?;
    done_rx.await?
}

async fn probe(
    source: SocketAddr,
    target: SocketAddr,
    proto: Proto,
    user: &str,
    pass: &str,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let stream = timeout(Duration::from_secs(5), connect_from(source, target)).await??;
    let _ = stream.set_nodelay(true);
    let mut client = Client::new(stream, Duration::from_secs(5));
    client.greeting(proto).await?;
    client.attempt(proto, user, pass).await?;
    Ok(started.elapsed())
}

/// Connects from `source` (port 0: any) when it is the same IP family as `target`.
async fn connect_from(source: SocketAddr, target: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = if target.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if source.is_ipv4() == target.is_ipv4() {
        socket.bind(source)?;
    }
    socket.connect(target).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_probe_latencies() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
    }

    #[tokio::test]
    async fn probes_connect_from_their_own_loopback_address() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = listener.local_addr().unwrap();
        let source: SocketAddr = "127.0.0.2:0".parse().unwrap();
        let (client, accepted) = tokio::join!(connect_from(source, target), listener.accept());
        assert_eq!(client.unwrap().local_addr().unwrap().ip(), source.ip());
        assert_eq!(accepted.unwrap().1.ip(), source.ip());
    }
}
