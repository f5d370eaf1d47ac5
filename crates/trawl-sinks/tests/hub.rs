//! Library-level test: events sent through the hub reach every sink, survive a tiny
//! channel (back-pressure, no drops) and read back from CSV, JSON lines and SQLite.

use std::net::SocketAddr;

use chrono::Utc;
use trawl_event::{AuthAttempt, Credential, EndReason, Endpoints, Event, Mechanism, Session};
use trawl_sinks::{SinkHub, SinkOptions, open_all};
use uuid::Uuid;

fn endpoints() -> Endpoints {
    let source: SocketAddr = ([203, 0, 113, 7], 40_000).into();
    Endpoints {
        source,
        destination: ([127, 0, 0, 1], 10021).into(),
    }
}

fn attempt(session_id: Uuid, index: usize) -> AuthAttempt {
    AuthAttempt {
        timestamp: Utc::now(),
        auth_id: Uuid::new_v4(),
        session_id,
        endpoints: endpoints(),
        protocol: "ftp".into(),
        credential: Credential::new(
            format!("user{index}"),
            format!("p,\"{index}\n\u{0}\u{fc}").into_bytes(),
            Mechanism::UserPass,
        ),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn every_event_reaches_every_store_under_backpressure() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = SinkOptions {
        data_dir: dir.path().to_owned(),
        neutralise_formulas: false,
    };
    let (hub, sender) =
        SinkHub::start(open_all(&options).expect("open sinks"), 2, 3).expect("start");
    let session_id = Uuid::new_v4();
    let attempts: Vec<AuthAttempt> = (0..500).map(|i| attempt(session_id, i)).collect();
    for attempt in &attempts {
        sender.send(Event::AuthAttempt(attempt.clone())).await;
    }
    let session = Session {
        session_id,
        protocol: "ftp".into(),
        endpoints: endpoints(),
        start: Utc::now(),
        end: Utc::now(),
        auth_attempts: attempts.clone(),
        auxiliary_data: serde_json::Map::new(),
        end_reason: EndReason::ClientClosed,
    };
    sender.send(Event::Session(session)).await;
    drop(sender);
    let summary = tokio::task::spawn_blocking(move || hub.finish())
        .await
        .expect("join");
    assert_eq!(summary.accepted, 501);
    assert!(
        summary.backpressure_waits > 0,
        "a 2-slot channel must have pushed back"
    );
    for report in &summary.sinks {
        assert_eq!((report.written, report.failed), (501, 0), "{}", report.name);
    }

    let mut reader = csv::Reader::from_path(dir.path().join("log_auth.csv")).expect("csv");
    let rows: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>().expect("parses");
    assert_eq!(rows.len(), 500);
    assert_eq!(&rows[7][9], "p,\"7\n\u{0}\u{fc}");
    let mut reader = csv::Reader::from_path(dir.path().join("log_session.csv")).expect("csv");
    let sessions: Vec<csv::StringRecord> =
        reader.records().collect::<Result<_, _>>().expect("parses");
    assert_eq!(sessions.len(), 1);
    assert_eq!(&sessions[0][8], "500");

    let lines = std::fs::read_to_string(dir.path().join("events.jsonl")).expect("jsonl");
    assert_eq!(lines.lines().count(), 501);
    let last: serde_json::Value =
        serde_json::from_str(lines.lines().last().unwrap_or_default()).expect("json");
    assert_eq!(last["type"], "session");
    assert_eq!(last["auth_attempts"].as_array().map(Vec::len), Some(500));

    let db = rusqlite::Connection::open(dir.path().join("trawl.db")).expect("db");
    let count: i64 = db
        .query_row("SELECT COUNT(*) FROM auth_attempts", [], |row| row.get(0))
        .expect("count");
    assert_eq!(count, 500);
    let stored: Vec<u8> = db
        .query_row(
            "SELECT password_raw FROM auth_attempts WHERE username = 'user7'",
            [],
            |row| row.get(0),
        )
        .expect("row");
    assert_eq!(stored, "p,\"7\n\u{0}\u{fc}".as_bytes());
    let journal: String = db
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .expect("pragma");
    assert_eq!(journal, "wal");
}

#[test]
fn reopening_appends_without_a_second_header() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = SinkOptions {
        data_dir: dir.path().to_owned(),
        neutralise_formulas: true,
    };
    for _ in 0..2 {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let (hub, sender) =
            SinkHub::start(open_all(&options).expect("open"), 16, 16).expect("start");
        let mut formula = attempt(Uuid::new_v4(), 1);
        formula.credential.username = b"=HYPERLINK(\"x\")".to_vec();
        runtime.block_on(sender.send(Event::AuthAttempt(formula)));
        drop(sender);
        hub.finish();
    }
    let text = std::fs::read_to_string(dir.path().join("log_auth.csv")).expect("csv");
    assert_eq!(text.matches("timestamp,auth_id").count(), 1);
    assert_eq!(
        text.matches(",\"'=HYPERLINK(\"\"x\"\")\",").count(),
        2,
        "{text}"
    );
}
