//! Writes the scorer's measures for `eval::tuning_set` as CSV on stdout, the
//! input of `scripts/fit_weights.py` (which fitted the weights in
//! `src/score.rs`):
//! `cargo run -p trawl-dga --example dump-features > /tmp/features.csv`

use std::process::ExitCode;

use trawl_dga::{eval, score};

fn main() -> ExitCode {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "/usr/share/dict/words".to_owned());
    let words = match std::fs::read_to_string(&path) {
        Ok(words) => words,
        Err(err) => {
            eprintln!(
                "dump-features: cannot read word list {path}: {err} (install Debian package wamerican)"
            );
            return ExitCode::from(2);
        }
    };
    for s in eval::tuning_set(&words) {
        let f = score::features(&s.name);
        let vowels = f.label.bytes().filter(|b| b"aeiouy".contains(b)).count();
        println!(
            "{},{},{},{},{},{},{},{},{}",
            s.family.name(),
            f.label,
            f.english_log2_prob.unwrap_or(-6.0),
            f.length,
            f.entropy,
            f.max_consonant_run,
            f.digit_ratio,
            f.digit_switches,
            vowels as f64 / f.length.max(1) as f64
        );
    }
    ExitCode::SUCCESS
}
