//! `trawl report`.

use std::process::ExitCode;

/// Flags of `trawl report`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `trawl report`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("trawl report is not built yet")
}
