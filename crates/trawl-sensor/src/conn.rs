//! A client connection: plain TCP or TLS, buffered, with bounded lines and timeouts.
//!
//! Lines are split on LF (a preceding CR is removed). A line longer than the cap is
//! returned truncated to the cap and the rest of it is discarded up to the next LF, so
//! no client can make the buffer grow past the cap. Every read and write is bounded by
//! the idle timeout.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

/// Why a connection could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    /// No data from the client within the idle timeout.
    #[error("idle timeout")]
    Idle,
    /// The client closed the connection in the middle of an exchange.
    #[error("connection closed by the client")]
    Closed,
    /// A socket error (reset, broken pipe...).
    #[error("network: {0}")]
    Io(#[from] std::io::Error),
    /// The TLS handshake failed or TLS is not available.
    #[error("tls: {0}")]
    Tls(String),
    /// The client sent something the protocol cannot continue after.
    #[error("protocol: {0}")]
    Protocol(String),
}

/// What the client said in its TLS ClientHello.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsInfo {
    /// Server name indication, if sent.
    pub sni: Option<String>,
    /// ALPN protocols offered, in order (lossy UTF-8).
    pub alpn_offered: Vec<String>,
    /// Negotiated protocol version, e.g. `TLSv1_3`.
    pub version: Option<String>,
    /// Negotiated cipher suite.
    pub cipher_suite: Option<String>,
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    Gone,
}

/// Limits applied to one connection.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// Longest line kept (bytes); longer lines are truncated.
    pub max_line: usize,
    /// Longest wait for a read or write.
    pub idle_timeout: Duration,
}

const READ_CHUNK: usize = 8 * 1024;

/// One client connection (see the module docs).
pub struct Conn {
    stream: Stream,
    buffer: LineBuffer,
    limits: ConnLimits,
    tls_config: Option<Arc<rustls::ServerConfig>>,
    tls_info: Option<TlsInfo>,
    bytes_read: u64,
    peer: SocketAddr,
}

impl Conn {
    /// Wraps an accepted socket. `tls_config` enables [`Conn::start_tls`].
    pub fn new(
        stream: TcpStream,
        peer: SocketAddr,
        limits: ConnLimits,
        tls_config: Option<Arc<rustls::ServerConfig>>,
    ) -> Self {
        Conn {
            stream: Stream::Plain(stream),
            buffer: LineBuffer::new(limits.max_line),
            limits,
            tls_config,
            tls_info: None,
            bytes_read: 0,
            peer,
        }
    }

    /// The client's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The limits in force.
    pub fn limits(&self) -> ConnLimits {
        self.limits
    }

    /// Next line without the trailing CRLF/LF; `None` on clean EOF. A final line without
    /// LF before EOF is returned as a line. Over-long lines are truncated to the cap.
    pub async fn read_line(&mut self) -> Result<Option<Vec<u8>>, ConnError> {
        loop {
            if let Some(line) = self.buffer.next_line() {
                return Ok(Some(line));
            }
            if !self.fill().await? {
                return Ok(self.buffer.finish());
            }
        }
    }

    /// Whatever bytes are available next (buffered first); `None` on EOF. For protocols
    /// that parse their own framing (Telnet).
    pub async fn read_chunk(&mut self) -> Result<Option<Vec<u8>>, ConnError> {
        if self.buffer.is_empty() && !self.fill().await? {
            return Ok(None);
        }
        Ok(Some(self.buffer.take_all()))
    }

    /// Up to `max` bytes: what is buffered, or else whatever the next read brings; `None`
    /// on EOF before any byte. For binary protocols that must notice a clean close at a
    /// message boundary, then read the rest with [`Conn::read_exact_bytes`].
    pub async fn read_at_most(&mut self, max: usize) -> Result<Option<Vec<u8>>, ConnError> {
        if self.buffer.is_empty() && !self.fill().await? {
            return Ok(None);
        }
        let take = self.buffer.len().min(max);
        Ok(Some(self.buffer.take_prefix(take)))
    }

    /// Exactly `len` bytes (e.g. an HTTP body); `len` must be bounded by the caller.
    pub async fn read_exact_bytes(&mut self, len: usize) -> Result<Vec<u8>, ConnError> {
        while self.buffer.len() < len {
            if !self.fill().await? {
                return Err(ConnError::Closed);
            }
        }
        Ok(self.buffer.take_prefix(len))
    }

    /// Writes everything (and flushes TLS), bounded by the idle timeout.
    pub async fn write_all(&mut self, bytes: &[u8]) -> Result<(), ConnError> {
        let idle = self.limits.idle_timeout;
        let write = async {
            match &mut self.stream {
                Stream::Plain(stream) => stream.write_all(bytes).await,
                Stream::Tls(stream) => {
                    stream.write_all(bytes).await?;
                    stream.flush().await
                }
                Stream::Gone => Err(std::io::ErrorKind::NotConnected.into()),
            }
        };
        match tokio::time::timeout(idle, write).await {
            Ok(result) => result.map_err(ConnError::from),
            Err(_) => Err(ConnError::Idle),
        }
    }

    /// Upgrades to server-side TLS in place (STARTTLS/STLS, or implicit TLS right after
    /// accept). Plaintext the client pipelined before the handshake is discarded (it
    /// must not be read as if it came over TLS).
    pub async fn start_tls(&mut self) -> Result<(), ConnError> {
        let config = self
            .tls_config
            .clone()
            .ok_or_else(|| ConnError::Tls("no TLS configuration".into()))?;
        let tcp = match std::mem::replace(&mut self.stream, Stream::Gone) {
            Stream::Plain(tcp) => tcp,
            other => {
                self.stream = other;
                return Err(ConnError::Tls("already using TLS".into()));
            }
        };
        self.buffer.clear();
        let idle = self.limits.idle_timeout;
        let (stream, info) = tokio::time::timeout(idle, handshake(tcp, config))
            .await
            .map_err(|_| ConnError::Idle)??;
        self.stream = Stream::Tls(Box::new(stream));
        self.tls_info = Some(info);
        Ok(())
    }

    /// Whether the connection is encrypted.
    pub fn is_tls(&self) -> bool {
        matches!(self.stream, Stream::Tls(_))
    }

    /// Whether the sensor has a TLS configuration (for advertising STARTTLS).
    pub fn tls_available(&self) -> bool {
        self.tls_config.is_some()
    }

    /// ClientHello details once TLS is up.
    pub fn tls_info(&self) -> Option<&TlsInfo> {
        self.tls_info.as_ref()
    }

    /// Lines cut at the cap so far.
    pub fn truncated_lines(&self) -> u64 {
        self.buffer.truncated_lines()
    }

    /// Bytes received so far (after TLS decryption).
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// The sensor's TLS configuration, for protocols that run TLS through their own
    /// framing on the socket from [`Conn::take_tcp`] (MSSQL's TLS inside TDS packets).
    pub fn tls_config(&self) -> Option<Arc<rustls::ServerConfig>> {
        self.tls_config.clone()
    }

    /// Hands over the plain TCP socket and the bytes already read but not yet consumed,
    /// for protocols that run their own transport on it (SSH through russh, RDP's TLS
    /// and CredSSP). `None` when the connection is TLS or already closed. Such a protocol
    /// applies its own idle and session bounds (the session timeout still applies from
    /// outside).
    pub fn take_tcp(&mut self) -> Option<(TcpStream, Vec<u8>)> {
        match std::mem::replace(&mut self.stream, Stream::Gone) {
            Stream::Plain(stream) => Some((stream, self.buffer.take_all())),
            other => {
                self.stream = other;
                None
            }
        }
    }

    /// Closes politely (TLS close_notify, TCP FIN), waiting at most one second.
    pub async fn close(&mut self) {
        let shutdown = async {
            match &mut self.stream {
                Stream::Plain(stream) => stream.shutdown().await,
                Stream::Tls(stream) => stream.shutdown().await,
                Stream::Gone => Ok(()),
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), shutdown).await;
        self.stream = Stream::Gone;
    }

    /// Reads more bytes into the buffer; `false` on EOF.
    async fn fill(&mut self) -> Result<bool, ConnError> {
        let idle = self.limits.idle_timeout;
        let count =
            match tokio::time::timeout(idle, read_into(&mut self.stream, &mut self.buffer)).await {
                Ok(result) => result?,
                Err(_) => return Err(ConnError::Idle),
            };
        self.bytes_read += count as u64;
        Ok(count > 0)
    }
}

/// Reads once into `buffer`; 0 on EOF. On plain TCP the read buffer lives on the stack
/// only after the socket is readable, so an idle connection's task holds no read buffer
/// (20,000 idle connections must stay cheap). TLS streams keep rustls' own buffers.
async fn read_into(stream: &mut Stream, buffer: &mut LineBuffer) -> std::io::Result<usize> {
    match stream {
        Stream::Plain(tcp) => loop {
            tcp.readable().await?;
            let mut chunk = [0u8; READ_CHUNK];
            match tcp.try_read(&mut chunk) {
                Ok(count) => {
                    buffer.push(chunk.get(..count).unwrap_or_default());
                    return Ok(count);
                }
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(err) => return Err(err),
            }
        },
        Stream::Tls(tls) => {
            let mut chunk = vec![0u8; READ_CHUNK];
            let count = tls.read(&mut chunk).await?;
            buffer.push(chunk.get(..count).unwrap_or_default());
            Ok(count)
        }
        Stream::Gone => Ok(0),
    }
}

/// Splits a byte stream into lines of at most `max_line` bytes (see the module docs).
/// Pure and synchronous so it can be tested with arbitrary input and chunking.
#[derive(Debug, Clone)]
pub struct LineBuffer {
    pending: Vec<u8>,
    discarding_rest_of_line: bool,
    max_line: usize,
    truncated_lines: u64,
}

impl LineBuffer {
    /// An empty buffer that cuts lines at `max_line` bytes.
    pub fn new(max_line: usize) -> Self {
        LineBuffer {
            pending: Vec::new(),
            discarding_rest_of_line: false,
            max_line: max_line.max(1),
            truncated_lines: 0,
        }
    }

    /// Appends received bytes (the tail of an over-long line is dropped at once).
    pub fn push(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        self.drop_discarded_prefix();
    }

    /// The next complete line (without CR LF / LF), or the first `max_line` bytes of a
    /// line that is already too long; `None` when more input is needed.
    pub fn next_line(&mut self) -> Option<Vec<u8>> {
        while let Some(newline) = memchr::memchr(b'\n', &self.pending) {
            let rest = self.pending.split_off(newline + 1);
            let mut line = std::mem::replace(&mut self.pending, rest);
            if std::mem::take(&mut self.discarding_rest_of_line) {
                continue;
            }
            line.pop();
            strip_cr(&mut line);
            if line.len() > self.max_line {
                line.truncate(self.max_line);
                self.truncated_lines += 1;
            }
            return Some(line);
        }
        if self.pending.len() >= self.max_line && !self.discarding_rest_of_line {
            let rest = self.pending.split_off(self.max_line);
            let line = std::mem::replace(&mut self.pending, rest);
            self.truncated_lines += 1;
            self.discarding_rest_of_line = true;
            self.drop_discarded_prefix();
            return Some(line);
        }
        None
    }

    /// At end of input: the last line if it had no LF (never the tail of a cut line).
    pub fn finish(&mut self) -> Option<Vec<u8>> {
        let mut line = std::mem::take(&mut self.pending);
        if line.is_empty() || std::mem::take(&mut self.discarding_rest_of_line) {
            return None;
        }
        strip_cr(&mut line);
        Some(line)
    }

    /// Everything buffered, raw.
    pub fn take_all(&mut self) -> Vec<u8> {
        self.discarding_rest_of_line = false;
        std::mem::take(&mut self.pending)
    }

    /// The first `len` buffered bytes, raw (`len` ≤ [`LineBuffer::len`]).
    pub fn take_prefix(&mut self, len: usize) -> Vec<u8> {
        let rest = self.pending.split_off(len.min(self.pending.len()));
        std::mem::replace(&mut self.pending, rest)
    }

    /// Forgets everything buffered (before a TLS handshake).
    pub fn clear(&mut self) {
        self.pending.clear();
        self.discarding_rest_of_line = false;
    }

    /// Bytes buffered.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Lines cut at the cap so far.
    pub fn truncated_lines(&self) -> u64 {
        self.truncated_lines
    }

    /// While discarding the tail of an over-long line, forget bytes up to (not
    /// including) the next LF, so the buffer stays bounded.
    fn drop_discarded_prefix(&mut self) {
        if !self.discarding_rest_of_line {
            return;
        }
        match memchr::memchr(b'\n', &self.pending) {
            Some(newline) => {
                self.pending.drain(..newline);
            }
            None => self.pending.clear(),
        }
    }
}

fn strip_cr(line: &mut Vec<u8>) {
    if line.last() == Some(&b'\r') {
        line.pop();
    }
}

async fn handshake(
    tcp: TcpStream,
    config: Arc<rustls::ServerConfig>,
) -> Result<(TlsStream<TcpStream>, TlsInfo), ConnError> {
    let acceptor = tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), tcp);
    let start = acceptor
        .await
        .map_err(|err| ConnError::Tls(err.to_string()))?;
    let hello = start.client_hello();
    let mut info = TlsInfo {
        sni: hello.server_name().map(str::to_owned),
        alpn_offered: hello
            .alpn()
            .map(|protocols| {
                protocols
                    .map(|p| String::from_utf8_lossy(p).into_owned())
                    .collect()
            })
            .unwrap_or_default(),
        ..TlsInfo::default()
    };
    let stream = start
        .into_stream(config)
        .await
        .map_err(|err| ConnError::Tls(err.to_string()))?;
    let (_, connection) = stream.get_ref();
    info.version = connection.protocol_version().map(|v| format!("{v:?}"));
    info.cipher_suite = connection
        .negotiated_cipher_suite()
        .map(|s| format!("{:?}", s.suite()));
    Ok((stream, info))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Feeds `input` in chunks of the given sizes and collects every line.
    fn split(input: &[u8], chunks: &[usize], max_line: usize) -> (Vec<Vec<u8>>, usize) {
        let mut buffer = LineBuffer::new(max_line);
        let (mut lines, mut peak, mut offset) = (Vec::new(), 0, 0);
        let mut sizes = chunks.iter().cycle();
        while offset < input.len() {
            let size = sizes.next().copied().unwrap_or(1).max(1);
            let end = (offset + size).min(input.len());
            buffer.push(input.get(offset..end).unwrap_or_default());
            peak = peak.max(buffer.len());
            offset = end;
            while let Some(line) = buffer.next_line() {
                lines.push(line);
            }
        }
        lines.extend(buffer.finish());
        (lines, peak)
    }

    #[test]
    fn long_line_is_cut_and_its_tail_dropped() {
        let input = [vec![b'A'; 50], b"\r\nnext\r\n".to_vec()].concat();
        let (lines, _) = split(&input, &[7], 16);
        assert_eq!(lines, vec![vec![b'A'; 16], b"next".to_vec()]);
    }

    proptest! {
        /// Whatever the input and chunking: lines respect the cap, the buffer stays
        /// bounded by cap + chunk, and short lines come out exactly as sent.
        #[test]
        fn lines_are_bounded_and_exact(input in proptest::collection::vec(any::<u8>(), 0..2000),
                                       chunks in proptest::collection::vec(1usize..300, 1..8),
                                       max_line in 1usize..64) {
            let (lines, peak) = split(&input, &chunks, max_line);
            prop_assert!(lines.iter().all(|line| line.len() <= max_line));
            prop_assert!(peak <= max_line + 300);
            let all_short = input.split(|&b| b == b'\n').all(|line| line.len() < max_line);
            if all_short {
                let mut expected: Vec<Vec<u8>> = input.split(|&b| b == b'\n').map(|line| {
                    let mut line = line.to_vec();
                    strip_cr(&mut line);
                    line
                }).collect();
                if input.last().is_none_or(|&b| b == b'\n') {
                    expected.pop();
                }
                // a final unterminated line that is just "\r" strips to empty but is kept
                prop_assert_eq!(lines, expected);
            }
        }
    }
}
