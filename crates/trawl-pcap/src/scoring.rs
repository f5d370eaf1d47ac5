//! DGA verdicts computed on a second thread while the capture is still being
//! read, so scoring every distinct name (the costliest part of building the
//! report) overlaps with packet parsing instead of following it.
//!
//! Names are handed over in batches through a bounded channel (the reader
//! waits rather than queueing without limit). If the thread cannot be
//! started, or dies, the names it did not score are simply scored later by
//! the report builder ([`cached_verdict`]): the verdicts are the same either
//! way.

use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;

use crate::analyzer::FastMap;
use crate::report::DgaFlag;

/// Names sent to the worker at once.
const BATCH: usize = 2048;
/// Batches in flight before the reader waits.
const BATCHES_IN_FLIGHT: usize = 16;

/// DGA verdicts by name, so each name is scored once.
pub(crate) type DgaCache = FastMap<String, Option<DgaFlag>>;

/// Scores a name: flagged when it matches the Mirai pattern or the DGA
/// scorer calls it machine-generated.
pub(crate) fn dga_flag(name: &str) -> Option<DgaFlag> {
    let mirai = trawl_dga::mirai::matches_mirai_pattern(name);
    let score = trawl_dga::score::score_domain(name);
    (mirai || score.is_dga).then(|| DgaFlag {
        name: name.to_string(),
        score: (score.score * 1000.0).round() / 1000.0,
        mirai,
        reasons: score.reasons,
    })
}

/// The cached verdict for `name`, scoring it now if nobody has yet.
pub(crate) fn cached_verdict(cache: &mut DgaCache, name: &str) -> Option<DgaFlag> {
    if let Some(verdict) = cache.get(name) {
        return verdict.clone();
    }
    let verdict = dga_flag(name);
    cache.insert(name.to_string(), verdict.clone());
    verdict
}

/// Background scorer fed with names as the analyzer first meets them.
#[derive(Default)]
pub(crate) struct Scorer {
    pending: Vec<String>,
    sender: Option<SyncSender<Vec<String>>>,
    worker: Option<JoinHandle<DgaCache>>,
    /// The worker could not be started: leave all scoring to the report.
    unavailable: bool,
}

impl Scorer {
    /// Queues a newly seen name for scoring.
    pub(crate) fn submit(&mut self, name: &str) {
        if self.unavailable {
            return;
        }
        self.pending.push(name.to_string());
        if self.pending.len() >= BATCH {
            self.send_pending();
        }
    }

    fn send_pending(&mut self) {
        let batch = std::mem::take(&mut self.pending);
        if batch.is_empty() {
            return;
        }
        if self.sender.is_none() && !self.start() {
            return;
        }
        if let Some(sender) = &self.sender
            && sender.send(batch).is_err()
        {
            // The worker is gone: the report builder scores what is left.
            self.sender = None;
            self.unavailable = true;
        }
    }

    fn start(&mut self) -> bool {
        let (sender, receiver) = sync_channel::<Vec<String>>(BATCHES_IN_FLIGHT);
        let spawned = std::thread::Builder::new()
            .name("pcap-dga".into())
            .spawn(move || {
                let mut cache = DgaCache::default();
                for batch in receiver {
                    for name in batch {
                        let verdict = dga_flag(&name);
                        cache.insert(name, verdict);
                    }
                }
                cache
            });
        match spawned {
            Ok(worker) => {
                self.sender = Some(sender);
                self.worker = Some(worker);
                true
            }
            Err(_) => {
                self.unavailable = true;
                false
            }
        }
    }

    /// Waits for the worker and returns the verdicts it computed. Names it
    /// did not get to are missing from the cache (and scored on demand).
    pub(crate) fn finish(mut self) -> DgaCache {
        if self.worker.is_some() {
            self.send_pending();
        }
        drop(self.sender.take());
        match self.worker.take().map(JoinHandle::join) {
            Some(Ok(cache)) => cache,
            Some(Err(_)) | None => DgaCache::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_verdicts_equal_direct_scoring() {
        let names: Vec<String> = (0..BATCH * 3 + 7)
            .map(|i| match i % 3 {
                0 => format!("hrjlyymass{i}.tech"),
                1 => format!("www.example{i}.com"),
                _ => format!("xkq{i}vbzpqwl.online"),
            })
            .collect();
        let mut scorer = Scorer::default();
        for name in &names {
            scorer.submit(name);
        }
        let cache = scorer.finish();
        assert_eq!(cache.len(), names.len());
        for name in &names {
            let direct = dga_flag(name);
            let cached = cache.get(name).expect("scored by the worker");
            assert_eq!(
                cached
                    .as_ref()
                    .map(|f| (&f.name, f.score, f.mirai, &f.reasons)),
                direct
                    .as_ref()
                    .map(|f| (&f.name, f.score, f.mirai, &f.reasons)),
                "{name}"
            );
        }
    }

    #[test]
    fn mirai_name_is_flagged() {
        let flag = dga_flag("hrjlyymassqx.tech").expect("flagged");
        assert!(flag.mirai);
        assert!(dga_flag("inandoutand.in").is_none_or(|f| !f.mirai));
    }
}
