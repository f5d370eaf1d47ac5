//! End-to-end tests of the mail protocols of `trawl sensor` (pop3, pop3s, imap, imaps,
//! smtp, smtps) against the built binary with real clients: curl, python3's poplib /
//! imaplib / smtplib, and THC-Hydra, on 127.0.0.1 with free ports and a temporary data dir.
//! Every credential must appear exactly once in log_auth.csv, events.jsonl and trawl.db
//! with the right protocol and ports. A missing client fails loudly (scripts/test installs
//! them from scripts/deps/sensor-mail.apt).

mod common;
use std::collections::HashMap;

use common::sensor::{Sensor, run};
const MAIL: [&str; 6] = ["pop3", "pop3s", "imap", "imaps", "smtp", "smtps"];
const MAIL_TOP: &str = "hostname = \"mail.trawl.test\"";

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
    let sensor = Sensor::start(&MAIL, MAIL_TOP, "");
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
    let sensor = Sensor::start(&MAIL, MAIL_TOP, "");
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
    let sensor = Sensor::start(&MAIL, MAIL_TOP, "");
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
