//! A `trawl sensor` child process for end-to-end tests, and its three outputs read back
//! (log_auth.csv, events.jsonl, trawl.db) with exactly-once checks. Used by the sensor
//! test files through `mod common;` (not every file uses every helper).
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::free_port;

const BIN: &str = env!("CARGO_BIN_EXE_trawl");

/// Runs an external client; panics with a clear message when it is not installed.
pub fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| {
            panic!("{program} is required for this test (scripts/test installs it): {error}")
        })
}

/// Writes `<dir>/sensor.toml` (`top`, then one table per protocol with its port and
/// `per_protocol`), starts `trawl sensor` on it with `--data-dir <dir>/data`, `--only`
/// those protocols and `flags`, and collects its stderr (TRAWL_LOG=info) in the returned
/// log as it arrives.
pub fn launch(
    dir: &Path,
    ports: &HashMap<&'static str, u16>,
    top: &str,
    per_protocol: &str,
    flags: &[&str],
) -> (Child, Arc<Mutex<String>>) {
    let mut config = format!("{top}\n");
    for (name, port) in ports {
        config.push_str(&format!(
            "[protocols.{name}]\nport = {port}\n{per_protocol}\n"
        ));
    }
    let config_path = dir.join("sensor.toml");
    std::fs::write(&config_path, config).expect("write config");
    let only: Vec<&str> = ports.keys().copied().collect();
    spawn(&config_path, &dir.join("data"), &only, flags)
}

/// Starts `trawl sensor --config <config> --data-dir <data> --only <only> <flags>` and
/// collects its stderr (TRAWL_LOG=info) in the returned log as it arrives.
pub fn spawn(
    config: &Path,
    data: &Path,
    only: &[&str],
    flags: &[&str],
) -> (Child, Arc<Mutex<String>>) {
    let mut child = Command::new(BIN)
        .args(["sensor", "--config"])
        .arg(config)
        .arg("--data-dir")
        .arg(data)
        .args(["--only", &only.join(",")])
        .args(flags)
        .env("TRAWL_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn trawl sensor");
    let log = Arc::new(Mutex::new(String::new()));
    let stderr = child.stderr.take().expect("stderr");
    let sink = Arc::clone(&log);
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let mut text = sink.lock().unwrap_or_else(|e| e.into_inner());
            text.push_str(&line);
            text.push('\n');
        }
    });
    (child, log)
}

/// A running `trawl sensor` child with its own data dir and free loopback ports.
pub struct Sensor {
    child: Child,
    dir: tempfile::TempDir,
    ports: HashMap<&'static str, u16>,
    log: Arc<Mutex<String>>,
}

impl Sensor {
    /// Starts the listed protocols, each on a free port. `top` is extra top-level TOML
    /// (before any table), `extra_per_protocol` extra keys for every protocol's table.
    /// Returns once every listener has logged that it listens.
    pub fn start(protocols: &[&'static str], top: &str, extra_per_protocol: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let ports: HashMap<&'static str, u16> =
            protocols.iter().map(|&name| (name, free_port())).collect();
        let (child, log) = launch(dir.path(), &ports, top, extra_per_protocol, &[]);
        let mut sensor = Self {
            child,
            dir,
            ports,
            log,
        };
        for name in protocols {
            let needle = format!("{name} listening on 127.0.0.1:{}", sensor.port(name));
            sensor.wait_for_log(&needle);
        }
        sensor
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn wait_for_log(&mut self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.log().contains(needle) {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "sensor exited ({status}) before {needle:?}:\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "sensor never logged {needle:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn port(&self, name: &str) -> u16 {
        self.ports[name]
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// SIGTERM, wait for a clean exit, then read every output.
    pub fn stop(mut self) -> Outputs {
        self.terminate();
        Outputs::read(&self.data())
    }

    /// Like [`Sensor::stop`], and hands over the directory holding `data/` (the stores,
    /// keys) so a test can read more than the attempts; it is removed when dropped.
    #[allow(dead_code)] // not every test binary keeps the data
    pub fn stop_keep(mut self) -> (Outputs, tempfile::TempDir) {
        self.terminate();
        let outputs = Outputs::read(&self.data());
        let placeholder = tempfile::tempdir().expect("tempdir");
        (outputs, std::mem::replace(&mut self.dir, placeholder))
    }

    fn terminate(&mut self) {
        let status = run("kill", &["-TERM", &self.child.id().to_string()]).status;
        assert!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + Duration::from_secs(30);
        let exit = loop {
            if let Ok(Some(exit)) = self.child.try_wait() {
                break exit;
            }
            assert!(
                Instant::now() < deadline,
                "sensor did not stop after SIGTERM:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(exit.success(), "sensor exit {exit}:\n{}", self.log());
    }
}

impl Drop for Sensor {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One attempt as seen by one output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub auth_id: String,
    pub session_id: String,
    pub protocol: String,
    pub source_port: u16,
    pub destination_port: u16,
    pub username: String,
    pub password: String,
    pub password_hash: String,
}

/// Everything the sensor wrote.
pub struct Outputs {
    pub csv: Vec<Row>,
    pub jsonl: Vec<Row>,
    pub db: Vec<Row>,
    pub mechanisms: HashMap<String, String>,
    /// session_id -> (protocol, auth ids listed in the session object)
    pub sessions: HashMap<String, (String, Vec<String>)>,
}

impl Outputs {
    pub fn read(data: &Path) -> Self {
        let (jsonl, mechanisms, sessions) = read_jsonl(&data.join("events.jsonl"));
        Self {
            csv: read_csv(&data.join("log_auth.csv")),
            jsonl,
            db: read_db(&data.join("trawl.db")),
            mechanisms,
            sessions,
        }
    }

    /// Asserts that (user, password) is in every output exactly once, with the protocol
    /// and destination port given, and grouped under a session of that protocol.
    pub fn assert_once(&self, protocol: &str, port: u16, user: &str, password: &str) -> Row {
        let mut found = Vec::new();
        for (name, rows) in [("csv", &self.csv), ("jsonl", &self.jsonl), ("db", &self.db)] {
            let hits: Vec<&Row> = rows
                .iter()
                .filter(|row| row.username == user && row.password == password)
                .collect();
            assert_eq!(
                hits.len(),
                1,
                "{name}: {user:?}/{password:?} expected once, found {hits:?}"
            );
            let row = hits[0];
            assert_eq!(row.protocol, protocol, "{name}: protocol of {user:?}");
            assert_eq!(row.destination_port, port, "{name}: port of {user:?}");
            assert_ne!(row.source_port, 0, "{name}: source port of {user:?}");
            found.push(row.clone());
        }
        assert!(
            found.windows(2).all(|pair| pair[0] == pair[1]),
            "outputs disagree: {found:?}"
        );
        let row = found.remove(0);
        let (session_protocol, auth_ids) = self
            .sessions
            .get(&row.session_id)
            .unwrap_or_else(|| panic!("no session event for {row:?}"));
        assert_eq!(session_protocol, protocol);
        assert!(auth_ids.contains(&row.auth_id), "session lacks {row:?}");
        row
    }

    pub fn mechanism(&self, row: &Row) -> &str {
        self.mechanisms
            .get(&row.auth_id)
            .map(String::as_str)
            .unwrap_or("")
    }

    pub fn rows_with_user_prefix(&self, prefix: &str) -> usize {
        let count = |rows: &[Row]| {
            rows.iter()
                .filter(|r| r.username.starts_with(prefix))
                .count()
        };
        let (csv, jsonl, db) = (count(&self.csv), count(&self.jsonl), count(&self.db));
        assert_eq!((csv, jsonl), (db, db), "outputs disagree for {prefix}");
        db
    }
}

pub fn read_csv(path: &Path) -> Vec<Row> {
    let mut reader = csv::Reader::from_path(path).expect("open log_auth.csv");
    let headers = reader.headers().expect("csv header").clone();
    assert_eq!(
        headers.iter().collect::<Vec<_>>().join(","),
        "timestamp,auth_id,session_id,source_ip,source_port,destination_ip,destination_port,\
         protocol,username,password,password_hash"
    );
    reader
        .records()
        .map(|record| {
            let record = record.expect("csv row parses");
            let field = |index: usize| record.get(index).unwrap_or_default().to_owned();
            Row {
                auth_id: field(1),
                session_id: field(2),
                source_port: field(4).parse().expect("source_port"),
                destination_port: field(6).parse().expect("destination_port"),
                protocol: field(7),
                username: field(8),
                password: field(9),
                password_hash: field(10),
            }
        })
        .collect()
}

pub type JsonlParts = (
    Vec<Row>,
    HashMap<String, String>,
    HashMap<String, (String, Vec<String>)>,
);

pub fn read_jsonl(path: &Path) -> JsonlParts {
    let text = std::fs::read_to_string(path).expect("read events.jsonl");
    let (mut rows, mut mechanisms, mut sessions) = (Vec::new(), HashMap::new(), HashMap::new());
    for line in text.lines() {
        let event: serde_json::Value = serde_json::from_str(line).expect("jsonl line parses");
        let text = |key: &str| event[key].as_str().unwrap_or_default().to_owned();
        match event["type"].as_str() {
            Some("auth_attempt") => {
                mechanisms.insert(text("auth_id"), text("mechanism"));
                rows.push(Row {
                    auth_id: text("auth_id"),
                    session_id: text("session_id"),
                    protocol: text("protocol"),
                    source_port: event["source_port"].as_u64().unwrap_or(0) as u16,
                    destination_port: event["destination_port"].as_u64().unwrap_or(0) as u16,
                    username: text("username"),
                    password: text("password"),
                    password_hash: text("password_hash"),
                });
            }
            Some("session") => {
                let ids = event["auth_attempts"]
                    .as_array()
                    .map(|list| {
                        list.iter()
                            .map(|a| a["auth_id"].as_str().unwrap_or_default().to_owned())
                            .collect()
                    })
                    .unwrap_or_default();
                sessions.insert(text("session_id"), (text("protocol"), ids));
            }
            _ => {}
        }
    }
    (rows, mechanisms, sessions)
}

pub fn read_db(path: &Path) -> Vec<Row> {
    let db =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open trawl.db");
    let mut statement = db
        .prepare(
            "SELECT auth_id, session_id, protocol, source_port, destination_port, username, \
             password, COALESCE(password_hash, '') FROM auth_attempts",
        )
        .expect("query auth_attempts");
    statement
        .query_map([], |row| {
            Ok(Row {
                auth_id: row.get(0)?,
                session_id: row.get(1)?,
                protocol: row.get(2)?,
                source_port: row.get(3)?,
                destination_port: row.get(4)?,
                username: row.get(5)?,
                password: row.get(6)?,
                password_hash: row.get(7)?,
            })
        })
        .expect("read auth_attempts")
        .map(|row| row.expect("auth_attempts row"))
        .collect()
}

/// Recomputes a NetNTLMv2 hashcat line (mode 5600) from the password with an independent
/// implementation (Python: pycryptodome's MD4, hashlib/hmac) and prints `ok` when the
/// stored NTProofStr matches, `mismatch` otherwise.
pub const PY_NETNTLMV2: &str = r#"
import hmac, sys
from Crypto.Hash import MD4
line, password = sys.argv[1], sys.argv[2]
user, _, domain, challenge, proof, blob = line.split(":")
nt_hash = MD4.new(password.encode("utf-16-le")).digest()
key = hmac.new(nt_hash, (user.upper() + domain).encode("utf-16-le"), "md5").digest()
mine = hmac.new(key, bytes.fromhex(challenge) + bytes.fromhex(blob), "md5").hexdigest()
print("ok" if mine == proof else "mismatch")
"#;
