//! The DNS side of the analysis, run on a second thread while the capture is
//! read: parsing DNS messages, the (name, type, resolver) table, DGA scoring
//! of each new name and, at the end, the report's DNS rows.
//!
//! DNS does not depend on the flow table, so the reader only copies each DNS
//! payload (UDP datagram or reassembled TCP message) into a batch and goes
//! on. Batches travel in packet order over a bounded channel (the reader
//! waits rather than queueing without limit), and one thread handles them
//! in that order, so the result is exactly what a single thread computes.
//! If no thread can be started the same [`DnsState`] runs inline.

use std::collections::hash_map::Entry;
use std::net::IpAddr;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;

use crate::analyzer::FastMap;
use crate::proto::{self, DnsAnswer, DnsMessage, dns_type_name, rcode_name};
use crate::report::{DgaFlag, DnsQuery, TimeFormatter};
use crate::scoring::dga_flag;

/// Most distinct DNS (name, type, resolver) entries kept.
const MAX_DNS_ENTRIES: usize = 1_000_000;
/// Most distinct answers kept per DNS entry.
const MAX_ANSWERS_PER_ENTRY: usize = 64;
/// Most (type, resolver) entries per name.
const MAX_ENTRIES_PER_NAME: usize = 256;
/// Messages handed to the worker at once.
const BATCH_MESSAGES: usize = 1024;
/// Payload bytes handed to the worker at once (a batch ends at either bound).
const BATCH_BYTES: usize = 256 * 1024;
/// Batches in flight before the reader waits.
const BATCHES_IN_FLIGHT: usize = 16;

/// Everything learnt about one (name, type, resolver).
#[derive(Debug, Default, Clone)]
pub struct DnsEntry {
    /// First query or response time.
    pub first_ns: i64,
    /// Last query or response time.
    pub last_ns: i64,
    /// Query packets.
    pub queries: u64,
    /// Response packets.
    pub responses: u64,
    /// Response codes seen.
    pub rcodes: Vec<u16>,
    /// Answers seen.
    pub answers: Vec<DnsAnswer>,
    /// Clients that asked.
    pub clients: Vec<IpAddr>,
}

/// One queried name: its DGA verdict and its (type, resolver) entries.
#[derive(Default)]
struct NameSlot {
    verdict: Option<DgaFlag>,
    entries: Vec<((u16, IpAddr), DnsEntry)>,
}

/// Appends `value` unless present or the list holds `cap` values already.
/// (Small per-entry lists: a Vec costs far less memory than a BTreeSet.)
fn push_unique<T: PartialEq>(list: &mut Vec<T>, value: T, cap: usize) {
    if list.len() < cap && !list.contains(&value) {
        list.push(value);
    }
}

/// The DNS table: entries keyed by the queried name so that a packet's
/// parsed name finds its entry with one hash.
#[derive(Default)]
pub(crate) struct DnsState {
    names: FastMap<String, NameSlot>,
    entries: usize,
}

impl DnsState {
    /// Parses one DNS message seen going `src` → `dst` and records it.
    pub(crate) fn record(&mut self, bytes: &[u8], src: IpAddr, dst: IpAddr, ts_ns: i64) {
        if let Some(message) = proto::parse_dns(bytes) {
            self.message(message, src, dst, ts_ns);
        }
    }

    fn message(&mut self, message: DnsMessage, src: IpAddr, dst: IpAddr, ts_ns: i64) {
        let (resolver, client) = if message.response {
            (src, dst)
        } else {
            (dst, src)
        };
        for (name, qtype) in message.questions {
            let slot = match self.names.entry(name) {
                Entry::Occupied(slot) => slot.into_mut(),
                Entry::Vacant(_) if self.entries >= MAX_DNS_ENTRIES => continue,
                Entry::Vacant(slot) => {
                    let verdict = dga_flag(slot.key());
                    slot.insert(NameSlot {
                        verdict,
                        entries: Vec::new(),
                    })
                }
            };
            let entries = &mut slot.entries;
            let key = (qtype, resolver);
            let position = match entries.iter().position(|(k, _)| *k == key) {
                Some(position) => position,
                None if self.entries < MAX_DNS_ENTRIES && entries.len() < MAX_ENTRIES_PER_NAME => {
                    self.entries += 1;
                    entries.push((
                        key,
                        DnsEntry {
                            first_ns: ts_ns,
                            last_ns: ts_ns,
                            ..DnsEntry::default()
                        },
                    ));
                    entries.len() - 1
                }
                None => continue,
            };
            let Some((_, entry)) = entries.get_mut(position) else {
                continue;
            };
            entry.first_ns = entry.first_ns.min(ts_ns);
            entry.last_ns = entry.last_ns.max(ts_ns);
            if message.response {
                entry.responses += 1;
                push_unique(&mut entry.rcodes, message.rcode, 16);
                for answer in &message.answers {
                    if !entry.answers.contains(answer)
                        && entry.answers.len() < MAX_ANSWERS_PER_ENTRY
                    {
                        entry.answers.push(answer.clone());
                    }
                }
            } else {
                entry.queries += 1;
                push_unique(&mut entry.clients, client, 64);
            }
        }
    }

    /// The report's DNS rows: in time order, then by name, type and resolver.
    pub(crate) fn into_rows(self) -> Vec<DnsQuery> {
        let mut rows: Vec<(i64, DnsQuery)> = Vec::with_capacity(self.entries);
        let mut times = TimeFormatter::default();
        for (name, slot) in self.names {
            let count = slot.entries.len();
            let mut name = Some(name);
            let mut verdict = Some(slot.verdict);
            for (i, ((qtype, resolver), entry)) in slot.entries.into_iter().enumerate() {
                // The last row of a name takes the name and verdict; the
                // others get copies (most names have a single row).
                let last = i + 1 == count;
                let (name, dga) = if last {
                    (name.take().unwrap_or_default(), verdict.take().flatten())
                } else {
                    (name.clone().unwrap_or_default(), verdict.clone().flatten())
                };
                let query = DnsQuery {
                    name,
                    qtype: dns_type_name(qtype),
                    type_code: qtype,
                    resolver,
                    first_seen: times.format(entry.first_ns),
                    last_seen: times.format(entry.last_ns),
                    queries: entry.queries,
                    responses: entry.responses,
                    rcodes: sorted(entry.rcodes)
                        .iter()
                        .map(|r| rcode_name(*r))
                        .collect(),
                    answers: sorted(entry.answers),
                    clients: sorted(entry.clients),
                    dga,
                };
                rows.push((entry.first_ns, query));
            }
        }
        // Sorting small keys and then placing each row once moves far less
        // memory than sorting the rows. Time order is by the number, not
        // its text (`...:05Z` is earlier than `...:05.1Z`).
        let mut order: Vec<(i64, &str, u16, IpAddr, usize)> = rows
            .iter()
            .enumerate()
            .map(|(i, (ns, q))| (*ns, q.name.as_str(), q.type_code, q.resolver, i))
            .collect();
        order.sort_unstable();
        let order: Vec<usize> = order.into_iter().map(|key| key.4).collect();
        let mut rows: Vec<Option<DnsQuery>> = rows.into_iter().map(|(_, q)| Some(q)).collect();
        order
            .into_iter()
            .filter_map(|i| rows.get_mut(i).and_then(Option::take))
            .collect()
    }
}

fn sorted<T: Ord>(mut list: Vec<T>) -> Vec<T> {
    list.sort_unstable();
    list
}

/// A message waiting in a batch: where its bytes end and its addresses.
struct Item {
    end: usize,
    src: IpAddr,
    dst: IpAddr,
    ts_ns: i64,
}

/// DNS payloads copied back to back, with their metadata.
#[derive(Default)]
struct Batch {
    bytes: Vec<u8>,
    items: Vec<Item>,
}

impl Batch {
    fn apply(&self, state: &mut DnsState) {
        let mut start = 0;
        for item in &self.items {
            if let Some(bytes) = self.bytes.get(start..item.end) {
                state.record(bytes, item.src, item.dst, item.ts_ns);
            }
            start = item.end;
        }
    }
}

/// Hands DNS messages to the worker thread (or handles them inline).
#[derive(Default)]
pub(crate) struct DnsPipe {
    batch: Batch,
    sender: Option<SyncSender<Batch>>,
    worker: Option<JoinHandle<Vec<DnsQuery>>>,
    /// Used when the worker cannot be started (or is gone).
    inline: Option<DnsState>,
}

impl DnsPipe {
    /// Queues one DNS message (no TCP length prefix) seen going `src` → `dst`.
    pub(crate) fn submit(&mut self, bytes: &[u8], src: IpAddr, dst: IpAddr, ts_ns: i64) {
        if let Some(state) = self.inline.as_mut() {
            state.record(bytes, src, dst, ts_ns);
            return;
        }
        self.batch.bytes.extend_from_slice(bytes);
        self.batch.items.push(Item {
            end: self.batch.bytes.len(),
            src,
            dst,
            ts_ns,
        });
        if self.batch.items.len() >= BATCH_MESSAGES || self.batch.bytes.len() >= BATCH_BYTES {
            self.send_batch();
        }
    }

    fn send_batch(&mut self) {
        let batch = std::mem::take(&mut self.batch);
        if batch.items.is_empty() {
            return;
        }
        if self.sender.is_none() && self.worker.is_none() && !self.start() {
            self.run_inline(batch);
            return;
        }
        if let Some(sender) = &self.sender
            && let Err(failed) = sender.send(batch)
        {
            // Only a worker that panicked drops its receiver; `finish`
            // re-raises that panic. Keep the data meanwhile.
            self.sender = None;
            self.run_inline(failed.0);
        }
    }

    fn run_inline(&mut self, batch: Batch) {
        batch.apply(self.inline.get_or_insert_with(DnsState::default));
    }

    fn start(&mut self) -> bool {
        let (sender, receiver) = sync_channel::<Batch>(BATCHES_IN_FLIGHT);
        let spawned = std::thread::Builder::new()
            .name("pcap-dns".into())
            .spawn(move || {
                let mut state = DnsState::default();
                for batch in receiver {
                    batch.apply(&mut state);
                }
                state.into_rows()
            });
        match spawned {
            Ok(worker) => {
                self.sender = Some(sender);
                self.worker = Some(worker);
                true
            }
            Err(_) => false,
        }
    }

    /// Sends what is left and lets the worker build the rows; the caller
    /// collects them with [`DnsRows::wait`] after doing its own part.
    pub(crate) fn close(mut self) -> DnsRows {
        if self.inline.is_none() {
            self.send_batch();
        }
        drop(self.sender.take());
        DnsRows {
            worker: self.worker.take(),
            inline: self.inline.take(),
        }
    }
}

/// DNS rows being built on the worker (or to be built inline).
pub(crate) struct DnsRows {
    worker: Option<JoinHandle<Vec<DnsQuery>>>,
    inline: Option<DnsState>,
}

impl DnsRows {
    /// The DNS rows (a worker's panic is passed on).
    pub(crate) fn wait(self) -> Vec<DnsQuery> {
        let mut rows = match self.worker.map(JoinHandle::join) {
            Some(Ok(rows)) => rows,
            Some(Err(panic)) => std::panic::resume_unwind(panic),
            None => Vec::new(),
        };
        if let Some(state) = self.inline {
            // Only when no worker ever started (else it had all the data).
            rows = state.into_rows();
        }
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(id: u16, name: &str) -> Vec<u8> {
        let mut out = Vec::new();
        for v in [id, 0x0100, 1, 0, 0, 0] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        for label in name.split('.') {
            out.push(label.len() as u8);
            out.extend_from_slice(label.as_bytes());
        }
        out.extend_from_slice(&[0, 0, 1, 0, 1]);
        out
    }

    #[test]
    fn worker_rows_equal_inline_rows() {
        let client: IpAddr = "10.0.0.1".parse().expect("ip");
        let resolver: IpAddr = "8.8.8.8".parse().expect("ip");
        let messages: Vec<Vec<u8>> = (0..BATCH_MESSAGES * 3 + 5)
            .map(|i| match i % 3 {
                0 => query(i as u16, &format!("hrjlyymass{}.tech", i % 50)),
                1 => query(i as u16, &format!("www.example{i}.com")),
                _ => query(i as u16, "xkqvbypqwlmn.online"),
            })
            .collect();
        let mut pipe = DnsPipe::default();
        let mut inline = DnsState::default();
        for (i, message) in messages.iter().enumerate() {
            pipe.submit(message, client, resolver, i as i64 * 1_000);
            inline.record(message, client, resolver, i as i64 * 1_000);
        }
        let threaded = pipe.close().wait();
        let direct = inline.into_rows();
        let view = |rows: &[DnsQuery]| -> Vec<(String, u64, String, Option<bool>)> {
            rows.iter()
                .map(|q| {
                    (
                        q.name.clone(),
                        q.queries,
                        q.first_seen.clone(),
                        q.dga.as_ref().map(|d| d.mirai),
                    )
                })
                .collect()
        };
        assert_eq!(view(&threaded), view(&direct));
        assert_eq!(threaded.len(), 50 + (BATCH_MESSAGES + 2) + 1);
        let mirai = threaded
            .iter()
            .find(|q| q.name == "xkqvbypqwlmn.online")
            .expect("row");
        assert!(mirai.dga.as_ref().is_some_and(|d| d.mirai));
    }
}
