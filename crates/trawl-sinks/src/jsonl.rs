//! `events.jsonl`: one JSON object per event, each with a `type` field.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use trawl_event::Event;

use crate::{Sink, SinkError};

/// Appends events to `events.jsonl`.
pub struct JsonlSink {
    path: PathBuf,
    writer: BufWriter<File>,
}

impl JsonlSink {
    /// Opens (appending) or creates `events.jsonl` in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self, SinkError> {
        let path = data_dir.join("events.jsonl");
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|err| SinkError::io(&path, err))?;
        Ok(JsonlSink {
            path,
            writer: BufWriter::new(file),
        })
    }
}

impl Sink for JsonlSink {
    fn name(&self) -> &'static str {
        "jsonl"
    }

    fn write_batch(&mut self, events: &[Arc<Event>]) -> Result<(), SinkError> {
        for event in events {
            event
                .write_json(&mut self.writer)
                .map_err(|err| SinkError::io(&self.path, err.into()))?;
            self.writer
                .write_all(b"\n")
                .map_err(|err| SinkError::io(&self.path, err))?;
        }
        self.writer
            .flush()
            .map_err(|err| SinkError::io(&self.path, err))
    }

    fn close(&mut self) -> Result<(), SinkError> {
        self.writer
            .flush()
            .map_err(|err| SinkError::io(&self.path, err))
    }
}
