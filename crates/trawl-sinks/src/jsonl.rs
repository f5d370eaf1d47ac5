//! `events.jsonl`: one JSON object per event, each with a `type` field.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use trawl_event::Event;

use crate::append::AppendFile;
use crate::{Sink, SinkError};

/// Appends events to `events.jsonl`.
pub struct JsonlSink<W: Write = File> {
    out: AppendFile<W>,
}

impl JsonlSink {
    /// Opens (appending) or creates `events.jsonl` in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self, SinkError> {
        Ok(JsonlSink {
            out: AppendFile::open(data_dir.join("events.jsonl"))?,
        })
    }
}

impl<W: Write + Send + 'static> Sink for JsonlSink<W> {
    fn name(&self) -> &'static str {
        "jsonl"
    }

    fn write_batch(&mut self, events: &[Arc<Event>]) -> Result<(), SinkError> {
        if !self.out.has_pending() {
            let path = self.out.path().to_owned();
            let buffer = self.out.buffer();
            for event in events {
                event
                    .write_json(&mut *buffer)
                    .map_err(|err| SinkError::io(&path, err.into()))?;
                buffer.push(b'\n');
            }
        }
        self.out.flush()
    }

    fn close(&mut self) -> Result<(), SinkError> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::append::tests::FlakyWriter;
    use trawl_event::{AuthAttempt, Credential, Endpoints, Mechanism};

    fn event(index: usize) -> Arc<Event> {
        Arc::new(Event::AuthAttempt(AuthAttempt {
            timestamp: chrono::Utc::now(),
            auth_id: trawl_event::new_id(),
            session_id: trawl_event::new_id(),
            endpoints: Endpoints {
                source: ([192, 0, 2, 1], 5000).into(),
                destination: ([127, 0, 0, 1], 10021).into(),
            },
            protocol: "ftp".into(),
            credential: Credential::new(format!("u{index}"), b"p".to_vec(), Mechanism::UserPass),
        }))
    }

    #[test]
    fn a_retried_batch_is_written_exactly_once() {
        let writer = FlakyWriter {
            data: Vec::new(),
            partial: 40,
            failures: 3,
        };
        let mut sink = JsonlSink {
            out: AppendFile::with_writer("events.jsonl".into(), writer),
        };
        let batch: Vec<_> = (0..10).map(event).collect();
        let mut tries = 1;
        while sink.write_batch(&batch).is_err() {
            tries += 1;
        }
        assert_eq!(tries, 4);
        assert!(sink.write_batch(&[event(10)]).is_ok());
        let text = String::from_utf8_lossy(&sink.out_data()).into_owned();
        let users: Vec<String> = text
            .lines()
            .map(|line| {
                let value: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
                value["username"].as_str().unwrap_or("?").to_owned()
            })
            .collect();
        let expected: Vec<String> = (0..11).map(|i| format!("u{i}")).collect();
        assert_eq!(users, expected);
    }

    impl JsonlSink<FlakyWriter> {
        fn out_data(&self) -> Vec<u8> {
            self.out.inner().data.clone()
        }
    }
}
