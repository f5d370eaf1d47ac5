//! Micro-benchmark of each sink on its own (not a test): writes a sensor-like stream
//! (sessions of 3 failed logins: 3 attempts then the session) in batches, as the hub's
//! sink threads do, and prints microseconds per event and events per second per sink.
//! Run: `cargo bench -p trawl-sinks --bench sinks` (EVENTS=400000 by default).
//! It measures one thread doing one sink's work, so CPU time ≈ wall time here.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use trawl_event::{AuthAttempt, Credential, EndReason, Endpoints, Event, Mechanism, Session};
use trawl_sinks::{CsvSink, JsonlSink, Sink, SqliteSink};

const BATCH: usize = 1024;

fn stream(events: usize) -> Vec<Arc<Event>> {
    let mut out = Vec::with_capacity(events);
    let mut n = 0u32;
    while out.len() < events {
        n += 1;
        let source: SocketAddr = ([10, (n >> 16) as u8, (n >> 8) as u8, n as u8], 40_000).into();
        let endpoints = Endpoints {
            source,
            destination: ([127, 0, 0, 1], 10021).into(),
        };
        let session_id = trawl_event::new_id();
        let attempts: Vec<AuthAttempt> = (0..3)
            .map(|i| AuthAttempt {
                timestamp: Utc::now(),
                auth_id: trawl_event::new_id(),
                session_id,
                endpoints,
                protocol: "ftp".into(),
                credential: Credential::new(
                    format!("user{}", n % 1000),
                    format!("pass{i}{}", n % 777).into_bytes(),
                    Mechanism::UserPass,
                ),
            })
            .collect();
        for attempt in &attempts {
            out.push(Arc::new(Event::AuthAttempt(attempt.clone())));
        }
        out.push(Arc::new(Event::Session(Session {
            session_id,
            protocol: "ftp".into(),
            endpoints,
            start: Utc::now(),
            end: Utc::now(),
            auth_attempts: attempts,
            auxiliary_data: serde_json::Map::new(),
            end_reason: EndReason::ClientClosed,
        })));
    }
    out
}

fn run(name: &str, mut sink: Box<dyn Sink>, events: &[Arc<Event>]) {
    let start = Instant::now();
    for batch in events.chunks(BATCH) {
        if let Err(err) = sink.write_batch(batch) {
            eprintln!("{name}: {err}");
            return;
        }
    }
    if let Err(err) = sink.close() {
        eprintln!("{name}: {err}");
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{name:>7}: {:>6.2} µs/event  {:>10.0} events/s  ({} events, batches of {BATCH})",
        secs * 1e6 / events.len() as f64,
        events.len() as f64 / secs,
        events.len()
    );
}

fn main() {
    let count = std::env::var("EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400_000);
    let events = stream(count);
    let only = std::env::var("SINK").unwrap_or_default();
    let Ok(dir) = tempfile::tempdir() else {
        eprintln!("no temp dir");
        return;
    };
    let path = dir.path();
    let open = |name: &str| -> Option<Box<dyn Sink>> {
        let sink: Result<Box<dyn Sink>, _> = match name {
            "csv" => CsvSink::open(path, false).map(|s| Box::new(s) as Box<dyn Sink>),
            "jsonl" => JsonlSink::open(path).map(|s| Box::new(s) as Box<dyn Sink>),
            _ => SqliteSink::open(path).map(|s| Box::new(s) as Box<dyn Sink>),
        };
        sink.map_err(|err| eprintln!("{name}: {err}")).ok()
    };
    for name in ["csv", "jsonl", "sqlite"] {
        if !only.is_empty() && only != name {
            continue;
        }
        if let Some(sink) = open(name) {
            run(name, sink, &events);
        }
    }
}
