//! Fuzzing the hash-line parser, the verifiers and the hash-file reader with mutated
//! lines of every format `trawl crack` reads (published test vectors, and the plain,
//! CSV and JSON-lines layouts the sensor writes) and with noise. Hash files come from
//! honeypots, whose every byte an attacker chose: no case may panic.

use std::io::Cursor;
use std::path::Path;

use proptest::prelude::*;
use trawl_crack::Target;
use trawl_crack::input::read_text;

/// One line of each format; the first six are published test vectors (password
/// `hashcat`, `pass1234` for VNC, `s3cr3t` for caching_sha2).
const LINES: [&str; 9] = [
    "$mysqlna$2576670568531371763643101056556678041327*f6305679c3ed257b212b92925c4a97bbce99429e",
    "$postgres$postgres*74402844*4e7fabaaf34d780c4a5822d28ee1c83e",
    "$cram_md5$PG5vLXJlcGx5QGhhc2hjYXQubmV0Pg==$dXNlciA0NGVhZmQyMmZlNzY2NzBmNmIyODc5MDgxYTdmNWY3MQ==",
    "0UL5G37JOI0SX::6VB1IS0KA74:ebe1afa18b7fbfa6:aab8bf8675658dd2a939458a1077ba08:010100000000000031c8aa092510945398b9f7b7dde1a9fb00000000f7876f2b04b700",
    "$vnc$*84076F040550EEA9341967633B5F3855*DD96D21781A70DA49443279975404DD0",
    "$mysql-sha2$0102030405060708090a0b0c0d0e0f1011121314*eaaa1f23aa3a7aa171e525c43fe5fe33338896b259c9cd4c8827d484a76382fc",
    "$scram-sha-256$4096$MDEyMzQ1Njc4OWFiY2RlZg==$bj1ib2Iscj1hYmMscj1hYmNkZWYscz1NREV5LGk9NDA5NixjPWJpd3Mscj1hYmNkZWY=$AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
    "$mongodb-scram-sha-1$4096$MDEyMzQ1Njc4OWFiY2RlZg==$bj1hZD0zRG1pbj0yQ3gscj1hYmMscj1hYmNkZWYscz1NREV5LGk9NDA5NixjPWJpd3Mscj1hYmNkZWY=$AAECAwQFBgcICQoLDA0ODxAREhM=",
    "c4c9334bac560ecc979e58001b3e22fb:<1896.697170952@dbc.mtview.ca.us>",
];

fn line_seeds() -> Vec<Vec<u8>> {
    LINES.iter().map(|line| line.as_bytes().to_vec()).collect()
}

/// The three file layouts `read_text` sniffs, each holding every line.
fn file_seeds() -> Vec<Vec<u8>> {
    let plain = LINES.join("\n");
    let mut csv = String::from("timestamp,username,password,password_hash\n");
    let mut jsonl = String::new();
    for (n, line) in LINES.iter().enumerate() {
        csv.push_str(&format!("2026-11-27 07:00:0{n},u{n},,\"{line}\"\n"));
        jsonl.push_str(&serde_json::json!({ "username": n, "password_hash": line }).to_string());
        jsonl.push('\n');
    }
    vec![plain.into_bytes(), csv.into_bytes(), jsonl.into_bytes()]
}

/// Tries a parsed target with a few passwords; SCRAM costs are capped here so that a
/// mutated iteration count (up to the parser's own limit) cannot make the test slow.
fn exercise(target: &Target) {
    if let Target::Scram { iterations, .. } = target
        && *iterations > 10_000
    {
        return;
    }
    let _ = target.format_name();
    for password in [&b""[..], b"hashcat", b"\xff\xfe\x00", &[b'a'; 300]] {
        let _ = target.verifies(password);
    }
}

#[test]
fn every_seed_line_parses() {
    for line in LINES {
        assert!(Target::parse(line).is_some(), "{line}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn mutated_hash_lines_parse_and_verify_without_panics(
        line in trawl_mutate::mutated(line_seeds(), 4)
    ) {
        if let Some(target) = Target::parse(&String::from_utf8_lossy(&line)) {
            exercise(&target);
        }
    }

    #[test]
    fn mutated_hash_files_are_read_with_bounded_notes(
        file in trawl_mutate::mutated(file_seeds(), 8)
    ) {
        let read = read_text(Path::new("fuzz.txt"), Cursor::new(&file));
        prop_assert!(read.is_ok(), "an in-memory file cannot fail to read: {:?}", read.err());
        if let Ok(hashes) = read {
            prop_assert!(hashes.notes.len() as u64 <= hashes.skipped);
            for line in &hashes.lines {
                if let Some(target) = Target::parse(line) {
                    exercise(&target);
                }
            }
        }
    }

    #[test]
    fn noise_is_never_a_panic(noise in trawl_mutate::noise(2048)) {
        let text = String::from_utf8_lossy(&noise);
        let _ = Target::parse(&text);
        let _ = read_text(Path::new("noise.txt"), Cursor::new(&noise));
    }
}
