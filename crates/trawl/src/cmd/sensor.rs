//! `trawl sensor`.

use std::process::ExitCode;

/// Flags of `trawl sensor`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `trawl sensor`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("trawl sensor is not built yet")
}
