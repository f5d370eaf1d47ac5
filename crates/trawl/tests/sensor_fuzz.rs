//! The sensor under fuzzed traffic: every listener of one running sensor (all 21) gets
//! connections carrying mutated first flights of real clients (`trawl-mutate` over the
//! seeds below: login lines, binary handshakes, a real TLS ClientHello from Python's
//! `ssl`), many at once, on 127.0.0.1 only. The five implicit-TLS listeners also get a
//! real TLS session (rustls client) carrying the mutated dialog of their plain twin, so
//! the protocol code behind TLS is fuzzed too, not only the handshake. The sensor must never panic (its log is
//! checked after every round), keep every listener answering, record a real login made
//! after the storm once in every output, list each recorded attempt in all three stores
//! (same auth ids in CSV, JSON lines and SQLite: an accepted event is a written event),
//! and still stop cleanly on SIGTERM.

mod common;

use std::io::{Read as _, Write as _};
use std::net::{Shutdown, TcpStream};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use common::sensor::Sensor;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

const PROTOCOLS: [&str; 21] = [
    "ftp",
    "telnet",
    "ssh",
    "http",
    "https",
    "pop3",
    "pop3s",
    "imap",
    "imaps",
    "smtp",
    "smtps",
    "rdp",
    "postgresql",
    "mysql",
    "mssql",
    "mongodb",
    "vnc",
    "socks5",
    "redis",
    "ldap",
    "ldaps",
];

/// A TLS 1.3/1.2 ClientHello as Python's `ssl` sends it (SNI, ALPN-free, key shares).
fn client_hello() -> Vec<u8> {
    static HELLO: OnceLock<Vec<u8>> = OnceLock::new();
    HELLO
        .get_or_init(|| {
            let script = "import ssl,sys\n\
                ctx=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)\n\
                ctx.check_hostname=False\n\
                ctx.verify_mode=ssl.CERT_NONE\n\
                i,o=ssl.MemoryBIO(),ssl.MemoryBIO()\n\
                s=ctx.wrap_bio(i,o,server_hostname='mail.example.com')\n\
                try:\n s.do_handshake()\n\
                except ssl.SSLWantReadError:\n pass\n\
                sys.stdout.buffer.write(o.read())\n";
            let output = Command::new("python3")
                .args(["-c", script])
                .output()
                .expect("python3 is required (scripts/deps/sensor.apt)");
            assert!(output.status.success() && output.stdout.first() == Some(&0x16));
            output.stdout
        })
        .clone()
}

fn framed_u32_be(body: &[u8]) -> Vec<u8> {
    let mut out = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

/// First flights of real clients, per protocol (several where the protocol has
/// several ways in).
fn seeds(protocol: &str) -> Vec<Vec<u8>> {
    let text = |lines: &[&str]| lines.iter().map(|l| l.as_bytes().to_vec()).collect();
    match protocol {
        "ftp" => text(&["USER anonymous\r\nPASS a@b.c\r\nSYST\r\nFEAT\r\nAUTH TLS\r\nQUIT\r\n"]),
        "telnet" => vec![
            b"\xff\xfd\x01\xff\xfb\x1f\xff\xfa\x1f\x00\x50\x00\x18\xff\xf0root\r\nxc3511\r\n".to_vec(),
            b"admin\r\nadmin\r\nenable\r\nsystem\r\nshell\r\nsh\r\n/bin/busybox ECCHI\r\n".to_vec(),
        ],
        "ssh" => vec![
            b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n".to_vec(),
            [&b"SSH-2.0-libssh_0.9.6\r\n"[..], &[0, 0, 0, 12, 10, 20], &[0; 16]].concat(),
        ],
        "http" => text(&[
            "GET /admin HTTP/1.1\r\nHost: x\r\nAuthorization: Basic YWRtaW46YWRtaW4=\r\n\r\n",
            "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 26\r\n\r\nusername=root&password=pw",
            "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        ]),
        "pop3" => text(&[
            "CAPA\r\nUSER bob\r\nPASS pw\r\nAPOP bob c4c9334bac560ecc979e58001b3e22fb\r\n",
            "AUTH PLAIN\r\nAGJvYgBwdw==\r\nSTLS\r\n",
        ]),
        "imap" => text(&[
            "a1 CAPABILITY\r\na2 LOGIN bob pw\r\na3 AUTHENTICATE PLAIN\r\nAGJvYgBwdw==\r\n",
            "a1 AUTHENTICATE CRAM-MD5\r\nYm9iIDQ0ZWFmZDIyZmU3NjY3MGY2YjI4NzkwODFhN2Y1Zjcx\r\na2 STARTTLS\r\n",
        ]),
        "smtp" => text(&[
            "EHLO x\r\nAUTH PLAIN AGJvYgBwdw==\r\nAUTH LOGIN\r\nYm9i\r\ncHc=\r\n",
            "HELO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<c@d.e>\r\nDATA\r\nhi\r\n.\r\nSTARTTLS\r\n",
        ]),
        "https" | "pop3s" | "imaps" | "smtps" | "ldaps" => vec![client_hello()],
        "rdp" => vec![
            // X.224 Connection Request with a cookie, asking for TLS | CredSSP.
            [
                &[3, 0, 0, 0x2a, 0x25, 0xe0, 0, 0, 0, 0, 0][..],
                b"Cookie: mstshash=admin\r\n",
                &[1, 0, 8, 0, 3, 0, 0, 0],
            ]
            .concat(),
        ],
        "postgresql" => vec![
            [0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f].to_vec(),
            [
                framed_u32_be(b"\x00\x03\x00\x00user\x00postgres\x00database\x00db\x00\x00"),
                b"p\x00\x00\x00\x07pw\x00".to_vec(),
            ]
            .concat(),
        ],
        "mysql" => vec![
            [
                &[0x3e, 0, 0, 1, 0x85, 0xa6, 0x0f, 0, 0, 0, 0, 1, 33][..],
                &[0; 23],
                b"root\x00\x14",
                &[7; 20],
                b"mysql_native_password\x00",
            ]
            .concat(),
        ],
        "mssql" => vec![
            [
                &[0x12, 1, 0, 0x2f, 0, 0, 1, 0][..],
                &[0, 0, 0x1a, 0, 6, 1, 0, 0x20, 0, 1, 2, 0, 0x21, 0, 1, 3, 0, 0x22, 0, 4],
                &[4, 0, 0x26, 0, 1, 0xff, 0x0f, 0, 0x07, 0xd0, 0, 0, 0, 0, 0, 1, 0, 0, 0],
            ]
            .concat(),
        ],
        "mongodb" => {
            // OP_MSG {hello: 1, $db: "admin"}
            let doc = b"\x1f\x00\x00\x00\x10hello\x00\x01\x00\x00\x00\x02$db\x00\x06\x00\x00\x00admin\x00\x00";
            let mut body = vec![1, 0, 0, 0, 0, 0, 0, 0, 0xdd, 7, 0, 0, 0, 0, 0, 0, 0];
            body.extend_from_slice(doc);
            let mut msg = ((body.len() + 4) as u32).to_le_bytes().to_vec();
            msg.extend(body);
            vec![msg]
        }
        "vnc" => vec![[&b"RFB 003.008\n"[..], &[2], &[0x5a; 16]].concat()],
        "socks5" => vec![
            b"\x05\x01\x02\x01\x03bob\x02pw\x05\x01\x00\x03\x0bexample.com\x00\x50".to_vec(),
            b"\x04\x01\x00\x50\x7f\x00\x00\x01user\x00".to_vec(),
        ],
        "redis" => text(&[
            "*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n*3\r\n$4\r\nAUTH\r\n$3\r\nbob\r\n$2\r\npw\r\n",
            "*5\r\n$5\r\nHELLO\r\n$1\r\n3\r\n$4\r\nAUTH\r\n$3\r\nbob\r\n$2\r\npw\r\nPING\r\n",
        ]),
        "ldap" => vec![
            // BindRequest v3, cn=admin, simple password "pw"; then an unbind.
            b"\x30\x16\x02\x01\x01\x60\x11\x02\x01\x03\x04\x08cn=admin\x80\x02pw\x30\x05\x02\x01\x02\x42\x00"
                .to_vec(),
        ],
        other => panic!("no seeds for {other}"),
    }
}

/// Sends `data`, closes the sending half, and reads what comes back for a moment.
fn poke(port: u16, data: &[u8]) {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return;
    };
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let _ = stream.write_all(data);
    let _ = stream.shutdown(Shutdown::Write);
    let mut buf = [0u8; 16 * 1024];
    let deadline = Instant::now() + Duration::from_millis(600);
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
}

/// The plain protocol whose dialog runs inside an implicit-TLS listener.
fn plain_twin(protocol: &str) -> Option<&'static str> {
    match protocol {
        "https" => Some("http"),
        "pop3s" => Some("pop3"),
        "imaps" => Some("imap"),
        "smtps" => Some("smtp"),
        "ldaps" => Some("ldap"),
        _ => None,
    }
}

/// Accepts the sensor's self-signed certificate; signatures are still checked.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn tls_client() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .expect("TLS versions")
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
                .with_no_client_auth();
            Arc::new(config)
        })
        .clone()
}

/// Like [`poke`], inside a TLS session (the handshake itself is not fuzzed here).
fn poke_tls(port: u16, data: &[u8]) {
    let Ok(stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return;
    };
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let _ = stream.set_read_timeout(Some(Duration::from_millis(300)));
    let Ok(name) = rustls::pki_types::ServerName::try_from("mail.example.com") else {
        return;
    };
    let Ok(client) = rustls::ClientConnection::new(tls_client(), name) else {
        return;
    };
    let mut tls = rustls::StreamOwned::new(client, stream);
    let _ = tls.write_all(data);
    tls.conn.send_close_notify();
    let _ = tls.flush();
    let mut buf = [0u8; 16 * 1024];
    let deadline = Instant::now() + Duration::from_millis(600);
    while Instant::now() < deadline {
        match tls.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
}

fn assert_alive(sensor: &Sensor) {
    let log = sensor.log();
    assert!(
        !log.contains("panicked"),
        "the sensor panicked under fuzzed input:\n{log}"
    );
    for name in PROTOCOLS {
        assert!(
            TcpStream::connect(("127.0.0.1", sensor.port(name))).is_ok(),
            "{name} stopped accepting:\n{log}"
        );
    }
}

#[test]
fn mutated_client_traffic_on_every_listener_never_breaks_the_sensor() {
    let sensor = Sensor::start(&PROTOCOLS, "idle_timeout_secs = 2", "");
    let ports: Vec<u16> = PROTOCOLS.iter().map(|name| sensor.port(name)).collect();
    // One input per listener, then one per implicit-TLS listener for inside its session.
    let dialogs = PROTOCOLS.iter().map(|name| seeds(name)).chain(
        PROTOCOLS
            .iter()
            .filter_map(|name| plain_twin(name).map(seeds)),
    );
    let strategies: Vec<_> = dialogs
        .map(|seeds| trawl_mutate::mutated(seeds, 5))
        .collect();
    let tls_ports: Vec<u16> = PROTOCOLS
        .iter()
        .filter(|name| plain_twin(name).is_some())
        .map(|name| sensor.port(name))
        .collect();
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(64);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&strategies, |inputs| {
        let (raw, inside_tls) = inputs.split_at(ports.len());
        std::thread::scope(|scope| {
            for (port, data) in ports.iter().zip(raw) {
                scope.spawn(move || poke(*port, data));
            }
            for (port, data) in tls_ports.iter().zip(inside_tls) {
                scope.spawn(move || poke_tls(*port, data));
            }
        });
        prop_assert!(!sensor.log().contains("panicked"), "{}", sensor.log());
        Ok(())
    });
    if let Err(failure) = result {
        panic!("{failure}\n{}", sensor.log());
    }
    assert_alive(&sensor);

    // A real login after the storm is recorded once in every output.
    let port = sensor.port("ftp");
    let output = Command::new("curl")
        .args(["-s", "--max-time", "10", "-u", "after:storm"])
        .arg(format!("ftp://127.0.0.1:{port}/"))
        .output()
        .expect("curl is required (scripts/deps/sensor.apt)");
    assert!(!output.status.success(), "the login is refused");
    let outputs = sensor.stop();
    outputs.assert_once("ftp", port, "after", "storm");
    let ids = |rows: &[common::sensor::Row]| {
        let mut ids: Vec<String> = rows.iter().map(|r| r.auth_id.clone()).collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&outputs.csv), ids(&outputs.db), "CSV and SQLite differ");
    assert_eq!(
        ids(&outputs.jsonl),
        ids(&outputs.db),
        "JSON lines and SQLite differ"
    );
    for name in PROTOCOLS.iter().filter(|name| plain_twin(name).is_some()) {
        assert!(
            outputs.db.iter().any(|row| row.protocol == *name),
            "no {name} login was recorded: the TLS sessions did not get through"
        );
    }
    assert!(
        outputs.db.len() > 50,
        "the fuzzed logins were recorded too ({} rows)",
        outputs.db.len()
    );
}
