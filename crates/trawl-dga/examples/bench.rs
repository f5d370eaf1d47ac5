//! Benchmark for bench/dga/run.sh: Mirai brute force over 256 seeds x
//! 10 years, and scorer throughput. Prints one `name value unit` per line.

use std::time::Instant;

use trawl_dga::mirai::{self, NaiveDate};
use trawl_dga::{eval, score};

fn main() {
    let from = NaiveDate::from_ymd_opt(2016, 1, 1).unwrap_or_default();
    let to = NaiveDate::from_ymd_opt(2025, 12, 31).unwrap_or_default();
    let runs = 5;
    let mut best = f64::MAX;
    let mut hits = 0;
    for _ in 0..runs {
        let t = Instant::now();
        hits = mirai::find_origins("hrjlyymassqx.tech", 0..=255, from, to).len();
        best = best.min(t.elapsed().as_secs_f64());
    }
    let days = (to - from).num_days() + 1;
    println!(
        "mirai_check_seconds {best:.6} s (256 seeds x {days} days, best of {runs}, {hits} hits)"
    );
    println!(
        "mirai_check_candidates_per_second {:.0} 1/s",
        256.0 * days as f64 / best
    );

    let words = std::fs::read_to_string("/usr/share/dict/words").unwrap_or_default();
    let names: Vec<String> = eval::labelled_set(&words)
        .into_iter()
        .map(|s| s.name)
        .collect();
    let t = Instant::now();
    let mut flagged = 0usize;
    for _ in 0..10 {
        flagged += names
            .iter()
            .filter(|n| score::score_domain(n).is_dga)
            .count();
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "score_names_per_second {:.0} 1/s ({} names x 10, {flagged} flagged)",
        names.len() as f64 * 10.0 / secs,
        names.len()
    );
}
