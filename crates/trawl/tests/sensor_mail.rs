//! End-to-end tests of the mail protocols of `trawl sensor` (pop3, pop3s, imap, imaps,
//! smtp, smtps) against the built binary with real clients: curl, python3's poplib /
//! imaplib / smtplib, and THC-Hydra, on 127.0.0.1 with free ports and a temporary data dir.
//! Every credential must appear exactly once in log_auth.csv, events.jsonl and trawl.db
//! with the right protocol and ports. A missing client fails loudly (scripts/test installs
//! them from scripts/deps/sensor-mail.apt).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;
use common::free_port;

const BIN: &str = env!("CARGO_BIN_EXE_trawl");
const MAIL: [&str; 6] = ["pop3", "pop3s", "imap", "imaps", "smtp", "smtps"];

/// Runs an external client; panics with a clear message when it is not installed.
fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| {
            panic!("{program} is required for this test (scripts/test installs it): {error}")
        })
}

/// A running `trawl sensor` with the six mail listeners on free ports.
struct Sensor {
    child: Child,
    dir: tempfile::TempDir,
    ports: HashMap<&'static str, u16>,
    log: Arc<Mutex<String>>,
}

impl Sensor {
    fn start(extra_per_protocol: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let ports: HashMap<&'static str, u16> =
            MAIL.iter().map(|&name| (name, free_port())).collect();
        let mut config = String::from("hostname = \"mail.trawl.test\"\n");
        for (name, port) in &ports {
            config.push_str(&format!(
                "[protocols.{name}]\nport = {port}\n{extra_per_protocol}\n"
            ));
        }
        let config_path = dir.path().join("sensor.toml");
        std::fs::write(&config_path, config).expect("write config");
        let mut child = Command::new(BIN)
            .args(["sensor", "--config"])
            .arg(&config_path)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["--only", &MAIL.join(",")])
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
        let mut sensor = Self {
            child,
            dir,
            ports,
            log,
        };
        for name in MAIL {
            let needle = format!("{name} listening on 127.0.0.1:{}", sensor.port(name));
            sensor.wait_for_log(&needle);
        }
        sensor
    }

    fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn wait_for_log(&mut self, needle: &str) {
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

    fn port(&self, name: &str) -> u16 {
        self.ports[name]
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// SIGTERM, wait for a clean exit, then read every output.
    fn stop(mut self) -> Outputs {
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
        Outputs::read(&self.data())
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
struct Row {
    auth_id: String,
    session_id: String,
    protocol: String,
    source_port: u16,
    destination_port: u16,
    username: String,
    password: String,
    password_hash: String,
}

/// Everything the sensor wrote.
struct Outputs {
    csv: Vec<Row>,
    jsonl: Vec<Row>,
    db: Vec<Row>,
    mechanisms: HashMap<String, String>,
    /// session_id -> (protocol, auth ids listed in the session object)
    sessions: HashMap<String, (String, Vec<String>)>,
}

impl Outputs {
    fn read(data: &Path) -> Self {
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
    fn assert_once(&self, protocol: &str, port: u16, user: &str, password: &str) -> Row {
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

    fn mechanism(&self, row: &Row) -> &str {
        self.mechanisms
            .get(&row.auth_id)
            .map(String::as_str)
            .unwrap_or("")
    }

    fn rows_with_user_prefix(&self, prefix: &str) -> usize {
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

fn read_csv(path: &Path) -> Vec<Row> {
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

type JsonlParts = (
    Vec<Row>,
    HashMap<String, String>,
    HashMap<String, (String, Vec<String>)>,
);

fn read_jsonl(path: &Path) -> JsonlParts {
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

fn read_db(path: &Path) -> Vec<Row> {
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

/// curl exits 67 (CURLE_LOGIN_DENIED) when the server refuses the login.
fn curl_login(url: &str, user: &str, password: &str, extra: &[&str]) {
    let userpass = format!("{user}:{password}");
    let mut args = vec!["-sS", "--max-time", "20", "-u", &userpass, url];
    args.extend_from_slice(extra);
    let output = run("curl", &args);
    assert_eq!(
        output.status.code(),
        Some(67),
        "curl {args:?} should be refused: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// One curl login: protocol, user, password (empty: a hash-only mechanism), the listener
/// and URL scheme, curl options, and the mechanism the sensor must record.
struct CurlCase {
    protocol: &'static str,
    user: &'static str,
    password: &'static str,
    scheme: &'static str,
    options: &'static [&'static str],
    mechanism: &'static str,
}

const fn curl_case(
    protocol: &'static str,
    user: &'static str,
    password: &'static str,
    options: &'static [&'static str],
    mechanism: &'static str,
) -> CurlCase {
    CurlCase {
        protocol,
        user,
        password,
        scheme: protocol,
        options,
        mechanism,
    }
}

const CURL_CASES: [CurlCase; 18] = [
    curl_case(
        "pop3",
        "c-pop3-plain",
        "pw,one",
        &["--login-options", "AUTH=PLAIN"],
        "plain",
    ),
    curl_case(
        "pop3",
        "c-pop3-login",
        "pw two",
        &["--login-options", "AUTH=LOGIN"],
        "login",
    ),
    curl_case(
        "pop3",
        "c-pop3-cram",
        "",
        &["--login-options", "AUTH=CRAM-MD5"],
        "cram-md5",
    ),
    curl_case(
        "pop3",
        "c-pop3-apop",
        "",
        &["--login-options", "AUTH=+APOP"],
        "apop",
    ),
    curl_case(
        "pop3",
        "c-pop3-stls",
        "pw-stls",
        &["--login-options", "AUTH=PLAIN", "--ssl-reqd", "-k"],
        "plain",
    ),
    curl_case(
        "pop3s",
        "c-pop3s",
        "pw-pop3s",
        &["-k", "--login-options", "AUTH=LOGIN"],
        "login",
    ),
    // curl 7.88 cannot force the IMAP LOGIN command while SASL is offered (AUTH=+LOGIN
    // is rejected as a malformed option); python's imaplib and hydra cover LOGIN.
    curl_case(
        "imap",
        "c-imap-plain",
        "pw-imap-plain",
        &["--login-options", "AUTH=PLAIN"],
        "plain",
    ),
    curl_case(
        "imap",
        "c-imap-alogin",
        "pw-imap-alogin",
        &["--login-options", "AUTH=LOGIN"],
        "login",
    ),
    curl_case(
        "imap",
        "c-imap-cram",
        "",
        &["--login-options", "AUTH=CRAM-MD5"],
        "cram-md5",
    ),
    curl_case(
        "imap",
        "c-imap-tls",
        "pw-imap-tls",
        &["--login-options", "AUTH=PLAIN", "--ssl-reqd", "-k"],
        "plain",
    ),
    curl_case(
        "imaps",
        "c-imaps",
        "pw-imaps",
        &["-k", "--login-options", "AUTH=PLAIN"],
        "plain",
    ),
    curl_case(
        "smtp",
        "c-smtp-plain",
        "pw-smtp-plain",
        &["--login-options", "AUTH=PLAIN"],
        "plain",
    ),
    curl_case(
        "smtp",
        "c-smtp-login",
        "pw-smtp-login",
        &["--login-options", "AUTH=LOGIN"],
        "login",
    ),
    curl_case(
        "smtp",
        "c-smtp-cram",
        "",
        &["--login-options", "AUTH=CRAM-MD5"],
        "cram-md5",
    ),
    curl_case(
        "smtp",
        "c-smtp-tls-plain",
        "pw-st-plain",
        &["--login-options", "AUTH=PLAIN", "--ssl-reqd", "-k"],
        "plain",
    ),
    curl_case(
        "smtp",
        "c-smtp-tls-login",
        "pw-st-login",
        &["--login-options", "AUTH=LOGIN", "--ssl-reqd", "-k"],
        "login",
    ),
    curl_case(
        "smtp",
        "c-smtp-tls-cram",
        "",
        &["--login-options", "AUTH=CRAM-MD5", "--ssl-reqd", "-k"],
        "cram-md5",
    ),
    curl_case(
        "smtps",
        "c-smtps",
        "pw-smtps",
        &["-k", "--login-options", "AUTH=PLAIN"],
        "plain",
    ),
];

/// For hash-only mechanisms the client still needs a password to compute the digest.
fn secret(user: &str) -> String {
    format!("secret-{user}")
}

#[test]
fn curl_logins_on_every_mail_protocol_are_captured_once() {
    let sensor = Sensor::start("");
    for case in &CURL_CASES {
        let url = format!(
            "{}://127.0.0.1:{}/",
            case.scheme,
            sensor.port(case.protocol)
        );
        let sent = if case.password.is_empty() {
            secret(case.user)
        } else {
            case.password.to_owned()
        };
        curl_login(&url, case.user, &sent, case.options);
    }
    let expected_port: HashMap<&str, u16> = MAIL.iter().map(|&n| (n, sensor.port(n))).collect();
    let outputs = sensor.stop();
    for case in &CURL_CASES {
        let row = outputs.assert_once(
            case.protocol,
            expected_port[case.protocol],
            case.user,
            case.password,
        );
        assert_eq!(
            outputs.mechanism(&row),
            case.mechanism,
            "mechanism of {}",
            case.user
        );
        if case.password.is_empty() {
            assert!(
                !row.password_hash.is_empty(),
                "{}: no password_hash",
                case.user
            );
            verify_hash(&row.password_hash, &secret(case.user), case.mechanism);
        } else {
            assert!(
                row.password_hash.is_empty(),
                "{}: unexpected hash",
                case.user
            );
        }
    }
}

/// Recomputes CRAM-MD5 (HMAC-MD5) or APOP (MD5) from the stored material with python's
/// hmac/hashlib: the right password verifies, a wrong one does not.
fn verify_hash(hash: &str, password: &str, mechanism: &str) {
    const SCRIPT: &str = r#"
import base64, hashlib, hmac, sys
material, password, mechanism = sys.argv[1], sys.argv[2].encode(), sys.argv[3]
def ok(pw):
    if mechanism == "cram-md5":
        tag, chal, resp = material.split("$")[1:4]
        assert tag == "cram_md5", material
        challenge, response = base64.b64decode(chal), base64.b64decode(resp)
        digest = response.rsplit(b" ", 1)[1].decode()
        return hmac.new(pw, challenge, hashlib.md5).hexdigest() == digest
    digest, challenge = material.split(":", 1)
    return hashlib.md5(challenge.encode() + pw).hexdigest() == digest
assert ok(password), "right password does not verify"
assert not ok(password + b"x"), "wrong password verifies"
print("verified")
"#;
    let output = run("python3", &["-c", SCRIPT, hash, password, mechanism]);
    assert!(
        output.status.success() && output.stdout.starts_with(b"verified"),
        "{mechanism} material {hash:?} does not verify with {password:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

const PYTHON_CLIENTS: &str = r#"
import imaplib, poplib, smtplib, socket, ssl, sys
host = "127.0.0.1"
pop3, pop3s, imap, imaps, smtp, smtps = (int(p) for p in sys.argv[1:7])
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
done = []
def refused(label, fn, errors):
    try:
        fn()
    except errors:
        done.append(label); return
    raise SystemExit("%s: login was not refused" % label)

def pop_user(cls, port, user, pw, stls=False, **kw):
    def go():
        p = cls(host, port, timeout=20, **kw)
        try:
            if stls: p.stls(ctx)
            p.user(user); p.pass_(pw)
        finally:
            p.close()
    return go
def pop_apop(user, pw):
    def go():
        p = poplib.POP3(host, pop3, timeout=20)
        try: p.apop(user, pw)
        finally: p.close()
    return go
P = poplib.error_proto
refused("pop3 user", pop_user(poplib.POP3, pop3, "py-pop3", "py,pw \"1\""), P)
refused("pop3 stls", pop_user(poplib.POP3, pop3, "py-pop3-stls", "py-pw-2", stls=True), P)
refused("pop3s", pop_user(poplib.POP3_SSL, pop3s, "py-pop3s", "py-pw-3", context=ctx), P)
refused("pop3 apop", pop_apop("py-pop3-apop", "apop-secret"), P)

def imap_login(cls, port, user, pw, tls=False, cram=False, **kw):
    def go():
        m = cls(host, port, timeout=20, **kw)
        try:
            if tls: m.starttls(ctx)
            if cram: m.login_cram_md5(user, pw)
            else: m.login(user, pw)
        finally:
            m.shutdown()
    return go
E = imaplib.IMAP4.error
refused("imap login", imap_login(imaplib.IMAP4, imap, "py-imap", "py pw \"q\" \\ 4"), E)
refused("imap starttls", imap_login(imaplib.IMAP4, imap, "py-imap-tls", "py-pw-5", tls=True), E)
refused("imap cram", imap_login(imaplib.IMAP4, imap, "py-imap-cram", "cram-secret", cram=True), E)
refused("imaps", imap_login(imaplib.IMAP4_SSL, imaps, "py-imaps", "py-pw-6", ssl_context=ctx), E)

# IMAP literals ({n} synchronizing) and non-UTF-8 bytes, by hand.
s = socket.create_connection((host, imap), timeout=20)
f = s.makefile("rb")
assert f.readline().startswith(b"* OK")
user, pw = b"py-literal", b"lit\xffpw"
s.sendall(b"L1 LOGIN {%d}\r\n" % len(user)); assert f.readline().startswith(b"+")
s.sendall(user + b" {%d}\r\n" % len(pw)); assert f.readline().startswith(b"+")
s.sendall(pw + b"\r\n"); reply = f.readline()
assert reply.startswith(b"L1 NO [AUTHENTICATIONFAILED]"), reply
s.sendall(b"L2 LOGOUT\r\n"); s.close(); done.append("imap literal")

def smtp_auth(cls, port, user, pw, mech, tls=False, **kw):
    def go():
        s = cls(host, port, timeout=20, **kw)
        try:
            s.ehlo("py.client.test")
            if tls: s.starttls(context=ctx); s.ehlo("py.client.test")
            s.user, s.password = user, pw
            method = {"PLAIN": s.auth_plain, "LOGIN": s.auth_login, "CRAM-MD5": s.auth_cram_md5}[mech]
            s.auth(mech, method)
        finally:
            s.close()
    return go
S = smtplib.SMTPAuthenticationError
refused("smtp plain", smtp_auth(smtplib.SMTP, smtp, "py-smtp-plain", "py-pw-7", "PLAIN"), S)
refused("smtp login", smtp_auth(smtplib.SMTP, smtp, "py-smtp-login", "py-pw-8", "LOGIN"), S)
refused("smtp cram", smtp_auth(smtplib.SMTP, smtp, "py-smtp-cram", "smtp-secret", "CRAM-MD5"), S)
refused("smtp starttls", smtp_auth(smtplib.SMTP, smtp, "py-smtp-tls", "py-pw-9", "LOGIN", tls=True), S)
refused("smtps", smtp_auth(smtplib.SMTP_SSL, smtps, "py-smtps", "py-pw-10", "PLAIN", context=ctx), S)

# Never a relay: the recipient is refused and DATA never starts.
s = smtplib.SMTP(host, smtp, timeout=20); s.ehlo("relay.test")
assert s.mail("a@example.org")[0] == 250
code, _ = s.rcpt("victim@example.net"); assert code == 554, code
code, _ = s.docmd("DATA"); assert code == 554, code
s.quit(); done.append("smtp relay refused")
print("\n".join(done))
"#;

#[test]
fn python_stdlib_clients_are_captured_once_and_never_relay() {
    let sensor = Sensor::start("");
    let ports: Vec<String> = MAIL
        .iter()
        .map(|name| sensor.port(name).to_string())
        .collect();
    let mut args = vec!["-c", PYTHON_CLIENTS];
    args.extend(ports.iter().map(String::as_str));
    let output = run("python3", &args);
    assert!(
        output.status.success(),
        "python clients failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let expected_port: HashMap<&str, u16> = MAIL.iter().map(|&n| (n, sensor.port(n))).collect();
    let outputs = sensor.stop();
    let plain = [
        ("pop3", "py-pop3", "py,pw \"1\"", "user-pass"),
        ("pop3", "py-pop3-stls", "py-pw-2", "user-pass"),
        ("pop3s", "py-pop3s", "py-pw-3", "user-pass"),
        ("imap", "py-imap", "py pw \"q\" \\ 4", "user-pass"),
        ("imap", "py-imap-tls", "py-pw-5", "user-pass"),
        ("imaps", "py-imaps", "py-pw-6", "user-pass"),
        ("imap", "py-literal", "lit\\xffpw", "user-pass"),
        ("smtp", "py-smtp-plain", "py-pw-7", "plain"),
        ("smtp", "py-smtp-login", "py-pw-8", "login"),
        ("smtp", "py-smtp-tls", "py-pw-9", "login"),
        ("smtps", "py-smtps", "py-pw-10", "plain"),
    ];
    for (protocol, user, password, mechanism) in plain {
        let row = outputs.assert_once(protocol, expected_port[protocol], user, password);
        assert_eq!(outputs.mechanism(&row), mechanism, "{user}");
    }
    let hashed = [
        ("pop3", "py-pop3-apop", "apop-secret", "apop"),
        ("imap", "py-imap-cram", "cram-secret", "cram-md5"),
        ("smtp", "py-smtp-cram", "smtp-secret", "cram-md5"),
    ];
    for (protocol, user, secret, mechanism) in hashed {
        let row = outputs.assert_once(protocol, expected_port[protocol], user, "");
        assert_eq!(outputs.mechanism(&row), mechanism, "{user}");
        verify_hash(&row.password_hash, secret, mechanism);
    }
}

#[test]
fn hydra_attempt_count_equals_row_count() {
    let sensor = Sensor::start("");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut expected = Vec::new();
    for service in ["pop3", "imap", "smtp"] {
        let user = format!("hy{service}");
        let passwords: Vec<String> = (0..9).map(|n| format!("{user}-pw{n}")).collect();
        let list = dir.path().join(format!("{service}.txt"));
        std::fs::write(&list, passwords.join("\n") + "\n").expect("password list");
        let port = sensor.port(service).to_string();
        let list = list.to_string_lossy().into_owned();
        let output = run(
            "hydra",
            &[
                "-l",
                &user,
                "-P",
                &list,
                "-s",
                &port,
                "-t",
                "3",
                "-V",
                "-I",
                "-w",
                "10",
                "127.0.0.1",
                service,
            ],
        );
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let attempts = stdout
            .lines()
            .filter(|line| line.starts_with("[ATTEMPT]"))
            .count();
        assert!(
            stdout.contains("0 valid password"),
            "hydra {service} should find nothing: {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(
            attempts,
            passwords.len(),
            "hydra {service} attempts: {stdout}"
        );
        expected.push((service, user, passwords, attempts, sensor.port(service)));
    }
    let outputs = sensor.stop();
    for (service, user, passwords, attempts, port) in expected {
        assert_eq!(
            outputs.rows_with_user_prefix(&user),
            attempts,
            "{service}: rows vs hydra attempts"
        );
        for password in &passwords {
            outputs.assert_once(service, port, &user, password);
        }
    }
}
