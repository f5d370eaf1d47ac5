//! Rebuilds `data/en-trigrams.tsv` from a word list (default
//! `/usr/share/dict/words`, Debian package `wamerican`):
//! `cargo run -p trawl-dga --example train-ngrams > crates/trawl-dga/data/en-trigrams.tsv`

use std::process::ExitCode;

fn main() -> ExitCode {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "/usr/share/dict/words".to_owned());
    let list = match std::fs::read_to_string(&path) {
        Ok(list) => list,
        Err(err) => {
            eprintln!(
                "train-ngrams: cannot read word list {path}: {err} (install Debian package wamerican)"
            );
            return ExitCode::from(2);
        }
    };
    let model = trawl_dga::ngram::train(&list);
    println!(
        "# Character trigrams (^ = word boundary) of the training split of {path} (Debian wamerican)"
    );
    println!("# (words whose FNV-1a hash % 5 != 0); regenerate with examples/train-ngrams.rs");
    print!("{}", model.to_tsv());
    ExitCode::SUCCESS
}
