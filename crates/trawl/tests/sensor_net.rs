//! End-to-end tests of the network-service protocols of `trawl sensor` (vnc, socks5,
//! redis, ldap) against the built binary with real clients on 127.0.0.1: THC-Hydra (vnc,
//! socks5, redis), redis-cli, curl through SOCKS5/SOCKS4, ldapsearch (simple, SASL PLAIN,
//! root DSE), a python3 RFB client, and nmap -sV. Every credential must appear
//! exactly once in log_auth.csv, events.jsonl and trawl.db with the right protocol and
//! port. The VNC challenge/response kept in `password_hash` is checked against an
//! independent DES (python3 pycryptodome). A missing client fails loudly (scripts/test
//! installs them from scripts/deps/sensor-net.apt and .pip).

mod common;

use std::net::TcpListener;
use std::time::Duration;

use common::sensor::{Outputs, Row, Sensor, run};

/// Hydra's `[ATTEMPT]` lines (one per pair tried) after asserting nothing was "found".
fn hydra(service: &str, port: u16, login: &[&str], passwords: &std::path::Path) -> usize {
    let port = port.to_string();
    let list = passwords.to_string_lossy().into_owned();
    let mut args = login.to_vec();
    args.extend([
        "-P",
        &list,
        "-s",
        &port,
        "-t",
        "2",
        "-V",
        "-I",
        "-w",
        "10",
        "127.0.0.1",
        service,
    ]);
    let output = run("hydra", &args);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        stdout.contains("0 valid password"),
        "hydra {service} should find nothing: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        .filter(|line| line.starts_with("[ATTEMPT]"))
        .count()
}

fn write_list(dir: &tempfile::TempDir, name: &str, words: &[String]) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, words.join("\n") + "\n").expect("word list");
    path
}

/// Rows of `protocol` in every output (asserting the three outputs agree on the count).
fn protocol_rows(outputs: &Outputs, protocol: &str) -> usize {
    let count = |rows: &[Row]| rows.iter().filter(|r| r.protocol == protocol).count();
    let (csv, jsonl, db) = (
        count(&outputs.csv),
        count(&outputs.jsonl),
        count(&outputs.db),
    );
    assert_eq!(
        (csv, jsonl),
        (db, db),
        "outputs disagree on {protocol} rows"
    );
    db
}

/// The row whose password_hash is `hash`, exactly once in every output.
fn assert_hash_once(outputs: &Outputs, protocol: &str, hash: &str) -> Row {
    let mut found = Vec::new();
    for (name, rows) in [
        ("csv", &outputs.csv),
        ("jsonl", &outputs.jsonl),
        ("db", &outputs.db),
    ] {
        let hits: Vec<&Row> = rows.iter().filter(|r| r.password_hash == hash).collect();
        assert_eq!(
            hits.len(),
            1,
            "{name}: {hash} expected once, found {hits:?}"
        );
        assert_eq!(hits[0].protocol, protocol);
        found.push(hits[0].clone());
    }
    assert!(
        found.windows(2).all(|pair| pair[0] == pair[1]),
        "outputs disagree: {found:?}"
    );
    found.remove(0)
}

/// Session auxiliary data of every session of `protocol` from events.jsonl, read while
/// the sensor runs (its data dir goes away with `stop`): waits until `sessions` sessions
/// were written.
fn session_aux(data: &std::path::Path, protocol: &str, sessions: usize) -> Vec<serde_json::Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(data.join("events.jsonl")).unwrap_or_default();
        let aux: Vec<serde_json::Value> = text
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|event| event["type"] == "session" && event["protocol"] == protocol)
            .map(|event| event["auxiliary_data"].clone())
            .collect();
        if aux.len() >= sessions || std::time::Instant::now() > deadline {
            return aux;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

// ---------------------------------------------------------------------------- VNC

/// RFB client (3.3, 3.7, 3.8) and the independent DES check, both with pycryptodome.
const RFB_SCRIPT: &str = r#"
import socket, struct, sys
from Crypto.Cipher import DES

def vnc_key(password):
    raw = password.encode()[:8].ljust(8, b"\0")
    return bytes(int(format(b, "08b")[::-1], 2) for b in raw)

def response(password, challenge):
    return DES.new(vnc_key(password), DES.MODE_ECB).encrypt(challenge)

def client(port, minor, password):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    f = s.makefile("rb")
    assert f.read(12) == b"RFB 003.008\n"
    s.sendall(b"RFB 003.%03d\n" % minor)
    if minor == 3:
        assert struct.unpack(">I", f.read(4))[0] == 2
    else:
        count = f.read(1)[0]
        assert f.read(count) == b"\x02"
        s.sendall(b"\x02")
    challenge = f.read(16)
    answer = response(password, challenge)
    s.sendall(answer)
    assert struct.unpack(">I", f.read(4))[0] == 1, "SecurityResult must be failed"
    reason = b""
    if minor == 8:
        reason = f.read(struct.unpack(">I", f.read(4))[0])
    assert f.read() == b"", "the server closes after a failure"
    print("$vnc$*%s*%s %s" % (challenge.hex().upper(), answer.hex().upper(), reason.decode()))

def verify(hash_line, password):
    _, challenge, answer = hash_line.split("*")
    return response(password, bytes.fromhex(challenge)) == bytes.fromhex(answer)

if sys.argv[1] == "client":
    client(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
else:
    print("ok" if verify(sys.argv[2], sys.argv[3]) else "mismatch")
"#;

fn python(args: &[&str]) -> String {
    let mut all = vec!["-c", RFB_SCRIPT];
    all.extend_from_slice(args);
    let output = run("python3", &all);
    assert!(
        output.status.success(),
        "python3 {args:?} failed (pycryptodome is in scripts/deps/sensor-net.pip): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[test]
fn vnc_rfb_clients_and_hashes_verify_with_independent_des() {
    let sensor = Sensor::start(&["vnc"], "", "");
    let port = sensor.port("vnc");
    let mut seen = Vec::new();
    for (minor, password) in [(3, "pw-rfb33"), (7, "pw-rfb37"), (8, "pw-rfb38")] {
        let line = python(&["client", &port.to_string(), &minor.to_string(), password]);
        let (hash, reason) = line.split_once(' ').unwrap_or((&line, ""));
        let expected_reason = if minor == 8 {
            "Authentication failed"
        } else {
            ""
        };
        assert_eq!(reason, expected_reason, "RFB 3.{minor} failure reason");
        seen.push((hash.to_owned(), password));
    }
    let outputs = sensor.stop();
    assert_eq!(protocol_rows(&outputs, "vnc"), 3);
    for (hash, password) in seen {
        let row = assert_hash_once(&outputs, "vnc", &hash);
        assert_eq!((row.username.as_str(), row.password.as_str()), ("", ""));
        assert_eq!(outputs.mechanism(&row), "vnc-auth");
        assert_eq!(python(&["verify", &hash, password]), "ok", "{hash}");
        assert_eq!(python(&["verify", &hash, "wrong-pw"]), "mismatch", "{hash}");
    }
}

#[test]
fn vnc_hydra_attempts_equal_rows_and_the_wordlist_cracks_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let passwords: Vec<String> = (0..6).map(|n| format!("hyvnc{n}")).collect();
    let hydra_list = write_list(&dir, "hydra.txt", &passwords);
    // The sensor's wordlist knows all but the last one.
    let known = &passwords[..passwords.len() - 1];
    let words: Vec<String> = ["filler-a".to_owned()]
        .into_iter()
        .chain(known.iter().cloned())
        .collect();
    let wordlist = write_list(&dir, "words.txt", &words);
    let top = format!(
        "[protocols.vnc.options]\nwordlist = {:?}\n",
        wordlist.to_string_lossy()
    );
    let sensor = Sensor::start(&["vnc"], &top, "");
    let port = sensor.port("vnc");
    let attempts = hydra("vnc", port, &[], &hydra_list);
    assert_eq!(attempts, passwords.len(), "hydra vnc attempts");
    let outputs = sensor.stop();
    assert_eq!(
        protocol_rows(&outputs, "vnc"),
        attempts,
        "rows vs hydra attempts"
    );
    for password in known {
        let row = outputs.assert_once("vnc", port, "", password);
        assert!(row.password_hash.starts_with("$vnc$*"), "{row:?}");
        assert_eq!(outputs.mechanism(&row), "vnc-auth");
    }
    let uncracked = outputs
        .csv
        .iter()
        .filter(|r| r.protocol == "vnc" && r.password.is_empty())
        .count();
    assert_eq!(
        uncracked, 1,
        "the password missing from the wordlist stays uncracked"
    );
}

// ---------------------------------------------------------------------------- SOCKS

/// A loopback listener that must never be connected to: the sensor may not connect out.
struct Canary(TcpListener);

impl Canary {
    fn new() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("canary");
        listener.set_nonblocking(true).expect("nonblocking");
        Canary(listener)
    }
    fn port(&self) -> u16 {
        self.0.local_addr().expect("canary address").port()
    }
    fn assert_untouched(&self) {
        std::thread::sleep(Duration::from_millis(300));
        match self.0.accept() {
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
            other => panic!("the sensor connected out to the requested destination: {other:?}"),
        }
    }
}

/// A client that offers only "no authentication" and sends CONNECT anyway.
const INSISTING_CLIENT: &str = r#"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"\x05\x01\x00")
reply = s.recv(2)
target = int(sys.argv[2]).to_bytes(2, "big")
s.sendall(b"\x05\x01\x00\x01\x7f\x00\x00\x01" + target)
s.sendall(b"\x05\x01\x00\x03\x0fexample.invalid\x00\x50")
rest = s.recv(100)
print(reply.hex(), rest.hex())
"#;

#[test]
fn socks_clients_are_captured_and_nothing_is_ever_connected() {
    let canary = Canary::new();
    let target = format!("http://127.0.0.1:{}/", canary.port());
    let sensor = Sensor::start(&["socks5"], "", "");
    let port = sensor.port("socks5");
    let curl = |proxy: &str, url: &str| {
        let output = run("curl", &["-sS", "--max-time", "20", "-x", proxy, url]);
        assert!(!output.status.success(), "curl through {proxy} must fail");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let error = curl(
        &format!("socks5://c-user:c-pass@127.0.0.1:{port}"),
        "http://example.invalid/",
    );
    assert!(error.contains("SOCKS5"), "curl error: {error}");
    curl(
        &format!("socks5h://h-user:h-pass@127.0.0.1:{port}"),
        &target,
    );
    curl(&format!("socks5h://127.0.0.1:{port}"), &target);
    curl(&format!("socks4://s4-user@127.0.0.1:{port}"), &target);
    curl(
        &format!("socks4a://s4a-user@127.0.0.1:{port}"),
        "http://example.invalid/",
    );
    let output = run(
        "python3",
        &[
            "-c",
            INSISTING_CLIENT,
            &port.to_string(),
            &canary.port().to_string(),
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "05ff",
        "no-auth is refused with 05 FF and nothing more: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    canary.assert_untouched();

    let dir = tempfile::tempdir().expect("tempdir");
    let passwords: Vec<String> = (0..6).map(|n| format!("hysocks-pw{n}")).collect();
    let list = write_list(&dir, "socks.txt", &passwords);
    let attempts = hydra("socks5", port, &["-l", "hysocks"], &list);
    assert_eq!(attempts, passwords.len(), "hydra socks5 attempts");
    let aux = session_aux(&sensor.data(), "socks5", 6);
    let outputs = sensor.stop();

    for (user, password, mechanism) in [
        ("c-user", "c-pass", "socks5-userpass"),
        ("h-user", "h-pass", "socks5-userpass"),
        ("s4-user", "", "socks4-userid"),
        ("s4a-user", "", "socks4-userid"),
    ] {
        let row = outputs.assert_once("socks5", port, user, password);
        assert_eq!(outputs.mechanism(&row), mechanism, "{user}");
    }
    assert_eq!(
        outputs.rows_with_user_prefix("hysocks"),
        attempts,
        "rows vs hydra attempts"
    );
    for password in &passwords {
        outputs.assert_once("socks5", port, "hysocks", password);
    }
    // What clients asked for is only recorded: the insisting client and SOCKS4 asked
    // for the canary, which stayed untouched (checked above).
    let requests: Vec<serde_json::Value> = aux
        .iter()
        .filter_map(|aux| aux["socks_requests"].as_array().cloned())
        .flatten()
        .collect();
    let asked = |host: &str, port: u64| {
        requests
            .iter()
            .any(|r| r["host"] == host && r["port"] == port && r["command"] == "connect")
    };
    assert!(asked("127.0.0.1", u64::from(canary.port())), "{requests:?}");
    assert!(asked("example.invalid", 80), "{requests:?}");
}

// ---------------------------------------------------------------------------- Redis

fn redis_cli(port: u16, args: &[&str]) -> (String, String) {
    let port = port.to_string();
    let mut all = vec!["-h", "127.0.0.1", "-p", &port];
    all.extend_from_slice(args);
    let output = run("redis-cli", &all);
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn redis_clients_and_hydra_are_captured_once() {
    let sensor = Sensor::start(&["redis"], "", "");
    let port = sensor.port("redis");
    let (stdout, stderr) = redis_cli(port, &["-a", "cli-pass", "--no-auth-warning", "ping"]);
    assert!(
        stderr
            .contains("AUTH failed: WRONGPASS invalid username-password pair or user is disabled."),
        "{stderr}"
    );
    assert!(
        stdout.contains("NOAUTH Authentication required."),
        "{stdout}"
    );
    let (_, stderr) = redis_cli(
        port,
        &[
            "--user",
            "cli-user",
            "--pass",
            "cli-user-pass",
            "--no-auth-warning",
            "ping",
        ],
    );
    assert!(stderr.contains("WRONGPASS"), "{stderr}");
    let (stdout, _) = redis_cli(port, &["HELLO", "3", "AUTH", "hello-user", "hello-pass"]);
    assert!(stdout.contains("WRONGPASS"), "{stdout}");
    let (stdout, _) = redis_cli(port, &["INFO", "server"]);
    assert!(
        stdout.contains("NOAUTH Authentication required."),
        "{stdout}"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let passwords: Vec<String> = (0..6).map(|n| format!("hyredis-pw{n}")).collect();
    let list = write_list(&dir, "redis.txt", &passwords);
    let attempts = hydra("redis", port, &[], &list);
    assert_eq!(attempts, passwords.len(), "hydra redis attempts");
    let aux = session_aux(&sensor.data(), "redis", 4);
    let outputs = sensor.stop();

    for (user, password, mechanism) in [
        ("", "cli-pass", "redis-auth"),
        ("cli-user", "cli-user-pass", "redis-auth"),
        ("hello-user", "hello-pass", "redis-hello"),
    ] {
        let row = outputs.assert_once("redis", port, user, password);
        assert_eq!(outputs.mechanism(&row), mechanism, "{user}");
    }
    for password in &passwords {
        outputs.assert_once("redis", port, "", password);
    }
    assert_eq!(
        protocol_rows(&outputs, "redis"),
        3 + attempts,
        "rows vs attempts"
    );
    let commands: Vec<String> = aux
        .iter()
        .filter_map(|aux| aux["redis_commands"].as_array().cloned())
        .flatten()
        .filter_map(|c| c.as_str().map(str::to_owned))
        .collect();
    assert!(commands.iter().any(|c| c == "INFO server"), "{commands:?}");
    assert!(
        !commands.iter().any(|c| c.contains("cli-pass")),
        "credentials stay out of aux"
    );
}

// ---------------------------------------------------------------------------- LDAP

fn ldapsearch(port: u16, args: &[&str]) -> (Option<i32>, String, String) {
    ldapsearch_env(port, args, &[])
}

/// ldapsearch with extra environment variables (LDAPTLS_* for StartTLS).
fn ldapsearch_env(port: u16, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    ldapsearch_url(&format!("ldap://127.0.0.1:{port}"), args, env)
}

fn ldapsearch_url(url: &str, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let mut all = vec!["-H", url, "-o", "nettimeout=10"];
    all.extend_from_slice(args);
    let output = std::process::Command::new("ldapsearch")
        .args(&all)
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("ldapsearch is required (ldap-utils): {error}"));
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn ldapsearch_binds_are_captured_and_the_root_dse_is_served() {
    let sensor = Sensor::start(&["ldap"], "hostname = \"dir.trawl.test\"", "");
    let port = sensor.port("ldap");
    let (code, _, stderr) = ldapsearch(
        port,
        &[
            "-x",
            "-D",
            "cn=admin,dc=trawl,dc=test",
            "-w",
            "ldap-pw",
            "-b",
            "dc=trawl,dc=test",
        ],
    );
    assert_eq!(code, Some(49), "{stderr}");
    assert!(stderr.contains("Invalid credentials (49)"), "{stderr}");
    let (code, _, stderr) = ldapsearch(
        port,
        &[
            "-Y",
            "PLAIN",
            "-O",
            "none",
            "-U",
            "sasl-user",
            "-w",
            "sasl-pw",
            "-b",
            "",
        ],
    );
    assert_eq!(code, Some(49), "{stderr}");
    assert!(stderr.contains("checkpass failed"), "{stderr}");
    let (code, stdout, stderr) = ldapsearch(port, &["-x", "-b", "", "-s", "base", "+"]);
    assert_eq!(code, Some(0), "{stderr}");
    for line in [
        "namingContexts: dc=trawl,dc=test",
        "supportedLDAPVersion: 3",
        "supportedSASLMechanisms: PLAIN",
        "supportedExtension: 1.3.6.1.4.1.1466.20037",
        "structuralObjectClass: OpenLDAProotDSE",
    ] {
        assert!(stdout.contains(line), "root DSE lacks {line:?}:\n{stdout}");
    }
    let (code, stdout, _) = ldapsearch(port, &["-x", "-b", "", "-s", "base"]);
    assert_eq!(code, Some(0));
    assert!(
        stdout.contains("objectClass: OpenLDAProotDSE") && !stdout.contains("namingContexts"),
        "{stdout}"
    );
    let aux = session_aux(&sensor.data(), "ldap", 4);
    let outputs = sensor.stop();

    for (user, password, mechanism) in [
        ("cn=admin,dc=trawl,dc=test", "ldap-pw", "ldap-simple"),
        ("sasl-user", "sasl-pw", "plain"),
    ] {
        let row = outputs.assert_once("ldap", port, user, password);
        assert_eq!(outputs.mechanism(&row), mechanism, "{user}");
    }
    assert_eq!(protocol_rows(&outputs, "ldap"), 2);
    assert!(
        aux.iter()
            .any(|a| a["ldap_searches"][0]["filter"] == "(objectclass=*)"),
        "{aux:?}"
    );
}

/// `ldapsearch -ZZ` (StartTLS required, the sensor's self-signed certificate accepted
/// with LDAPTLS_REQCERT=never): the simple bind travels over TLS and is kept once, in
/// clear, with the session's TLS facts.
#[test]
fn ldapsearch_starttls_and_ldaps_simple_binds_are_captured_once() {
    let sensor = Sensor::start(&["ldap", "ldaps"], "hostname = \"dir.trawl.test\"", "");
    let port = sensor.port("ldap");
    let ldaps_port = sensor.port("ldaps");
    let ldaps = format!("ldaps://127.0.0.1:{ldaps_port}");
    let no_verify = [("LDAPTLS_REQCERT", "never")];
    let (code, rootdse, stderr) = ldapsearch_url(
        &ldaps,
        &["-x", "-s", "base", "-b", "", "namingContexts"],
        &no_verify,
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        rootdse.contains("namingContexts: dc=trawl,dc=test"),
        "{rootdse}"
    );
    let (code, _, stderr) = ldapsearch_url(
        &ldaps,
        &["-x", "-D", "cn=admin,dc=trawl,dc=test", "-w", "LDAPS pw 2"],
        &no_verify,
    );
    assert_eq!(code, Some(49), "{stderr}");
    let (code, _, stderr) = ldapsearch_env(
        port,
        &[
            "-ZZ",
            "-x",
            "-D",
            "uid=tls-admin,ou=people,dc=trawl,dc=test",
            "-w",
            "StartTLS pw 1",
            "-b",
            "dc=trawl,dc=test",
        ],
        &[("LDAPTLS_REQCERT", "never")],
    );
    assert_eq!(code, Some(49), "{stderr}");
    assert!(stderr.contains("Invalid credentials (49)"), "{stderr}");
    let aux = session_aux(&sensor.data(), "ldap", 1);
    let outputs = sensor.stop();
    let row = outputs.assert_once(
        "ldap",
        port,
        "uid=tls-admin,ou=people,dc=trawl,dc=test",
        "StartTLS pw 1",
    );
    assert_eq!(outputs.mechanism(&row), "ldap-simple");
    assert_eq!(protocol_rows(&outputs, "ldap"), 1);
    assert!(
        aux.iter().any(|a| a["tls"]["version"].is_string()),
        "the session must record TLS: {aux:?}"
    );
    let row = outputs.assert_once(
        "ldaps",
        ldaps_port,
        "cn=admin,dc=trawl,dc=test",
        "LDAPS pw 2",
    );
    assert_eq!(outputs.mechanism(&row), "ldap-simple");
    assert_eq!(protocol_rows(&outputs, "ldaps"), 1);
}

// ---------------------------------------------------------------------------- nmap

/// nmap -sV names each service as the product it claims to be. SOCKS has no greeting
/// and nmap sends its SOCKS probes by default only to the proxy ports it knows (1080,
/// 1090, ...), so `--version-all` makes it send them to the test's free port.
#[test]
fn nmap_identifies_each_service_as_claimed() {
    let sensor = Sensor::start(&["vnc", "socks5", "redis", "ldap"], "", "");
    let ports = ["vnc", "socks5", "redis", "ldap"].map(|name| sensor.port(name));
    let list = ports.map(|p| p.to_string()).join(",");
    let output = run(
        "nmap",
        &[
            "-sV",
            "--version-all",
            "-Pn",
            "-n",
            "-p",
            &list,
            "127.0.0.1",
        ],
    );
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let line = |port: u16| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("{port}/tcp")))
            .unwrap_or_else(|| panic!("nmap printed no line for {port}:\n{stdout}"))
            .to_owned()
    };
    let expectations = [
        (ports[0], "vnc", "VNC (protocol 3.8)"),
        (
            ports[1],
            "socks5",
            "Username/password authentication required",
        ),
        (ports[2], "redis", "Redis key-value store"),
        (ports[3], "ldap", "OpenLDAP"),
    ];
    for (port, service, product) in expectations {
        let found = line(port);
        assert!(
            found.contains(service) && found.contains(product),
            "nmap says {found:?}, expected {service} / {product}:\n{stdout}"
        );
    }
    drop(sensor.stop());
}
