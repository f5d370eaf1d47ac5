//! `trawl-loadgen`: the sensor benchmark's load generator (loopback only, bounded in count
//! and time). `flood` hammers one port with failed logins from many concurrent
//! connections and writes every answered attempt in hydra's `-V` line format, so the
//! Heralding kit's `bench_count.py` can check each one against a honeypot's log. `idle`
//! holds many idle connections open while probing fresh logins and timing them.
//! `ceiling` is a do-nothing server for the same dialogs: the machine's upper bound.

mod ceiling;
mod dialog;
mod flood;
mod idle;
mod load;
mod ssh;
mod telnet_options;
mod watchdata;

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use anyhow::bail;
use clap::Parser;

/// Loopback-only load generator for honeypot benchmarks.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Worker threads of the generator's runtime.
    #[arg(long, default_value_t = 2, global = true)]
    threads: usize,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Flood one port with failed logins.
    Flood(flood::Args),
    /// Hold idle connections while probing fresh logins.
    Idle(idle::Args),
    /// Answer ftp/pop3 login dialogs with no logging at all: this machine's ceiling.
    Ceiling(ceiling::Args),
    /// Flood an SSH port with failed password logins (russh client).
    Ssh(ssh::Args),
    /// Write the `trawl watch` benchmark's inventory, combolist and IP feed (no network).
    WatchData(watchdata::Args),
}

/// Refuses every target that is not a loopback address.
pub fn loopback_target(host: IpAddr, port: u16) -> anyhow::Result<SocketAddr> {
    if !host.is_loopback() {
        bail!("refusing {host}: the load generator only targets loopback addresses");
    }
    Ok(SocketAddr::new(host, port))
}

/// Raises RLIMIT_NOFILE to the hard limit (idle mode needs thousands of sockets).
fn raise_fd_limit() -> u64 {
    match rlimit::getrlimit(rlimit::Resource::NOFILE) {
        Ok((_, hard)) => {
            let _ = rlimit::setrlimit(rlimit::Resource::NOFILE, hard, hard);
            hard
        }
        Err(_) => 0,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::WatchData(args) = cli.command {
        return report(watchdata::run(args));
    }
    let nofile = raise_fd_limit();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cli.threads.max(1))
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("trawl-loadgen: cannot start runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Flood(args) => flood::run(args, cli.threads).await,
            Command::Idle(args) => idle::run(args, nofile).await,
            Command::Ceiling(args) => ceiling::run(args).await,
            Command::Ssh(args) => ssh::run(args, cli.threads).await,
            Command::WatchData(args) => watchdata::run(args),
        }
    });
    report(result)
}

fn report(result: anyhow::Result<serde_json::Value>) -> ExitCode {
    match result {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("trawl-loadgen: {error:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_targets_are_accepted() {
        assert!(loopback_target("127.0.0.1".parse().unwrap(), 1).is_ok());
        assert!(loopback_target("::1".parse().unwrap(), 1).is_ok());
        assert!(loopback_target("10.0.0.1".parse().unwrap(), 1).is_err());
        assert!(loopback_target("8.8.8.8".parse().unwrap(), 1).is_err());
    }
}
