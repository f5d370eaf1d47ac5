//! Bounded reassembly of one direction of a TCP connection.
//!
//! Only the beginning of a stream matters here (request headers, a TLS
//! ClientHello, DNS messages), so each direction keeps at most
//! [`STREAM_CAP`] bytes of in-order data and a small out-of-order queue.
//! Hand-written because the Rust TCP reassembly crates are either tied to a
//! capture engine or unbounded; this one is ~80 lines with wrapping sequence
//! arithmetic.

/// Most bytes buffered per direction (contiguous plus out-of-order).
pub const STREAM_CAP: usize = 64 * 1024;
/// Most out-of-order segments kept per direction.
const MAX_PENDING: usize = 32;

/// One direction of a TCP stream.
#[derive(Debug, Default)]
pub struct Reassembler {
    next_seq: Option<u32>,
    /// Contiguous bytes not yet consumed by the parser.
    pub data: Vec<u8>,
    pending: Vec<(u32, Vec<u8>)>,
    /// Set when data had to be dropped because of the bounds.
    pub overflowed: bool,
}

impl Reassembler {
    /// A reassembler whose data starts after the given SYN sequence number.
    pub fn after_syn(isn: Option<u32>) -> Self {
        Self {
            next_seq: isn.map(|seq| seq.wrapping_add(1)),
            ..Self::default()
        }
    }

    /// Bytes currently held (contiguous plus out-of-order).
    pub fn buffered(&self) -> usize {
        self.data.len() + self.pending.iter().map(|(_, p)| p.len()).sum::<usize>()
    }

    /// Adds a segment. Returns true when new contiguous bytes arrived.
    pub fn push(&mut self, seq: u32, syn: bool, payload: &[u8]) -> bool {
        let seq = if syn {
            let data_start = seq.wrapping_add(1);
            if self.next_seq.is_none() {
                self.next_seq = Some(data_start);
            }
            data_start
        } else {
            seq
        };
        if payload.is_empty() {
            return false;
        }
        let next = *self.next_seq.get_or_insert(seq);
        let ahead = seq.wrapping_sub(next) as i32;
        if ahead > 0 {
            self.queue(seq, payload);
            return false;
        }
        let already = ahead.unsigned_abs() as usize;
        let Some(fresh) = payload.get(already..).filter(|f| !f.is_empty()) else {
            return false;
        };
        self.append(fresh);
        self.drain_pending();
        true
    }

    /// Passes over up to `*skip` bytes at the front of an in-order segment
    /// without buffering them (a body the parser would discard anyway),
    /// when nothing is buffered. Returns the rest of the segment with its
    /// sequence number, to [`push`](Self::push) as usual.
    pub fn skip_in_order<'p>(
        &mut self,
        seq: u32,
        syn: bool,
        payload: &'p [u8],
        skip: &mut usize,
    ) -> (u32, &'p [u8]) {
        let in_order = self.next_seq == Some(seq) && !syn;
        if *skip == 0 || !in_order || !self.data.is_empty() || !self.pending.is_empty() {
            return (seq, payload);
        }
        let n = (*skip).min(payload.len());
        *skip -= n;
        let next = seq.wrapping_add(n as u32);
        self.next_seq = Some(next);
        (next, payload.get(n..).unwrap_or_default())
    }

    /// Drops `n` consumed bytes from the front.
    pub fn consume(&mut self, n: usize) {
        if n >= self.data.len() {
            // Free the allocation: most streams sit idle once parsed.
            self.data = Vec::new();
        } else {
            self.data.drain(..n);
        }
    }

    /// Releases all memory (the parser is done with this direction).
    pub fn release(&mut self) {
        self.data = Vec::new();
        self.pending = Vec::new();
    }

    fn append(&mut self, fresh: &[u8]) {
        let room = STREAM_CAP.saturating_sub(self.data.len());
        if fresh.len() > room {
            self.overflowed = true;
        }
        let take = fresh.len().min(room);
        self.data.extend_from_slice(&fresh[..take]);
        if let Some(next) = self.next_seq.as_mut() {
            *next = next.wrapping_add(fresh.len() as u32);
        }
    }

    fn queue(&mut self, seq: u32, payload: &[u8]) {
        let queued: usize = self.pending.iter().map(|(_, p)| p.len()).sum();
        if self.pending.len() >= MAX_PENDING || queued + payload.len() > STREAM_CAP {
            self.overflowed = true;
            return;
        }
        self.pending.push((seq, payload.to_vec()));
    }

    fn drain_pending(&mut self) {
        loop {
            let Some(next) = self.next_seq else { return };
            let position = self
                .pending
                .iter()
                .position(|(seq, _)| (seq.wrapping_sub(next) as i32) <= 0);
            let Some(position) = position else { return };
            let (seq, segment) = self.pending.swap_remove(position);
            let already = (next.wrapping_sub(seq)) as usize;
            if let Some(fresh) = segment.get(already..).filter(|f| !f.is_empty()) {
                self.append(fresh);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skipping_in_order_bytes_equals_pushing_and_consuming() {
        let mut skipper = Reassembler::after_syn(Some(99));
        let mut skip = 7;
        let (seq, rest) = skipper.skip_in_order(100, false, b"abcde", &mut skip);
        assert_eq!((seq, rest, skip), (105, &b""[..], 2));
        let (seq, rest) = skipper.skip_in_order(seq, false, b"fgHTTP", &mut skip);
        assert_eq!((seq, rest, skip), (107, &b"HTTP"[..], 0));
        assert!(skipper.push(seq, false, rest));
        assert_eq!(skipper.data, b"HTTP");
        // Out of order or with buffered data: nothing is skipped.
        let mut skip = 3;
        assert_eq!(
            skipper.skip_in_order(111, false, b"xyz", &mut skip),
            (111, &b"xyz"[..])
        );
        assert_eq!(skip, 3);
        let mut fresh = Reassembler::after_syn(Some(0));
        assert_eq!(
            fresh.skip_in_order(5, false, b"xyz", &mut skip),
            (5, &b"xyz"[..])
        );
    }

    #[test]
    fn in_order_out_of_order_and_retransmitted() {
        let mut r = Reassembler::default();
        r.push(99, true, b"");
        assert!(r.push(100, false, b"GET "));
        assert!(!r.push(106, false, b"HTTP/1.1"));
        assert!(r.push(102, false, b"T / ")); // overlaps "T " already seen
        assert_eq!(r.data, b"GET / HTTP/1.1");
        r.consume(4);
        assert_eq!(r.data, b"/ HTTP/1.1");
    }

    #[test]
    fn sequence_wraps_around() {
        let mut r = Reassembler::default();
        r.push(u32::MAX - 1, true, b"");
        assert!(r.push(u32::MAX, false, b"ab"));
        assert!(r.push(1, false, b"cd"));
        assert_eq!(r.data, b"abcd");
    }

    #[test]
    fn bounded() {
        let mut r = Reassembler::default();
        let big = vec![b'x'; STREAM_CAP];
        r.push(0, false, &big);
        r.push(STREAM_CAP as u32, false, b"more");
        assert_eq!(r.data.len(), STREAM_CAP);
        assert!(r.overflowed);
        for i in 0..100u32 {
            r.push(10_000_000 + i * 10, false, &big[..5]);
        }
        assert!(r.pending.len() <= MAX_PENDING);
    }
}
