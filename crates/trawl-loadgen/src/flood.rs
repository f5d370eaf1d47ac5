//! `flood`: many concurrent connections, each doing `per_conn` failed logins, until
//! `total` attempts were handed out or `max_seconds` passed (plan, counters and report
//! in [`crate::load`]).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::dialog::{Client, Proto};
use crate::load::{FloodArgs, Plan};

/// Flags of `flood`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Protocol to speak.
    #[arg(value_enum)]
    proto: Proto,
    #[command(flatten)]
    flood: FloodArgs,
    /// Attempts to make in total.
    #[arg(long, default_value_t = 100_000)]
    total: u64,
}

const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs the flood and returns the JSON report.
pub async fn run(args: Args, threads: usize) -> anyhow::Result<serde_json::Value> {
    let plan = Arc::new(Plan::new(&args.flood, args.total, IO_TIMEOUT)?);
    let proto = args.proto;
    crate::load::run(
        plan,
        &args.flood,
        move |plan| worker(plan, proto),
        format!("trawl-loadgen (Rust, tokio, {threads} threads)"),
        &format!("{proto:?}").to_lowercase(),
    )
    .await
}

/// One connection slot: returns the numbers of the attempts that were answered.
async fn worker(plan: Arc<Plan>, proto: Proto) -> Vec<u64> {
    let mut answered = Vec::new();
    while plan.going() {
        let Some(stream) = plan.connect().await else {
            continue;
        };
        let mut client = Client::new(stream, plan.io_timeout());
        if client.greeting(proto).await.is_err() {
            plan.stats.greeting_errors.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let mut made = 0;
        while let Some((number, user, pass)) = plan.next_attempt(made) {
            made += 1;
            let ok = client.attempt(proto, &user, &pass).await.is_ok();
            if !plan.record(number, ok, &mut answered) {
                break;
            }
        }
    }
    answered
}
