//! `trawl dga`.

use std::process::ExitCode;

/// Flags of `trawl dga`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `trawl dga`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("trawl dga is not built yet")
}
