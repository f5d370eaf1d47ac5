//! End-to-end tests of `trawl report` (the built binary) on fixtures from the seed,
//! on trawl's own output formats, and an HTML rendering check in headless Chromium.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(name: &str) -> String {
    format!(
        "{}/../trawl-report/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn trawl(args: &[&str]) -> Output {
    match Command::new(env!("CARGO_BIN_EXE_trawl"))
        .arg("report")
        .args(args)
        .output()
    {
        Ok(o) => o,
        Err(e) => panic!("running trawl report {args:?}: {e}"),
    }
}

fn stdout_ok(args: &[&str]) -> String {
    let out = trawl(args);
    assert!(
        out.status.success(),
        "trawl report {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json(args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    match serde_json::from_str(&stdout_ok(&all)) {
        Ok(v) => v,
        Err(e) => panic!("JSON of {args:?}: {e}"),
    }
}

/// The lines of one titled section of the text output.
fn section<'a>(text: &'a str, title: &str) -> Vec<&'a str> {
    text.split("\n\n")
        .find(|block| block.lines().next() == Some(title))
        .map(|block| block.lines().skip(3).collect())
        .unwrap_or_default()
}

#[test]
fn text_tables_read_like_the_seed() {
    let text = stdout_ok(&[&fixture("seed_heralding.csv")]);
    let users = section(&text, "Top usernames (as logged)");
    assert_eq!(
        users
            .first()
            .map(|l| l.split_whitespace().collect::<Vec<_>>()),
        Some(vec!["8", "root"]),
        "{text}"
    );
    assert_eq!(
        users
            .get(1)
            .map(|l| l.split_whitespace().collect::<Vec<_>>()),
        Some(vec!["3", "enable"])
    );
    // Counts are right-aligned in one column, like `uniq -c`.
    let ends: Vec<usize> = users
        .iter()
        .filter_map(|l| {
            l.find(|c: char| c.is_ascii_digit())
                .map(|s| s + l[s..].find(' ').unwrap_or(0))
        })
        .collect();
    assert!(ends.windows(2).all(|w| w[0] == w[1]), "{users:#?}");
    let creds = section(&text, "Top usernames (credential attempts only)");
    let words: Vec<Vec<&str>> = creds
        .iter()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(words, [vec!["8", "root"], vec!["2", "Admin"]]);
    let payload = section(&text, "Payload hosts").join("\n");
    assert!(
        payload.contains("185.35.139.97") && payload.contains("93.190.142.201"),
        "{payload}"
    );
    assert!(
        section(&text, "Campaigns")
            .join("\n")
            .contains("tiny-unknown-dictionary"),
        "{text}"
    );
    let known = section(&text, "Known IoT default credentials seen").join("\n");
    assert!(
        known.contains("klv123") && known.contains("mirai"),
        "{known}"
    );
}

#[test]
fn output_formats_and_out_file() {
    let seed = fixture("seed_heralding.csv");
    let v = json(&[&seed]);
    assert_eq!(v["totals"]["events"], 19);
    assert_eq!(v["top_usernames"][0]["value"], "root");
    let csv = stdout_ok(&[&seed, "--format", "csv"]);
    assert!(csv.starts_with("table,rank,value,username,password,count,kind,label,detail\n"));
    assert!(csv.contains("top_usernames,1,root,,,8,,,"), "{csv}");
    let md = stdout_ok(&[&seed, "--format", "md", "--top", "3"]);
    assert!(
        md.contains("## Top sources") && md.contains("| 10 | 218.191.87.87 |"),
        "{md}"
    );
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let out = dir.path().join("r.html");
    let out_s = out.display().to_string();
    assert!(stdout_ok(&[&seed, "--format", "html", "--out", &out_s]).is_empty());
    let html = std::fs::read_to_string(&out).unwrap_or_default();
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<svg"));
    // Without --format, the --out file's extension names the format.
    let read_back = |name: &str, args: &[&str]| {
        let path = dir.path().join(name).display().to_string();
        let all = [&[seed.as_str(), "--out", &path][..], args].concat();
        assert!(stdout_ok(&all).is_empty());
        std::fs::read_to_string(&path).unwrap_or_default()
    };
    assert!(read_back("r.HTM", &[]).starts_with("<!DOCTYPE html>"));
    assert!(read_back("r.json", &[]).starts_with('{'));
    assert!(read_back("r.csv", &[]).starts_with("table,rank,"));
    assert!(read_back("r.markdown", &[]).contains("## Top sources"));
    assert!(read_back("r.txt", &[]).starts_with("trawl report\n"));
    assert!(read_back("r.json.txt", &["--format", "json"]).starts_with('{'));
    // Several outputs from one run, each in its extension's format.
    let (html, json_out) = (dir.path().join("both.html"), dir.path().join("both.json"));
    let (h, j) = (html.display().to_string(), json_out.display().to_string());
    assert!(stdout_ok(&[&seed, "--out", &h, "--out", &j]).is_empty());
    let html_text = std::fs::read_to_string(&html).unwrap_or_default();
    assert!(html_text.starts_with("<!DOCTYPE html>"));
    let both: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_out).unwrap_or_default())
            .unwrap_or_else(|e| panic!("both.json: {e}"));
    assert_eq!(both, json(&[&seed]));
    // A failed run leaves the last report as it was and creates no new file; an
    // output that cannot be written fails before the inputs are read.
    std::fs::write(&json_out, "last report").ok();
    let fresh = dir.path().join("fresh.html").display().to_string();
    let failed = trawl(&["/nonexistent/log.csv", "--out", &j, "--out", &fresh]);
    assert_eq!(failed.status.code(), Some(2));
    assert_eq!(
        std::fs::read_to_string(&json_out).unwrap_or_default(),
        "last report"
    );
    assert!(!Path::new(&fresh).exists());
    assert!(stdout_ok(&[&seed, "--out", "/dev/null"]).is_empty());
    let unwritable = trawl(&["/nonexistent/log.csv", "--out", "/nonexistent/dir/r.html"]);
    let err = String::from_utf8_lossy(&unwritable.stderr);
    assert!(err.contains("creating /nonexistent/dir/r.html"), "{err}");
}

#[test]
fn filters_on_the_command_line() {
    let seed = fixture("seed_heralding.csv");
    let v = json(&[
        &seed,
        "--since",
        "2016-12-14 22:00:00",
        "--source",
        "46.118.0.0/16,37.115.145.181",
    ]);
    assert_eq!(v["totals"]["events"], 6);
    let v = json(&[
        &seed,
        &fixture("opencanary.json"),
        "--protocol",
        "ssh",
        "--until",
        "2024-06-01 10:00",
    ]);
    assert_eq!(v["totals"]["login_prompt_entries"], 2);
    let bad = trawl(&[&seed, "--source", "not-a-net"]);
    assert_eq!(bad.status.code(), Some(2));
}

/// `--exclude-source` with networks and `@FILE` lists (comments, a bad line named
/// with its number), and the report naming its filters in every format.
#[test]
fn excluded_sources_and_network_lists() {
    let seed = fixture("seed_heralding.csv");
    let dir = tempfile::tempdir().expect("tempdir");
    let list = dir.path().join("scanners.txt");
    std::fs::write(
        &list,
        "# research scanners\n218.191.87.0/24 # the 7up loader\n\n82.50.48.173\n",
    )
    .expect("list");
    let at_list = format!("@{}", list.display());
    let v = json(&[
        &seed,
        "--exclude-source",
        &at_list,
        "--exclude-source",
        "46.118.0.0/16",
    ]);
    // 19 rows: 218.191.87.87 typed 10, 46.118.141.45 4, 82.50.48.173 1.
    assert_eq!(v["totals"]["events"], 4);
    assert_eq!(v["totals"]["filtered_out"], 15);
    assert_eq!(
        v["filters"]["exclude_sources"],
        serde_json::json!(["218.191.87.0/24", "82.50.48.173/32", "46.118.0.0/16"])
    );
    let v = json(&[&seed, "--source", &at_list]);
    assert_eq!(v["totals"]["events"], 11);
    assert_eq!(json(&[&seed]).get("filters"), None);

    let args = [
        seed.as_str(),
        "--exclude-source",
        &at_list,
        "--protocol",
        "telnet",
    ];
    let text = stdout_ok(&args);
    let table = section(&text, "Filters");
    assert!(
        table
            .iter()
            .any(|l| l.contains("protocols") && l.contains("telnet")),
        "{table:?}"
    );
    assert!(
        table
            .iter()
            .any(|l| l.contains("sources left out")
                && l.contains("218.191.87.0/24, 82.50.48.173/32")),
        "{table:?}"
    );
    let csv = stdout_ok(&[&args[..], &["--format", "csv"]].concat());
    assert!(
        csv.contains("filters,,exclude_source,,,,,,82.50.48.173/32"),
        "{csv}"
    );
    assert!(csv.contains("filters,,protocol,,,,,,telnet"), "{csv}");
    let md = stdout_ok(&[&args[..], &["--format", "md"]].concat());
    assert!(md.contains("## Filters"), "{md}");

    std::fs::write(&list, "10.0.0.0/8\nscanner.example.net\n").expect("list");
    let bad = trawl(&[&seed, "--exclude-source", &at_list]);
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("scanners.txt:2: \"scanner.example.net\" is not a CIDR or an address"),
        "{err}"
    );
    let missing = trawl(&[&seed, "--exclude-source", "@/nonexistent/list.txt"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/list.txt"),
        "{missing:?}"
    );
    // An empty allow-list is refused (an empty filter would keep every source); an
    // empty list of sources to leave out leaves none out.
    std::fs::write(&list, "# nothing today\n").expect("list");
    let empty = trawl(&[&seed, "--source", &at_list]);
    assert_eq!(empty.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&empty.stderr).contains("the list has no network"));
    assert_eq!(
        json(&[&seed, "--exclude-source", &at_list])["totals"]["events"],
        19
    );
    let bad = trawl(&[&seed, "--exclude-source", "10.0.0.0/40"]);
    assert_eq!(bad.status.code(), Some(2));
}

/// `--since 24h`: ages count back from now. Rows 2 hours, 2 days and 10 days old.
#[test]
fn since_and_until_take_ages() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let path = dir.path().join("log_auth.csv");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut csv = String::from(
        "timestamp,auth_id,session_id,source_ip,source_port,destination_ip,destination_port,protocol,username,password\n",
    );
    for (i, hours_ago) in [2u64, 48, 240].iter().enumerate() {
        let ts = now - hours_ago * 3600;
        csv.push_str(&format!(
            "{ts}.0,a{i},s{i},192.0.2.{i},4000,,23,telnet,root,p{i}\n"
        ));
    }
    std::fs::write(&path, csv).unwrap_or_else(|e| panic!("write: {e}"));
    let p = path.display().to_string();
    let events =
        |args: &[&str]| json(&[&[p.as_str()][..], args].concat())["totals"]["events"].clone();
    assert_eq!(events(&[]), 3);
    assert_eq!(events(&["--since", "24h"]), 1);
    assert_eq!(events(&["--since", "3d"]), 2);
    assert_eq!(events(&["--since", "2w", "--until", "1d"]), 2);
    assert_eq!(events(&["--until", "300m"]), 2);
    let bad = trawl(&[&p, "--since", "24x"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("is not a date, a timestamp or an age"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

#[test]
fn bad_rows_are_reported_and_fatal_only_with_strict() {
    let file = fixture("malformed.csv");
    let out = trawl(&[&file]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("4 bad row(s)"), "{err}");
    assert!(
        err.contains("malformed.csv:3: expected 10 columns, found 9"),
        "{err}"
    );
    assert!(err.contains("malformed.csv:9:"), "{err}");
    // Hostile bytes are escaped, never sent raw to the terminal.
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains('\u{1b}') && text.contains("\\x1b[31mred"),
        "{text}"
    );
    let strict = trawl(&[&file, "--strict"]);
    assert_eq!(strict.status.code(), Some(2));
    let err = String::from_utf8_lossy(&strict.stderr);
    assert!(
        err.contains("malformed.csv:3: expected 10 columns, found 9"),
        "{err}"
    );
    let missing = trawl(&["/nonexistent/log.csv"]);
    assert_eq!(missing.status.code(), Some(2));
}

const SEED_ROWS: usize = 19;

/// Writes the seed rows in each of trawl's own output formats (docs/sensor-outputs.md);
/// trawl.db uses the schema exported by trawl-sinks.
fn write_trawl_outputs(dir: &Path) -> Vec<PathBuf> {
    let mut reader = csv::Reader::from_path(fixture("seed_heralding.csv"))
        .unwrap_or_else(|e| panic!("seed: {e}"));
    let rows: Vec<csv::StringRecord> = reader.records().filter_map(Result::ok).collect();
    assert_eq!(rows.len(), SEED_ROWS);
    let iso = |t: &str| format!("{}Z", t.replacen(' ', "T", 1));
    let mut auth =
        csv::Writer::from_path(dir.join("log_auth.csv")).unwrap_or_else(|e| panic!("{e}"));
    auth.write_record(trawl_sinks::AUTH_HEADER).ok();
    let mut jsonl = String::new();
    let db = rusqlite::Connection::open(dir.join("trawl.db")).unwrap_or_else(|e| panic!("{e}"));
    db.execute_batch(trawl_sinks::SCHEMA)
        .unwrap_or_else(|e| panic!("{e}"));
    for r in &rows {
        let f = |i: usize| r.get(i).unwrap_or_default();
        auth.write_record([
            f(0),
            f(1),
            f(2),
            f(3),
            f(4),
            "127.0.0.1",
            f(6),
            f(7),
            f(8),
            f(9),
            "",
        ])
        .ok();
        let line = serde_json::json!({"type": "auth_attempt", "timestamp": iso(f(0)), "auth_id": f(1), "session_id": f(2),
            "source_ip": f(3), "source_port": f(4).parse::<u16>().unwrap_or(0), "destination_ip": "127.0.0.1",
            "destination_port": 23, "protocol": f(7), "username": f(8), "password": f(9), "password_hash": null, "mechanism": "user-pass"});
        jsonl.push_str(&format!("{line}\n"));
        db.execute(
            "INSERT INTO auth_attempts (auth_id, session_id, timestamp, protocol, source_ip, source_port, destination_ip, \
             destination_port, username, password, password_hash, mechanism, username_raw, password_raw) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, '127.0.0.1', 23, ?7, ?8, NULL, 'user-pass', ?9, ?10)",
            rusqlite::params![f(1), f(2), iso(f(0)), f(7), f(3), f(4).parse::<i64>().unwrap_or(0), f(8), f(9), f(8).as_bytes(), f(9).as_bytes()],
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }
    let session = serde_json::json!({"type": "session", "timestamp": iso("2016-12-14 21:50:14.344387"),
        "session_id": "824fa9fc-3f3c-4256-9b9a-fef64562105d", "source_ip": "218.191.87.87", "source_port": 55928,
        "destination_ip": "127.0.0.1", "destination_port": 23, "protocol": "telnet", "duration": 3.5,
        "num_auth_attempts": 3, "auth_attempts": [], "end_reason": "client_closed", "auxiliary_data": {}});
    jsonl.push_str(&format!("{session}\n"));
    jsonl.push_str("{\"type\":\"command\",\"timestamp\":\"2016-12-14T21:50:14Z\"}\n"); // future kinds are skipped
    std::fs::write(dir.join("events.jsonl"), jsonl).unwrap_or_else(|e| panic!("{e}"));
    auth.flush().ok();
    ["log_auth.csv", "events.jsonl", "trawl.db"]
        .iter()
        .map(|n| dir.join(n))
        .collect()
}

#[test]
fn reads_trawls_own_outputs() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let seed = json(&[&fixture("seed_heralding.csv")]);
    for path in write_trawl_outputs(dir.path()) {
        let p = path.display().to_string();
        let v = json(&[&p]);
        assert_eq!(v["totals"]["login_prompt_entries"], SEED_ROWS, "{p}");
        assert_eq!(v["totals"]["bad_rows"], 0, "{p}: {}", v["bad_rows"]);
        for table in [
            "top_usernames",
            "top_passwords",
            "top_credentials",
            "top_sources",
            "payload_hosts",
        ] {
            assert_eq!(v[table], seed[table], "{p}: {table}");
        }
        assert_eq!(v["sessions"]["total"], 10, "{p}");
    }
}

/// A sensor's data directory (or a glob of it) counts each event once: trawl.db is
/// read and the copies beside it are listed as skipped; without trawl.db,
/// events.jsonl. Other honeypots' logs in a directory are found by name.
#[test]
fn reads_a_data_directory_once() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    write_trawl_outputs(dir.path());
    let d = dir.path().display().to_string();
    let glob = format!("{d}/*");
    let read_and_skipped = |v: &serde_json::Value| -> (Vec<String>, Vec<String>) {
        let inputs = v["inputs"].as_array().cloned().unwrap_or_default();
        let name = |i: &serde_json::Value| {
            let p = i["path"].as_str().unwrap_or_default();
            p.rsplit('/').next().unwrap_or_default().to_string()
        };
        let (skipped, read): (Vec<_>, Vec<_>) =
            inputs.iter().partition(|i| i["skipped"].is_string());
        (
            read.into_iter().map(name).collect(),
            skipped.into_iter().map(name).collect(),
        )
    };
    for arg in [&glob, &d] {
        if arg == &d {
            // Only the logs' names are read from a directory.
            std::fs::write(dir.path().join("trawl.db-wal"), "").ok();
            std::fs::write(dir.path().join("notes.txt"), "not a log").ok();
        }
        let v = json(&[arg]);
        assert_eq!(v["totals"]["login_prompt_entries"], SEED_ROWS, "{arg}");
        assert_eq!(v["sessions"]["total"], 10, "{arg}");
        let (read, skipped) = read_and_skipped(&v);
        assert_eq!(read, ["trawl.db"], "{arg}");
        assert_eq!(skipped, ["events.jsonl", "log_auth.csv"], "{arg}");
        assert_eq!(
            v["inputs"][0]["skipped"],
            "skipped: the same events as trawl.db beside it"
        );
    }
    let out = trawl(&[&d]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("log_auth.csv: skipped: the same events as trawl.db beside it"),
        "{err}"
    );
    std::fs::remove_file(dir.path().join("trawl.db")).ok();
    let v = json(&[&d]);
    assert_eq!(v["totals"]["login_prompt_entries"], SEED_ROWS);
    assert_eq!(
        read_and_skipped(&v),
        (
            vec!["events.jsonl".to_string()],
            vec!["log_auth.csv".to_string()]
        )
    );
    // A Cowrie and Heralding directory: rotated and compressed logs by name, all read.
    let other = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let copy = |from: &str, to: &str| {
        std::fs::copy(fixture(from), other.path().join(to)).unwrap_or_else(|e| panic!("{e}"))
    };
    copy("cowrie.json", "cowrie.json");
    copy("cowrie_iocs.json", "cowrie.json.2024-05-02");
    copy("heralding_11col.csv.gz", "log_auth.csv.1.gz");
    copy("seed_heralding.csv", "log_auth.csv.2");
    let o = other.path().display().to_string();
    let v = json(&[&o]);
    let (read, skipped) = read_and_skipped(&v);
    assert!(skipped.is_empty());
    assert_eq!(
        read,
        [
            "cowrie.json",
            "cowrie.json.2024-05-02",
            "log_auth.csv.1.gz",
            "log_auth.csv.2"
        ]
    );
    // Heralding writes every session to log_session.json and log_session.csv: the
    // JSON (with more in it) is read, the CSV skipped, so session records are counted
    // once in the events (19 attempts + 10 sessions), as with either log alone.
    let heralding = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    for (from, to) in [
        ("seed_heralding.csv", "log_auth.csv"),
        ("log_session.csv", "log_session.csv"),
        ("log_session.json", "log_session.json"),
    ] {
        std::fs::copy(fixture(from), heralding.path().join(to)).unwrap_or_else(|e| panic!("{e}"));
    }
    let v = json(&[&heralding.path().display().to_string()]);
    assert_eq!(
        (&v["totals"]["events"], &v["totals"]["sessions"]),
        (&serde_json::json!(29), &serde_json::json!(10))
    );
    assert_eq!(
        read_and_skipped(&v),
        (
            vec!["log_auth.csv".to_string(), "log_session.json".to_string()],
            vec!["log_session.csv".to_string()]
        )
    );
    assert_eq!(
        v["inputs"][1]["skipped"],
        "skipped: the same sessions as log_session.json beside it"
    );
    // A file named more than once (the directory and the file in it, a glob and a
    // file it matches, another spelling of the same path) is read once.
    let auth = heralding.path().join("log_auth.csv").display().to_string();
    let h = heralding.path().display().to_string();
    let again = format!(
        "{h}/../{}/log_auth.csv",
        heralding
            .path()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    );
    let v = json(&[&h, &auth, &format!("{h}/log_auth*"), &again]);
    assert_eq!(v["totals"]["events"], 29);
    assert_eq!(v["inputs"].as_array().map(Vec::len), Some(3));
    let empty = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let out = trawl(&[&empty.path().display().to_string()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no honeypot log in this directory"));
}

fn count_near(png_path: &Path, rgb: (u8, u8, u8)) -> usize {
    let file =
        std::fs::File::open(png_path).unwrap_or_else(|e| panic!("{}: {e}", png_path.display()));
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().unwrap_or_else(|e| panic!("png: {e}"));
    let mut buf = vec![0; reader.output_buffer_size().unwrap_or(0)];
    let info = reader
        .next_frame(&mut buf)
        .unwrap_or_else(|e| panic!("png frame: {e}"));
    let channels = info.color_type.samples();
    buf[..info.buffer_size()]
        .chunks(channels)
        .filter(|px| {
            px.len() >= 3
                && px[0].abs_diff(rgb.0) <= 12
                && px[1].abs_diff(rgb.1) <= 12
                && px[2].abs_diff(rgb.2) <= 12
        })
        .count()
}

#[test]
fn html_report_renders_charts_in_headless_chromium() {
    let chromium = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| Command::new(c).arg("--version").output().is_ok_and(|o| o.status.success()))
        .unwrap_or_else(|| panic!("chromium is required for this test (Debian package `chromium`, scripts/deps/report.apt)"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let html = dir.path().join("report.html");
    let html_s = html.display().to_string();
    let inputs = [
        fixture("seed_heralding.csv"),
        fixture("cowrie.json"),
        fixture("opencanary.json"),
    ];
    let mut args: Vec<&str> = inputs.iter().map(String::as_str).collect();
    args.extend(["--format", "html", "--out", &html_s]);
    stdout_ok(&args);
    let page = std::fs::read_to_string(&html).unwrap_or_default();
    assert!(
        !page.contains("<script") && !page.contains(" src=") && !page.contains(" href="),
        "the page must be self-contained"
    );
    let shot = dir.path().join("shot.png");
    let profile = dir.path().join("profile");
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1280,1400",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", html.display()))
        .output()
        .unwrap_or_else(|e| panic!("running {chromium}: {e}"));
    assert!(
        shot.exists(),
        "no screenshot; chromium said: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    if let Ok(keep) = std::env::var("TRAWL_KEEP_SCREENSHOT") {
        std::fs::copy(&shot, keep).ok();
    }
    let blue = count_near(&shot, (0x1f, 0x77, 0xb4));
    let red = count_near(&shot, (0xd6, 0x27, 0x28));
    let green = count_near(&shot, (0x2c, 0xa0, 0x2c));
    assert!(blue > 5_000, "bar/timeline pixels (blue): {blue}");
    assert!(red > 500, "command pixels (red): {red}");
    assert!(green > 2_000, "protocol donut pixels (green): {green}");
}

/// Cowrie's payload digests, tunnel requests and HASSH (fixture `cowrie_iocs.json`)
/// through the binary: one or three worker threads print the same JSON, byte for
/// byte, and the CSV carries the new tables' rows.
#[test]
fn cowrie_indicators_are_the_same_with_one_or_three_threads() {
    let input = fixture("cowrie_iocs.json");
    let one = stdout_ok(&[&input, "--format", "json", "--threads", "1"]);
    let three = stdout_ok(&[&input, "--format", "json", "--threads", "3"]);
    assert_eq!(one, three, "--threads 1 and --threads 3 differ");
    let v: serde_json::Value = serde_json::from_str(&one).unwrap_or_else(|e| panic!("JSON: {e}"));
    let sha = "06b8742eaa0959506bcdf7aad18371f97f596633a519b33308cb0dd3bcc2d18a";
    assert_eq!(v["payload_hashes"][0]["sha256"], sha);
    assert_eq!(v["payload_hashes"][0]["count"], 2);
    assert_eq!(v["payload_hashes"][0]["sources"], 2);
    assert_eq!(v["payload_hashes"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        v["tunnel_destinations"][0]["destination"],
        "ip.example.com:80"
    );
    assert_eq!(v["tunnel_destinations"][0]["requests"], 2);
    assert_eq!(
        v["tunnel_destinations"][0]["http_hosts"],
        serde_json::json!(["ip.example.com", "www.example.org:443"])
    );
    assert_eq!(
        v["top_hassh"][0]["value"],
        "ec7378c1a92f5a8dde7e8b7a1ddf33d1"
    );
    assert_eq!(v["top_hassh"][0]["count"], 2);
    assert_eq!(v["totals"]["events"], 16);
    let csv = stdout_ok(&[&input, "--format", "csv"]);
    assert!(
        csv.lines()
            .any(|l| l.starts_with(&format!("payload_hashes,1,{sha},,,2,,,sources=2 "))),
        "{csv}"
    );
    assert!(
        csv.lines()
            .any(|l| l.starts_with("tunnel_destinations,1,ip.example.com:80,,,2,,,data=2 ")),
        "{csv}"
    );
    let html = stdout_ok(&[&input, "--format", "html"]);
    assert!(html.contains("<h2>Payload hashes (files the honeypot stored)</h2>"));
    assert!(html.contains("<h2>Tunnel destinations (SSH direct-tcpip)</h2>"));
}

/// The `hassh` trawl's SSH sensor writes into a session's `auxiliary_data`, read
/// from a `trawl.db` with the sensor's own schema and from `events.jsonl`.
#[test]
fn hassh_of_trawls_own_session_records() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let db_path = dir.path().join("trawl.db");
    let db = rusqlite::Connection::open(&db_path).unwrap_or_else(|e| panic!("{e}"));
    db.execute_batch(trawl_sinks::SCHEMA)
        .unwrap_or_else(|e| panic!("{e}"));
    let hassh = "EC7378C1A92F5A8DDE7E8B7A1DDF33D1";
    let mut jsonl = String::new();
    for (i, value) in [
        serde_json::json!(hassh),
        serde_json::json!(hassh.to_ascii_lowercase()),
        serde_json::json!("too-short"),
    ]
    .iter()
    .enumerate()
    {
        let aux = serde_json::json!({"client_version": "SSH-2.0-Go", "hassh": value,
            "hassh_algorithms": "curve25519-sha256;aes128-ctr;hmac-sha2-256;none"});
        let (id, ip) = (format!("s{i}"), format!("198.51.100.{i}"));
        db.execute(
            "INSERT INTO sessions (session_id, start_time, end_time, duration, protocol, source_ip, \
             source_port, destination_ip, destination_port, num_auth_attempts, end_reason, auxiliary_data) \
             VALUES (?1, '2024-05-01T10:00:00Z', '2024-05-01T10:00:02Z', 2.0, 'ssh', ?2, 40000, \
             '127.0.0.1', 2222, 0, 'client_closed', ?3)",
            rusqlite::params![id, ip, aux.to_string()],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let line = serde_json::json!({"type": "session", "timestamp": "2024-05-01T10:00:02Z",
            "session_id": id, "source_ip": ip, "source_port": 40000, "destination_ip": "127.0.0.1",
            "destination_port": 2222, "protocol": "ssh", "duration": 2.0, "num_auth_attempts": 0,
            "auth_attempts": [], "end_reason": "client_closed", "auxiliary_data": aux});
        jsonl.push_str(&format!("{line}\n"));
    }
    drop(db);
    let jsonl_path = dir.path().join("events.jsonl");
    std::fs::write(&jsonl_path, jsonl).unwrap_or_else(|e| panic!("{e}"));
    for path in [db_path, jsonl_path] {
        let p = path.display().to_string();
        let v = json(&[&p]);
        assert_eq!(v["totals"]["bad_rows"], 0, "{p}");
        assert_eq!(
            v["top_hassh"],
            serde_json::json!([{"value": "ec7378c1a92f5a8dde7e8b7a1ddf33d1", "count": 2}]),
            "{p}"
        );
        assert_eq!(
            v["hassh_algorithms"],
            serde_json::json!([{"hassh": "ec7378c1a92f5a8dde7e8b7a1ddf33d1",
                "algorithms": "curve25519-sha256;aes128-ctr;hmac-sha2-256;none"}]),
            "{p}"
        );
        assert_eq!(
            v["totals"]["events"], 3,
            "{p}: HASSH records are not events"
        );
        let text = stdout_ok(&[&p]);
        let rows = section(
            &text,
            "HASSH algorithms (what each HASSH above is the MD5 of)",
        );
        let rows: Vec<Vec<&str>> = rows
            .iter()
            .map(|r| r.split_whitespace().collect())
            .collect();
        assert_eq!(
            rows,
            [
                vec![
                    "ec7378c1a92f5a8dde7e8b7a1ddf33d1",
                    "kex",
                    "curve25519-sha256"
                ],
                vec!["encryption", "aes128-ctr"],
                vec!["mac", "hmac-sha2-256"],
                vec!["compression", "none"],
            ],
            "{p}"
        );
    }
}

/// `trawl report -` with `bytes` written into its standard input through a pipe (a
/// writer thread, as a shell pipeline feeds it).
fn trawl_stdin(args: &[&str], bytes: Vec<u8>) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = match Command::new(env!("CARGO_BIN_EXE_trawl"))
        .arg("report")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => panic!("running trawl report {args:?}: {e}"),
    };
    let mut stdin = child.stdin.take().expect("piped stdin");
    // The report may stop reading early (an error): a broken pipe is its answer.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&bytes);
    });
    let out = child.wait_with_output().expect("trawl report output");
    writer.join().expect("writer thread");
    out
}

fn read(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A report's JSON without its list of inputs (whose names differ by how they came).
fn without_inputs(mut v: serde_json::Value) -> serde_json::Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("inputs");
    }
    v
}

/// `-` reads standard input, plain or gzip, CSV or JSON lines, at any thread count,
/// with the same report as the file; a named pipe is read as a stream beside files.
#[test]
fn reads_standard_input_and_named_pipes() {
    for name in [
        "seed_heralding.csv",
        "cowrie.json",
        "heralding_11col.csv.gz",
    ] {
        let path = fixture(name);
        for threads in ["1", "3"] {
            let args = ["--format", "json", "--threads", threads];
            let from_file = json(&[&path, "--threads", threads]);
            let out = trawl_stdin(&[&["-"][..], &args].concat(), read(&path));
            assert!(
                out.status.success(),
                "{name}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let piped: serde_json::Value =
                serde_json::from_slice(&out.stdout).expect("JSON report");
            assert_eq!(piped["inputs"][0]["path"], "stdin", "{name}");
            let format = piped["inputs"][0]["format"].as_str().unwrap_or_default();
            assert!(format.ends_with("streamed"), "{name}: {format}");
            assert_eq!(
                format.contains("gzip"),
                name.ends_with(".gz"),
                "{name}: {format}"
            );
            assert_eq!(
                without_inputs(piped),
                without_inputs(from_file),
                "{name}, {threads} threads"
            );
        }
    }
    // A named pipe (as `<(zcat log.gz)` gives) beside a file.
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("log.gz");
    let made = Command::new("mkfifo").arg(&fifo).status();
    assert!(
        made.as_ref().is_ok_and(|s| s.success()),
        "mkfifo failed: {made:?}"
    );
    let gz = read(&fixture("heralding_11col.csv.gz"));
    let fifo_for_writer = fifo.clone();
    let writer = std::thread::spawn(move || std::fs::write(fifo_for_writer, gz));
    let fifo_arg = fifo.display().to_string();
    let seed = fixture("seed_heralding.csv");
    let both = json(&[&fifo_arg, &seed]);
    writer.join().expect("writer").expect("writing the pipe");
    let files = json(&[&fixture("heralding_11col.csv.gz"), &seed]);
    assert_eq!(both["inputs"][0]["path"].as_str(), Some(fifo_arg.as_str()));
    assert_eq!(without_inputs(both), without_inputs(files));
}

/// Bad rows of standard input are named `stdin:LINE`; what cannot come through a
/// pipe, or twice, is a one-line error.
#[test]
fn standard_input_errors_and_bad_rows() {
    let out = trawl_stdin(&["-"], read(&fixture("malformed.csv")));
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("stdin:3: expected 10 columns, found 9"),
        "{err}"
    );
    let cases: [(&[&str], Vec<u8>, &str); 4] = [
        (
            &["-", "-"],
            Vec::new(),
            "stdin: standard input can be read only once",
        ),
        (
            &["-"],
            b"SQLite format 3\0 and more".to_vec(),
            "stdin: a trawl.db (SQLite) cannot be read from a pipe",
        ),
        (
            &["-"],
            b"\n\nnot a log\n".to_vec(),
            "stdin: line 1: unrecognised format (not a log)",
        ),
        (&["-"], vec![0x1f, 0x8b, 0, 1, 2], "stdin:"),
    ];
    for (args, input, message) in cases {
        let out = trawl_stdin(args, input);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(message), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    }
}

/// `trawl report ARGS` with its standard input or output connected to `stdin` /
/// `stdout` (a file, as a shell's `<` and `>>` connect it), the other piped.
fn trawl_with(
    args: &[&str],
    stdin: Option<std::fs::File>,
    stdout: Option<std::fs::File>,
) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_trawl"));
    command.arg("report").args(args);
    if let Some(file) = stdin {
        command.stdin(file);
    }
    if let Some(file) = stdout {
        command.stdout(file);
    }
    command
        .output()
        .unwrap_or_else(|e| panic!("running trawl report {args:?}: {e}"))
}

/// `trawl report - < FILE`: standard input redirected from a file is read by the
/// file's path (a trawl.db too, which a pipe cannot carry), with the report the path
/// gives; a file partly read already is read as a stream from where it stands.
#[test]
fn standard_input_from_a_file_is_read_by_its_path() {
    use std::io::{Read, Seek};
    let dir = tempfile::tempdir().expect("tempdir");
    let outputs = write_trawl_outputs(dir.path());
    let db = outputs
        .iter()
        .find(|p| p.ends_with("trawl.db"))
        .expect("trawl.db");
    let seed = fixture("seed_heralding.csv");
    for path in [db.clone(), PathBuf::from(&seed)] {
        let file = std::fs::File::open(&path).expect("input");
        let out = trawl_with(&["-", "--format", "json"], Some(file), None);
        assert!(
            out.status.success(),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
        let named = std::fs::canonicalize(&path).expect("canonical path");
        assert_eq!(v["inputs"][0]["path"], named.display().to_string());
        let p = path.display().to_string();
        assert_eq!(without_inputs(v), without_inputs(json(&[&p])), "{p}");
    }
    // Past the header already (as `(read header; trawl report -) < log` leaves it):
    // read from there as a stream, the rows without their header.
    let mut file = std::fs::File::open(&seed).expect("seed");
    let mut byte = [0u8; 1];
    while file.read(&mut byte).expect("read") == 1 && byte[0] != b'\n' {}
    assert!(file.stream_position().expect("position") > 0);
    let out = trawl_with(&["-", "--format", "json"], Some(file), None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(v["inputs"][0]["path"], "stdin");
    assert_eq!(
        v["inputs"][0]["format"],
        "Heralding auth CSV (10 columns, no header), streamed"
    );
    assert_eq!(v["totals"]["login_prompt_entries"], SEED_ROWS);
}

/// A reader that closes the pipe early (`trawl report … | head`) ends the report
/// quietly, with exit 0, in every format.
#[test]
fn a_closed_standard_output_ends_the_report_quietly() {
    use std::process::Stdio;
    for format in ["text", "json", "csv", "md", "html"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_trawl"))
            .args(["report", &fixture("seed_heralding.csv"), "--format", format])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("trawl report");
        // The read end closes before the report writes a byte.
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("trawl report");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{format}: {:?} {err}", out.status);
        assert!(err.is_empty(), "{format}: {err}");
    }
}

/// An --out that is one of the inputs (named, through a glob or a directory, or as
/// standard input's file) is refused before anything is read or written: the input
/// keeps every byte.
#[test]
fn an_output_that_is_an_input_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("log_auth.csv");
    std::fs::copy(fixture("seed_heralding.csv"), &log).expect("copy");
    let before = std::fs::read(&log).expect("log");
    let (logp, dirp) = (log.display().to_string(), dir.path().display().to_string());
    let glob = format!("{dirp}/*.csv");
    let other_spelling = format!("{dirp}/./log_auth.csv");
    let cases: [&[&str]; 4] = [
        &[&logp, "--out", &logp, "--format", "csv"],
        &[&glob, "--out", "/dev/null", "--out", &other_spelling],
        &[&dirp, "--out", &logp],
        &[
            &logp,
            "--out",
            &format!(
                "{dirp}/../{}/log_auth.csv",
                dir.path()
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default()
            ),
        ],
    ];
    for args in cases {
        let out = trawl(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("is an input and also where the report is written"),
            "{args:?}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert_eq!(std::fs::read(&log).expect("log"), before, "{args:?}");
    }
    let file = std::fs::File::open(&log).expect("log");
    let out = trawl_with(&["-", "--out", &logp], Some(file), None);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read(&log).expect("log"), before);
    // Standard output appended to the input (`trawl report log >> log`).
    let appending = std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .expect("log");
    let out = trawl_with(&[&logp], None, Some(appending));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("is an input and also where the report is written"),
        "{err}"
    );
    assert_eq!(std::fs::read(&log).expect("log"), before);
    // Another file in the same directory is fine.
    let report = dir.path().join("report.csv");
    stdout_ok(&[&dirp, "--out", &report.display().to_string()]);
    assert_eq!(std::fs::read(&log).expect("log"), before);
    assert!(std::fs::metadata(&report).is_ok_and(|m| m.len() > 0));
}
