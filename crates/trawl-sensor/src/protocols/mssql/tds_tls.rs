//! TLS inside TDS (MS-TDS 2.2.6.5, 3.2.5.2): during the handshake every TLS record
//! travels as the payload of TDS PRELOGIN packets (type 0x12) in both directions; once
//! the handshake is done, TLS records go raw on the socket. [`TdsTlsIo`] is the byte
//! stream rustls sees: it strips the TDS headers from what the client sends and wraps
//! what rustls writes, until [`TdsTlsIo::unwrap_records`] switches it to raw.
//!
//! Hand-written because no crate offers the server side of this framing (tiberius has
//! the client's). Every header is checked: a wrong packet type or a length under 8 is an
//! error, never a panic; payloads are streamed, so nothing here grows with the input.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::{PACKET_PRELOGIN, STATUS_EOM, parse_packet_header};

/// Largest TLS payload put in one TDS packet (SQL Server's default packet size 4096).
const MAX_WRAPPED_PAYLOAD: usize = 4096 - 8;

/// The client socket as rustls sees it during and after a TLS-in-TDS handshake.
pub struct TdsTlsIo {
    tcp: TcpStream,
    /// Bytes read before the handshake started (from [`crate::conn::Conn::take_tcp`]).
    prefix: Vec<u8>,
    prefix_at: usize,
    /// True while TLS records are wrapped in PRELOGIN packets.
    wrapped: bool,
    header: [u8; 8],
    header_len: usize,
    /// Payload bytes of the current client packet not yet handed to rustls.
    payload_left: usize,
    /// A wrapped packet not yet fully written.
    pending_out: Vec<u8>,
    pending_at: usize,
}

impl TdsTlsIo {
    /// Wraps the socket; `prefix` is what was already read from it.
    pub fn new(tcp: TcpStream, prefix: Vec<u8>) -> Self {
        TdsTlsIo {
            tcp,
            prefix,
            prefix_at: 0,
            wrapped: true,
            header: [0; 8],
            header_len: 0,
            payload_left: 0,
            pending_out: Vec::new(),
            pending_at: 0,
        }
    }

    /// After the handshake: TLS records go raw from now on.
    pub fn unwrap_records(&mut self) {
        self.wrapped = false;
    }

    /// The socket back, with the bytes received but not consumed.
    pub fn into_parts(self) -> (TcpStream, Vec<u8>) {
        let rest = self
            .prefix
            .get(self.prefix_at..)
            .unwrap_or_default()
            .to_vec();
        (self.tcp, rest)
    }

    /// Reads from the prefix first, then the socket.
    fn poll_raw_read(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let buffered = self.prefix.get(self.prefix_at..).unwrap_or_default();
        if !buffered.is_empty() {
            let take = buffered.len().min(buf.remaining());
            buf.put_slice(buffered.get(..take).unwrap_or_default());
            self.prefix_at += take;
            if self.prefix_at == self.prefix.len() {
                self.prefix = Vec::new();
                self.prefix_at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }

    /// Reads the next packet header; `Ok(false)` on a clean EOF before its first byte.
    fn poll_header(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        while self.header_len < self.header.len() {
            let mut chunk = [0u8; 8];
            let want = self.header.len() - self.header_len;
            let mut read = ReadBuf::new(chunk.get_mut(..want).unwrap_or_default());
            ready!(self.poll_raw_read(cx, &mut read))?;
            let got = read.filled();
            if got.is_empty() {
                if self.header_len == 0 {
                    return Poll::Ready(Ok(false));
                }
                return Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into()));
            }
            if let Some(slot) = self
                .header
                .get_mut(self.header_len..self.header_len + got.len())
            {
                slot.copy_from_slice(got);
            }
            self.header_len += got.len();
        }
        self.header_len = 0;
        match parse_packet_header(&self.header) {
            Some((PACKET_PRELOGIN, _, len)) => {
                self.payload_left = len - 8;
                Poll::Ready(Ok(true))
            }
            _ => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "TLS handshake outside a TDS PRELOGIN packet",
            ))),
        }
    }

    /// Writes what is left of the pending wrapped packet.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.pending_at < self.pending_out.len() {
            let rest = self.pending_out.get(self.pending_at..).unwrap_or_default();
            let written = ready!(Pin::new(&mut self.tcp).poll_write(cx, rest))?;
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.pending_at += written;
        }
        self.pending_out.clear();
        self.pending_at = 0;
        Poll::Ready(Ok(()))
    }
}

/// One PRELOGIN packet carrying `payload` (TLS records).
fn wrap(payload: &[u8]) -> Vec<u8> {
    let len = u16::try_from(payload.len() + 8).unwrap_or(u16::MAX);
    let mut packet = vec![PACKET_PRELOGIN, STATUS_EOM];
    packet.extend_from_slice(&len.to_be_bytes());
    packet.extend_from_slice(&[0, 0, 0, 0]);
    packet.extend_from_slice(payload);
    packet
}

impl AsyncRead for TdsTlsIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.wrapped {
            return this.poll_raw_read(cx, buf);
        }
        while this.payload_left == 0 {
            if !ready!(this.poll_header(cx))? {
                return Poll::Ready(Ok(()));
            }
        }
        let want = this.payload_left.min(buf.remaining()).min(16 * 1024);
        let mut chunk = vec![0u8; want];
        let mut read = ReadBuf::new(&mut chunk);
        ready!(this.poll_raw_read(cx, &mut read))?;
        let got = read.filled();
        if got.is_empty() && want > 0 {
            return Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into()));
        }
        this.payload_left -= got.len();
        buf.put_slice(got);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for TdsTlsIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        if !this.wrapped {
            return Pin::new(&mut this.tcp).poll_write(cx, data);
        }
        let take = data.len().min(MAX_WRAPPED_PAYLOAD);
        if take == 0 {
            return Poll::Ready(Ok(0));
        }
        this.pending_out = wrap(data.get(..take).unwrap_or_default());
        this.pending_at = 0;
        Poll::Ready(Ok(take))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    async fn pair() -> (TcpStream, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let client = TcpStream::connect(address).await.expect("connect");
        let (server, _) = listener.accept().await.expect("accept");
        (client, server)
    }

    #[tokio::test]
    async fn wrapped_then_raw_in_both_directions() {
        let (mut client, server) = pair().await;
        let mut io = TdsTlsIo::new(server, wrap(b"hel"));
        client.write_all(&wrap(b"lo")).await.expect("write");
        client
            .write_all(b"\x12\x01\x00\x08\0\0\0\0")
            .await
            .expect("empty packet");
        client.write_all(&wrap(b"!")).await.expect("write");
        let mut got = [0u8; 6];
        io.read_exact(&mut got).await.expect("unwrapped");
        assert_eq!(&got, b"hello!");
        io.write_all(b"server").await.expect("wrapped write");
        io.flush().await.expect("flush");
        let mut packet = [0u8; 14];
        client.read_exact(&mut packet).await.expect("packet");
        assert_eq!(packet.to_vec(), wrap(b"server"));
        io.unwrap_records();
        io.write_all(b"raw").await.expect("raw write");
        client.write_all(b"back").await.expect("raw from client");
        let mut raw = [0u8; 3];
        client.read_exact(&mut raw).await.expect("raw");
        assert_eq!(&raw, b"raw");
        let mut back = [0u8; 4];
        io.read_exact(&mut back).await.expect("raw read");
        assert_eq!(&back, b"back");
    }

    #[tokio::test]
    async fn a_packet_that_is_not_prelogin_is_an_error() {
        let (mut client, server) = pair().await;
        let mut io = TdsTlsIo::new(server, Vec::new());
        client
            .write_all(b"\x10\x01\x00\x0aab")
            .await
            .expect("write");
        client.write_all(b"\0\0\0\0").await.expect("write");
        let mut byte = [0u8; 1];
        let err = io.read_exact(&mut byte).await.err().map(|e| e.kind());
        assert_eq!(err, Some(io::ErrorKind::InvalidData));
    }
}
