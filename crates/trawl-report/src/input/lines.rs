//! Splits a block of CSV text into lines and comma positions in one pass of 64-byte
//! bit masks (one bit per byte for newline, comma, "needs the careful path" and
//! non-ASCII), walked with `trailing_zeros`.
//!
//! Hand-written on purpose: the fields of a Heralding row are ~15 bytes long, and one
//! `memchr` call per newline, per quote check and per comma spent most of its time in
//! per-call set-up. The masks come from one 64-byte AVX-512BW compare per wanted
//! byte where the processor has it (chosen at run time), else two 32-byte AVX2 or
//! four 16-byte SSE2 compares (SSE2 is part of every x86-64), with a byte loop on
//! other targets; no crate offers this for CSV without also owning the whole parse (the `csv` crate's byte-at-a-time state machine is what the fast path
//! avoids in the first place, and it still reads every line with quotes).

/// Chunk width: one bit of a `u64` per byte.
const CHUNK: usize = 64;

/// One line of a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line {
    /// Offset of its first byte in the block.
    pub start: usize,
    /// Offset just past its last byte (its newline, or the end of the block).
    pub end: usize,
    /// It holds a `"` or a `\r`: quoting or a CRLF ending, for the `csv` crate.
    pub careful: bool,
    /// Every byte is ASCII, so the line is valid UTF-8 as it is.
    pub ascii: bool,
}

/// The bit masks of one chunk; bits of bytes already handed out are cleared.
#[derive(Debug, Default, Clone, Copy)]
struct Masks {
    newline: u64,
    comma: u64,
    careful: u64,
    high: u64,
}

/// Computes the [`Masks`] of one chunk.
type MaskFn = fn(&[u8; CHUNK]) -> Masks;

/// The fastest [`MaskFn`] this processor runs.
fn best_mask_fn() -> MaskFn {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512bw") {
            return avx512::masks_detected;
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            return avx2::masks_detected;
        }
    }
    Masks::of_chunk
}

impl Masks {
    /// The masks of `data[base..base + 64]` (bytes past the end count as none).
    fn of(data: &[u8], base: usize, of_chunk: MaskFn) -> Self {
        match data
            .get(base..base + CHUNK)
            .and_then(|c| <&[u8; CHUNK]>::try_from(c).ok())
        {
            Some(full) => of_chunk(full),
            None => {
                let mut chunk = [0u8; CHUNK];
                let tail = data.get(base..).unwrap_or_default();
                for (dst, &b) in chunk.iter_mut().zip(tail) {
                    *dst = b;
                }
                of_chunk(&chunk)
            }
        }
    }

    /// Vector compares, 16 bytes at a time.
    #[cfg(target_arch = "x86_64")]
    fn of_chunk(chunk: &[u8; CHUNK]) -> Self {
        // SAFETY: SSE2 is part of the x86-64 baseline: every x86-64 CPU has it.
        unsafe { sse2::masks(chunk) }
    }

    /// The same, a byte at a time, where SSE2 is not there.
    #[cfg(not(target_arch = "x86_64"))]
    fn of_chunk(chunk: &[u8; CHUNK]) -> Self {
        Self::bytewise(chunk)
    }

    /// A byte at a time: other targets' way, and what the vector ways are tested
    /// against.
    #[cfg(any(test, not(target_arch = "x86_64")))]
    fn bytewise(chunk: &[u8; CHUNK]) -> Self {
        let mut m = Masks::default();
        for (i, &b) in chunk.iter().enumerate() {
            m.newline |= u64::from(b == b'\n') << i;
            m.comma |= u64::from(b == b',') << i;
            m.careful |= u64::from(b == b'"' || b == b'\r') << i;
            m.high |= u64::from(!b.is_ascii()) << i;
        }
        m
    }

    /// Clears the bits in `bits`.
    fn clear(&mut self, bits: u64) {
        self.newline &= !bits;
        self.comma &= !bits;
        self.careful &= !bits;
        self.high &= !bits;
    }
}

#[cfg(target_arch = "x86_64")]
mod sse2 {
    use super::{CHUNK, Masks};
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
    };

    /// Bit `i` set where byte `i` of `v` is `byte`.
    #[target_feature(enable = "sse2")]
    fn eq(v: __m128i, byte: u8) -> __m128i {
        _mm_cmpeq_epi8(v, _mm_set1_epi8(byte as i8))
    }

    #[target_feature(enable = "sse2")]
    fn bits(v: __m128i) -> u64 {
        u64::from(_mm_movemask_epi8(v) as u16)
    }

    /// Four 16-byte loads, and compares per wanted byte.
    #[target_feature(enable = "sse2")]
    pub(super) fn masks(chunk: &[u8; CHUNK]) -> Masks {
        let mut m = Masks::default();
        for (i, part) in chunk.chunks_exact(16).enumerate() {
            // SAFETY: `part` is 16 bytes long (`chunks_exact(16)`), and an unaligned
            // load reads exactly those 16 bytes.
            let v = unsafe { _mm_loadu_si128(part.as_ptr().cast::<__m128i>()) };
            let shift = 16 * i;
            m.newline |= bits(eq(v, b'\n')) << shift;
            m.comma |= bits(eq(v, b',')) << shift;
            m.careful |= bits(_mm_or_si128(eq(v, b'"'), eq(v, b'\r'))) << shift;
            m.high |= bits(v) << shift;
        }
        m
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{CHUNK, Masks};
    use std::arch::x86_64::{
        __m256i, _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_movemask_epi8, _mm256_or_si256,
        _mm256_set1_epi8,
    };

    /// [`masks`], for a processor [`super::best_mask_fn`] found AVX2 on.
    pub(super) fn masks_detected(chunk: &[u8; CHUNK]) -> Masks {
        // SAFETY: only `best_mask_fn` hands this out, after
        // `is_x86_feature_detected!("avx2")`.
        unsafe { masks(chunk) }
    }

    #[target_feature(enable = "avx2")]
    fn eq(v: __m256i, byte: u8) -> __m256i {
        _mm256_cmpeq_epi8(v, _mm256_set1_epi8(byte as i8))
    }

    #[target_feature(enable = "avx2")]
    fn bits(v: __m256i) -> u64 {
        u64::from(_mm256_movemask_epi8(v) as u32)
    }

    /// Two 32-byte loads, and compares per wanted byte.
    #[target_feature(enable = "avx2")]
    fn masks(chunk: &[u8; CHUNK]) -> Masks {
        let mut m = Masks::default();
        for (i, part) in chunk.chunks_exact(32).enumerate() {
            // SAFETY: `part` is 32 bytes long (`chunks_exact(32)`), and an unaligned
            // load reads exactly those 32 bytes.
            let v = unsafe { _mm256_loadu_si256(part.as_ptr().cast::<__m256i>()) };
            let shift = 32 * i;
            m.newline |= bits(eq(v, b'\n')) << shift;
            m.comma |= bits(eq(v, b',')) << shift;
            m.careful |= bits(_mm256_or_si256(eq(v, b'"'), eq(v, b'\r'))) << shift;
            m.high |= bits(v) << shift;
        }
        m
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{CHUNK, Masks};
    use std::arch::x86_64::{
        __m512i, _mm512_cmpeq_epi8_mask, _mm512_loadu_si512, _mm512_movepi8_mask, _mm512_set1_epi8,
    };

    /// [`masks`], for a processor [`super::best_mask_fn`] found AVX-512BW on.
    pub(super) fn masks_detected(chunk: &[u8; CHUNK]) -> Masks {
        // SAFETY: only `best_mask_fn` hands this out, after
        // `is_x86_feature_detected!("avx512bw")`.
        unsafe { masks(chunk) }
    }

    #[target_feature(enable = "avx512bw")]
    fn eq(v: __m512i, byte: u8) -> u64 {
        _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(byte as i8))
    }

    /// One 64-byte load; each compare gives a whole mask.
    #[target_feature(enable = "avx512bw")]
    fn masks(chunk: &[u8; CHUNK]) -> Masks {
        // SAFETY: `chunk` is 64 bytes long, and an unaligned load reads exactly those.
        let v = unsafe { _mm512_loadu_si512(chunk.as_ptr().cast::<__m512i>()) };
        Masks {
            newline: eq(v, b'\n'),
            comma: eq(v, b','),
            careful: eq(v, b'"') | eq(v, b'\r'),
            high: _mm512_movepi8_mask(v),
        }
    }
}

/// Walks the lines of a block.
#[derive(Debug)]
pub struct Lines<'a> {
    data: &'a [u8],
    /// What computes the masks (the processor's best).
    of_chunk: MaskFn,
    /// Offset of the chunk `masks` describe.
    base: usize,
    masks: Masks,
    /// Offset of the next line.
    pos: usize,
}

impl<'a> Lines<'a> {
    /// Starts at the first byte of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Self::with_mask_fn(data, best_mask_fn())
    }

    fn with_mask_fn(data: &'a [u8], of_chunk: MaskFn) -> Self {
        Lines {
            data,
            of_chunk,
            base: 0,
            masks: Masks::of(data, 0, of_chunk),
            pos: 0,
        }
    }

    /// Continues at offset `pos` (after a record read some other way).
    pub fn seek(&mut self, pos: usize) {
        self.pos = pos.min(self.data.len());
        self.base = self.pos / CHUNK * CHUNK;
        self.masks = Masks::of(self.data, self.base, self.of_chunk);
        let skip = self.pos - self.base;
        self.masks.clear((1u64 << skip) - 1);
    }

    /// The next line, with the offsets (in the block) of its commas in `commas`.
    pub fn next_line(&mut self, commas: &mut Vec<usize>) -> Option<Line> {
        if self.pos >= self.data.len() {
            return None;
        }
        let start = self.pos;
        commas.clear();
        let (mut careful, mut high) = (false, false);
        loop {
            let m = self.masks;
            if m.newline != 0 {
                let k = m.newline.trailing_zeros();
                let before = (1u64 << k) - 1;
                push_bits(commas, m.comma & before, self.base);
                careful |= m.careful & before != 0;
                high |= m.high & before != 0;
                self.masks.clear(before | (1u64 << k));
                let end = self.base + k as usize;
                self.pos = end + 1;
                return Some(Line {
                    start,
                    end,
                    careful,
                    ascii: !high,
                });
            }
            push_bits(commas, m.comma, self.base);
            careful |= m.careful != 0;
            high |= m.high != 0;
            self.base += CHUNK;
            if self.base >= self.data.len() {
                self.pos = self.data.len();
                self.masks = Masks::default();
                return Some(Line {
                    start,
                    end: self.data.len(),
                    careful,
                    ascii: !high,
                });
            }
            self.masks = Masks::of(self.data, self.base, self.of_chunk);
        }
    }
}

/// Appends `base + i` for every set bit `i` of `bits`, lowest first.
fn push_bits(out: &mut Vec<usize>, mut bits: u64, base: usize) {
    while bits != 0 {
        out.push(base + bits.trailing_zeros() as usize);
        bits &= bits - 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The same split done the obvious way.
    fn naive(data: &[u8]) -> Vec<(Line, Vec<usize>)> {
        let mut out = Vec::new();
        let mut start = 0;
        while start < data.len() {
            let end = data[start..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(data.len(), |p| start + p);
            let line = &data[start..end];
            let commas = (start..end).filter(|&i| data[i] == b',').collect();
            out.push((
                Line {
                    start,
                    end,
                    careful: line.iter().any(|&b| b == b'"' || b == b'\r'),
                    ascii: line.is_ascii(),
                },
                commas,
            ));
            start = end + 1;
        }
        out
    }

    /// Every way of computing the masks this processor runs (AVX2 and AVX-512BW
    /// only where it has them), the byte loop first.
    fn mask_fns() -> Vec<(&'static str, MaskFn)> {
        let mut fns: Vec<(&'static str, MaskFn)> = vec![("bytewise", Masks::bytewise)];
        #[cfg(target_arch = "x86_64")]
        {
            fns.push(("sse2", Masks::of_chunk));
            if std::arch::is_x86_feature_detected!("avx2") {
                fns.push(("avx2", avx2::masks_detected));
            }
            if std::arch::is_x86_feature_detected!("avx512bw") {
                fns.push(("avx512bw", avx512::masks_detected));
            }
        }
        fns
    }

    fn split_with(data: &[u8], of_chunk: MaskFn) -> Vec<(Line, Vec<usize>)> {
        let mut lines = Lines::with_mask_fn(data, of_chunk);
        let mut commas = Vec::new();
        let mut out = Vec::new();
        while let Some(line) = lines.next_line(&mut commas) {
            out.push((line, commas.clone()));
        }
        out
    }

    fn split(data: &[u8]) -> Vec<(Line, Vec<usize>)> {
        split_with(data, best_mask_fn())
    }

    fn masks_of(m: Masks) -> [u64; 4] {
        [m.newline, m.comma, m.careful, m.high]
    }

    #[test]
    fn every_way_reads_every_byte_value_at_every_position() {
        let fns = mask_fns();
        for value in 0..=255u8 {
            for at in 0..CHUNK {
                let mut chunk = [b'a'; CHUNK];
                chunk[at] = value;
                let want = masks_of(Masks::bytewise(&chunk));
                for (name, f) in &fns {
                    assert_eq!(masks_of(f(&chunk)), want, "{name}: byte {value} at {at}");
                }
            }
        }
    }

    #[test]
    fn lines_at_chunk_edges() {
        for len in [0, 1, 62, 63, 64, 65, 127, 128, 129, 200] {
            let mut data = vec![b'a'; len];
            for (i, b) in data.iter_mut().enumerate() {
                if i % 7 == 3 {
                    *b = b',';
                }
                if i % 63 == 62 || i % 64 == 63 {
                    *b = b'\n';
                }
            }
            assert_eq!(split(&data), naive(&data), "len {len}");
        }
        assert_eq!(split(b"\n\n"), naive(b"\n\n"));
        assert_eq!(
            split(b"a,\"b\"\r\nr\xc3\xa9,x"),
            naive(b"a,\"b\"\r\nr\xc3\xa9,x")
        );
    }

    #[test]
    fn seek_continues_mid_chunk() {
        let data = b"a,b\n\"x\ny\",z\nc,d\ne,f,g\n".repeat(9);
        let mut lines = Lines::new(&data);
        let mut commas = Vec::new();
        let mut seen = Vec::new();
        while let Some(line) = lines.next_line(&mut commas) {
            if line.careful {
                // Skip a quoted record the way the csv crate would: past `y",z\n`.
                let close = data[line.start + 1..]
                    .iter()
                    .position(|&b| b == b'"')
                    .unwrap();
                let next = data[line.start + 1 + close..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .unwrap();
                lines.seek(line.start + 1 + close + next + 1);
                continue;
            }
            seen.push(data[line.start..line.end].to_vec());
        }
        let want: Vec<Vec<u8>> = ["a,b", "c,d", "e,f,g"]
            .iter()
            .cycle()
            .take(27)
            .map(|s| s.as_bytes().to_vec())
            .collect();
        assert_eq!(seen, want);
    }

    proptest! {
        #[test]
        fn agrees_with_a_naive_split(data in proptest::collection::vec(
            prop_oneof![Just(b'\n'), Just(b','), Just(b'"'), Just(b'\r'), Just(0xe9u8), 0u8..=255],
            0..400,
        )) {
            let want = naive(&data);
            for (name, f) in mask_fns() {
                prop_assert_eq!(split_with(&data, f), want.clone(), "{}", name);
            }
        }

        #[test]
        fn seek_anywhere_agrees(data in proptest::collection::vec(
            prop_oneof![Just(b'\n'), Just(b','), 0u8..=127], 0..300), at in 0usize..300) {
            let at = at.min(data.len());
            let mut lines = Lines::new(&data);
            lines.seek(at);
            let mut commas = Vec::new();
            let mut got = Vec::new();
            while let Some(line) = lines.next_line(&mut commas) {
                got.push((line, commas.clone()));
            }
            let want: Vec<(Line, Vec<usize>)> = naive(&data[at..])
                .into_iter()
                .map(|(l, c)| (
                    Line { start: l.start + at, end: l.end + at, ..l },
                    c.into_iter().map(|i| i + at).collect(),
                ))
                .collect();
            prop_assert_eq!(got, want);
        }
    }
}
