//! Streaming pcap/pcapng reading on top of `pcap-parser`.
//!
//! Frames are handed to a callback one at a time, so memory stays bounded by
//! the read buffer whatever the file size. Damage (a record cut short, a
//! corrupt header, an unknown interface) becomes a [`Problem`] naming the
//! packet index; everything read before it is kept.

use std::io::{self, Read};

use pcap_parser::nom;
use pcap_parser::pcap::{parse_pcap_frame, parse_pcap_frame_be, parse_pcap_header};
use pcap_parser::pcapng::Block;
use pcap_parser::{Linktype, PcapBlockOwned, PcapError, create_reader};

/// Initial parse buffer; grown on demand for large records.
const INITIAL_BUFFER: usize = 256 * 1024;
/// A record larger than this is treated as corruption.
const MAX_BUFFER: usize = 16 * 1024 * 1024;

/// One captured frame, borrowed from the reader's buffer.
#[derive(Debug)]
pub struct Frame<'a> {
    /// 1-based packet index within the file.
    pub index: u64,
    /// Capture time, nanoseconds since the Unix epoch.
    pub ts_ns: i64,
    /// Link-layer type of the interface the frame came from.
    pub linktype: i32,
    /// Captured bytes (may be shorter than `orig_len`).
    pub data: &'a [u8],
    /// Length of the frame on the wire.
    pub orig_len: u32,
}

/// Something wrong in a capture file; the file was read up to this point.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// File name as given on the command line (`-` for stdin).
    pub file: String,
    /// 1-based index of the packet where the problem was found (0: file header).
    pub packet: u64,
    /// What is wrong, in one line.
    pub message: String,
}

/// What reading one file produced besides the frames.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct FileSummary {
    /// File name as given.
    pub name: String,
    /// `pcap` or `pcapng`.
    pub format: String,
    /// Frames delivered.
    pub packets: u64,
    /// Bytes of the file consumed.
    pub bytes: u64,
    /// Link types seen (numeric DLT values).
    pub linktypes: Vec<i32>,
}

/// Errors that stop reading before any frame could be read.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The input could not be read at all.
    #[error("{file}: read error: {source}")]
    Io {
        /// File name.
        file: String,
        /// Cause.
        source: io::Error,
    },
}

/// Per-interface decoding parameters of a pcapng section.
#[derive(Debug, Clone, Copy)]
struct Interface {
    linktype: i32,
    units_per_second: u64,
    offset_seconds: i64,
}

/// Reads a whole capture, calling `on_frame` for each frame.
///
/// Returns the file summary and the problems met. Only an unreadable input is
/// an error; a damaged file yields problems.
pub fn read_capture<R, F>(
    name: &str,
    input: R,
    mut on_frame: F,
) -> Result<(FileSummary, Vec<Problem>), CaptureError>
where
    R: Read + Send,
    F: FnMut(&Frame<'_>),
{
    let mut summary = FileSummary {
        name: name.to_string(),
        ..FileSummary::default()
    };
    let mut problems = Vec::new();
    let problem = |packet: u64, message: String| Problem {
        file: name.to_string(),
        packet,
        message,
    };
    let mut reader = match create_reader(INITIAL_BUFFER, FullReads(input)) {
        Ok(reader) => reader,
        Err(PcapError::Eof) => {
            problems.push(problem(0, "empty file".into()));
            return Ok((summary, problems));
        }
        Err(PcapError::ReadError) => {
            return Err(CaptureError::Io {
                file: name.to_string(),
                source: io::Error::other("could not read the file header"),
            });
        }
        Err(_) => {
            problems.push(problem(
                0,
                "not a pcap or pcapng file (unknown magic number or damaged file header)".into(),
            ));
            return Ok((summary, problems));
        }
    };
    let mut state = ReadState::default();
    let mut capacity = INITIAL_BUFFER;
    loop {
        let next_index = summary.packets + 1;
        match reader.next() {
            Ok((offset, block)) => {
                if let Err(message) =
                    state.handle_block(block, next_index, &mut summary, &mut on_frame)
                {
                    problems.push(problem(next_index, message));
                }
                // No shift per record: `refill` moves the unread tail once
                // per buffer (`consume` would move half the buffer whenever
                // the read position passes the middle).
                reader.consume_noshift(offset);
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) => {
                if reader.refill().is_err() {
                    problems.push(problem(next_index, "read error while refilling".into()));
                    break;
                }
            }
            Err(PcapError::BufferTooSmall) => {
                capacity = capacity.saturating_mul(2);
                if capacity > MAX_BUFFER || !reader.grow(capacity) {
                    problems.push(problem(next_index, too_large_message()));
                    break;
                }
                if reader.refill().is_err() {
                    problems.push(problem(next_index, "read error while refilling".into()));
                    break;
                }
            }
            Err(PcapError::UnexpectedEof) => {
                problems.push(problem(next_index, TRUNCATED.into()));
                break;
            }
            Err(PcapError::ReadError) => {
                problems.push(problem(next_index, "read error".into()));
                break;
            }
            Err(err) => {
                problems.push(problem(
                    next_index,
                    format!("corrupt record ({}), stopped reading", describe(&err)),
                ));
                break;
            }
        }
    }
    summary.bytes = reader.consumed() as u64;
    summary.format = state.format.to_string();
    Ok((summary, problems))
}

/// Bytes between two progress reports of [`read_capture_bytes`].
pub const PROGRESS_STEP: usize = 8 * 1024 * 1024;

/// Reads a whole capture held in memory (a memory-mapped file), calling
/// `on_frame` for each frame and `progress` with the bytes consumed each
/// time another [`PROGRESS_STEP`] bytes are done (the caller may drop the
/// pages before that offset: nothing borrows them any more). Legacy pcap frames are borrowed straight from `data` (no copy);
/// pcapng, the rare "modified" pcap, and anything without a legacy pcap
/// header go through [`read_capture`] over the same bytes. Frames and
/// problems are those [`read_capture`] gives for the same bytes, except
/// that a record claiming 16 MiB or more is always reported as a corrupt
/// length (the streaming reader calls it truncated when the file ends
/// within a few MiB of it).
pub fn read_capture_bytes<F, P>(
    name: &str,
    data: &[u8],
    mut on_frame: F,
    mut progress: P,
) -> (FileSummary, Vec<Problem>)
where
    F: FnMut(&Frame<'_>),
    P: FnMut(u64),
{
    let legacy = parse_pcap_header(data)
        .ok()
        .filter(|(_, header)| !header.is_modified_format());
    let Some((records, header)) = legacy else {
        // pcapng or damaged: the streaming reader says which (it reports
        // no I/O error on a slice).
        let read = read_capture(name, data, on_frame);
        progress(data.len() as u64);
        return read.unwrap_or_else(|_| (FileSummary::default(), Vec::new()));
    };
    let big_endian = header.is_bigendian();
    let parse = if big_endian {
        parse_pcap_frame_be
    } else {
        parse_pcap_frame
    };
    let mut summary = FileSummary {
        name: name.to_string(),
        ..FileSummary::default()
    };
    let mut problems = Vec::new();
    let mut state = ReadState::default();
    let problem = |packet: u64, message: String| Problem {
        file: name.to_string(),
        packet,
        message,
    };
    // The file header, as the streaming reader delivers it.
    if let Err(message) = state.handle_block(
        PcapBlockOwned::LegacyHeader(header),
        1,
        &mut summary,
        &mut on_frame,
    ) {
        problems.push(problem(1, message));
    }
    let mut rest = records;
    let mut next_report = PROGRESS_STEP;
    loop {
        let next_index = summary.packets + 1;
        let consumed = data.len() - rest.len();
        if consumed >= next_report {
            progress(consumed as u64);
            next_report = consumed + PROGRESS_STEP;
        }
        if rest.is_empty() {
            break;
        }
        if let Some(message) = oversized_record(rest, big_endian) {
            problems.push(problem(next_index, message));
            break;
        }
        match parse(rest) {
            Ok((after, record)) => {
                let block = PcapBlockOwned::Legacy(record);
                if let Err(message) =
                    state.handle_block(block, next_index, &mut summary, &mut on_frame)
                {
                    problems.push(problem(next_index, message));
                }
                rest = after;
            }
            Err(nom::Err::Incomplete(_)) => {
                problems.push(problem(next_index, TRUNCATED.into()));
                break;
            }
            Err(nom::Err::Error(err) | nom::Err::Failure(err)) => {
                problems.push(problem(
                    next_index,
                    format!("corrupt record ({}), stopped reading", describe(&err)),
                ));
                break;
            }
        }
    }
    summary.bytes = (data.len() - rest.len()) as u64;
    summary.format = state.format.to_string();
    progress(summary.bytes);
    (summary, problems)
}

/// The streaming reader's verdict on a record whose header and data take
/// [`MAX_BUFFER`] bytes or more: its buffer cannot grow that far.
fn oversized_record(rest: &[u8], big_endian: bool) -> Option<String> {
    let caplen: [u8; 4] = rest.get(8..12)?.try_into().ok()?;
    let caplen = if big_endian {
        u32::from_be_bytes(caplen)
    } else {
        u32::from_le_bytes(caplen)
    };
    (16 + caplen as usize >= MAX_BUFFER).then(too_large_message)
}

fn too_large_message() -> String {
    format!("record larger than {MAX_BUFFER} bytes: corrupt length, stopped")
}

const TRUNCATED: &str = "file ends in the middle of this record (truncated capture)";

fn describe(err: &PcapError<&[u8]>) -> String {
    match err {
        PcapError::NomError(_, kind) => format!("parse error: {kind:?}"),
        PcapError::OwnedNomError(_, kind) => format!("parse error: {kind:?}"),
        PcapError::HeaderNotRecognized => "unknown block".into(),
        other => format!("{other:?}").chars().take(80).collect(),
    }
}

#[derive(Default)]
struct ReadState {
    format: &'static str,
    legacy: Option<LegacyParams>,
    interfaces: Vec<Interface>,
}

#[derive(Clone, Copy)]
struct LegacyParams {
    linktype: i32,
    nanoseconds: bool,
}

impl ReadState {
    fn handle_block<F: FnMut(&Frame<'_>)>(
        &mut self,
        block: PcapBlockOwned<'_>,
        index: u64,
        summary: &mut FileSummary,
        on_frame: &mut F,
    ) -> Result<(), String> {
        match block {
            PcapBlockOwned::LegacyHeader(header) => {
                self.format = "pcap";
                let params = LegacyParams {
                    linktype: header.network.0,
                    nanoseconds: header.is_nanosecond_precision(),
                };
                note_linktype(summary, params.linktype);
                self.legacy = Some(params);
                Ok(())
            }
            PcapBlockOwned::Legacy(record) => {
                let params = self.legacy.ok_or("record before the file header")?;
                let frac_ns = if params.nanoseconds {
                    i64::from(record.ts_usec)
                } else {
                    i64::from(record.ts_usec) * 1_000
                };
                let ts_ns = i64::from(record.ts_sec) * 1_000_000_000 + frac_ns;
                let data = record.data;
                summary.packets += 1;
                on_frame(&Frame {
                    index,
                    ts_ns,
                    linktype: params.linktype,
                    data,
                    orig_len: record.origlen,
                });
                check_lengths(record.caplen, record.origlen)
            }
            PcapBlockOwned::NG(block) => self.handle_ng(block, index, summary, on_frame),
        }
    }

    fn handle_ng<F: FnMut(&Frame<'_>)>(
        &mut self,
        block: Block<'_>,
        index: u64,
        summary: &mut FileSummary,
        on_frame: &mut F,
    ) -> Result<(), String> {
        self.format = "pcapng";
        match block {
            Block::SectionHeader(_) => {
                self.interfaces.clear();
                Ok(())
            }
            Block::InterfaceDescription(idb) => {
                let units = idb.ts_resolution().filter(|u| *u > 0);
                let interface = Interface {
                    linktype: idb.linktype.0,
                    units_per_second: units.unwrap_or(1_000_000),
                    offset_seconds: idb.ts_offset(),
                };
                note_linktype(summary, interface.linktype);
                self.interfaces.push(interface);
                match units {
                    Some(_) => Ok(()),
                    None => Err("interface with invalid timestamp resolution".into()),
                }
            }
            Block::EnhancedPacket(epb) => {
                let interface = self
                    .interface(epb.if_id)
                    .ok_or_else(|| format!("packet on undeclared interface {}", epb.if_id))?;
                let raw = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                let caplen = epb.caplen as usize;
                let data = epb.data.get(..caplen).unwrap_or(epb.data);
                summary.packets += 1;
                on_frame(&Frame {
                    index,
                    ts_ns: to_nanos(raw, interface),
                    linktype: interface.linktype,
                    data,
                    orig_len: epb.origlen,
                });
                check_lengths(epb.caplen, epb.origlen)
            }
            Block::SimplePacket(spb) => {
                let interface = self
                    .interface(0)
                    .ok_or("simple packet block without an interface")?;
                summary.packets += 1;
                on_frame(&Frame {
                    index,
                    ts_ns: 0,
                    linktype: interface.linktype,
                    data: spb.data,
                    orig_len: spb.origlen,
                });
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn interface(&self, id: u32) -> Option<Interface> {
        self.interfaces.get(usize::try_from(id).ok()?).copied()
    }
}

fn note_linktype(summary: &mut FileSummary, linktype: i32) {
    if !summary.linktypes.contains(&linktype) {
        summary.linktypes.push(linktype);
    }
}

fn check_lengths(caplen: u32, origlen: u32) -> Result<(), String> {
    if caplen > origlen && origlen != 0 {
        Err(format!(
            "captured length {caplen} exceeds the original length {origlen}"
        ))
    } else {
        Ok(())
    }
}

/// Converts a pcapng timestamp in interface units to Unix nanoseconds,
/// saturating instead of overflowing on hostile values.
fn to_nanos(raw: u64, interface: Interface) -> i64 {
    let units = u128::from(interface.units_per_second);
    let raw = u128::from(raw);
    let seconds = raw / units;
    let fraction_ns = (raw % units) * 1_000_000_000 / units;
    let total = (seconds * 1_000_000_000 + fraction_ns).min(i64::MAX as u128) as i64;
    total.saturating_add(interface.offset_seconds.saturating_mul(1_000_000_000))
}

/// Reader whose every `read` fills the buffer unless the input ends, so the
/// header probe of `create_reader` sees whole headers even from a pipe.
struct FullReads<R>(R);

impl<R: Read> Read for FullReads<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.0.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) if filled == 0 => return Err(err),
                Err(_) => break,
            }
        }
        Ok(filled)
    }
}

/// Link type constants used by the decoder (tcpdump.org DLT_* numbers).
pub mod dlt {
    use super::Linktype;
    /// BSD loopback (host byte order family).
    pub const NULL: i32 = Linktype::NULL.0;
    /// Ethernet.
    pub const ETHERNET: i32 = Linktype::ETHERNET.0;
    /// Raw IP (OpenBSD/Linux value 101).
    pub const RAW: i32 = Linktype::RAW.0;
    /// Raw IP, historical value 12.
    pub const RAW_12: i32 = 12;
    /// Raw IP, historical value 14.
    pub const RAW_14: i32 = 14;
    /// OpenBSD loopback (network byte order family).
    pub const LOOP: i32 = Linktype::LOOP.0;
    /// Linux cooked capture v1.
    pub const LINUX_SLL: i32 = Linktype::LINUX_SLL.0;
    /// Raw IPv4.
    pub const IPV4: i32 = Linktype::IPV4.0;
    /// Raw IPv6.
    pub const IPV6: i32 = Linktype::IPV6.0;
    /// Linux cooked capture v2.
    pub const LINUX_SLL2: i32 = Linktype::LINUX_SLL2.0;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn legacy_header(magic: [u8; 4], linktype: u32) -> Vec<u8> {
        let mut out = magic.to_vec();
        out.extend_from_slice(&2u16.to_le_bytes());
        out.extend_from_slice(&4u16.to_le_bytes());
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(&65535u32.to_le_bytes());
        out.extend_from_slice(&linktype.to_le_bytes());
        out
    }

    fn record(sec: u32, frac: u32, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for v in [sec, frac, data.len() as u32, data.len() as u32] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(data);
        out
    }

    fn collect(bytes: &[u8]) -> (Vec<(u64, i64, usize)>, Vec<Problem>) {
        let mut frames = Vec::new();
        let (_, problems) = read_capture("t", bytes, |f| {
            frames.push((f.index, f.ts_ns, f.data.len()))
        })
        .expect("readable");
        (frames, problems)
    }

    #[test]
    fn microsecond_and_nanosecond_timestamps() {
        let mut micro = legacy_header([0xd4, 0xc3, 0xb2, 0xa1], 101);
        micro.extend(record(10, 5, &[0x45; 20]));
        let (frames, problems) = collect(&micro);
        assert!(problems.is_empty());
        assert_eq!(frames, vec![(1, 10_000_005_000, 20)]);

        let mut nano = legacy_header([0x4d, 0x3c, 0xb2, 0xa1], 101);
        nano.extend(record(10, 5, &[0x45; 20]));
        let (frames, _) = collect(&nano);
        assert_eq!(frames, vec![(1, 10_000_000_005, 20)]);
    }

    #[test]
    fn truncated_record_is_a_problem_with_its_index() {
        let mut file = legacy_header([0xd4, 0xc3, 0xb2, 0xa1], 101);
        file.extend(record(1, 0, &[0x45; 20]));
        let second = record(2, 0, &[0x45; 40]);
        file.extend_from_slice(&second[..30]);
        let (frames, problems) = collect(&file);
        assert_eq!(frames.len(), 1);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].packet, 2);
        assert!(problems[0].message.contains("truncated"), "{problems:?}");
    }

    #[test]
    fn garbage_is_reported_not_fatal() {
        let (frames, problems) = collect(b"this is not a capture file at all, just text\n");
        assert!(frames.is_empty());
        assert_eq!(problems[0].packet, 0);
        let (_, problems) = collect(b"");
        assert_eq!(problems[0].message, "empty file");
    }

    #[test]
    fn pcapng_offsets_do_not_overflow() {
        let interface = Interface {
            linktype: 1,
            units_per_second: 1,
            offset_seconds: i64::MAX,
        };
        assert_eq!(to_nanos(u64::MAX, interface), i64::MAX);
    }

    type Seen = (
        Vec<(u64, i64, i32, Vec<u8>, u32)>,
        FileSummary,
        Vec<Problem>,
    );

    fn streamed(bytes: &[u8]) -> Seen {
        let mut frames = Vec::new();
        let (summary, problems) = read_capture("t", bytes, |f| {
            frames.push((f.index, f.ts_ns, f.linktype, f.data.to_vec(), f.orig_len))
        })
        .expect("readable");
        (frames, summary, problems)
    }

    fn in_memory(bytes: &[u8]) -> Seen {
        let mut frames = Vec::new();
        let mut last_progress = 0;
        let (summary, problems) = read_capture_bytes(
            "t",
            bytes,
            |f| frames.push((f.index, f.ts_ns, f.linktype, f.data.to_vec(), f.orig_len)),
            |done| {
                assert!(done >= last_progress && done <= bytes.len() as u64);
                last_progress = done;
            },
        );
        (frames, summary, problems)
    }

    fn assert_same(bytes: &[u8], what: &str) {
        let (a, b) = (streamed(bytes), in_memory(bytes));
        assert_eq!(a.0, b.0, "{what}: frames");
        assert_eq!(
            (&a.1.format, a.1.packets, a.1.bytes, &a.1.linktypes),
            (&b.1.format, b.1.packets, b.1.bytes, &b.1.linktypes),
            "{what}: summary"
        );
        assert_eq!(a.2, b.2, "{what}: problems");
    }

    #[test]
    fn in_memory_reading_equals_streaming() {
        let mut file = legacy_header([0xd4, 0xc3, 0xb2, 0xa1], 1);
        for i in 0..200u32 {
            let len = (i as usize * 37) % 1500 + 1;
            file.extend(record(i, i * 3, &vec![i as u8; len]));
        }
        // A record whose captured length exceeds its original length.
        let mut odd = record(7, 0, &[0x45; 30]);
        odd[12..16].copy_from_slice(&10u32.to_le_bytes());
        file.extend(odd);
        assert_same(&file, "whole");
        // Cut anywhere: truncation is reported at the same packet.
        for cut in (0..file.len()).step_by(97) {
            assert_same(&file[..cut], &format!("cut at {cut}"));
        }
        // Big-endian nanosecond files, and files that are not legacy pcap.
        let mut be = vec![0xa1, 0xb2, 0x3c, 0x4d, 0, 2, 0, 4];
        be.extend_from_slice(&[0; 8]);
        be.extend_from_slice(&65535u32.to_be_bytes());
        be.extend_from_slice(&101u32.to_be_bytes());
        for v in [5u32, 6, 20, 20] {
            be.extend_from_slice(&v.to_be_bytes());
        }
        be.extend_from_slice(&[0x45; 20]);
        assert_same(&be, "big-endian");
        assert_same(b"", "empty");
        assert_same(b"not a capture file at all, just some text", "text");
        assert_same(&[0x0a, 0x0d, 0x0d, 0x0a, 1, 2, 3], "pcapng stub");
    }

    #[test]
    fn in_memory_reading_stops_at_a_corrupt_length() {
        let mut file = legacy_header([0xd4, 0xc3, 0xb2, 0xa1], 101);
        file.extend(record(1, 0, &[0x45; 20]));
        let mut huge = record(2, 0, &[0x45; 20]);
        huge[8..12].copy_from_slice(&(MAX_BUFFER as u32).to_le_bytes());
        file.extend(huge);
        let (frames, _, problems) = in_memory(&file);
        assert_eq!(frames.len(), 1);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].packet, 2);
        assert!(
            problems[0].message.contains("corrupt length"),
            "{problems:?}"
        );
    }
}
