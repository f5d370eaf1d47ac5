//! End-to-end tests of the SSH sensor with real clients on 127.0.0.1: OpenSSH `ssh`
//! (sshpass, SSH_ASKPASS, `-i` keys), hydra, ssh-keyscan, ssh-keygen, nmap and python3.
//! Every tool is required: a missing one fails the test.

mod common;

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::hydra_tries;
use common::sensor::{Outputs, Sensor, run};
use serde_json::Value;

/// Options every OpenSSH run here uses: no known_hosts, no agent, no config file.
const SSH_COMMON: &[&str] = &[
    "-F",
    "/dev/null",
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "LogLevel=ERROR",
    "-o",
    "ConnectTimeout=20",
];

fn ssh_args<'a>(port: &'a str, user_at: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args: Vec<&str> = SSH_COMMON.to_vec();
    args.extend_from_slice(extra);
    args.extend_from_slice(&["-p", port, user_at, "true"]);
    args
}

/// Runs a client with an environment, panicking with a clear message when missing.
fn run_env(program: &str, args: &[&OsStr], env: &[(&str, &OsStr)]) -> Output {
    let mut command = Command::new(program);
    command.args(args).stdin(Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    command.env_remove("SSH_AUTH_SOCK");
    command.output().unwrap_or_else(|error| {
        panic!("{program} is required for this test (scripts/test installs it): {error}")
    })
}

fn os<'a>(args: &[&'a str]) -> Vec<&'a OsStr> {
    args.iter().map(|arg| OsStr::new(*arg)).collect()
}

/// `sshpass -p PASSWORD ssh ...` restricted to one authentication method.
fn sshpass(port: u16, user: &str, password: &[u8], method: &str) -> Output {
    let port = port.to_string();
    let user_at = format!("{user}@127.0.0.1");
    let method = format!("PreferredAuthentications={method}");
    let ssh = ssh_args(
        &port,
        &user_at,
        &["-o", &method, "-o", "PubkeyAuthentication=no"],
    );
    let mut args: Vec<&OsStr> = vec![
        OsStr::new("-p"),
        OsStr::from_bytes(password),
        OsStr::new("ssh"),
    ];
    args.extend(os(&ssh));
    run_env("sshpass", &args, &[])
}

/// Every session event of the run, keyed by session id.
fn sessions(data: &Path) -> HashMap<String, Value> {
    let text = std::fs::read_to_string(data.join("events.jsonl")).expect("read events.jsonl");
    text.lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("jsonl line"))
        .filter(|event| event["type"] == "session")
        .map(|event| {
            (
                event["session_id"].as_str().unwrap_or_default().to_owned(),
                event,
            )
        })
        .collect()
}

fn assert_mechanism(outputs: &Outputs, row: &common::sensor::Row, expected: &str) {
    assert_eq!(outputs.mechanism(row), expected, "mechanism of {row:?}");
}

#[test]
fn password_keyboard_interactive_and_non_utf8_attempts_are_captured_once() {
    let sensor = Sensor::start(&["ssh"], "", "");
    let port = sensor.port("ssh");
    let out = sshpass(port, "pwuser", b"pw-secret-1", "password");
    assert_eq!(
        out.status.code(),
        Some(5),
        "sshpass reports a wrong password: {out:?}"
    );
    let out = sshpass(port, "kbuser", b"kb-secret-1", "keyboard-interactive");
    assert_eq!(out.status.code(), Some(5), "sshpass kbd-int: {out:?}");
    // Keyboard-interactive answers are raw bytes: a non-UTF-8 answer is kept exactly.
    let out = sshpass(port, "kbraw", b"kb\xffraw", "keyboard-interactive");
    assert_eq!(out.status.code(), Some(5), "sshpass kbd-int raw: {out:?}");
    // The password method decodes as UTF-8 inside russh: the session ends, nothing is
    // recorded, and the sensor keeps serving (checked by the login after it).
    let out = sshpass(port, "pwraw", b"pw\xffraw", "password");
    assert_ne!(out.status.code(), Some(0), "{out:?}");
    let out = sshpass(port, "pwafter", b"still-serving", "password");
    assert_eq!(out.status.code(), Some(5), "{out:?}");
    let data = sensor.data();
    let (outputs, _dir) = sensor.stop_keep();

    let row = outputs.assert_once("ssh", port, "pwuser", "pw-secret-1");
    assert_mechanism(&outputs, &row, "user-pass");
    let row = outputs.assert_once("ssh", port, "kbuser", "kb-secret-1");
    assert_mechanism(&outputs, &row, "keyboard-interactive");
    let row = outputs.assert_once("ssh", port, "kbraw", "kb\\xffraw");
    assert_mechanism(&outputs, &row, "keyboard-interactive");
    outputs.assert_once("ssh", port, "pwafter", "still-serving");
    assert_eq!(outputs.rows_with_user_prefix("pwraw"), 0);
    let jsonl = std::fs::read_to_string(data.join("events.jsonl")).expect("jsonl");
    let raw = jsonl
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("jsonl"))
        .find(|event| event["username"] == "kbraw")
        .expect("kbraw attempt in jsonl");
    // base64 of b"kb\xffraw"
    assert_eq!(raw["password_b64"], "a2L/cmF3", "{raw}");
    let errors: Vec<String> = sessions(&data)
        .values()
        .filter_map(|s| s["auxiliary_data"]["ssh_error"].as_str().map(str::to_owned))
        .collect();
    assert!(
        errors.iter().any(|e| e.contains("encoding")),
        "the non-UTF-8 password session is logged with its error: {errors:?}"
    );
}

/// An SSH_ASKPASS program handing out `prefix1`, `prefix2`, ... on successive calls.
fn askpass_script(dir: &Path, prefix: &str) -> std::path::PathBuf {
    let script = dir.join(format!("askpass-{prefix}.sh"));
    let counter = dir.join(format!("askpass-{prefix}.count"));
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nn=$(cat '{c}' 2>/dev/null || echo 0)\nn=$((n+1))\necho $n > '{c}'\necho {prefix}$n\n",
            c = counter.display()
        ),
    )
    .expect("write askpass");
    run("chmod", &["+x", &script.to_string_lossy()]);
    script
}

fn ssh_with_askpass(port: u16, user: &str, script: &Path, prompts: u32) -> Output {
    let port = port.to_string();
    let user_at = format!("{user}@127.0.0.1");
    let prompts = format!("NumberOfPasswordPrompts={prompts}");
    let args = ssh_args(
        &port,
        &user_at,
        &[
            "-o",
            "PreferredAuthentications=password",
            "-o",
            "PubkeyAuthentication=no",
            "-o",
            &prompts,
        ],
    );
    run_env(
        "setsid",
        &[&[OsStr::new("-w"), OsStr::new("ssh")][..], &os(&args)].concat(),
        &[
            ("SSH_ASKPASS", script.as_os_str()),
            ("SSH_ASKPASS_REQUIRE", OsStr::new("force")),
            ("DISPLAY", OsStr::new(":0")),
        ],
    )
}

#[test]
fn several_passwords_on_one_connection_and_max_attempts() {
    let sensor = Sensor::start(&["ssh"], "", "max_attempts = 4");
    let port = sensor.port("ssh");
    let dir = tempfile::tempdir().expect("tempdir");
    let three = askpass_script(dir.path(), "three-");
    let out = ssh_with_askpass(port, "multi", &three, 3);
    assert_eq!(out.status.code(), Some(255), "{out:?}");
    let six = askpass_script(dir.path(), "six-");
    let out = ssh_with_askpass(port, "capped", &six, 6);
    assert_eq!(out.status.code(), Some(255), "{out:?}");
    let data = sensor.data();
    let (outputs, _dir) = sensor.stop_keep();

    let rows: Vec<_> = (1..=3)
        .map(|n| outputs.assert_once("ssh", port, "multi", &format!("three-{n}")))
        .collect();
    assert!(
        rows.iter().all(|row| row.session_id == rows[0].session_id),
        "three guesses on one connection: {rows:?}"
    );
    assert_eq!(outputs.rows_with_user_prefix("multi"), 3);
    for n in 1..=4 {
        outputs.assert_once("ssh", port, "capped", &format!("six-{n}"));
    }
    assert_eq!(
        outputs.rows_with_user_prefix("capped"),
        4,
        "max_attempts = 4"
    );
    let capped = outputs.assert_once("ssh", port, "capped", "six-1");
    let session = &sessions(&data)[&capped.session_id];
    assert_eq!(session["end_reason"], "max_attempts", "{session}");
}

/// `SHA256:...` of a public key file, as `ssh-keygen -lf` prints it.
fn keygen_fingerprint(public_key: &Path) -> String {
    let out = run("ssh-keygen", &["-lf", &public_key.to_string_lossy()]);
    assert!(out.status.success(), "ssh-keygen -lf: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .expect("fingerprint field")
        .to_owned()
}

#[test]
fn publickey_offers_are_recorded_with_the_ssh_keygen_fingerprint() {
    let sensor = Sensor::start(&["ssh"], "", "");
    let port = sensor.port("ssh").to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut expected = Vec::new();
    for (kind, user, algorithm) in [
        ("ed25519", "keyed", "ssh-ed25519"),
        ("rsa", "rsakeyed", "rsa-sha2-512"),
    ] {
        let key = dir.path().join(format!("id_{kind}"));
        let key_path = key.to_string_lossy().into_owned();
        let out = run(
            "ssh-keygen",
            &[
                "-q",
                "-t",
                kind,
                "-N",
                "",
                "-C",
                "trawl-test",
                "-f",
                &key_path,
            ],
        );
        assert!(out.status.success(), "ssh-keygen: {out:?}");
        let user_at = format!("{user}@127.0.0.1");
        let args = ssh_args(
            &port,
            &user_at,
            &[
                "-i",
                &key_path,
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "BatchMode=yes",
                "-o",
                "PreferredAuthentications=publickey",
            ],
        );
        let out = run_env("ssh", &os(&args), &[]);
        assert_eq!(out.status.code(), Some(255), "{out:?}");
        let print = keygen_fingerprint(&key.with_extension("pub"));
        expected.push((user, format!("{algorithm} {print}"), print));
    }
    let data = sensor.data();
    let (outputs, _dir) = sensor.stop_keep();
    report_lists_the_offered_keys(&data, &expected);
    for (user, hash, print) in expected {
        let row = outputs.assert_once("ssh", port.parse().expect("port"), user, "");
        assert_eq!(row.password_hash, hash, "fingerprint of {user}");
        assert_mechanism(&outputs, &row, "publickey");
        let session = &sessions(&data)[&row.session_id];
        let keys = session["auxiliary_data"]["publickeys"]
            .as_array()
            .expect("publickeys in auxiliary_data");
        assert!(
            keys.iter().any(|k| k["fingerprint"] == print.as_str()
                && k["key"].as_str().unwrap_or_default().starts_with("ssh-")),
            "{keys:?}"
        );
    }
}

/// `trawl report` of each of the sensor's outputs lists every offered key under the
/// name `ssh-keygen -l` gives it (an RSA key offered for `rsa-sha2-512` signatures is
/// an `ssh-rsa` key), counts the offers as public-key attempts and not as passwords.
fn report_lists_the_offered_keys(data: &Path, expected: &[(&str, String, String)]) {
    for output in ["trawl.db", "log_auth.csv", "events.jsonl"] {
        let path = data.join(output);
        let out = run(
            env!("CARGO_BIN_EXE_trawl"),
            &["report", &path.to_string_lossy(), "--format", "json"],
        );
        assert!(out.status.success(), "trawl report {output}: {out:?}");
        let report: Value = serde_json::from_slice(&out.stdout).expect("report JSON");
        assert_eq!(
            report["totals"]["key_offers"].as_u64(),
            Some(expected.len() as u64),
            "{output}: {}",
            report["totals"]
        );
        assert_eq!(
            report["totals"]["credential_attempts"].as_u64(),
            Some(0),
            "{output}"
        );
        // Offering keys is a login attempt: the client is a brute forcer, not a
        // source without attempts.
        let families = &report["iot"]["families"];
        assert_eq!(
            families,
            &serde_json::json!([{"family": "brute force", "sources": 1, "events": expected.len()}]),
            "{output}"
        );
        for (user, hash, print) in expected {
            let name = if hash.starts_with("ssh-ed25519") {
                format!("ssh-ed25519 {print}")
            } else {
                format!("ssh-rsa {print}")
            };
            let rows = report["ssh_keys"].as_array().expect("ssh_keys");
            let row = rows
                .iter()
                .find(|k| k["key"] == name.as_str())
                .unwrap_or_else(|| panic!("{output}: {name} not in {rows:?}"));
            assert_eq!(row["offered"], 1, "{output}: {row}");
            assert_eq!(row["sources"], 1, "{output}: {row}");
            assert_eq!(row["usernames"][0]["value"], *user, "{output}: {row}");
        }
    }
}

/// The HASSH the OpenSSH client reports for itself (`ssh -vv` prints its own KEXINIT
/// proposal), hashed with Python's hashlib: independent of the sensor's parser.
fn hassh_from_ssh_debug(stderr: &str) -> (String, String) {
    let section = stderr
        .split("local client KEXINIT proposal")
        .nth(1)
        .expect("ssh -vv prints its KEXINIT proposal");
    let field = |name: &str| -> String {
        section
            .lines()
            .find_map(|line| {
                line.split_once(&format!("debug2: {name}: "))
                    .map(|(_, v)| v)
            })
            .unwrap_or_else(|| panic!("no {name} in ssh -vv output"))
            .trim()
            .to_owned()
    };
    let algorithms = format!(
        "{};{};{};{}",
        field("KEX algorithms"),
        field("ciphers ctos"),
        field("MACs ctos"),
        field("compression ctos")
    );
    let out = run(
        "python3",
        &[
            "-c",
            "import hashlib,sys; print(hashlib.md5(sys.argv[1].encode()).hexdigest())",
            &algorithms,
        ],
    );
    assert!(out.status.success(), "python3: {out:?}");
    (
        algorithms,
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
    )
}

#[test]
fn client_version_and_hassh_match_independent_computations() {
    let sensor = Sensor::start(&["ssh"], "", "");
    let port = sensor.port("ssh");
    let port_text = port.to_string();
    let args = ssh_args(
        &port_text,
        "hassher@127.0.0.1",
        &[
            "-vv",
            "-o",
            "PreferredAuthentications=password",
            "-o",
            "BatchMode=yes",
        ],
    );
    let out = run_env("ssh", &os(&args), &[]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let client_version = stderr
        .lines()
        .find_map(|line| {
            line.split_once("Local version string ")
                .map(|(_, v)| v.trim().to_owned())
        })
        .expect("ssh -vv prints its version string");
    let (algorithms, hassh) = hassh_from_ssh_debug(&stderr);
    let data = sensor.data();
    let _kept = sensor.stop_keep();

    let all = sessions(&data);
    let session = all
        .values()
        .find(|s| s["auxiliary_data"]["hassh"].is_string())
        .unwrap_or_else(|| panic!("a session with a hassh: {all:?}"));
    let aux = &session["auxiliary_data"];
    assert_eq!(aux["client_version"], client_version.as_str(), "{aux}");
    assert!(client_version.starts_with("SSH-2.0-OpenSSH_"));
    assert_eq!(aux["hassh_algorithms"], algorithms.as_str(), "{aux}");
    assert_eq!(aux["hassh"], hassh.as_str(), "{aux}");
}

#[test]
fn hydra_attempt_count_equals_row_count() {
    // With OpenSSH's MaxAuthTries (6, the sensor's default) a hydra task that happens to
    // get six of the twelve passwords is cut off at its sixth and tries that password again
    // on a new connection (as against OpenSSH): 13 real attempts for hydra's "12 login
    // tries". The cut-off has its own test; here no connection reaches it.
    let sensor = Sensor::start(&["ssh"], "", "max_attempts = 100");
    let port = sensor.port("ssh").to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let passwords: Vec<String> = (0..12).map(|i| format!("hydra-pw-{i}")).collect();
    let list = dir.path().join("passwords.txt");
    std::fs::write(&list, passwords.join("\n") + "\n").expect("write list");
    let out = run(
        "hydra",
        &[
            "-I",
            "-l",
            "hydrassh",
            "-P",
            &list.to_string_lossy(),
            "-s",
            &port,
            "-t",
            "4",
            "127.0.0.1",
            "ssh",
        ],
    );
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("0 valid password"), "hydra:\n{text}");
    let tries = hydra_tries(&text);
    let (outputs, _dir) = sensor.stop_keep();
    assert_eq!(tries, passwords.len(), "hydra:\n{text}");
    assert_eq!(outputs.rows_with_user_prefix("hydrassh"), tries);
    for password in &passwords {
        let row = outputs.assert_once("ssh", port.parse().expect("port"), "hydrassh", password);
        assert_mechanism(&outputs, &row, "user-pass");
    }
}

/// A sensor process on a given data dir (to restart on the same host keys).
fn start_on(data: &Path, config: &Path, port: u16) -> (Child, Arc<Mutex<String>>) {
    let (mut child, log) = common::sensor::spawn(config, data, &["ssh"], &[]);
    let needle = format!("ssh listening on 127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !log
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains(&needle)
    {
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "sensor exited ({status}): {}",
                log.lock().unwrap_or_else(|e| e.into_inner())
            );
        }
        assert!(Instant::now() < deadline, "sensor never listened");
        std::thread::sleep(Duration::from_millis(50));
    }
    (child, log)
}

fn stop(mut child: Child) {
    run("kill", &["-TERM", &child.id().to_string()]);
    let status = child.wait().expect("wait sensor");
    assert!(status.success(), "sensor exit {status}");
}

/// Fingerprints of the host keys a server presents, via ssh-keyscan | ssh-keygen -lf -.
fn scanned_fingerprints(port: u16) -> Vec<String> {
    let port = port.to_string();
    let out = run(
        "ssh-keyscan",
        &["-p", &port, "-t", "ed25519,rsa", "127.0.0.1"],
    );
    assert!(out.status.success(), "ssh-keyscan: {out:?}");
    let mut keygen = Command::new("ssh-keygen")
        .args(["-lf", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("ssh-keygen is required");
    use std::io::Write;
    keygen
        .stdin
        .take()
        .expect("stdin")
        .write_all(&out.stdout)
        .expect("feed ssh-keygen");
    let printed = keygen.wait_with_output().expect("ssh-keygen -lf -");
    let mut prints: Vec<String> = String::from_utf8_lossy(&printed.stdout)
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            format!("{} {} {}", fields[0], fields[1], fields[fields.len() - 1])
        })
        .collect();
    prints.sort();
    prints
}

#[test]
fn host_keys_persist_across_restarts_and_nmap_sees_openssh() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = common::free_port();
    let config = dir.path().join("sensor.toml");
    std::fs::write(&config, format!("[protocols.ssh]\nport = {port}\n")).expect("config");
    let data = dir.path().join("data");
    let (child, _log) = start_on(&data, &config, port);
    let first = scanned_fingerprints(port);
    let nmap = run(
        "nmap",
        &["-sV", "-Pn", "-p", &port.to_string(), "127.0.0.1"],
    );
    stop(child);
    assert_eq!(first.len(), 2, "ed25519 and RSA: {first:?}");
    assert!(
        first
            .iter()
            .any(|p| p.starts_with("256 ") && p.ends_with("(ED25519)")),
        "{first:?}"
    );
    assert!(
        first
            .iter()
            .any(|p| p.starts_with("3072 ") && p.ends_with("(RSA)")),
        "{first:?}"
    );
    for file in ["ssh_host_ed25519_key", "ssh_host_rsa_key"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("ssh").join(file))
            .expect("host key file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file}");
    }
    let (child, _log) = start_on(&data, &config, port);
    let second = scanned_fingerprints(port);
    stop(child);
    assert_eq!(first, second, "same host keys after a restart");

    let text = String::from_utf8_lossy(&nmap.stdout);
    assert!(nmap.status.success(), "nmap: {nmap:?}");
    assert!(
        text.contains("OpenSSH 9.2p1 Debian 2+deb12u3"),
        "nmap -sV identifies OpenSSH:\n{text}"
    );
}
