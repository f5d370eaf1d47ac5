//! `trawl dga` end to end with the built binary.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn trawl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trawl"))
        .args(args)
        .output()
        .expect("run trawl")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn check_explains_the_seed_c2_name() {
    let out = trawl(&[
        "dga",
        "mirai",
        "check",
        "hrjlyymassqx.tech",
        "--to",
        "2016-12-31",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout(&out),
        "hrjlyymassqx.tech\tseed 0x91 (145)\tdate 2016-12-29\n"
    );
}

#[test]
fn check_default_range_lists_every_matching_year() {
    let out = trawl(&[
        "dga",
        "mirai",
        "check",
        "--format",
        "json",
        "hrjlyymassqx.tech",
    ]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let origins = v["origins"].as_array().expect("origins");
    assert!(origins.len() >= 10, "{v}");
    assert!(origins.iter().all(|o| o["seed"] == 0x91 && o["date"].as_str().is_some_and(|d| d.ends_with("-12-29"))));
    assert_eq!(v["from"], "2016-01-01");
}

#[test]
fn check_rejects_non_mirai_names() {
    let out = trawl(&["dga", "mirai", "check", "inandoutand.in"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("not a Mirai DGA name"));
}

#[test]
fn generate_lists_each_tld() {
    let out = trawl(&[
        "dga",
        "mirai",
        "generate",
        "--seed",
        "0x91",
        "--from",
        "2016-12-28",
        "--to",
        "2016-12-30",
    ]);
    assert!(out.status.success());
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(
        lines[1],
        "2016-12-29\t0x91\thrjlyymassqx.online\thrjlyymassqx.tech\thrjlyymassqx.support"
    );
}

#[test]
fn bad_dates_and_seeds_are_one_line_errors() {
    let out = trawl(&[
        "dga",
        "mirai",
        "generate",
        "--seed",
        "0xzz",
        "--from",
        "2016-12-28",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid seed"));
    let out = trawl(&["dga", "mirai", "generate", "--from", "2016-02-30"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected YYYY-MM-DD"));
}

#[test]
fn hostile_stdin_is_survived() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_trawl"))
        .args(["dga", "score", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut input = b"abc\x00def.com\n\xff\xfe.com\n".to_vec();
    input.extend(std::iter::repeat_n(b'x', 5000));
    input.extend(b"\ngoogle.com\n");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&input)
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success());
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(
        text.contains("abc\\0def.com"),
        "control bytes escaped: {text}"
    );
    assert!(text.contains("\tok\tgoogle.com"), "{text}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("stdin line 3: longer than 1024 bytes"));
}

#[test]
fn score_names_and_stdin() {
    let out = trawl(&["dga", "score", "hrjlyymassqx.tech", "google.com"]);
    assert!(out.status.success());
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].contains("\tDGA\thrjlyymassqx.tech\t") && lines[0].contains("Mirai"),
        "{text}"
    );
    assert!(lines[1].contains("\tok\tgoogle.com"), "{text}");

    let mut child = Command::new(env!("CARGO_BIN_EXE_trawl"))
        .args(["dga", "score", "--format", "json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"xjwqkzvbtrpl.com\n\nweatherreport.org\n")
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    let records: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["is_dga"], true);
    assert_eq!(records[1]["is_dga"], false);
}
