//! `trawl domains`.

use std::process::ExitCode;

/// Flags of `trawl domains`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `trawl domains`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("trawl domains is not built yet")
}
