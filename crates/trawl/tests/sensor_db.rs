//! End-to-end tests of the database protocols of `trawl sensor` (postgresql, mysql,
//! mssql, mongodb) against the built binary with real clients on 127.0.0.1: psql, the
//! mariadb client, FreeTDS tsql, pymongo and THC-Hydra; nmap -sV for the service names.
//! Every attempt must appear exactly once in log_auth.csv, events.jsonl and trawl.db with
//! the right protocol, and every stored hash is recomputed from the known password by an
//! independent implementation (Python hashlib/hmac): the right password verifies, a wrong
//! one does not. A missing client fails loudly (scripts/deps/sensor-db.apt / .pip).

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::sensor::{PY_NETNTLMV2, Sensor, run};

/// Independent checker for every hash line the database protocols store. Prints `ok`
/// when `password` produces the stored material and `bad` otherwise.
const VERIFY_PY: &str = r#"
import base64, hashlib, hmac, sys
kind, line, user, password = sys.argv[1:5]
pw = password.encode()
def xor(a, b): return bytes(x ^ y for x, y in zip(a, b))
def scram(name, secret, iterations, salt, auth_message, proof):
    h = getattr(hashlib, name)
    salted = hashlib.pbkdf2_hmac(name, secret, salt, iterations)
    client_key = hmac.new(salted, b"Client Key", name).digest()
    signature = hmac.new(h(client_key).digest(), auth_message, name).digest()
    return xor(client_key, signature) == proof
if kind == "pg-md5":
    _, rest = line.split("$postgres$", 1)
    name, salt, digest = rest.rsplit("*", 2)
    inner = hashlib.md5(pw + name.encode()).hexdigest().encode()
    ok = name == user and hashlib.md5(inner + bytes.fromhex(salt)).hexdigest() == digest
elif kind in ("scram-sha-256", "mongodb-scram-sha-1"):
    _, tag, iterations, salt, auth_message, proof = line.split("$")
    auth_message = base64.b64decode(auth_message)
    assert tag == kind, tag
    secret = pw if tag == "scram-sha-256" else hashlib.md5(f"{user}:mongo:{password}".encode()).hexdigest().encode()
    name = "sha256" if tag == "scram-sha-256" else "sha1"
    ok = scram(name, secret, int(iterations), base64.b64decode(salt), auth_message, base64.b64decode(proof))
elif kind == "mysqlna":
    salt, scramble = line[len("$mysqlna$"):].split("*")
    stage1 = hashlib.sha1(pw).digest()
    mix = hashlib.sha1(bytes.fromhex(salt) + hashlib.sha1(stage1).digest()).digest()
    ok = xor(stage1, mix).hex() == scramble
elif kind == "mysql-sha2":
    salt, scramble = line[len("$mysql-sha2$"):].split("*")
    stage1 = hashlib.sha256(pw).digest()
    mix = hashlib.sha256(hashlib.sha256(stage1).digest() + bytes.fromhex(salt)).digest()
    ok = xor(stage1, mix).hex() == scramble
else:
    raise SystemExit("unknown kind " + kind)
print("ok" if ok else "bad")
"#;

/// Whether `line` verifies for `candidate` according to the Python checker.
fn verifies(kind: &str, line: &str, user: &str, candidate: &str) -> bool {
    let output = run("python3", &["-c", VERIFY_PY, kind, line, user, candidate]);
    assert!(
        output.status.success(),
        "verifier failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim() == "ok"
}

/// Asserts that `line` verifies for `password` and not for a wrong one.
fn assert_hash_verifies(kind: &str, line: &str, user: &str, password: &str) {
    assert!(
        verifies(kind, line, user, password),
        "{kind} {line:?} must verify for {password:?}"
    );
    let wrong = format!("{password}x");
    assert!(
        !verifies(kind, line, user, &wrong),
        "{kind} {line:?} must not verify for {wrong:?}"
    );
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Runs a client with extra environment variables.
fn run_env(program: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| {
            panic!("{program} is required for this test (scripts/test installs it): {error}")
        })
}

/// Waits (≤ 20 s, while the sensor runs) until a session event of `protocol` in
/// events.jsonl has auxiliary data satisfying `check`; panics with what was seen.
fn wait_for_session_aux(
    sensor_data: &std::path::Path,
    protocol: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let events = std::fs::read_to_string(sensor_data.join("events.jsonl")).unwrap_or_default();
        let aux: Vec<serde_json::Value> = events
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|event| event["type"] == "session" && event["protocol"] == protocol)
            .map(|event| event["auxiliary_data"].clone())
            .collect();
        if aux.iter().any(&check) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no {protocol} session with the expected auxiliary data: {aux:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

fn options(protocol: &str, body: &str) -> String {
    format!("[protocols.{protocol}.options]\n{body}\n")
}

// ---------------------------------------------------------------- PostgreSQL

fn psql(port: u16, user: &str, password: &str, sslmode: &str) -> String {
    let conninfo = format!(
        "host=127.0.0.1 port={port} user={user} dbname=inventory sslmode={sslmode} \
         application_name=trawl-e2e connect_timeout=10"
    );
    let output = run_env(
        "psql",
        &[&conninfo, "-c", "select 1"],
        &[("PGPASSWORD", password), ("PGCONNECT_TIMEOUT", "10")],
    );
    assert!(!output.status.success(), "psql must be refused");
    let said = text(&output);
    let expected = format!("password authentication failed for user \"{user}\"");
    assert!(said.contains(&expected), "psql said: {said}");
    said
}

/// `trawl report` of each of the sensor's outputs: a challenge-response login (no
/// password in clear, a hash in `password_hash`) is a hashed login of its user under
/// its mechanism (in `log_auth.csv`, which has no mechanism column, under the hash's
/// hashcat name), never an empty password; a cleartext login is a credential pair.
fn report_counts_hashed_logins(data: &Path, users: &[&str], mechanism: &str, clear: bool) {
    for output in ["trawl.db", "events.jsonl", "log_auth.csv"] {
        let path = data.join(output);
        let out = Command::new(env!("CARGO_BIN_EXE_trawl"))
            .args(["report", &path.to_string_lossy(), "--format", "json"])
            .output()
            .unwrap_or_else(|e| panic!("trawl report: {e}"));
        assert!(out.status.success(), "trawl report {output}: {out:?}");
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("report JSON");
        let hashed = report["hashed_logins"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let passwords = report["top_passwords"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if clear {
            assert!(hashed.is_empty(), "{output}: {hashed:?}");
            assert_eq!(
                report["totals"]["credential_attempts"],
                users.len(),
                "{output}"
            );
            continue;
        }
        let expected = match (output, mechanism) {
            ("log_auth.csv", "pg-md5") => "postgres",
            _ => mechanism,
        };
        assert_eq!(report["totals"]["hashed_attempts"], users.len(), "{output}");
        assert_eq!(report["totals"]["credential_attempts"], 0, "{output}");
        assert!(
            passwords.is_empty(),
            "{output}: no password was seen: {passwords:?}"
        );
        for user in users {
            assert!(
                hashed.iter().any(|h| h["username"] == *user
                    && h["mechanism"] == expected
                    && h["attempts"] == 1),
                "{output}: {user} under {expected} in {hashed:?}"
            );
        }
    }
}

/// psql with sslmode=disable and =require against one auth mode; returns the rows.
fn postgres_mode(auth: &str, mechanism: &str) -> Vec<(String, String, common::sensor::Row)> {
    let top = options("postgresql", &format!("auth = \"{auth}\""));
    let sensor = Sensor::start(&["postgresql"], &top, "");
    let port = sensor.port("postgresql");
    let cases = [
        (format!("pg-{auth}-plain"), "Pw-plain,1", "disable"),
        (format!("pg-{auth}-tls"), "Pw tls 2", "require"),
    ];
    for (user, password, sslmode) in &cases {
        psql(port, user, password, sslmode);
    }
    wait_for_session_aux(&sensor.data(), "postgresql", |a| {
        a["startup"]["application_name"] == "trawl-e2e" && a["startup"]["database"] == "inventory"
    });
    wait_for_session_aux(&sensor.data(), "postgresql", |a| {
        a["tls"]["version"].is_string()
    });
    let data = sensor.data();
    let (outputs, _dir) = sensor.stop_keep();
    let users: Vec<&str> = cases.iter().map(|(user, _, _)| user.as_str()).collect();
    report_counts_hashed_logins(&data, &users, mechanism, auth == "cleartext");
    let mut rows = Vec::new();
    for (user, password, _) in cases {
        let stored = if auth == "cleartext" { password } else { "" };
        let row = outputs.assert_once("postgresql", port, &user, stored);
        assert_eq!(outputs.mechanism(&row), mechanism);
        rows.push((user, password.to_owned(), row));
    }
    rows
}

#[test]
fn postgresql_cleartext_with_psql_plain_and_tls() {
    let rows = postgres_mode("cleartext", "user-pass");
    assert!(rows.iter().all(|(_, _, row)| row.password_hash.is_empty()));
}

#[test]
fn postgresql_md5_is_kept_as_hashcat_11100() {
    for (user, password, row) in postgres_mode("md5", "pg-md5") {
        assert!(row.password_hash.starts_with(&format!("$postgres${user}*")));
        assert_hash_verifies("pg-md5", &row.password_hash, &user, &password);
    }
}

#[test]
fn postgresql_scram_sha_256_exchange_verifies() {
    for (user, password, row) in postgres_mode("scram-sha-256", "scram-sha-256") {
        assert!(row.password_hash.starts_with("$scram-sha-256$4096$"));
        assert_hash_verifies("scram-sha-256", &row.password_hash, &user, &password);
    }
}

// ---------------------------------------------------------------- MySQL

fn mariadb(port: u16, user: &str, password: &str, ssl: &str) -> String {
    let port = port.to_string();
    let password_arg = format!("-p{password}");
    let output = run(
        "mariadb",
        &[
            "-h",
            "127.0.0.1",
            "-P",
            &port,
            "-u",
            user,
            &password_arg,
            ssl,
            "--connect-timeout=10",
            "-D",
            "shop",
            "-e",
            "select 1",
        ],
    );
    assert!(!output.status.success(), "mariadb must be refused");
    text(&output)
}

/// PyMySQL over a plain connection: for caching_sha2 full authentication it asks for the
/// server's RSA public key and sends the password RSA-OAEP-sealed. Prints the error code.
const PYMYSQL_PY: &str = r#"
import sys, pymysql
try:
    pymysql.connect(host="127.0.0.1", port=int(sys.argv[1]), user=sys.argv[2],
                    password=sys.argv[3], connect_timeout=10)
    print("connected")
except pymysql.err.OperationalError as error:
    print(error.args[0])
"#;

fn pymysql(port: u16, user: &str, password: &str) -> String {
    let output = run(
        "python3",
        &["-c", PYMYSQL_PY, &port.to_string(), user, password],
    );
    assert!(output.status.success(), "PyMySQL failed: {}", text(&output));
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

#[test]
fn mysql_native_password_with_mariadb_client() {
    let sensor = Sensor::start(&["mysql"], "", "");
    let port = sensor.port("mysql");
    let cases = [
        ("my-native-plain", "S3cret!", "--skip-ssl"),
        ("my-native-tls", "tls pass", "--ssl"),
    ];
    for (user, password, ssl) in cases {
        let said = mariadb(port, user, password, ssl);
        let expected = format!(
            "ERROR 1045 (28000): Access denied for user '{user}'@'127.0.0.1' (using password: YES)"
        );
        assert!(said.contains(&expected), "mariadb said: {said}");
    }
    wait_for_session_aux(&sensor.data(), "mysql", |a| {
        a["database"] == "shop" && a["connect_attrs"]["_client_name"].is_string()
    });
    wait_for_session_aux(&sensor.data(), "mysql", |a| a["tls"]["version"].is_string());
    let outputs = sensor.stop();
    for (user, password, _) in cases {
        let row = outputs.assert_once("mysql", port, user, "");
        assert_eq!(outputs.mechanism(&row), "mysql-native-password");
        assert!(row.password_hash.starts_with("$mysqlna$"), "{row:?}");
        assert_hash_verifies("mysqlna", &row.password_hash, user, password);
    }
}

#[test]
fn mysql_caching_sha2_scramble_tls_and_rsa_sealed_passwords() {
    let top = options("mysql", "auth = \"caching_sha2_password\"");
    let sensor = Sensor::start(&["mysql"], &top, "");
    let port = sensor.port("mysql");
    let tls_said = mariadb(port, "my-sha2-tls", "sha2 over tls", "--ssl");
    assert!(
        tls_said.contains("ERROR 1045 (28000)"),
        "mariadb said: {tls_said}"
    );
    let plain_said = mariadb(port, "my-sha2-plain", "sha2-plain", "--skip-ssl");
    assert!(
        plain_said.contains("ERROR 1045 (28000)"),
        "mariadb said: {plain_said}"
    );
    let rsa_said = pymysql(port, "my-sha2-rsa", "sealed with RSA, longer than the salt");
    assert_eq!(rsa_said, "1045", "PyMySQL must see access denied");
    let outputs = sensor.stop();
    let rsa = outputs.assert_once(
        "mysql",
        port,
        "my-sha2-rsa",
        "sealed with RSA, longer than the salt",
    );
    assert_hash_verifies(
        "mysql-sha2",
        &rsa.password_hash,
        "my-sha2-rsa",
        "sealed with RSA, longer than the salt",
    );
    let tls = outputs.assert_once("mysql", port, "my-sha2-tls", "sha2 over tls");
    assert_eq!(outputs.mechanism(&tls), "caching-sha2-password");
    assert_hash_verifies(
        "mysql-sha2",
        &tls.password_hash,
        "my-sha2-tls",
        "sha2 over tls",
    );
    // MariaDB's client asks for the RSA public key by itself on a plain connection.
    let plain = outputs.assert_once("mysql", port, "my-sha2-plain", "sha2-plain");
    assert_hash_verifies(
        "mysql-sha2",
        &plain.password_hash,
        "my-sha2-plain",
        "sha2-plain",
    );
}

// ---------------------------------------------------------------- MSSQL

#[test]
fn mssql_login7_password_with_tsql() {
    let sensor = Sensor::start(&["mssql"], "hostname = \"sqlprod01.corp.test\"", "");
    let port = sensor.port("mssql").to_string();
    let cases = [("sa", "Tr0ub4dor&3"), ("ms-app", "pässwörd with spaces")];
    for (user, password) in cases {
        let output = run_env(
            "tsql",
            &["-H", "127.0.0.1", "-p", &port, "-U", user, "-P", password],
            &[("TDSVER", "7.4")],
        );
        let said = text(&output);
        let expected = format!("Login failed for user '{user}'.");
        assert!(
            said.contains(&expected) && said.contains("18456"),
            "tsql said: {said}"
        );
    }
    wait_for_session_aux(&sensor.data(), "mssql", |a| {
        a["client_hostname"].as_str().is_some_and(|h| !h.is_empty()) && a["app_name"] == "TSQL"
    });
    // FreeTDS offers ENCRYPT_OFF; a stock SQL Server answers ENCRYPT_OFF: LOGIN7 over TLS
    wait_for_session_aux(&sensor.data(), "mssql", |a| {
        a["encryption"]["client"] == "off"
            && a["encryption"]["server"] == "off"
            && a["tls"]["version"] == "TLSv1_2"
    });
    let outputs = sensor.stop();
    for (user, password) in cases {
        let row = outputs.assert_once("mssql", port.parse().unwrap(), user, password);
        assert_eq!(outputs.mechanism(&row), "tds-login7");
    }
}

/// A freetds.conf with `lines` in its [global] section, for tsql via FREETDSCONF.
fn freetds_conf(dir: &tempfile::TempDir, lines: &str) -> String {
    let path = dir.path().join("freetds.conf");
    std::fs::write(&path, format!("[global]\n{lines}\n")).expect("write freetds.conf");
    path.to_str().expect("utf-8 path").to_owned()
}

/// tsql with a freetds.conf; returns everything it said.
fn tsql(port: &str, user: &str, password: &str, conf: &str) -> String {
    let output = run_env(
        "tsql",
        &["-H", "127.0.0.1", "-p", port, "-U", user, "-P", password],
        &[("FREETDSCONF", conf), ("TDSVER", "7.4")],
    );
    text(&output)
}

/// python-tds (pure Python TDS, pyOpenSSL for TLS): `mode` is `full` (ENCRYPT_ON,
/// certificate checked against `cafile`), `login` (ENCRYPT_OFF: login-only TLS) or
/// `clear` (ENCRYPT_NOT_SUP). Prints the server's error number and message.
const PYTDS: &str = r#"
import sys, pytds
port, user, password, mode, cafile = sys.argv[1:6]
tls = {} if mode == "clear" else {"cafile": cafile, "validate_host": False,
                                   "enc_login_only": mode == "login"}
try:
    pytds.connect(server="127.0.0.1", port=int(port), user=user, password=password,
                  database="payroll", appname="trawl-pytds", login_timeout=10, **tls)
    print("connected")
except pytds.tds_base.Error as error:
    print(getattr(error, "number", "?"), getattr(error, "text", error))
"#;

#[test]
fn mssql_tls_in_tds_with_tsql_and_python_tds() {
    let sensor = Sensor::start(&["mssql"], "hostname = \"sqlprod01.corp.test\"", "");
    let port = sensor.port("mssql").to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let require = freetds_conf(&dir, "encryption = require");
    let said = tsql(&port, "ms-tsql-full", "full TLS, Pa55!", &require);
    assert!(
        said.contains("Login failed for user 'ms-tsql-full'.") && said.contains("18456"),
        "tsql (encryption = require) said: {said}"
    );
    let cafile = sensor.data().join("tls/cert.pem");
    let cafile = cafile.to_str().expect("utf-8 path");
    let cases = [
        ("ms-pytds-full", "py full tls", "full"),
        ("ms-pytds-login", "py login-only tls", "login"),
        ("ms-pytds-clear", "py clear", "clear"),
    ];
    for (user, password, mode) in cases {
        let output = run(
            "python3",
            &["-c", PYTDS, &port, user, password, mode, cafile],
        );
        let said = text(&output);
        assert!(
            said.contains(&format!("18456 Login failed for user '{user}'.")),
            "python-tds ({mode}) said: {said}"
        );
    }
    for (client, server) in [
        ("on", "on"),
        ("off", "off"),
        ("not-supported", "not-supported"),
    ] {
        wait_for_session_aux(&sensor.data(), "mssql", |a| {
            a["encryption"]["client"] == client
                && a["encryption"]["server"] == server
                && (server == "not-supported") == a["tls"].is_null()
        });
    }
    wait_for_session_aux(&sensor.data(), "mssql", |a| {
        a["app_name"] == "trawl-pytds" && a["database"] == "payroll"
    });
    let outputs = sensor.stop();
    let port: u16 = port.parse().unwrap();
    let row = outputs.assert_once("mssql", port, "ms-tsql-full", "full TLS, Pa55!");
    assert_eq!(outputs.mechanism(&row), "tds-login7");
    for (user, password, _) in cases {
        let row = outputs.assert_once("mssql", port, user, password);
        assert_eq!(outputs.mechanism(&row), "tds-login7");
    }
}

/// `encryption = "required"` (SQL Server's "force encryption"): a client offering only
/// login encryption is moved to full TLS, a client without TLS is told ENCRYPT_REQ.
#[test]
fn mssql_forced_encryption_option() {
    let top = options("mssql", "encryption = \"required\"");
    let sensor = Sensor::start(&["mssql"], &top, "");
    let port = sensor.port("mssql").to_string();
    let cafile = sensor.data().join("tls/cert.pem");
    let cafile = cafile.to_str().expect("utf-8 path");
    let forced = run(
        "python3",
        &[
            "-c",
            PYTDS,
            &port,
            "ms-forced",
            "forced pw",
            "login",
            cafile,
        ],
    );
    let said = text(&forced);
    assert!(
        said.contains("18456 Login failed for user 'ms-forced'."),
        "python-tds (login-only offer) said: {said}"
    );
    let clear = run(
        "python3",
        &[
            "-c",
            PYTDS,
            &port,
            "ms-no-tls",
            "never sent",
            "clear",
            cafile,
        ],
    );
    let said = text(&clear);
    assert!(
        said.contains("required by server"),
        "python-tds without TLS said: {said}"
    );
    wait_for_session_aux(&sensor.data(), "mssql", |a| {
        a["encryption"]["client"] == "off"
            && a["encryption"]["server"] == "on"
            && a["tls"]["version"] == "TLSv1_2"
    });
    wait_for_session_aux(&sensor.data(), "mssql", |a| {
        a["encryption"]["server"] == "required"
    });
    let outputs = sensor.stop();
    outputs.assert_once("mssql", port.parse().unwrap(), "ms-forced", "forced pw");
    assert_eq!(outputs.rows_with_user_prefix("ms-no-tls"), 0);
}

/// A scanner-style TDS client (like nmap's mssql.lua): PRELOGIN offering ENCRYPT_OFF,
/// then, whatever the answer, LOGIN7 in clear. Prints the server's encryption answer and
/// whether the reply carries error 18456. Hand-written because the stock clients here all
/// do TLS when offered it; this is the behaviour of brute-forcers that do not.
const CLEAR_AFTER_OFFER: &str = r#"
import socket, struct, sys
port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def packet(kind, payload):
    return struct.pack(">BBHHBB", kind, 1, len(payload) + 8, 0, 1, 0) + payload
def read_packet(s):
    header = s.recv(8, socket.MSG_WAITALL)
    return s.recv(struct.unpack(">H", header[2:4])[0] - 8, socket.MSG_WAITALL)
s = socket.create_connection(("127.0.0.1", port), timeout=10)
options = [(0, b"\x0f\x00\x07\xd0\x00\x00"), (1, b"\x00")]
table, data, offset = b"", b"", 5 * len(options) + 1
for token, value in options:
    table += struct.pack(">BHH", token, offset + len(data), len(value))
    data += value
s.sendall(packet(0x12, table + b"\xff" + data))
reply = read_packet(s)
encryption = reply[struct.unpack(">H", reply[6:8])[0]]
obfuscate = lambda b: (((b << 4) | (b >> 4)) & 0xff) ^ 0xa5
fields = ["scanner", user, password, "scan-app", "srv", "", "scan-lib", "", ""]
fixed, body = bytearray(94), b""
for index, text in enumerate(fields):
    raw = text.encode("utf-16-le")
    if index == 2:
        raw = bytes(obfuscate(b) for b in raw)
    struct.pack_into("<HH", fixed, 36 + 4 * index, 94 + len(body), len(raw) // 2)
    body += raw
struct.pack_into("<II", fixed, 0, 94 + len(body), 0x74000004)
s.sendall(packet(0x10, bytes(fixed) + body))
answer = read_packet(s)
print(encryption, struct.pack("<i", 18456) in answer)
"#;

#[test]
fn mssql_clear_login7_after_an_encryption_offer_is_still_read() {
    let sensor = Sensor::start(&["mssql"], "", "");
    let port = sensor.port("mssql").to_string();
    let output = run(
        "python3",
        &["-c", CLEAR_AFTER_OFFER, &port, "ms-scanner", "scan pw 9"],
    );
    assert_eq!(
        text(&output).trim(),
        "0 True",
        "server answered ENCRYPT_OFF, then 18456"
    );
    wait_for_session_aux(&sensor.data(), "mssql", |a| {
        a["tls_skipped_by_client"] == true && a["app_name"] == "scan-app"
    });
    let outputs = sensor.stop();
    let row = outputs.assert_once("mssql", port.parse().unwrap(), "ms-scanner", "scan pw 9");
    assert_eq!(outputs.mechanism(&row), "tds-login7");
}

#[test]
fn mssql_ntlm_integrated_login_with_tsql_is_a_netntlmv2_line() {
    let sensor = Sensor::start(&["mssql"], "hostname = \"sqlprod01.corp.test\"", "");
    let port = sensor.port("mssql").to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    // login-only TLS (FreeTDS's default): NEGOTIATE inside the encrypted LOGIN7, the rest
    // in clear; `encryption = require`: the whole exchange over TLS
    let cases = [
        ("ms-ntlm", "Winter2026!", "use ntlmv2 = yes"),
        (
            "ms-ntlm-tls",
            "Summer2026!",
            "use ntlmv2 = yes\nencryption = require",
        ),
    ];
    for (index, (user, password, conf)) in cases.iter().enumerate() {
        let conf_dir = dir.path().join(index.to_string());
        std::fs::create_dir(&conf_dir).expect("conf dir");
        let conf_path = conf_dir.join("freetds.conf");
        std::fs::write(&conf_path, format!("[global]\n{conf}\n")).expect("write conf");
        let login = format!("CORP\\{user}");
        let said = tsql(&port, &login, password, conf_path.to_str().expect("utf-8"));
        assert!(
            said.contains(&format!("Login failed for user '{login}'.")) && said.contains("18456"),
            "tsql (NTLM, {conf:?}) said: {said}"
        );
    }
    wait_for_session_aux(&sensor.data(), "mssql", |a| {
        a["encryption"]["server"] == "on" && a["ntlm"][0]["domain"] == "CORP"
    });
    let outputs = sensor.stop();
    for (user, password, _) in cases {
        let row = outputs.assert_once("mssql", port.parse().unwrap(), user, "");
        assert_eq!(outputs.mechanism(&row), "ntlm");
        assert!(
            row.password_hash.starts_with(&format!("{user}::CORP:")),
            "{}",
            row.password_hash
        );
        let check = |candidate: &str| {
            let output = run(
                "python3",
                &["-c", PY_NETNTLMV2, &row.password_hash, candidate],
            );
            assert!(output.status.success(), "checker: {}", text(&output));
            String::from_utf8_lossy(&output.stdout).trim().to_owned()
        };
        assert_eq!(check(password), "ok");
        assert_eq!(check(&format!("{password}x")), "mismatch");
    }
}

// ---------------------------------------------------------------- MongoDB

const PYMONGO: &str = r#"
import sys
from pymongo import MongoClient
from pymongo.errors import OperationFailure
port, user, password, mechanism = sys.argv[1:5]
client = MongoClient(host="127.0.0.1", port=int(port), username=user, password=password,
                     authSource="admin", authMechanism=mechanism, directConnection=True,
                     serverSelectionTimeoutMS=10000, appname="trawl-e2e")
try:
    client.admin.command("ping")
    print("unexpected success")
except OperationFailure as error:
    print(error.code, error.details.get("errmsg"))
finally:
    client.close()
"#;

#[test]
fn mongodb_scram_sha_1_and_256_with_pymongo() {
    let sensor = Sensor::start(&["mongodb"], "", "");
    let port = sensor.port("mongodb").to_string();
    let cases = [
        (
            "mongo-sha1",
            "m0ngo pass",
            "SCRAM-SHA-1",
            "mongodb-scram-sha-1",
            "scram-sha-1",
        ),
        (
            "mongo-sha256",
            "Mongo,256=",
            "SCRAM-SHA-256",
            "scram-sha-256",
            "scram-sha-256",
        ),
    ];
    for (user, password, mechanism, _, _) in cases {
        let output = run(
            "python3",
            &["-c", PYMONGO, &port, user, password, mechanism],
        );
        let said = text(&output);
        assert!(
            said.contains("18 Authentication failed."),
            "pymongo said: {said}"
        );
    }
    wait_for_session_aux(&sensor.data(), "mongodb", |a| {
        a["client"]["application"]["name"] == "trawl-e2e"
    });
    let outputs = sensor.stop();
    for (user, password, _, kind, mechanism) in cases {
        let row = outputs.assert_once("mongodb", port.parse().unwrap(), user, "");
        assert_eq!(outputs.mechanism(&row), mechanism);
        assert_hash_verifies(kind, &row.password_hash, user, password);
    }
}

// ---------------------------------------------------------------- hydra

/// hydra against one service with six (user, password) pairs: every pair appears once.
/// MySQL keeps only scrambles, so there the users vary (each row is then unique) and each
/// scramble must verify for its password.
fn hydra_counts(protocol: &'static str, service: &str, prefix: &str, env: &[(&str, &str)]) {
    let sensor = Sensor::start(&[protocol], "", "");
    let port = sensor.port(protocol).to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let hash_only = protocol == "mysql";
    let pairs: Vec<(String, String)> = (0..6)
        .map(|i| {
            let user = if hash_only {
                format!("{prefix}-{i}")
            } else {
                format!("{prefix}-user")
            };
            let password = if hash_only {
                "hy-pass".to_owned()
            } else {
                format!("hy-pass-{i}")
            };
            (user, password)
        })
        .collect();
    let write = |name: &str, items: Vec<&String>| {
        let path = dir.path().join(name);
        let mut unique: Vec<&String> = items;
        unique.dedup();
        let lines: Vec<&str> = unique.iter().map(|s| s.as_str()).collect();
        std::fs::write(&path, lines.join("\n") + "\n").expect("write list");
        path.to_str().expect("utf-8 path").to_owned()
    };
    // hydra's postgres module hands libpq no port (it ignores -s): PGPORT carries it
    let mut env_vars = env.to_vec();
    env_vars.push(("PGPORT", port.as_str()));
    let users = write("users.txt", pairs.iter().map(|(u, _)| u).collect());
    let passwords = write("passwords.txt", pairs.iter().map(|(_, p)| p).collect());
    let output = run_env(
        "hydra",
        &[
            "-L",
            &users,
            "-P",
            &passwords,
            "-s",
            &port,
            "-t",
            "1",
            "-I",
            "127.0.0.1",
            service,
        ],
        &env_vars,
    );
    let said = text(&output);
    assert!(said.contains("0 valid password"), "hydra said: {said}");
    let outputs = sensor.stop();
    assert_eq!(
        outputs.rows_with_user_prefix(prefix),
        pairs.len(),
        "hydra tried {} pairs: {said}",
        pairs.len()
    );
    let port: u16 = port.parse().unwrap();
    for (user, password) in &pairs {
        if hash_only {
            let row = outputs.assert_once(protocol, port, user, "");
            assert_hash_verifies("mysqlna", &row.password_hash, user, password);
        } else {
            outputs.assert_once(protocol, port, user, password);
        }
    }
}

#[test]
fn hydra_postgres_attempts_equal_rows() {
    // libpq's default sslmode=prefer retries without TLS after any auth failure, so each
    // hydra try would be two (faithfully recorded) attempts; disable makes it one.
    hydra_counts(
        "postgresql",
        "postgres",
        "hy-pg",
        &[("PGSSLMODE", "disable")],
    );
}

#[test]
fn hydra_mysql_attempts_equal_rows() {
    hydra_counts("mysql", "mysql", "hy-my", &[]);
}

// ---------------------------------------------------------------- nmap

/// nmap -sV at its default intensity (7) on the test's free ports names all four. MongoDB's
/// own probe (rarity 8) runs by default only on 27017, 9001 and 49153; elsewhere mongod's
/// answer to nmap's HTTP GET soft-matches "MongoDB", after which nmap sends the mongodb
/// probe and reads the version from the serverStatus reply.
#[test]
fn nmap_names_each_database_product() {
    let sensor = Sensor::start(&["postgresql", "mysql", "mssql", "mongodb"], "", "");
    let ports: Vec<String> = ["postgresql", "mysql", "mssql", "mongodb"]
        .iter()
        .map(|name| sensor.port(name).to_string())
        .collect();
    let output = run("nmap", &["-sV", "-Pn", "-p", &ports.join(","), "127.0.0.1"]);
    let said = text(&output);
    let expectations = [
        (&ports[0], "PostgreSQL DB 15"),
        (&ports[1], "MySQL 8.0.39"),
        (&ports[2], "Microsoft SQL Server 2019 15.00.2000"),
        (&ports[3], "MongoDB 7.0.14"),
    ];
    for (port, product) in expectations {
        let line = said
            .lines()
            .find(|line| line.starts_with(&format!("{port}/tcp")))
            .unwrap_or_else(|| panic!("nmap has no line for {port}: {said}"));
        assert!(
            line.contains(product),
            "nmap says {line:?}, expected {product:?}"
        );
    }
    sensor.stop();
}
