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
    /// It holds a `"` or a `\r` (quoting or a CRLF ending), or it is too long for
    /// `u32` comma offsets: for the `csv` crate.
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

/// Computes the [`Masks`] of one chunk (the tests check every way byte by byte).
#[cfg(test)]
type MaskFn = fn(&[u8; CHUNK]) -> Masks;

/// Chunks whose masks one call computes: one indirect call per chunk, its result
/// passed through memory, added a sixth to the compares themselves.
const WINDOW: usize = 8;
/// Bytes of a window.
const WIDE: usize = WINDOW * CHUNK;

/// Computes the [`Masks`] of the [`WINDOW`] chunks of `WIDE` bytes.
type WindowFn = fn(&[u8; WIDE], &mut [Masks; WINDOW]);

/// The fastest [`WindowFn`] this processor runs.
fn best_window_fn() -> WindowFn {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512bw") {
            return avx512::window_detected;
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            return avx2::window_detected;
        }
    }
    Masks::of_window
}

impl Masks {
    /// Vector compares, 16 bytes at a time.
    #[cfg(all(test, target_arch = "x86_64"))]
    fn of_chunk(chunk: &[u8; CHUNK]) -> Self {
        // SAFETY: SSE2 is part of the x86-64 baseline: every x86-64 CPU has it.
        unsafe { sse2::masks(chunk) }
    }

    /// A window's masks by vector compares, 16 bytes at a time.
    #[cfg(target_arch = "x86_64")]
    fn of_window(wide: &[u8; WIDE], out: &mut [Masks; WINDOW]) {
        // SAFETY: SSE2 is part of the x86-64 baseline: every x86-64 CPU has it.
        unsafe { sse2::window(wide, out) }
    }

    /// The same, a byte at a time, where SSE2 is not there.
    #[cfg(not(target_arch = "x86_64"))]
    fn of_window(wide: &[u8; WIDE], out: &mut [Masks; WINDOW]) {
        Self::bytewise_window(wide, out)
    }

    /// A window's masks a byte at a time.
    #[cfg(any(test, not(target_arch = "x86_64")))]
    fn bytewise_window(wide: &[u8; WIDE], out: &mut [Masks; WINDOW]) {
        for (slot, chunk) in out.iter_mut().zip(wide.as_chunks::<CHUNK>().0) {
            *slot = Self::bytewise(chunk);
        }
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
    use super::{CHUNK, Masks, WIDE, WINDOW};
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

    /// The masks of every chunk of a window.
    #[target_feature(enable = "sse2")]
    pub(super) fn window(wide: &[u8; WIDE], out: &mut [Masks; WINDOW]) {
        for (slot, chunk) in out.iter_mut().zip(wide.as_chunks::<CHUNK>().0) {
            *slot = masks(chunk);
        }
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
    use super::{CHUNK, Masks, WIDE, WINDOW};
    use std::arch::x86_64::{
        __m256i, _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_movemask_epi8, _mm256_or_si256,
        _mm256_set1_epi8,
    };

    /// [`masks`], for the tests, where they found AVX2.
    #[cfg(test)]
    pub(super) fn masks_detected(chunk: &[u8; CHUNK]) -> Masks {
        // SAFETY: the tests hand this out only after
        // `is_x86_feature_detected!("avx2")`.
        unsafe { masks(chunk) }
    }

    /// [`window`], for a processor [`super::best_window_fn`] found AVX2 on.
    pub(super) fn window_detected(wide: &[u8; WIDE], out: &mut [Masks; WINDOW]) {
        // SAFETY: only `best_window_fn` (or a test) hands this out, after
        // `is_x86_feature_detected!("avx2")`.
        unsafe { window(wide, out) }
    }

    /// The masks of every chunk of a window.
    #[target_feature(enable = "avx2")]
    fn window(wide: &[u8; WIDE], out: &mut [Masks; WINDOW]) {
        for (slot, chunk) in out.iter_mut().zip(wide.as_chunks::<CHUNK>().0) {
            *slot = masks(chunk);
        }
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
    use super::{CHUNK, Masks, WIDE, WINDOW};
    use std::arch::x86_64::{
        __m512i, _mm512_cmpeq_epi8_mask, _mm512_loadu_si512, _mm512_movepi8_mask, _mm512_set1_epi8,
    };

    /// [`masks`], for the tests, where they found AVX-512BW.
    #[cfg(test)]
    pub(super) fn masks_detected(chunk: &[u8; CHUNK]) -> Masks {
        // SAFETY: the tests hand this out only after
        // `is_x86_feature_detected!("avx512bw")`.
        unsafe { masks(chunk) }
    }

    /// [`window`], for a processor [`super::best_window_fn`] found AVX-512BW on.
    pub(super) fn window_detected(wide: &[u8; WIDE], out: &mut [Masks; WINDOW]) {
        // SAFETY: only `best_window_fn` (or a test) hands this out, after
        // `is_x86_feature_detected!("avx512bw")`.
        unsafe { window(wide, out) }
    }

    /// The masks of every chunk of a window.
    #[target_feature(enable = "avx512bw")]
    fn window(wide: &[u8; WIDE], out: &mut [Masks; WINDOW]) {
        for (slot, chunk) in out.iter_mut().zip(wide.as_chunks::<CHUNK>().0) {
            *slot = masks(chunk);
        }
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
    of_window: WindowFn,
    /// Offset of the chunk `masks` describe.
    base: usize,
    masks: Masks,
    /// The masks of the [`WINDOW`] chunks from offset `window_base`.
    window: [Masks; WINDOW],
    window_base: usize,
    /// Offset of the next line.
    pos: usize,
    /// A line reaching further than this past its first byte is marked careful
    /// (its comma offsets would not fit a `u32`; tests make it small).
    max_reach: usize,
    /// The offsets of the last line's commas from its first byte, in
    /// `commas[..comma_count]`; always at least a chunk's worth of slots longer,
    /// so that a chunk's commas are written without growing it (a `Vec::push`
    /// per comma was a quarter of the walk).
    commas: Vec<u32>,
    comma_count: usize,
}

/// How far past its first byte a line's comma offsets may reach (see
/// [`Lines::next_line`]): every offset of the chunk being read fits a `u32`.
const MAX_REACH: usize = u32::MAX as usize - CHUNK;

impl<'a> Lines<'a> {
    /// Starts at the first byte of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Self::with_window_fn(data, best_window_fn())
    }

    fn with_window_fn(data: &'a [u8], of_window: WindowFn) -> Self {
        let mut lines = Lines {
            data,
            of_window,
            base: 0,
            masks: Masks::default(),
            window: [Masks::default(); WINDOW],
            window_base: 0,
            pos: 0,
            max_reach: MAX_REACH,
            commas: vec![0; 2 * CHUNK],
            comma_count: 0,
        };
        lines.fill_window(0);
        lines.masks = lines.masks_at(0);
        lines
    }

    /// The masks of the chunk at `base` (a multiple of [`CHUNK`]), from the window
    /// (computed anew from `base` when that is outside it).
    fn masks_at(&mut self, base: usize) -> Masks {
        let i = base.wrapping_sub(self.window_base) / CHUNK;
        if let Some(&m) = self.window.get(i) {
            return m;
        }
        self.fill_window(base);
        self.window[0]
    }

    /// Computes the window of masks from `base` (bytes past the end count as none).
    fn fill_window(&mut self, base: usize) {
        self.window_base = base;
        let rest = self.data.get(base..).unwrap_or_default();
        match rest.first_chunk::<WIDE>() {
            Some(wide) => (self.of_window)(wide, &mut self.window),
            None => {
                let mut wide = [0u8; WIDE];
                for (dst, &b) in wide.iter_mut().zip(rest) {
                    *dst = b;
                }
                (self.of_window)(&wide, &mut self.window);
            }
        }
    }

    /// Continues at offset `pos` (after a record read some other way).
    pub fn seek(&mut self, pos: usize) {
        self.pos = pos.min(self.data.len());
        self.base = self.pos / CHUNK * CHUNK;
        self.masks = self.masks_at(self.base);
        let skip = self.pos - self.base;
        self.masks.clear((1u64 << skip) - 1);
    }

    /// The offsets of the last line's commas from its first byte (see
    /// [`Self::next_line`]).
    pub fn commas(&self) -> &[u32] {
        self.commas.get(..self.comma_count).unwrap_or_default()
    }

    /// Notes the commas in `bits` (offsets `shift + i` from the line's first byte),
    /// lowest first. Inlined: a call per chunk cost more than its few commas.
    #[inline(always)]
    fn push_commas(&mut self, bits: u64, shift: u32) {
        let n = self.comma_count;
        if self.commas.len() < n + CHUNK {
            // Rare: only a line with more commas than any before grows the slots,
            // so a chunk's commas (64 at most) always find theirs.
            self.commas.resize(2 * (n + CHUNK), 0);
        }
        let (mut rest, mut n) = (bits, n);
        while let Some(bit) = std::num::NonZeroU64::new(rest) {
            if let Some(slot) = self.commas.get_mut(n) {
                *slot = shift.wrapping_add(bit.trailing_zeros());
            }
            n += 1;
            rest &= rest - 1;
        }
        self.comma_count = n;
    }

    /// The next line; [`Self::commas`] then gives the offsets of its commas from
    /// its first byte. A line longer than a `u32` offset reaches (never in a real
    /// log) comes back careful, its commas meaningless: the `csv` crate reads it.
    pub fn next_line(&mut self) -> Option<Line> {
        if self.pos >= self.data.len() {
            return None;
        }
        let start = self.pos;
        self.comma_count = 0;
        let (mut careful, mut high) = (false, false);
        let mut m = self.masks;
        loop {
            // Offset of this chunk from the line's first byte, modulo 2^32 (the
            // line's first chunk starts before it): exact for every offset below
            // `max_reach`, and a longer line is careful.
            let shift = (self.base as u32).wrapping_sub(start as u32);
            if m.newline != 0 {
                let k = m.newline.trailing_zeros();
                let before = (1u64 << k) - 1;
                self.push_commas(m.comma & before, shift);
                careful |= m.careful & before != 0;
                high |= m.high & before != 0;
                m.clear(before | (1u64 << k));
                self.masks = m;
                let end = self.base + k as usize;
                self.pos = end + 1;
                return Some(Line {
                    start,
                    end,
                    careful,
                    ascii: !high,
                });
            }
            self.push_commas(m.comma, shift);
            careful |= m.careful != 0;
            high |= m.high != 0;
            self.base += CHUNK;
            careful |= self.base - start > self.max_reach;
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
            m = self.masks_at(self.base);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The same split done the obvious way.
    fn naive(data: &[u8]) -> Vec<(Line, Vec<u32>)> {
        let mut out = Vec::new();
        let mut start = 0;
        while start < data.len() {
            let end = data[start..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(data.len(), |p| start + p);
            let line = &data[start..end];
            let commas = (start..end)
                .filter(|&i| data[i] == b',')
                .map(|i| u32::try_from(i - start).unwrap())
                .collect();
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

    /// Every way of computing a window of masks this processor runs, the byte
    /// loop first.
    fn window_fns() -> Vec<(&'static str, WindowFn)> {
        let mut fns: Vec<(&'static str, WindowFn)> = vec![("bytewise", Masks::bytewise_window)];
        #[cfg(target_arch = "x86_64")]
        {
            fns.push(("sse2", Masks::of_window));
            if std::arch::is_x86_feature_detected!("avx2") {
                fns.push(("avx2", avx2::window_detected));
            }
            if std::arch::is_x86_feature_detected!("avx512bw") {
                fns.push(("avx512bw", avx512::window_detected));
            }
        }
        fns
    }

    fn split_with(data: &[u8], of_window: WindowFn) -> Vec<(Line, Vec<u32>)> {
        let mut lines = Lines::with_window_fn(data, of_window);
        let mut out = Vec::new();
        while let Some(line) = lines.next_line() {
            out.push((line, lines.commas().to_vec()));
        }
        out
    }

    fn split(data: &[u8]) -> Vec<(Line, Vec<u32>)> {
        split_with(data, best_window_fn())
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
        for len in [
            0, 1, 62, 63, 64, 65, 127, 128, 129, 200, 511, 512, 513, 1100,
        ] {
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
        // More commas on one line than any line before had: the slots grow.
        let many = [b",".repeat(70), b",x".repeat(300), b",,".repeat(900)].join(&b'\n');
        assert_eq!(split(&many), naive(&many));
        assert_eq!(
            split(b"a,\"b\"\r\nr\xc3\xa9,x"),
            naive(b"a,\"b\"\r\nr\xc3\xa9,x")
        );
    }

    #[test]
    fn seek_continues_mid_chunk() {
        let data = b"a,b\n\"x\ny\",z\nc,d\ne,f,g\n".repeat(40);
        let mut lines = Lines::new(&data);
        let mut seen = Vec::new();
        while let Some(line) = lines.next_line() {
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
            .take(120)
            .map(|s| s.as_bytes().to_vec())
            .collect();
        assert_eq!(seen, want);
    }

    /// A line reaching past `max_reach` comes back careful (for the `csv` crate),
    /// with its bounds right and the lines after it split as before.
    #[test]
    fn lines_too_long_for_u32_offsets_are_careful() {
        let mut data = b"a,b\n".to_vec();
        data.extend(std::iter::repeat_n(b'x', 300));
        data.extend_from_slice(b",y\nc,d\ne");
        for (name, f) in window_fns() {
            let mut lines = Lines::with_window_fn(&data, f);
            lines.max_reach = 100;
            let mut got = Vec::new();
            while let Some(line) = lines.next_line() {
                let commas = if line.careful {
                    None
                } else {
                    Some(lines.commas().to_vec())
                };
                got.push((line.start, line.end, line.careful, commas));
            }
            let want = vec![
                (0, 3, false, Some(vec![1])),
                (4, 306, true, None),
                (307, 310, false, Some(vec![1])),
                (311, 312, false, Some(vec![])),
            ];
            assert_eq!(got, want, "{name}");
        }
    }

    proptest! {
        #[test]
        fn agrees_with_a_naive_split(data in proptest::collection::vec(
            prop_oneof![Just(b'\n'), Just(b','), Just(b'"'), Just(b'\r'), Just(0xe9u8), 0u8..=255],
            0..1400,
        )) {
            let want = naive(&data);
            for (name, f) in window_fns() {
                prop_assert_eq!(split_with(&data, f), want.clone(), "{}", name);
            }
        }

        #[test]
        fn seek_anywhere_agrees(data in proptest::collection::vec(
            prop_oneof![Just(b'\n'), Just(b','), 0u8..=127], 0..1200), at in 0usize..1200) {
            let at = at.min(data.len());
            let mut lines = Lines::new(&data);
            lines.seek(at);
            let mut got = Vec::new();
            while let Some(line) = lines.next_line() {
                got.push((line, lines.commas().to_vec()));
            }
            let want: Vec<(Line, Vec<u32>)> = naive(&data[at..])
                .into_iter()
                .map(|(l, c)| (Line { start: l.start + at, end: l.end + at, ..l }, c))
                .collect();
            prop_assert_eq!(got, want);
        }
    }
}
