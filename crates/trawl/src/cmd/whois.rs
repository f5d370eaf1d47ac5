//! `trawl whois`.

use std::process::ExitCode;

/// Flags of `trawl whois`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `trawl whois`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("trawl whois is not built yet")
}
