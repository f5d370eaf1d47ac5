//! Fan-out of events to the sink threads over bounded channels.
//!
//! A full channel means a sink is slower than the sensor: [`EventSender::send`] then
//! waits asynchronously (back-pressure on the protocol task, never a blocked thread and
//! never a dropped event) and counts the wait; the first wait and every 1,000th after it
//! are logged as warnings. Each sink thread drains up to `batch` events at a time.
//!
//! A sink that fails to write (disk full, database locked, file system gone read-only)
//! keeps its batch and retries it with exponential back-off (50 ms doubling to 5 s),
//! logging the first failure, every 20th after it and the recovery. Meanwhile its
//! channel fills and the protocol tasks wait (the channel is the buffer; the waits are
//! counted). Only at shutdown is there an end to retrying: a sink still failing
//! [`SHUTDOWN_RETRY`] after [`SinkHub::finish`] was called gives up, and the events it
//! could not write are counted in [`SinkReport::failed`] and logged as an error.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

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
    /// Events that could not be written even after retrying until shutdown (logged).
    pub failed: u64,
    /// Failed write tries that were retried (each retry rewrites the same batch).
    pub retried_writes: u64,
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
    /// Set by [`SinkHub::finish`]: failing sinks stop retrying after [`SHUTDOWN_RETRY`].
    shutting_down: AtomicBool,
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
            let shared = Arc::clone(&counters);
            let thread = std::thread::Builder::new()
                .name(format!("sink-{name}"))
                .spawn(move || run_sink(sink, receiver, batch.max(1), &shared))?;
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
        self.counters.shutting_down.store(true, Ordering::Relaxed);
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
const LINGER: Duration = Duration::from_millis(1);

/// How long a failing sink keeps retrying once shutdown has begun.
pub const SHUTDOWN_RETRY: Duration = Duration::from_secs(10);

/// First and longest pause between retries of a failed batch.
const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(5);

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
    counters: &Counters,
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
        write_with_retry(sink.as_mut(), &events, &mut report, counters);
        events.clear();
    }
    if let Err(err) = sink.close() {
        tracing::error!("sink {}: closing failed: {err}", report.name);
    }
    report
}

/// Writes one batch, retrying with back-off until it succeeds or, once shutdown has
/// begun, until [`SHUTDOWN_RETRY`] has passed.
fn write_with_retry(
    sink: &mut dyn Sink,
    events: &[Arc<Event>],
    report: &mut SinkReport,
    counters: &Counters,
) {
    let mut pause = RETRY_FIRST;
    let mut failures = 0u64;
    let mut give_up_at: Option<Instant> = None;
    loop {
        let err = match sink.write_batch(events) {
            Ok(()) => {
                report.written += events.len() as u64;
                if failures > 0 {
                    tracing::warn!(
                        "sink {}: recovered after {failures} failed tries; {} held events written",
                        report.name,
                        events.len()
                    );
                }
                return;
            }
            Err(err) => err,
        };
        failures += 1;
        if counters.shutting_down.load(Ordering::Relaxed) {
            let deadline = *give_up_at.get_or_insert_with(|| Instant::now() + SHUTDOWN_RETRY);
            if Instant::now() >= deadline {
                report.failed += events.len() as u64;
                tracing::error!(
                    "sink {}: {} events NOT written: still failing at shutdown after {failures} tries: {err}",
                    report.name,
                    events.len()
                );
                return;
            }
        }
        report.retried_writes += 1;
        if failures == 1 || failures.is_multiple_of(20) {
            tracing::error!(
                "sink {}: write failed (try {failures}); holding {} events and retrying in {pause:?}: {err}",
                report.name,
                events.len()
            );
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(RETRY_MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SinkError;
    use std::sync::Mutex;

    /// Fails its first `failures` writes, then records what it is given.
    struct Flaky {
        failures: usize,
        seen: Arc<Mutex<Vec<u64>>>,
    }

    impl Sink for Flaky {
        fn name(&self) -> &'static str {
            "flaky"
        }

        fn write_batch(&mut self, events: &[Arc<Event>]) -> Result<(), SinkError> {
            if self.failures > 0 {
                self.failures -= 1;
                return Err(SinkError::Format {
                    path: "flaky".into(),
                    message: "disk full".into(),
                });
            }
            let mut seen = self.seen.lock().map_err(|_| SinkError::Format {
                path: "flaky".into(),
                message: "poisoned".into(),
            })?;
            seen.extend(events.iter().map(|event| match event.as_ref() {
                Event::AuthAttempt(attempt) => u64::from(attempt.endpoints.source.port()),
                _ => 0,
            }));
            Ok(())
        }

        fn close(&mut self) -> Result<(), SinkError> {
            Ok(())
        }
    }

    fn attempt(port: u16) -> Event {
        Event::AuthAttempt(trawl_event::AuthAttempt {
            timestamp: chrono::Utc::now(),
            auth_id: trawl_event::new_id(),
            session_id: trawl_event::new_id(),
            endpoints: trawl_event::Endpoints {
                source: ([192, 0, 2, 1], port).into(),
                destination: ([127, 0, 0, 1], 10021).into(),
            },
            protocol: "ftp".into(),
            credential: trawl_event::Credential::new(
                b"u".to_vec(),
                b"p".to_vec(),
                trawl_event::Mechanism::UserPass,
            ),
        })
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_failing_sink_retries_and_loses_nothing() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let flaky = Flaky {
            failures: 4,
            seen: Arc::clone(&seen),
        };
        let (hub, sender) = SinkHub::start(vec![Box::new(flaky)], 8, 4).expect("start");
        for port in 1..=100 {
            sender.send(attempt(port)).await;
        }
        drop(sender);
        let summary = tokio::task::spawn_blocking(move || hub.finish())
            .await
            .expect("join");
        let report = &summary.sinks[0];
        assert_eq!((report.written, report.failed), (100, 0));
        assert_eq!(report.retried_writes, 4);
        let seen = seen.lock().map(|seen| seen.clone()).unwrap_or_default();
        assert_eq!(seen, (1..=100).collect::<Vec<u64>>(), "in order, each once");
        assert!(
            summary.backpressure_waits > 0,
            "the channel filled while retrying"
        );
    }
}
