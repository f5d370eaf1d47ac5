//! Per-packet state: flows, DNS transactions and application records.

use std::collections::{HashMap, VecDeque};
use std::io::Read;
use std::net::IpAddr;

use crate::capture::{CaptureError, FileSummary, Frame, Problem, read_capture, read_capture_bytes};
use crate::decode::{Datagram, Decoder, Skip, TcpFlags, Transport};
pub use crate::dns::DnsEntry;
use crate::dns::DnsPipe;
use crate::proto::{self, BodyLen, Parsed, looks_like_http_request, looks_like_tls};
use crate::stream::Reassembler;

/// Most problems listed individually (the rest are counted).
const MAX_PROBLEMS: usize = 1000;
/// Most HTTP/TLS/TFTP records kept.
const MAX_RECORDS: usize = 100_000;
/// Most bytes buffered by all TCP streams together.
const MAX_TOTAL_BUFFERED: usize = 256 * 1024 * 1024;

/// Tuning knobs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Ports whose UDP/TCP payload is DNS (53 plus any extra).
    pub dns_ports: Vec<u16>,
    /// Keep private/reserved addresses and special-use names in the IOC list.
    pub include_private: bool,
    /// Distinct destinations on one port that make a scan.
    pub scan_min_destinations: usize,
    /// Most flows tracked; further flows are only counted.
    pub max_flows: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            dns_ports: vec![53],
            include_private: false,
            scan_min_destinations: 16,
            max_flows: 1_000_000,
        }
    }
}

/// Transport protocol of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl std::fmt::Display for Proto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        })
    }
}

/// An (address, port) pair.
pub type Sock = (IpAddr, u16);

/// Packet and byte counts of one direction.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Counter {
    /// Packets.
    pub packets: u64,
    /// Bytes on the wire.
    pub bytes: u64,
}

impl Counter {
    fn add(&mut self, bytes: u64) {
        self.packets += 1;
        self.bytes += bytes;
    }

    pub(crate) fn merge(&mut self, other: Counter) {
        self.packets += other.packets;
        self.bytes += other.bytes;
    }
}

/// One conversation, oriented client → server.
#[derive(Debug)]
pub struct Flow {
    /// TCP or UDP.
    pub proto: Proto,
    /// Initiator.
    pub client: Sock,
    /// Responder.
    pub server: Sock,
    /// First packet time (ns).
    pub first_ns: i64,
    /// Last packet time (ns).
    pub last_ns: i64,
    /// Client → server.
    pub to_server: Counter,
    /// Server → client.
    pub to_client: Counter,
    /// SYN from the client seen.
    pub syn: bool,
    /// SYN-ACK from the server seen.
    pub synack: bool,
    /// Handshake completed or data flowed both ways.
    pub established: bool,
    /// A RST was seen.
    pub reset: bool,
    /// Initial sequence numbers (client, server) from the SYNs.
    isn: (Option<u32>, Option<u32>),
    app: Option<Box<TcpApp>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AppKind {
    Undecided,
    Http,
    Tls,
    Dns,
    Ignored,
}

#[derive(Debug)]
struct TcpApp {
    kind: AppKind,
    up: Reassembler,
    down: Reassembler,
    up_skip: usize,
    down_skip: usize,
    up_done: bool,
    down_done: bool,
    /// HTTP requests waiting for their response: (record index, was HEAD).
    awaiting: VecDeque<(usize, bool)>,
}

impl TcpApp {
    fn new(kind: AppKind, isn: (Option<u32>, Option<u32>)) -> Self {
        Self {
            kind,
            up: Reassembler::after_syn(isn.0),
            down: Reassembler::after_syn(isn.1),
            up_skip: 0,
            down_skip: 0,
            up_done: false,
            down_done: false,
            awaiting: VecDeque::new(),
        }
    }

    fn buffered(&self) -> usize {
        self.up.buffered() + self.down.buffered()
    }

    /// Frees the buffers of finished (or overflowed) directions.
    fn release_finished(&mut self) {
        for (stream, done) in [
            (&mut self.up, &mut self.up_done),
            (&mut self.down, &mut self.down_done),
        ] {
            *done |= stream.overflowed;
            if *done {
                stream.release();
            }
        }
    }
}

/// Hash map with a fast, randomly seeded hasher (per-packet lookups).
pub(crate) type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Flow table key: protocol and the two sockets in sorted order.
pub(crate) type FlowKey = (Proto, Sock, Sock);

fn flow_key(proto: Proto, a: Sock, b: Sock) -> FlowKey {
    if a <= b { (proto, a, b) } else { (proto, b, a) }
}

/// One TCP segment as the stream layer sees it.
struct Segment<'a> {
    from_client: bool,
    flags: TcpFlags,
    seq: u32,
    payload: &'a [u8],
    ts_ns: i64,
}

/// An HTTP request with its response code.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HttpRecord {
    /// Request time (ns).
    #[serde(skip)]
    pub ts_ns: i64,
    /// Client ip.
    pub client: IpAddr,
    /// Server ip.
    pub server: IpAddr,
    /// Server port.
    pub port: u16,
    /// Method.
    pub method: String,
    /// Host header.
    pub host: Option<String>,
    /// Request target.
    pub uri: String,
    /// User-Agent header.
    pub user_agent: Option<String>,
    /// Response status code, when the response was seen.
    pub status: Option<u16>,
}

/// A TLS ClientHello.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TlsRecord {
    /// Time (ns).
    #[serde(skip)]
    pub ts_ns: i64,
    /// Client ip.
    pub client: IpAddr,
    /// Server ip.
    pub server: IpAddr,
    /// Server port.
    pub port: u16,
    /// SNI.
    pub sni: Option<String>,
    /// ALPN offers.
    pub alpn: Vec<String>,
    /// JA3 hash.
    pub ja3: String,
    /// JA3 string.
    pub ja3_string: String,
}

/// A TFTP read/write request.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TftpRecord {
    /// Time (ns).
    #[serde(skip)]
    pub ts_ns: i64,
    /// Client ip.
    pub client: IpAddr,
    /// Server ip.
    pub server: IpAddr,
    /// Server port.
    pub port: u16,
    /// `RRQ` or `WRQ`.
    pub op: String,
    /// File name.
    pub file: String,
    /// Transfer mode.
    pub mode: String,
}

/// Counters over the whole run.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Stats {
    /// Frames read.
    pub frames: u64,
    /// TCP/UDP datagrams decoded.
    pub datagrams: u64,
    /// Frames that are not IP TCP/UDP (ARP, ICMP...).
    pub other_frames: u64,
    /// Frames with damaged headers.
    pub malformed_frames: u64,
    /// Frames of link types not decoded.
    pub unsupported_linktype_frames: u64,
    /// Fragment reassemblies abandoned (timeout, bounds, overlap).
    pub fragments_dropped: u64,
    /// Flows not tracked because of the flow limit.
    pub untracked_flows: u64,
    /// Problems beyond the listed ones.
    pub problems_not_listed: u64,
    /// TCP stream data not parsed because all streams together hit the buffer budget.
    pub streams_over_budget: u64,
    /// Earliest frame time (ns).
    pub first_ns: Option<i64>,
    /// Latest frame time (ns).
    pub last_ns: Option<i64>,
}

/// Keeps only a window of a mapped capture in the page tables: the next
/// stretch is populated in one call ahead of the reader (one system call
/// instead of a page fault every few pages), and what the reader is done
/// with is unmapped from this process (the page cache keeps it), so the
/// resident size stays bounded whatever the file size.
struct MapWindow<'a> {
    map: &'a memmap2::Mmap,
    populated: usize,
    released: usize,
}

impl<'a> MapWindow<'a> {
    /// Populated ahead of the reader.
    const AHEAD: usize = 4 * crate::capture::PROGRESS_STEP;

    fn new(map: &'a memmap2::Mmap) -> Self {
        let _ = map.advise(memmap2::Advice::Sequential);
        let mut window = Self {
            map,
            populated: 0,
            released: 0,
        };
        window.advance(0);
        window
    }

    fn advance(&mut self, consumed: usize) {
        let len = self.map.len();
        let target = consumed.saturating_add(Self::AHEAD).min(len);
        if target > self.populated {
            // Best effort: an old kernel without MADV_POPULATE_READ just
            // faults pages in as they are read.
            let _ = self.map.advise_range(
                memmap2::Advice::PopulateRead,
                self.populated,
                target - self.populated,
            );
            self.populated = target;
        }
        // Page-aligned (the map starts on a page), one step behind.
        let done = consumed.saturating_sub(crate::capture::PROGRESS_STEP) & !0xfff_usize;
        if done > self.released {
            // SAFETY: a read-only file mapping; MADV_DONTNEED only drops
            // this process's page-table entries (a later read would fault
            // the same file contents back in). Nothing borrows bytes before
            // `consumed`: the analyzer copies what it keeps from a frame.
            let _ = unsafe {
                self.map.unchecked_advise_range(
                    memmap2::UncheckedAdvice::DontNeed,
                    self.released,
                    done - self.released,
                )
            };
            self.released = done;
        }
    }
}

/// A reader that reports the bytes read so far.
struct ProgressRead<'a, R, P> {
    inner: R,
    read: &'a mut u64,
    report: &'a mut P,
}

impl<R: Read, P: FnMut(u64)> Read for ProgressRead<'_, R, P> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        *self.read += n as u64;
        (self.report)(*self.read);
        Ok(n)
    }
}

/// Accumulates one or more captures into a report.
pub struct Analyzer {
    pub(crate) options: Options,
    decoder: Decoder,
    pub(crate) flows: FastMap<FlowKey, Flow>,
    buffered: usize,
    /// DNS messages go to the DNS table (and DGA scoring) on a second thread.
    pub(crate) dns: DnsPipe,
    pub(crate) http: Vec<HttpRecord>,
    pub(crate) tls: Vec<TlsRecord>,
    pub(crate) tftp: Vec<TftpRecord>,
    pub(crate) problems: Vec<Problem>,
    pub(crate) files: Vec<FileSummary>,
    pub(crate) stats: Stats,
}

impl Analyzer {
    /// A fresh analyzer.
    pub fn new(options: Options) -> Self {
        Self {
            options,
            decoder: Decoder::default(),
            flows: FastMap::default(),
            buffered: 0,
            dns: DnsPipe::default(),
            http: Vec::new(),
            tls: Vec::new(),
            tftp: Vec::new(),
            problems: Vec::new(),
            files: Vec::new(),
            stats: Stats::default(),
        }
    }

    /// Reads one capture (file or stdin) into the analysis.
    pub fn read<R: Read + Send>(&mut self, name: &str, input: R) -> Result<(), CaptureError> {
        let mut scratch = Vec::new();
        let (summary, problems) = read_capture(name, input, |frame| {
            self.frame_or_problem(name, frame, &mut scratch)
        })?;
        self.file_done(summary, problems);
        Ok(())
    }

    /// Reads one capture held in memory; `progress` gets the bytes read
    /// so far now and then.
    pub fn read_bytes(&mut self, name: &str, data: &[u8], progress: impl FnMut(u64)) {
        let mut scratch = Vec::new();
        let (summary, problems) = read_capture_bytes(
            name,
            data,
            |frame| self.frame_or_problem(name, frame, &mut scratch),
            progress,
        );
        self.file_done(summary, problems);
    }

    /// Reads a capture file, memory-mapped when it is a regular file (the
    /// frames are then never copied), else streamed. `progress` gets the
    /// bytes read so far now and then.
    ///
    /// Like every reader of a mapped file, this process gets SIGBUS if
    /// another process truncates the file while it is read; read a capture
    /// that is still being rotated or truncated through [`read`](Self::read).
    pub fn read_file(
        &mut self,
        name: &str,
        file: &std::fs::File,
        mut progress: impl FnMut(u64) + Send,
    ) -> Result<(), CaptureError> {
        let regular = file.metadata().is_ok_and(|m| m.is_file() && m.len() > 0);
        // SAFETY: the map is only read, and dropped before returning. The
        // one hazard, truncation by another process while it is mapped, is
        // documented above.
        let mapped = regular
            .then(|| unsafe { memmap2::Mmap::map(file) }.ok())
            .flatten();
        match mapped {
            Some(map) => {
                let mut window = MapWindow::new(&map);
                self.read_bytes(name, &map, |consumed| {
                    window.advance(consumed as usize);
                    progress(consumed);
                });
                Ok(())
            }
            None => {
                let mut read = 0u64;
                let counting = ProgressRead {
                    inner: file,
                    read: &mut read,
                    report: &mut progress,
                };
                self.read(name, counting)
            }
        }
    }

    fn frame_or_problem(&mut self, name: &str, frame: &Frame<'_>, scratch: &mut Vec<u8>) {
        if let Some(message) = self.frame(frame, scratch) {
            self.note_problem(Problem {
                file: name.to_string(),
                packet: frame.index,
                message,
            });
        }
    }

    fn file_done(&mut self, summary: FileSummary, problems: Vec<Problem>) {
        for problem in problems {
            self.note_problem(problem);
        }
        self.files.push(summary);
    }

    fn note_problem(&mut self, problem: Problem) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(problem);
        } else {
            self.stats.problems_not_listed += 1;
        }
    }

    /// Handles one frame; returns a problem description for damaged headers.
    fn frame(&mut self, frame: &Frame<'_>, scratch: &mut Vec<u8>) -> Option<String> {
        self.stats.frames += 1;
        if frame.ts_ns != 0 {
            let first = self.stats.first_ns.get_or_insert(frame.ts_ns);
            *first = (*first).min(frame.ts_ns);
            let last = self.stats.last_ns.get_or_insert(frame.ts_ns);
            *last = (*last).max(frame.ts_ns);
        }
        let decoded = self.decoder.decode(frame, scratch);
        self.stats.fragments_dropped = self.decoder.fragments_dropped;
        match decoded {
            Ok(datagram) => {
                self.stats.datagrams += 1;
                self.datagram(datagram);
                None
            }
            Err(Skip::NotTcpUdp | Skip::FragmentHeld) => {
                self.stats.other_frames += 1;
                None
            }
            Err(Skip::UnsupportedLinktype(linktype)) => {
                self.stats.unsupported_linktype_frames += 1;
                (self.stats.unsupported_linktype_frames == 1)
                    .then(|| format!("link type {linktype} is not decoded (frames skipped)"))
            }
            Err(Skip::Malformed(why)) => {
                self.stats.malformed_frames += 1;
                // A frame cut by the snap length is normal; report real damage.
                (frame.data.len() as u64 >= u64::from(frame.orig_len)).then_some(why)
            }
        }
    }

    fn datagram(&mut self, d: Datagram<'_>) {
        let (proto, sport, dport, flags, seq, payload) = match d.transport {
            Transport::Tcp {
                sport,
                dport,
                seq,
                flags,
                payload,
            } => (Proto::Tcp, sport, dport, flags, seq, payload),
            Transport::Udp {
                sport,
                dport,
                payload,
            } => (Proto::Udp, sport, dport, TcpFlags::default(), 0, payload),
        };
        let src = (d.src, sport);
        let dst = (d.dst, dport);
        let Some(from_client) = self.track_flow(proto, src, dst, flags, seq, d.ts_ns, d.wire_len)
        else {
            return;
        };
        match proto {
            Proto::Udp => self.udp_payload(src, dst, payload, d.ts_ns),
            Proto::Tcp => {
                let segment = Segment {
                    from_client,
                    flags,
                    seq,
                    payload,
                    ts_ns: d.ts_ns,
                };
                self.tcp_segment(flow_key(proto, src, dst), segment);
            }
        }
    }

    /// Updates the flow; returns whether the packet goes client → server.
    #[allow(clippy::too_many_arguments)]
    fn track_flow(
        &mut self,
        proto: Proto,
        src: Sock,
        dst: Sock,
        flags: TcpFlags,
        seq: u32,
        ts_ns: i64,
        wire_len: u64,
    ) -> Option<bool> {
        let key = flow_key(proto, src, dst);
        // Only a full table costs the extra lookup.
        if self.flows.len() >= self.options.max_flows && !self.flows.contains_key(&key) {
            self.stats.untracked_flows += 1;
            return None;
        }
        let flow = self.flows.entry(key).or_insert_with(|| {
            // The first packet's sender is the client, except a SYN-ACK.
            let (client, server) = if flags.syn && flags.ack {
                (dst, src)
            } else {
                (src, dst)
            };
            Flow {
                proto,
                client,
                server,
                first_ns: ts_ns,
                last_ns: ts_ns,
                to_server: Counter::default(),
                to_client: Counter::default(),
                syn: false,
                synack: false,
                established: false,
                reset: false,
                isn: (None, None),
                app: None,
            }
        });
        let from_client = src == flow.client;
        flow.first_ns = flow.first_ns.min(ts_ns);
        flow.last_ns = flow.last_ns.max(ts_ns);
        if from_client {
            flow.to_server.add(wire_len);
        } else {
            flow.to_client.add(wire_len);
        }
        if proto == Proto::Udp {
            flow.established = flow.to_server.packets > 0 && flow.to_client.packets > 0;
            return Some(from_client);
        }
        flow.reset |= flags.rst;
        if flags.syn && !flags.ack && from_client {
            flow.syn = true;
            flow.isn.0 = Some(seq);
        } else if flags.syn && flags.ack && !from_client {
            flow.synack = true;
            flow.isn.1 = Some(seq);
        } else if flags.ack && !flags.rst && from_client && flow.synack {
            flow.established = true;
        }
        Some(from_client)
    }

    fn udp_payload(&mut self, src: Sock, dst: Sock, payload: &[u8], ts_ns: i64) {
        let dns_ports = &self.options.dns_ports;
        if dns_ports.contains(&src.1) || dns_ports.contains(&dst.1) {
            self.dns.submit(payload, src.0, dst.0, ts_ns);
            return;
        }
        if let Some(request) = proto::parse_tftp_request(payload)
            && self.tftp.len() < MAX_RECORDS
        {
            self.tftp.push(TftpRecord {
                ts_ns,
                client: src.0,
                server: dst.0,
                port: dst.1,
                op: request.op.to_string(),
                file: request.file,
                mode: request.mode,
            });
        }
    }

    fn tcp_segment(&mut self, key: FlowKey, segment: Segment<'_>) {
        let Some(flow) = self.flows.get_mut(&key) else {
            return;
        };
        let closing = segment.flags.fin || segment.flags.rst;
        if let Some(app) = flow.app.as_deref_mut()
            && !closing
            && Self::nothing_to_parse(app, &segment, self.buffered)
        {
            // Saves taking the parser state out of the flow and the second
            // flow-table lookup that puts it back.
            return;
        }
        if flow.app.is_none() {
            if segment.payload.is_empty() {
                return;
            }
            // Client-first protocols (HTTP, TLS) and DNS are parsed; a
            // server speaking first (banners) is not followed.
            let kind = if self.options.dns_ports.contains(&flow.server.1) {
                AppKind::Dns
            } else if segment.from_client {
                AppKind::Undecided
            } else {
                AppKind::Ignored
            };
            flow.app = Some(Box::new(TcpApp::new(kind, flow.isn)));
        }
        let (client, server) = (flow.client, flow.server);
        let Some(mut app) = flow.app.take() else {
            return;
        };
        if app.kind != AppKind::Ignored {
            let before = app.buffered();
            self.feed(&mut app, &segment, client, server);
            if segment.flags.rst {
                (app.up_done, app.down_done) = (true, true);
            } else if closing && segment.from_client {
                app.up_done = true;
            } else if closing {
                app.down_done = true;
            }
            app.release_finished();
            let after = app.buffered();
            self.buffered = (self.buffered + after).saturating_sub(before);
        }
        if app.up_done && app.down_done {
            app.kind = AppKind::Ignored;
            app.awaiting = VecDeque::new();
        }
        if let Some(flow) = self.flows.get_mut(&key) {
            flow.app = Some(app);
        }
    }

    /// True when a segment that does not close the connection leaves the
    /// parser's state as it is, or only passes over body bytes the parser
    /// skips anyway (done here, in place).
    fn nothing_to_parse(app: &mut TcpApp, segment: &Segment<'_>, buffered: usize) -> bool {
        if app.kind == AppKind::Ignored || segment.payload.is_empty() {
            return true;
        }
        let (done, stream, skip) = if segment.from_client {
            (app.up_done, &mut app.up, &mut app.up_skip)
        } else {
            (app.down_done, &mut app.down, &mut app.down_skip)
        };
        if done || buffered >= MAX_TOTAL_BUFFERED || *skip < segment.payload.len() {
            return false;
        }
        // Consumes the whole segment when it is in order, else changes nothing.
        let (_, rest) = stream.skip_in_order(segment.seq, segment.flags.syn, segment.payload, skip);
        rest.is_empty()
    }

    fn feed(&mut self, app: &mut TcpApp, segment: &Segment<'_>, client: Sock, server: Sock) {
        let from_client = segment.from_client;
        let done = if from_client {
            app.up_done
        } else {
            app.down_done
        };
        if done || segment.payload.is_empty() {
            return;
        }
        if self.buffered >= MAX_TOTAL_BUFFERED {
            self.stats.streams_over_budget += 1;
            if from_client {
                app.up_done = true;
            } else {
                app.down_done = true;
            }
            return;
        }
        let (stream, skip) = if from_client {
            (&mut app.up, &mut app.up_skip)
        } else {
            (&mut app.down, &mut app.down_skip)
        };
        let (seq, rest) =
            stream.skip_in_order(segment.seq, segment.flags.syn, segment.payload, skip);
        if rest.is_empty() {
            return;
        }
        if stream.push(seq, segment.flags.syn, rest) {
            self.run_app(app, from_client, client, server, segment.ts_ns);
        }
    }

    fn run_app(
        &mut self,
        app: &mut TcpApp,
        from_client: bool,
        client: Sock,
        server: Sock,
        ts: i64,
    ) {
        if app.kind == AppKind::Undecided {
            if !from_client || app.up.data.is_empty() {
                return;
            }
            app.kind = if looks_like_http_request(&app.up.data) {
                AppKind::Http
            } else if looks_like_tls(&app.up.data) {
                AppKind::Tls
            } else {
                AppKind::Ignored
            };
        }
        match app.kind {
            AppKind::Http if from_client => self.http_requests(app, client, server, ts),
            AppKind::Http => self.http_responses(app),
            AppKind::Tls if from_client => self.tls_hello(app, client, server, ts),
            AppKind::Tls => {
                app.down_done = true;
                app.down.release();
            }
            AppKind::Dns => self.dns_stream(app, from_client, client.0, server.0, ts),
            AppKind::Undecided | AppKind::Ignored => {}
        }
    }

    fn http_requests(&mut self, app: &mut TcpApp, client: Sock, server: Sock, ts: i64) {
        loop {
            let skip = app.up_skip.min(app.up.data.len());
            app.up.consume(skip);
            app.up_skip -= skip;
            if app.up_skip > 0 || app.up.data.is_empty() {
                return;
            }
            match proto::parse_http_request(&app.up.data) {
                Parsed::Done(request, used) => {
                    app.up.consume(used);
                    app.up_skip = request.body_len;
                    if self.http.len() < MAX_RECORDS {
                        app.awaiting
                            .push_back((self.http.len(), request.method == "HEAD"));
                        self.http.push(HttpRecord {
                            ts_ns: ts,
                            client: client.0,
                            server: server.0,
                            port: server.1,
                            method: request.method,
                            host: request.host,
                            uri: request.uri,
                            user_agent: request.user_agent,
                            status: None,
                        });
                    }
                }
                Parsed::NeedMore => return,
                Parsed::Invalid => {
                    app.up_done = true;
                    return;
                }
            }
        }
    }

    fn http_responses(&mut self, app: &mut TcpApp) {
        loop {
            let skip = app.down_skip.min(app.down.data.len());
            app.down.consume(skip);
            app.down_skip -= skip;
            if app.down_skip > 0 || app.down.data.is_empty() {
                return;
            }
            let was_head = app.awaiting.front().is_some_and(|(_, head)| *head);
            match proto::parse_http_response(&app.down.data, was_head) {
                Parsed::Done((code, body), used) => {
                    app.down.consume(used);
                    if let Some((index, _)) = app.awaiting.pop_front()
                        && let Some(record) = self.http.get_mut(index)
                    {
                        record.status = Some(code);
                    }
                    match body {
                        BodyLen::Known(n) => app.down_skip = n,
                        BodyLen::Unknown => {
                            app.down_done = true;
                            return;
                        }
                    }
                }
                Parsed::NeedMore => return,
                Parsed::Invalid => {
                    app.down_done = true;
                    return;
                }
            }
        }
    }

    fn tls_hello(&mut self, app: &mut TcpApp, client: Sock, server: Sock, ts: i64) {
        match proto::parse_client_hello(&app.up.data) {
            Parsed::NeedMore => {}
            Parsed::Invalid => app.up_done = true,
            Parsed::Done(hello, _) => {
                app.up_done = true;
                if self.tls.len() < MAX_RECORDS {
                    self.tls.push(TlsRecord {
                        ts_ns: ts,
                        client: client.0,
                        server: server.0,
                        port: server.1,
                        sni: hello.sni,
                        alpn: hello.alpn,
                        ja3: hello.ja3,
                        ja3_string: hello.ja3_string,
                    });
                }
            }
        }
    }

    fn dns_stream(
        &mut self,
        app: &mut TcpApp,
        from_client: bool,
        client: IpAddr,
        server: IpAddr,
        ts: i64,
    ) {
        let (src, dst) = if from_client {
            (client, server)
        } else {
            (server, client)
        };
        loop {
            let stream = if from_client {
                &mut app.up
            } else {
                &mut app.down
            };
            let Some(prefix) = stream.data.get(..2) else {
                return;
            };
            let len = usize::from(u16::from_be_bytes([prefix[0], prefix[1]]));
            let Some(message) = stream.data.get(2..2 + len) else {
                return;
            };
            self.dns.submit(message, src, dst, ts);
            stream.consume(2 + len);
        }
    }
}
