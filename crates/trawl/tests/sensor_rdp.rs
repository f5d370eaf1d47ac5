//! End-to-end tests of the sensor's RDP (NLA/CredSSP) against real clients on 127.0.0.1:
//! FreeRDP's `xfreerdp /auth-only` (under Xvfb, which it needs even when it opens no
//! window) and THC-Hydra's rdp module (built on FreeRDP). The NTLM exchange must land
//! once in every output as a NetNTLMv2 line that an independent implementation (Python,
//! pycryptodome's MD4) verifies with the right password and rejects with a wrong one.
//! Missing clients fail loudly (scripts/test installs them: scripts/deps/sensor-rdp.apt).

mod common;

use std::process::{Command, Output, Stdio};

use common::sensor::{PY_NETNTLMV2, Sensor, run};

/// `xfreerdp /auth-only` under `xvfb-run -a` (its own display server, torn down after).
fn xfreerdp(port: u16, args: &[&str]) -> String {
    let target = format!("/v:127.0.0.1:{port}");
    let mut all = vec!["-a", "xfreerdp", &target, "/cert:ignore", "/auth-only"];
    all.extend_from_slice(args);
    let output = run("xvfb-run", &all);
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
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
    let said = xfreerdp(port, &["/u:alice", "/p:Secret123", "/d:CORP"]);
    assert!(
        said.contains("ERRCONNECT_LOGON_FAILURE"),
        "xfreerdp must see a failed logon, not a broken server:\n{said}"
    );
    let refused = xfreerdp(port, &["/u:tlsonly", "/p:x", "/sec:tls"]);
    assert!(
        refused.contains("HYBRID_REQUIRED_BY_SERVER"),
        "a TLS-only client is told NLA is required:\n{refused}"
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
    assert_eq!(outputs.rows_with_user_prefix("tlsonly"), 0);
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
