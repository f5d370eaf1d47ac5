//! The client against fake whois servers on 127.0.0.1: an IANA-like server
//! that refers to a registry, which refers to a registrar, each on its own
//! loopback port. The fakes are the only mock here (no real whois server
//! may be reached from tests); they speak RFC 3912 over real TCP.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use trawl_whois::cache::Cache;
use trawl_whois::{Client, ClientConfig, WhoisError};

/// What a fake server does with a query.
#[derive(Clone)]
enum Reply {
    Text(String),
    Bytes(Vec<u8>),
    Silent(Duration),
}

struct Fake {
    addr: String,
    connections: Arc<AtomicUsize>,
    queries: Arc<Mutex<Vec<String>>>,
}

fn fake(answer: impl Fn(&str) -> Reply + Send + 'static) -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().expect("addr").to_string();
    let connections = Arc::new(AtomicUsize::new(0));
    let queries = Arc::new(Mutex::new(Vec::new()));
    let (c, q) = (connections.clone(), queries.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            c.fetch_add(1, Ordering::SeqCst);
            let mut line = String::new();
            let _ = BufReader::new(&stream).read_line(&mut line);
            let query = line.trim_end().to_owned();
            q.lock().expect("lock").push(query.clone());
            match answer(&query) {
                Reply::Text(t) => drop(stream.write_all(t.as_bytes())),
                Reply::Bytes(b) => drop(stream.write_all(&b)),
                Reply::Silent(d) => std::thread::sleep(d),
            }
        }
    });
    Fake {
        addr,
        connections,
        queries,
    }
}

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

const REGISTRAR_ANSWER: &str = "Domain Name: hrjlyymassqx.tech\r\nRegistrar: NAMECHEAP INC\r\nRegistrar IANA ID: 1068\r\nRegistrant Name: WhoisGuard Protected\r\nRegistrant Email: 4a75182b38b841e486e7e74993fb0bce.protect@whoisguard.com\r\nRegistrant Country: PA\r\nName Server: dns1.registrar-servers.com\r\n";

/// IANA → registry → registrar, all on loopback.
fn chain() -> (Fake, Fake, Fake) {
    let registrar = fake(|_| Reply::Text(REGISTRAR_ANSWER.to_owned()));
    let registrar_addr = registrar.addr.clone();
    let registry = fake(move |q| {
        if q == "hrjlyymassqx.tech" {
            Reply::Text(
                fixture("hrjlyymassqx.tech.txt").replace("whois.namecheap.com", &registrar_addr),
            )
        } else {
            Reply::Text(format!("No match for \"{q}\".\r\n"))
        }
    });
    let registry_addr = registry.addr.clone();
    let iana = fake(move |q| {
        Reply::Text(format!(
            "% IANA WHOIS server\n\nrefer:        {registry_addr}\n\ndomain:       {}\n",
            q.to_uppercase()
        ))
    });
    (iana, registry, registrar)
}

fn config(iana: &Fake) -> ClientConfig {
    ClientConfig {
        iana: iana.addr.clone(),
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(2),
        total_timeout: Duration::from_secs(5),
        ..ClientConfig::default()
    }
}

#[test]
fn follows_iana_registry_and_registrar_referrals() {
    let (iana, registry, registrar) = chain();
    let lookup = Client::new(config(&iana))
        .lookup("HRJLYYMASSQX.TECH.")
        .expect("lookup");
    let servers: Vec<&str> = lookup.hops.iter().map(|h| h.server.as_str()).collect();
    assert_eq!(
        servers,
        vec![
            iana.addr.as_str(),
            registry.addr.as_str(),
            registrar.addr.as_str()
        ]
    );
    assert_eq!(*iana.queries.lock().expect("lock"), vec!["tech"]);
    assert_eq!(
        *registry.queries.lock().expect("lock"),
        vec!["hrjlyymassqx.tech"]
    );
    assert_eq!(
        *registrar.queries.lock().expect("lock"),
        vec!["hrjlyymassqx.tech"]
    );
    let r = &lookup.record;
    assert_eq!(
        r.registrar.as_deref(),
        Some("NAMECHEAP INC"),
        "registrar's answer wins"
    );
    assert_eq!(
        r.created.as_deref(),
        Some("2016-12-09T17:01:50Z"),
        "registry fills the gaps"
    );
    assert_eq!(r.source.as_deref(), Some(registrar.addr.as_str()));
    assert!(r.privacy);
    assert_eq!(lookup.referral_error, None);
}

#[test]
fn second_lookup_comes_from_the_cache_without_connecting() {
    let (iana, registry, registrar) = chain();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = ClientConfig {
        cache: Some(Cache::new(dir.path(), Duration::from_secs(3600))),
        ..config(&iana)
    };
    let first = Client::new(cfg.clone())
        .lookup("hrjlyymassqx.tech")
        .expect("first");
    assert!(first.hops.iter().all(|h| !h.from_cache));
    let counts = |f: &Fake| f.connections.load(Ordering::SeqCst);
    let before = (counts(&iana), counts(&registry), counts(&registrar));
    assert_eq!(before, (1, 1, 1));
    let second = Client::new(cfg)
        .lookup("hrjlyymassqx.tech")
        .expect("second");
    assert_eq!(second.hops.len(), 3);
    assert!(
        second.hops.iter().all(|h| h.from_cache),
        "{:?}",
        second.hops
    );
    assert_eq!(
        (counts(&iana), counts(&registry), counts(&registrar)),
        before,
        "no new connection"
    );
    assert_eq!(first.record, second.record);
    let cache = Cache::new(dir.path(), Duration::from_secs(3600));
    let records = trawl_whois::client::cached_records(&cache).expect("cache readable");
    assert_eq!(
        records,
        vec![first.record],
        "IANA skipped, registry + registrar merged"
    );
}

#[test]
fn server_override_skips_iana() {
    let (iana, registry, _registrar) = chain();
    let cfg = ClientConfig {
        server: Some(registry.addr.clone()),
        follow: false,
        ..config(&iana)
    };
    let lookup = Client::new(cfg)
        .lookup("hrjlyymassqx.tech")
        .expect("lookup");
    assert_eq!(iana.connections.load(Ordering::SeqCst), 0);
    assert_eq!(lookup.hops.len(), 1);
    assert_eq!(lookup.record.registrar.as_deref(), Some("Namecheap"));
}

#[test]
fn silent_server_times_out_quickly() {
    let silent = fake(|_| Reply::Silent(Duration::from_secs(5)));
    let cfg = ClientConfig {
        server: Some(silent.addr.clone()),
        read_timeout: Duration::from_millis(300),
        ..ClientConfig::default()
    };
    let started = Instant::now();
    let err = Client::new(cfg).lookup("example.com").expect_err("timeout");
    assert!(matches!(err, WhoisError::Timeout { bytes: 0, .. }), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(err.to_string().contains("timed out"), "{err}");
}

#[test]
fn truncated_answer_is_an_error() {
    let cut = fake(|_| Reply::Text("Domain Name: EXAMPLE.COM\r\nRegistrar: Exam".to_owned()));
    let cfg = ClientConfig {
        server: Some(cut.addr.clone()),
        ..ClientConfig::default()
    };
    let err = Client::new(cfg)
        .lookup("example.com")
        .expect_err("truncated");
    assert!(matches!(err, WhoisError::Truncated { .. }), "{err}");
    assert!(err.to_string().contains("truncated answer"), "{err}");
}

#[test]
fn garbage_answer_is_an_error() {
    let junk = fake(|_| Reply::Bytes(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n".to_vec()));
    let cfg = ClientConfig {
        server: Some(junk.addr.clone()),
        ..ClientConfig::default()
    };
    let err = Client::new(cfg).lookup("example.com").expect_err("garbage");
    assert!(matches!(err, WhoisError::Parse { .. }), "{err}");
    assert!(err.to_string().contains("binary data"), "{err}");
    let prose = fake(|_| Reply::Text("Welcome to my web server\n<html>\n".to_owned()));
    let cfg = ClientConfig {
        server: Some(prose.addr.clone()),
        ..ClientConfig::default()
    };
    let err = Client::new(cfg).lookup("example.com").expect_err("prose");
    assert!(err.to_string().contains("no whois fields"), "{err}");
}

#[test]
fn oversized_answer_is_refused() {
    let big = fake(|_| Reply::Text("Domain Name: EXAMPLE.COM\n".repeat(20_000)));
    let cfg = ClientConfig {
        server: Some(big.addr.clone()),
        max_bytes: 64 * 1024,
        ..ClientConfig::default()
    };
    let err = Client::new(cfg)
        .lookup("example.com")
        .expect_err("too large");
    assert!(
        matches!(err, WhoisError::TooLarge { limit: 65536, .. }),
        "{err}"
    );
}

#[test]
fn empty_answer_and_unknown_domain_are_errors() {
    let empty = fake(|_| Reply::Text(String::new()));
    let cfg = ClientConfig {
        server: Some(empty.addr.clone()),
        ..ClientConfig::default()
    };
    let err = Client::new(cfg).lookup("example.com").expect_err("empty");
    assert!(matches!(err, WhoisError::Empty { .. }), "{err}");
    let (iana, _registry, _registrar) = chain();
    let err = Client::new(config(&iana))
        .lookup("nope.tech")
        .expect_err("not found");
    assert!(err.to_string().contains("no such domain"), "{err}");
}

#[test]
fn iana_without_refer_names_the_tld() {
    let iana = fake(|_| {
        Reply::Text("% IANA WHOIS server\n\ndomain:       ZZ\nstatus:       UNKNOWN\n".to_owned())
    });
    let err = Client::new(config(&iana))
        .lookup("x.zz")
        .expect_err("no server");
    assert!(
        matches!(&err, WhoisError::NoServer { tld, .. } if tld == "zz"),
        "{err}"
    );
}

#[test]
fn dead_registrar_keeps_the_registry_record() {
    let closed = TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = closed.local_addr().expect("addr").to_string();
    drop(closed);
    let registry = fake(move |_| {
        Reply::Text(fixture("hrjlyymassqx.tech.txt").replace("whois.namecheap.com", &dead))
    });
    let cfg = ClientConfig {
        server: Some(registry.addr.clone()),
        ..ClientConfig::default()
    };
    let lookup = Client::new(cfg)
        .lookup("hrjlyymassqx.tech")
        .expect("registry record still returned");
    assert_eq!(lookup.record.registrar.as_deref(), Some("Namecheap"));
    let err = lookup.referral_error.expect("referral error reported");
    assert!(err.contains("cannot connect"), "{err}");
}

#[test]
fn invalid_domains_never_reach_the_network() {
    let (iana, _r, _g) = chain();
    for bad in ["", "a b.com", "x.com\r\nhelp", ".."] {
        let err = Client::new(config(&iana)).lookup(bad).expect_err(bad);
        assert!(
            matches!(err, WhoisError::InvalidDomain(_)),
            "{bad:?}: {err}"
        );
    }
    assert_eq!(iana.connections.load(Ordering::SeqCst), 0);
}
