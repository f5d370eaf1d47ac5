//! `trawl sensor`: runs the credential-catching honeypot until SIGINT/SIGTERM.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use trawl_sensor::SensorConfig;

/// Flags of `trawl sensor`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// TOML configuration file (see --print-default-config).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print the fully commented default configuration and exit.
    #[arg(long)]
    print_default_config: bool,
    /// Directory for log_auth.csv, log_session.csv, events.jsonl, trawl.db and TLS files
    /// [default: ./trawl-data].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1]; 0.0.0.0 or :: to face the internet.
    #[arg(long, value_name = "ADDR")]
    bind: Option<IpAddr>,
    /// Only these protocols, comma-separated (e.g. ftp,telnet).
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    only: Vec<String>,
    /// Exit with an error when any listener fails to bind.
    #[arg(long)]
    strict: bool,
}

/// Runs `trawl sensor`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let protocols = trawl_sensor::protocols::all();
    if args.print_default_config {
        print!("{}", trawl_sensor::config::default_config_text(&protocols));
        return Ok(ExitCode::SUCCESS);
    }
    init_logging();
    let mut config = match &args.config {
        Some(path) => SensorConfig::load(path)?,
        None => SensorConfig::default(),
    };
    if let Some(dir) = args.data_dir {
        config.data_dir = dir;
    }
    if let Some(bind) = args.bind {
        config.bind = bind;
    }
    config.strict |= args.strict;
    if !args.only.is_empty() {
        config.restrict_to(&args.only, &protocols)?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let summary = runtime.block_on(trawl_sensor::run(
        config,
        trawl_sensor::server::shutdown_signal(),
    ))?;
    let written: Vec<String> = summary
        .sinks
        .sinks
        .iter()
        .map(|s| {
            format!(
                "{} {} written, {} failed ({} write retries)",
                s.name, s.written, s.failed, s.retried_writes
            )
        })
        .collect();
    tracing::info!(
        "stopped: {} sessions, {} events, {} over the connection cap, {} back-pressure waits; {}",
        summary.sessions,
        summary.sinks.accepted,
        summary.over_cap,
        summary.sinks.backpressure_waits,
        written.join("; ")
    );
    let failed = summary.sinks.sinks.iter().any(|s| s.failed > 0);
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TRAWL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
