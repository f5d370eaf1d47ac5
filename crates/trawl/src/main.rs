//! The `trawl` command: a thin CLI over the library crates.
//!
//! Each subcommand lives in its own module under `cmd/` with an `Args`
//! struct (clap derive) and a `run` function; this file only dispatches.
//! Errors become one line on stderr and exit code 2; a closed stdout pipe
//! (`trawl ... | head`) is not an error.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;

/// mimalloc (crates.io `mimalloc`, its default v3 build) instead of glibc's malloc.
/// `trawl report` on a 10 M-row log builds ~800 MB of hash tables and per-source
/// state on two workers at once; with mimalloc that run takes 8-16 % less wall time
/// and CPU (docs/report.md, run 18), where glibc with transparent huge pages turned
/// on (`GLIBC_TUNABLES=glibc.malloc.hugetlb=1`) gained 6 %. Runs of 1 M rows
/// measure no difference.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's number for its purge delay option (`mi_option_purge_delay` in
/// mimalloc.h, 15 in both its v2 and v3 builds; libmimalloc-sys names no constant
/// for it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Tells mimalloc to keep memory that is freed for reuse until the process exits,
/// instead of handing it back to the system a second after (its default purge
/// delay). For a command that runs once and exits (`trawl report`): memory handed
/// back and used again is new memory to the system, which clears it page by page
/// on first touch, and on this machine that costs about 1.2 s of CPU per GiB. On the
/// 10 M-row benchmark log the report then took 2-5 % less wall time and 3-5 % less
/// CPU time (docs/report.md, session 15); peak RSS is 10-20 MB higher. Not for the sensor,
/// which runs for weeks.
pub fn keep_freed_memory() {
    // SAFETY: `mi_option_set` only stores the value (mimalloc reads it each time it
    // decides on a purge); it is not thread safe, so it is called before the
    // command starts any thread.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) }
}

/// Honeypot-driven threat intelligence.
#[derive(Debug, Parser)]
#[command(name = "trawl", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the credential-catching honeypot.
    Sensor(cmd::sensor::Args),
    /// Analyse captured login attempts (trawl, Heralding, Cowrie, OpenCanary logs).
    Report(cmd::report::Args),
    /// Generate lookalike domains and match domain feeds against brands.
    Domains(cmd::domains::Args),
    /// Extract network IOCs from pcap/pcapng captures.
    Pcap(cmd::pcap::Args),
    /// Whois lookups, offline parsing and registrant pivots.
    Whois(cmd::whois::Args),
    /// Check an inventory (domains, ranges, mail domains) against outside data; new alerts.
    Watch(cmd::watch::Args),
    /// Mirai DGA generation/checks and generic DGA scoring.
    Dga(cmd::dga::Args),
    /// Crack the sensor's captured hashes (SCRAM, caching_sha2, NetNTLMv2, ...) with a wordlist.
    Crack(cmd::crack::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Sensor(args) => cmd::sensor::run(args),
        Command::Report(args) => cmd::report::run(args),
        Command::Domains(args) => cmd::domains::run(args),
        Command::Pcap(args) => cmd::pcap::run(args),
        Command::Whois(args) => cmd::whois::run(args),
        Command::Watch(args) => cmd::watch::run(args),
        Command::Dga(args) => cmd::dga::run(args),
        Command::Crack(args) => cmd::crack::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("trawl: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// Whether the error is a closed standard output (`trawl report | head`): the reader
/// has what it wanted, so the command ends quietly. serde_json and csv keep their
/// I/O errors inside (their `source` does not give them), so they are asked.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    let broken = Some(std::io::ErrorKind::BrokenPipe);
    err.chain().any(|cause| {
        let csv_io = cause
            .downcast_ref::<csv::Error>()
            .and_then(|e| match e.kind() {
                csv::ErrorKind::Io(io) => Some(io.kind()),
                _ => None,
            });
        cause.downcast_ref::<std::io::Error>().map(|io| io.kind()) == broken
            || cause
                .downcast_ref::<serde_json::Error>()
                .and_then(serde_json::Error::io_error_kind)
                == broken
            || csv_io == broken
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freed_memory_is_kept_until_exit() {
        keep_freed_memory();
        // SAFETY: reads one option's value.
        let delay = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!(delay, -1, "mimalloc's purge delay");
    }
}
