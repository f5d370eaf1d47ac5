//! Runs two independent parts of the report build at once (the machine this
//! targets has few cores; two is enough). If no thread can be started, both
//! parts simply run one after the other on the caller's thread. A dozen
//! lines of std, so no thread-pool crate.

use std::sync::mpsc::{SendError, sync_channel};

/// Runs `a` on a helper thread and `b` on this one; returns both results.
pub(crate) fn join<A, B, RA, RB>(a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA + Send,
    RA: Send,
    B: FnOnce() -> RB,
{
    std::thread::scope(|scope| {
        // `a` goes over only once the thread exists, so a failed spawn
        // leaves it here to run inline.
        let (give, take) = sync_channel::<A>(1);
        let helper = std::thread::Builder::new()
            .name("pcap-report".into())
            .spawn_scoped(scope, move || take.recv().ok().map(|a| a()));
        let Ok(helper) = helper else {
            let rb = b();
            return (a(), rb);
        };
        let sent = give.send(a);
        let rb = b();
        let ra = match sent {
            Err(SendError(a)) => a(),
            Ok(()) => match helper.join() {
                Ok(Some(ra)) => ra,
                // The helper received `a`, so it returned its result or panicked.
                Ok(None) => std::panic::resume_unwind(Box::new("report helper lost its work")),
                Err(panic) => std::panic::resume_unwind(panic),
            },
        };
        (ra, rb)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn both_results_come_back() {
        let data: Vec<u64> = (1..=1000).collect();
        let (sum, product_len) = super::join(
            || data.iter().sum::<u64>(),
            || data.iter().filter(|n| *n % 2 == 0).count(),
        );
        assert_eq!((sum, product_len), (500_500, 500));
    }
}
