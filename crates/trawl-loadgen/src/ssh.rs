//! `ssh`: the SSH login flood, with a russh client. Many concurrent connections, each doing
//! a full key exchange and then `per_conn` password attempts (several per connection, as
//! brute-forcers do), until `total` attempts were handed out or `max_seconds` passed.
//! Answered attempts (the server replied "failure") are written in hydra's `-V` format
//! for the Heralding kit's `bench_count.py`, like `flood`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use russh::client::{AuthResult, Config, Handler};
use russh::keys::PublicKeyOrCertificate;
use tokio::time::timeout;

use crate::load::{FloodArgs, Plan};

/// Flags of `ssh`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    flood: FloodArgs,
    /// Attempts to make in total.
    #[arg(long, default_value_t = 10_000)]
    total: u64,
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
    let plan = Arc::new(Plan::new(&args.flood, args.total, IO_TIMEOUT)?);
    let config = Arc::new(Config {
        inactivity_timeout: Some(IO_TIMEOUT),
        nodelay: true,
        ..Config::default()
    });
    crate::load::run(
        plan,
        &args.flood,
        move |plan| worker(plan, config.clone()),
        format!("trawl-loadgen ssh (russh 0.65 client, tokio, {threads} threads)"),
        "ssh",
    )
    .await
}

/// One connection slot: returns the numbers of the attempts that were answered.
async fn worker(plan: Arc<Plan>, config: Arc<Config>) -> Vec<u64> {
    let mut answered = Vec::new();
    while plan.going() {
        let Some(stream) = plan.connect().await else {
            continue;
        };
        let connect = russh::client::connect_stream(config.clone(), stream, AnyHostKey);
        let Ok(Ok(mut session)) = timeout(plan.io_timeout(), connect).await else {
            plan.stats.greeting_errors.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let mut made = 0;
        while let Some((number, user, pass)) = plan.next_attempt(made) {
            made += 1;
            let auth = timeout(plan.io_timeout(), session.authenticate_password(user, pass));
            let ok = matches!(auth.await, Ok(Ok(AuthResult::Failure { .. })));
            if !plan.record(number, ok, &mut answered) {
                break;
            }
        }
        let _ = session
            .disconnect(russh::Disconnect::ByApplication, "", "")
            .await;
    }
    answered
}
