//! Fan-out of events to the sink threads over bounded channels.
//!
//! A full channel means a sink is slower than the sensor: [`EventSender::send`] then
//! waits asynchronously (back-pressure on the protocol task, never a blocked thread and
//! never a dropped event) and counts the wait; the first wait and every 1,000th after it
//! are logged as warnings. Each sink thread drains up to `batch` events at a time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use tokio::sync::mpsc;
use trawl_event::Event;

use crate::Sink;

/// What one sink did over its lifetime.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SinkReport {
    /// Sink name.
    pub name: &'static str,
    /// Events written successfully.
    pub written: u64,
    /// Events in batches that failed to write (each failure is logged as an error).
    pub failed: u64,
}

/// What all sinks did, returned by [`SinkHub::finish`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SinkSummary {
    /// Per-sink counts.
    pub sinks: Vec<SinkReport>,
    /// Events accepted by [`EventSender::send`].
    pub accepted: u64,
    /// How often a sender had to wait because a sink's channel was full.
    pub backpressure_waits: u64,
}

#[derive(Debug, Default)]
struct Counters {
    accepted: AtomicU64,
    backpressure_waits: AtomicU64,
}

/// A sink's name and the sending end of its channel.
type NamedChannel = (&'static str, mpsc::Sender<Arc<Event>>);

/// Cheap-to-clone handle that protocol tasks use to emit events.
#[derive(Clone)]
pub struct EventSender {
    channels: Arc<[NamedChannel]>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for EventSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventSender")
            .field("sinks", &self.channels.len())
            .finish()
    }
}

impl EventSender {
    /// Hands the event to every sink; waits (asynchronously) while a sink is behind.
    ///
    /// Cancel-safe: a slot is reserved in every channel first and the event is sent
    /// only once all are reserved, so a cancelled call sends to no sink at all.
    pub async fn send(&self, event: Event) {
        let event = Arc::new(event);
        let mut permits = Vec::with_capacity(self.channels.len());
        for (name, channel) in self.channels.iter() {
            if let Some(permit) = self.reserve(name, channel).await {
                permits.push(permit);
            }
        }
        for permit in permits {
            permit.send(Arc::clone(&event));
        }
        self.counters.accepted.fetch_add(1, Ordering::Relaxed);
    }

    async fn reserve<'a>(
        &self,
        name: &str,
        channel: &'a mpsc::Sender<Arc<Event>>,
    ) -> Option<mpsc::Permit<'a, Arc<Event>>> {
        match channel.try_reserve() {
            Ok(permit) => return Some(permit),
            Err(mpsc::error::TrySendError::Full(())) => {}
            Err(mpsc::error::TrySendError::Closed(())) => {
                tracing::error!("sink {name} has stopped; event not written by it");
                return None;
            }
        }
        let waits = self
            .counters
            .backpressure_waits
            .fetch_add(1, Ordering::Relaxed);
        if waits.is_multiple_of(1000) {
            tracing::warn!(
                "sink {name} is behind: applying back-pressure (wait #{})",
                waits + 1
            );
        }
        let permit = channel.reserve().await.ok();
        if permit.is_none() {
            tracing::error!("sink {name} has stopped; event not written by it");
        }
        permit
    }
}

/// Owns the sink threads.
pub struct SinkHub {
    threads: Vec<JoinHandle<SinkReport>>,
    counters: Arc<Counters>,
}

impl SinkHub {
    /// Starts one thread per sink, each with a channel of `capacity` events, writing in
    /// batches of at most `batch` events.
    pub fn start(
        sinks: Vec<Box<dyn Sink>>,
        capacity: usize,
        batch: usize,
    ) -> std::io::Result<(SinkHub, EventSender)> {
        let counters = Arc::new(Counters::default());
        let mut channels = Vec::with_capacity(sinks.len());
        let mut threads = Vec::with_capacity(sinks.len());
        for sink in sinks {
            let name = sink.name();
            let (sender, receiver) = mpsc::channel(capacity.max(1));
            let thread = std::thread::Builder::new()
                .name(format!("sink-{name}"))
                .spawn(move || run_sink(sink, receiver, batch.max(1)))?;
            channels.push((name, sender));
            threads.push(thread);
        }
        let sender = EventSender {
            channels: channels.into(),
            counters: Arc::clone(&counters),
        };
        Ok((SinkHub { threads, counters }, sender))
    }

    /// Waits until every [`EventSender`] clone is dropped and every sink has written and
    /// closed. Blocks the calling thread.
    pub fn finish(self) -> SinkSummary {
        let sinks = self
            .threads
            .into_iter()
            .map(|thread| {
                thread.join().unwrap_or_else(|_| SinkReport {
                    name: "panicked",
                    ..SinkReport::default()
                })
            })
            .collect();
        SinkSummary {
            sinks,
            accepted: self.counters.accepted.load(Ordering::Relaxed),
            backpressure_waits: self.counters.backpressure_waits.load(Ordering::Relaxed),
        }
    }
}

/// How long a sink thread waits for more events after a partial batch.
const LINGER: std::time::Duration = std::time::Duration::from_millis(1);

/// Moves whatever is already queued into `events`, up to `batch` in all.
fn drain_into(
    receiver: &mut mpsc::Receiver<Arc<Event>>,
    events: &mut Vec<Arc<Event>>,
    batch: usize,
) {
    while events.len() < batch {
        match receiver.try_recv() {
            Ok(event) => events.push(event),
            Err(_) => break,
        }
    }
}

fn run_sink(
    mut sink: Box<dyn Sink>,
    mut receiver: mpsc::Receiver<Arc<Event>>,
    batch: usize,
) -> SinkReport {
    let mut report = SinkReport {
        name: sink.name(),
        ..SinkReport::default()
    };
    let mut events = Vec::with_capacity(batch);
    while let Some(first) = receiver.blocking_recv() {
        events.push(first);
        drain_into(&mut receiver, &mut events, batch);
        if events.len() < batch {
            // Under load, waking for every single event costs more than writing it:
            // linger once so a batch can gather (adds at most LINGER of latency).
            std::thread::sleep(LINGER);
            drain_into(&mut receiver, &mut events, batch);
        }
        match sink.write_batch(&events) {
            Ok(()) => report.written += events.len() as u64,
            Err(err) => {
                report.failed += events.len() as u64;
                tracing::error!(
                    "sink {}: {} events not written: {err}",
                    report.name,
                    events.len()
                );
            }
        }
        events.clear();
    }
    if let Err(err) = sink.close() {
        tracing::error!("sink {}: closing failed: {err}", report.name);
    }
    report
}
