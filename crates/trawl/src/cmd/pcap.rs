//! `trawl pcap`.

use std::process::ExitCode;

/// Flags of `trawl pcap`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `trawl pcap`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("trawl pcap is not built yet")
}
