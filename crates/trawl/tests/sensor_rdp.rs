//! End-to-end tests of the sensor's RDP against real clients on 127.0.0.1: FreeRDP's
//! `xfreerdp` (under Xvfb, which it needs even when it opens no window) with NLA
//! (`/auth-only`) and with TLS-only security (`/sec:tls`, a full connection up to the
//! Client Info PDU), rdesktop 1.9 (falls back from CredSSP to TLS), THC-Hydra's rdp module
//! (built on FreeRDP) and nmap's service detection. An NLA exchange must land once in
//! every output as a NetNTLMv2 line that an independent implementation (Python,
//! pycryptodome's MD4) verifies with the right password and rejects with a wrong one; a
//! TLS-only logon must land once with its clear password. Missing clients fail loudly
//! (scripts/test installs them: scripts/deps/sensor-rdp.apt).

mod common;

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

use common::sensor::{PY_NETNTLMV2, Sensor, run};

/// Held around every `xvfb-run -a`: two started at once can pick the same free display
/// number, and one of them then runs its client without an X server (the tests of this
/// file run in parallel).
static XVFB: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// `xfreerdp` under `xvfb-run -a` (its own display server, torn down after), bounded by
/// `timeout` so a hang fails the test instead of blocking it.
fn xfreerdp(port: u16, args: &[&str]) -> String {
    let _display = XVFB.lock().unwrap_or_else(|e| e.into_inner());
    let target = format!("/v:127.0.0.1:{port}");
    let mut all = vec!["20", "xvfb-run", "-a", "xfreerdp", &target, "/cert:ignore"];
    all.extend_from_slice(args);
    let output = run("timeout", &all);
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// rdesktop 1.9 under Xvfb; it asks on stdin whether to trust the sensor's self-signed
/// certificate (answered "yes") and keeps its answer under `$HOME`.
fn rdesktop(port: u16, args: &[&str]) -> String {
    let _display = XVFB.lock().unwrap_or_else(|e| e.into_inner());
    let home = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(home.path().join(".local/share/rdesktop/certs")).expect("cert dir");
    let target = format!("127.0.0.1:{port}");
    let mut child = Command::new("timeout")
        .args(["20", "xvfb-run", "-a", "rdesktop"])
        .args(args)
        .arg(&target)
        .env("HOME", home.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rdesktop and xvfb-run are required (scripts/deps/sensor-rdp.apt)");
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(b"yes\n");
    }
    let output = child.wait_with_output().expect("rdesktop output");
    assert!(
        !String::from_utf8_lossy(&output.stderr).contains("command not found")
            && output.status.code() != Some(127),
        "rdesktop is required (scripts/deps/sensor-rdp.apt)"
    );
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The `auxiliary_data` of every session object in `events.jsonl`.
fn session_aux(data: &std::path::Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(data.join("events.jsonl")).expect("events.jsonl");
    text.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|event| event["type"] == "session")
        .map(|event| event["auxiliary_data"].clone())
        .collect()
}

fn python(script: &str, args: &[&str]) -> String {
    let output: Output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("python3 is required (scripts/deps/sensor.apt)");
    assert!(
        output.status.success(),
        "python3: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[test]
fn xfreerdp_nla_login_is_kept_as_a_verifiable_netntlmv2_hash() {
    let sensor = Sensor::start(&["rdp"], "hostname = \"ts01.corp.local\"", "");
    let port = sensor.port("rdp");
    let said = xfreerdp(port, &["/auth-only", "/u:alice", "/p:Secret123", "/d:CORP"]);
    assert!(
        said.contains("ERRCONNECT_LOGON_FAILURE"),
        "xfreerdp must see a failed logon, not a broken server:\n{said}"
    );
    let outputs = sensor.stop();
    let row = outputs.assert_once("rdp", port, "alice", "");
    assert_eq!(outputs.mechanism(&row), "ntlm");
    assert!(
        row.password_hash.starts_with("alice::CORP:"),
        "{}",
        row.password_hash
    );
    assert_eq!(
        python(PY_NETNTLMV2, &[&row.password_hash, "Secret123"]),
        "ok"
    );
    assert_eq!(
        python(PY_NETNTLMV2, &[&row.password_hash, "Secret12"]),
        "mismatch"
    );
}

#[test]
fn tls_only_clients_give_their_clear_password_from_the_client_info_pdu() {
    let sensor = Sensor::start(&["rdp"], "hostname = \"ts01.corp.local\"", "");
    let port = sensor.port("rdp");
    let said = xfreerdp(port, &["/sec:tls", "/u:bob", "/p:Pw1", "/d:CORP"]);
    assert!(
        said.contains("LOGON_FAILED_BAD_PASSWORD"),
        "xfreerdp must be told the password was wrong:\n{said}"
    );
    assert!(!said.contains("Segmentation"), "{said}");
    let rdesktop_said = rdesktop(port, &["-u", "rduser", "-p", "RdPw-2", "-d", "LAB"]);
    assert!(
        rdesktop_said.contains("Connection established using SSL"),
        "rdesktop falls back from CredSSP to TLS:\n{rdesktop_said}"
    );
    let refused = xfreerdp(port, &["/sec:rdp", "/u:stdsec", "/p:x"]);
    assert!(
        refused.contains("SSL_REQUIRED_BY_SERVER"),
        "a standard-RDP-security client is told TLS is required:\n{refused}"
    );
    let (outputs, dir) = sensor.stop_keep();
    let row = outputs.assert_once("rdp", port, "bob", "Pw1");
    assert_eq!(outputs.mechanism(&row), "rdp-client-info");
    assert_eq!(row.password_hash, "");
    let row = outputs.assert_once("rdp", port, "rduser", "RdPw-2");
    assert_eq!(outputs.mechanism(&row), "rdp-client-info");
    assert_eq!(outputs.rows_with_user_prefix("stdsec"), 0);
    assert_eq!(outputs.db.len(), 2, "{:?}", outputs.db);
    let aux = session_aux(&dir.path().join("data"));
    let logons: Vec<_> = aux
        .iter()
        .map(|a| &a["rdp_logon"])
        .filter(|l| !l.is_null())
        .collect();
    assert_eq!(logons.len(), 2, "{aux:?}");
    assert_eq!(logons[0]["domain"], "CORP");
    assert_eq!(logons[1]["domain"], "LAB");
    let clients: Vec<_> = aux
        .iter()
        .map(|a| &a["rdp_client"])
        .filter(|c| !c.is_null())
        .collect();
    assert_eq!(
        clients[0]["core"]["keyboard_layout"], "0x00000409",
        "{aux:?}"
    );
    assert!(
        clients[0]["channels"]
            .as_array()
            .is_some_and(|c| !c.is_empty()),
        "{aux:?}"
    );
}

#[test]
fn security_option_picks_tls_or_requires_nla() {
    let tls = Sensor::start(&["rdp"], "[protocols.rdp.options]\nsecurity = \"tls\"", "");
    let port = tls.port("rdp");
    let said = xfreerdp(port, &["/u:carol", "/p:Winter2024!"]);
    assert!(said.contains("LOGON_FAILED_BAD_PASSWORD"), "{said}");
    let outputs = tls.stop();
    let row = outputs.assert_once("rdp", port, "carol", "Winter2024!");
    assert_eq!(outputs.mechanism(&row), "rdp-client-info");

    let nla = Sensor::start(&["rdp"], "[protocols.rdp.options]\nsecurity = \"nla\"", "");
    let port = nla.port("rdp");
    let refused = xfreerdp(port, &["/sec:tls", "/u:dave", "/p:x"]);
    assert!(
        refused.contains("HYBRID_REQUIRED_BY_SERVER"),
        "security = nla refuses TLS-only clients:\n{refused}"
    );
    let outputs = nla.stop();
    assert_eq!(outputs.rows_with_user_prefix("dave"), 0);
}

#[test]
fn hydra_rdp_attempts_equal_rows() {
    let sensor = Sensor::start(&["rdp"], "", "");
    let port = sensor.port("rdp");
    let dir = tempfile::tempdir().expect("tempdir");
    let users = dir.path().join("users.txt");
    let passwords = dir.path().join("passwords.txt");
    std::fs::write(&users, "hyrdp1\nhyrdp2\n").expect("users");
    std::fs::write(&passwords, "pw1\npw2\npw3\n").expect("passwords");
    let output = run(
        "hydra",
        &[
            "-L",
            users.to_str().unwrap_or_default(),
            "-P",
            passwords.to_str().unwrap_or_default(),
            "-t",
            "1",
            "-s",
            &port.to_string(),
            "rdp://127.0.0.1",
        ],
    );
    let said = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(said.contains("6 login tries"), "{said}");
    assert!(said.contains("0 valid password"), "{said}");
    let outputs = sensor.stop();
    assert_eq!(outputs.rows_with_user_prefix("hyrdp"), 6);
    for user in ["hyrdp1", "hyrdp2"] {
        let rows: Vec<_> = outputs.db.iter().filter(|r| r.username == user).collect();
        assert_eq!(rows.len(), 3, "{user}");
        assert!(rows.iter().all(|r| r.password_hash.starts_with(user)));
    }
}

#[test]
fn nmap_service_detection_names_microsoft_terminal_services() {
    let sensor = Sensor::start(&["rdp"], "", "");
    let port = sensor.port("rdp");
    let output = run(
        "nmap",
        &["-sV", "-Pn", "-p", &port.to_string(), "127.0.0.1"],
    );
    let said = String::from_utf8_lossy(&output.stdout).into_owned();
    let line = said
        .lines()
        .find(|line| line.starts_with(&format!("{port}/tcp")))
        .unwrap_or_default();
    assert!(
        line.contains("ms-wbt-server") && line.contains("Microsoft Terminal Services"),
        "nmap -sV said:\n{said}"
    );
    drop(sensor.stop());
}
