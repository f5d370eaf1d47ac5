//! End-to-end test of `trawl crack`: real clients (psql with SCRAM-SHA-256, the mariadb
//! client with caching_sha2, pymongo with SCRAM-SHA-1 and -256, curl with NTLM) log in to
//! a real `trawl sensor`; the hashes it stores are then cracked from each of its three
//! stores with a wordlist that holds the passwords among decoys.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::sensor::{Sensor, run};

const BIN: &str = env!("CARGO_BIN_EXE_trawl");

/// (protocol, user, password) of every login; each password is in the wordlist.
const LOGINS: [(&str, &str, &str); 5] = [
    ("postgresql", "pg-scram", "Tr0ub4dor&3"),
    ("mysql", "my-sha2", "correct horse"),
    ("mongodb", "mongo-sha1", "m0ngo-one"),
    ("mongodb", "mongo-sha256", "m0ngo-two"),
    ("http", "alice", "Winter2026!"),
];
/// A password that is not in the wordlist: its hash must stay uncracked.
const UNLISTED: (&str, &str) = ("pg-unlisted", "not in any list");

const PYMONGO: &str = r#"
import sys
from pymongo import MongoClient
from pymongo.errors import OperationFailure
port, user, password, mechanism = sys.argv[1:5]
client = MongoClient(host="127.0.0.1", port=int(port), username=user, password=password,
                     authSource="admin", authMechanism=mechanism, directConnection=True,
                     serverSelectionTimeoutMS=10000)
try:
    client.admin.command("ping")
except OperationFailure as error:
    print(error.code)
finally:
    client.close()
"#;

fn client(program: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|err| panic!("{program} is required (scripts/test installs it): {err}"))
}

fn psql(port: u16, user: &str, password: &str) {
    let conninfo = format!("host=127.0.0.1 port={port} user={user} dbname=x sslmode=disable");
    let output = client(
        "psql",
        &[&conninfo, "-c", "select 1"],
        &[("PGPASSWORD", password)],
    );
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        said.contains("password authentication failed"),
        "psql said: {said}"
    );
}

fn log_in_everywhere(sensor: &Sensor) {
    let port = |name| sensor.port(name);
    psql(port("postgresql"), LOGINS[0].1, LOGINS[0].2);
    psql(port("postgresql"), UNLISTED.0, UNLISTED.1);
    let (user, password) = (LOGINS[1].1, LOGINS[1].2);
    let output = client(
        "mariadb",
        &[
            "-h127.0.0.1",
            &format!("-P{}", port("mysql")),
            &format!("-u{user}"),
            &format!("-p{password}"),
            "--skip-ssl",
            "-e",
            "select 1",
        ],
        &[],
    );
    assert!(!output.status.success(), "mariadb must be refused");
    for ((_, user, password), mechanism) in
        LOGINS[2..4].iter().zip(["SCRAM-SHA-1", "SCRAM-SHA-256"])
    {
        let port = port("mongodb").to_string();
        let output = client(
            "python3",
            &["-c", PYMONGO, &port, user, password, mechanism],
            &[],
        );
        assert_eq!(
            String::from_utf8_lossy(&output.stdout).trim(),
            "18",
            "{output:?}"
        );
    }
    let url = format!("http://127.0.0.1:{}/owa/", port("http"));
    let credentials = format!("CORP\\{}:{}", LOGINS[4].1, LOGINS[4].2);
    let output = client(
        "curl",
        &["-s", "--ntlm", "-u", &credentials, "-o", "/dev/null", &url],
        &[],
    );
    assert!(output.status.success(), "curl: {output:?}");
}

fn crack(wordlist: &Path, source: &Path) -> (Option<i32>, String, String) {
    let output = run(
        BIN,
        &[
            "crack",
            "-q",
            "-w",
            &wordlist.to_string_lossy(),
            &source.to_string_lossy(),
        ],
    );
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn every_captured_hash_is_cracked_from_each_store() {
    let top = "[protocols.postgresql.options]\nauth = \"scram-sha-256\"\n\
               [protocols.mysql.options]\nauth = \"caching_sha2_password\"\n";
    let sensor = Sensor::start(&["postgresql", "mysql", "mongodb", "http"], top, "");
    log_in_everywhere(&sensor);
    let port_of: std::collections::HashMap<&str, u16> = LOGINS
        .iter()
        .map(|(protocol, _, _)| (*protocol, sensor.port(protocol)))
        .collect();
    let (outputs, dir) = sensor.stop_keep();
    let data = dir.path().join("data");
    let mut words: Vec<String> = (0..300).map(|i| format!("decoy{i}")).collect();
    for (i, (_, _, password)) in LOGINS.iter().enumerate() {
        words.insert(60 * i + 7, (*password).to_string());
    }
    let wordlist = dir.path().join("words.txt");
    std::fs::write(&wordlist, words.join("\r\n")).expect("wordlist");

    for store in ["trawl.db", "events.jsonl", "log_auth.csv"] {
        let (code, stdout, stderr) = crack(&wordlist, &data.join(store));
        assert_eq!(code, Some(0), "{store}: {stderr}");
        for (protocol, user, password) in LOGINS {
            // MySQL's client sends the password RSA-sealed too: the sensor keeps both.
            let stored = if protocol == "mysql" { password } else { "" };
            let row = outputs.assert_once(protocol, port_of[protocol], user, stored);
            let expected = format!("{}:{password}", row.password_hash);
            assert!(
                stdout.lines().any(|line| line == expected),
                "{store}: no {expected}\n{stdout}"
            );
        }
        assert_eq!(stdout.lines().count(), LOGINS.len(), "{store}: {stdout}");
        assert!(
            stderr.contains(
                "5 of 6 hashes cracked (mongodb-scram-sha-1 1/1, mysql-sha2 1/1, \
                             netntlmv2 1/1, scram-sha-256 2/3)"
            ),
            "{store}: {stderr}"
        );
    }

    let decoys_only = dir.path().join("decoys.txt");
    std::fs::write(&decoys_only, "decoy1\ndecoy2\n").expect("decoys");
    let (code, stdout, stderr) = crack(&decoys_only, &data.join("trawl.db"));
    assert_eq!((code, stdout.as_str()), (Some(1), ""), "{stderr}");
    assert!(stderr.contains("0 of 6 hashes cracked"), "{stderr}");
}

#[test]
fn hostile_sources_and_wordlists_are_reported_not_fatal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let junk = dir.path().join("junk.bin");
    let mut bytes: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    bytes.extend_from_slice(b"\n$mysqlna$zz*00\n{\"password_hash\": 5}\n");
    std::fs::write(&junk, &bytes).expect("junk");
    let words = dir.path().join("words.txt");
    std::fs::write(&words, [vec![b'x'; 5000], b"\nw\xff\n".to_vec()].concat()).expect("words");
    let (code, stdout, stderr) = crack(&words, &junk);
    assert_eq!((code, stdout.as_str()), (Some(1), ""), "{stderr}");
    assert!(stderr.contains("0 of 0 hashes cracked"), "{stderr}");
    assert!(
        stderr.contains("1 wordlist lines over 1024 bytes skipped"),
        "{stderr}"
    );

    let missing = dir.path().join("missing.db");
    let (code, _, stderr) = crack(&words, &missing);
    assert_eq!(code, Some(2));
    assert!(
        stderr.starts_with("trawl: ") && stderr.contains("missing.db"),
        "{stderr}"
    );
}
