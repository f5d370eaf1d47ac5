//! What an SSH client says before encryption starts: its version line and its first
//! binary packet (KEXINIT, RFC 4253 §7.1), read from a stream shim, and the HASSH
//! fingerprint computed from it.
//!
//! Hand-written because russh keeps the client's KEXINIT to itself and no crate computes
//! HASSH. HASSH (Salesforce) is the MD5 of `kex;ciphers;macs;compression` with the
//! client-to-server lists as sent, comma-separated.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_util::sync::WaitForCancellationFutureOwned;
use trawl_event::display_bytes;

/// Most bytes looked at for the version line plus the KEXINIT (a real KEXINIT is about
/// 1.5 KiB; RFC 4253 caps packets at 35000 bytes).
const MAX_CAPTURE: usize = 40_000;
/// Longest version line kept (RFC 4253 §4.2: 255 including CR LF).
const MAX_VERSION: usize = 255;
/// Largest binary packet accepted as the KEXINIT.
const MAX_PACKET: usize = 35_000;
const MSG_KEXINIT: u8 = 20;

/// The client's name-lists from its KEXINIT, as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KexInit {
    /// kex_algorithms.
    pub kex: String,
    /// server_host_key_algorithms.
    pub host_keys: String,
    /// encryption_algorithms_client_to_server.
    pub ciphers: String,
    /// mac_algorithms_client_to_server.
    pub macs: String,
    /// compression_algorithms_client_to_server.
    pub compression: String,
}

impl KexInit {
    /// The HASSH input string `kex;ciphers;macs;compression`.
    pub fn hassh_algorithms(&self) -> String {
        format!(
            "{};{};{};{}",
            self.kex, self.ciphers, self.macs, self.compression
        )
    }

    /// HASSH: lowercase hex MD5 of [`Self::hassh_algorithms`].
    pub fn hassh(&self) -> String {
        format!("{:x}", md5::compute(self.hassh_algorithms().as_bytes()))
    }
}

/// What was captured so far; shared between the stream shim and the session.
#[derive(Debug, Default)]
pub struct ClientHello {
    version: OnceLock<String>,
    kexinit: OnceLock<KexInit>,
}

impl ClientHello {
    /// The client's identification line without CR LF (non-UTF-8 bytes escaped).
    pub fn version(&self) -> Option<&str> {
        self.version.get().map(String::as_str)
    }
    /// The client's KEXINIT lists.
    pub fn kexinit(&self) -> Option<&KexInit> {
        self.kexinit.get()
    }
}

/// Outcome of looking at the captured bytes.
#[derive(Debug, PartialEq, Eq)]
enum Scan {
    /// Need more bytes.
    More,
    /// Nothing more to learn (KEXINIT parsed, or the bytes are not SSH).
    Done,
}

/// Accumulates the first client bytes until the version line and KEXINIT are known.
#[derive(Debug)]
struct Capture {
    buffer: Vec<u8>,
    done: bool,
    hello: Arc<ClientHello>,
}

impl Capture {
    fn feed(&mut self, bytes: &[u8]) {
        if self.done || bytes.is_empty() {
            return;
        }
        let room = MAX_CAPTURE.saturating_sub(self.buffer.len());
        self.buffer
            .extend_from_slice(bytes.get(..room.min(bytes.len())).unwrap_or_default());
        if scan(&self.buffer, &self.hello) == Scan::Done || self.buffer.len() >= MAX_CAPTURE {
            self.done = true;
            self.buffer = Vec::new();
        }
    }
}

/// Finds the version line, then the first binary packet, publishing what it finds.
fn scan(buffer: &[u8], hello: &ClientHello) -> Scan {
    let mut rest = buffer;
    loop {
        let Some(end) = memchr::memchr(b'\n', rest) else {
            return if rest.len() > MAX_CAPTURE / 2 {
                Scan::Done
            } else {
                Scan::More
            };
        };
        let (line, after) = rest.split_at(end + 1);
        rest = after;
        if line.starts_with(b"SSH-") {
            let line = line.strip_suffix(b"\n").unwrap_or(line);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let kept = line.get(..MAX_VERSION).unwrap_or(line);
            let _ = hello.version.set(display_bytes(kept));
            break;
        }
    }
    match first_packet_payload(rest) {
        Err(()) => Scan::Done,
        Ok(None) => Scan::More,
        Ok(Some(payload)) => {
            if let Some(kexinit) = parse_kexinit(payload) {
                let _ = hello.kexinit.set(kexinit);
            }
            Scan::Done
        }
    }
}

/// The payload of the first unencrypted binary packet (RFC 4253 §6), `Ok(None)` when
/// incomplete, `Err` when the length is impossible.
fn first_packet_payload(bytes: &[u8]) -> Result<Option<&[u8]>, ()> {
    let Some(header) = bytes.get(..5) else {
        return Ok(None);
    };
    let packet_length = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let padding = usize::from(header[4]);
    if !(5..=MAX_PACKET).contains(&packet_length) || padding + 1 > packet_length {
        return Err(());
    }
    let Some(packet) = bytes.get(5..4 + packet_length) else {
        return Ok(None);
    };
    Ok(packet.get(..packet.len() - padding))
}

/// Parses a KEXINIT payload (message byte, 16-byte cookie, then the name-lists).
pub fn parse_kexinit(payload: &[u8]) -> Option<KexInit> {
    let (&kind, rest) = payload.split_first()?;
    if kind != MSG_KEXINIT {
        return None;
    }
    let mut reader = rest.get(16..)?;
    let mut next = || read_name_list(&mut reader);
    let kex = next()?;
    let host_keys = next()?;
    let ciphers = next()?;
    let _ciphers_s2c = next()?;
    let macs = next()?;
    let _macs_s2c = next()?;
    let compression = next()?;
    Some(KexInit {
        kex,
        host_keys,
        ciphers,
        macs,
        compression,
    })
}

fn read_name_list(reader: &mut &[u8]) -> Option<String> {
    let length = reader.get(..4)?;
    let length = u32::from_be_bytes([length[0], length[1], length[2], length[3]]) as usize;
    let value = reader.get(4..4usize.checked_add(length)?)?;
    *reader = reader.get(4 + length..)?;
    Some(display_bytes(value))
}

/// The client socket as russh sees it: bytes Conn had already buffered come first,
/// every byte read is shown to the [`Capture`] until the KEXINIT is known, and every
/// read or write fails once `cancelled` fires (the session ended or timed out), so the
/// russh task spawned for the connection cannot outlive the sensor session.
pub struct CaptureStream {
    inner: TcpStream,
    replay: Vec<u8>,
    replayed: usize,
    capture: Capture,
    cancelled: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl CaptureStream {
    /// Wraps `inner`; `buffered` is what was read from it before.
    pub fn new(
        inner: TcpStream,
        buffered: Vec<u8>,
        hello: Arc<ClientHello>,
        cancelled: WaitForCancellationFutureOwned,
    ) -> Self {
        let mut capture = Capture {
            buffer: Vec::new(),
            done: false,
            hello,
        };
        capture.feed(&buffered);
        CaptureStream {
            inner,
            replay: buffered,
            replayed: 0,
            capture,
            cancelled: Box::pin(cancelled),
        }
    }

    fn check_cancelled(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        match self.cancelled.as_mut().poll(cx) {
            Poll::Ready(()) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "sensor session ended",
            )),
            Poll::Pending => Ok(()),
        }
    }
}

impl AsyncRead for CaptureStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check_cancelled(cx)?;
        if let Some(pending) = this.replay.get(this.replayed..).filter(|p| !p.is_empty()) {
            let count = pending.len().min(buf.remaining());
            buf.put_slice(pending.get(..count).unwrap_or_default());
            this.replayed += count;
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        if !this.capture.done {
            this.capture
                .feed(buf.filled().get(before..).unwrap_or_default());
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for CaptureStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check_cancelled(cx)?;
        Pin::new(&mut this.inner).poll_write(cx, bytes)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check_cancelled(cx)?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name_list(out: &mut Vec<u8>, value: &str) {
        out.extend_from_slice(&(value.len() as u32).to_be_bytes());
        out.extend_from_slice(value.as_bytes());
    }

    fn kexinit_packet(lists: [&str; 10]) -> Vec<u8> {
        let mut payload = vec![MSG_KEXINIT];
        payload.extend_from_slice(&[7u8; 16]);
        for list in lists {
            name_list(&mut payload, list);
        }
        payload.extend_from_slice(&[0, 0, 0, 0, 0]);
        let padding = 8 - (payload.len() + 5) % 8 + 4;
        let mut packet = ((payload.len() + padding + 1) as u32)
            .to_be_bytes()
            .to_vec();
        packet.push(padding as u8);
        packet.extend_from_slice(&payload);
        packet.extend(std::iter::repeat_n(0u8, padding));
        packet
    }

    const LISTS: [&str; 10] = [
        "curve25519-sha256,diffie-hellman-group14-sha1",
        "ssh-ed25519,rsa-sha2-512",
        "aes128-ctr,aes128-cbc",
        "aes256-ctr",
        "hmac-sha2-256,hmac-sha1",
        "hmac-sha2-512",
        "none,zlib@openssh.com",
        "none",
        "",
        "",
    ];

    #[test]
    fn hassh_uses_the_client_to_server_lists() {
        let packet = kexinit_packet(LISTS);
        let payload = first_packet_payload(&packet).unwrap().unwrap();
        let kexinit = parse_kexinit(payload).unwrap();
        assert_eq!(
            kexinit.hassh_algorithms(),
            "curve25519-sha256,diffie-hellman-group14-sha1;aes128-ctr,aes128-cbc;\
             hmac-sha2-256,hmac-sha1;none,zlib@openssh.com"
        );
        assert_eq!(kexinit.host_keys, "ssh-ed25519,rsa-sha2-512");
        // md5 of the string above, computed with `printf %s ... | md5sum`.
        assert_eq!(kexinit.hassh(), "69d9f21e335485e66c3525e00b154bf3");
    }

    #[test]
    fn capture_works_byte_by_byte_and_skips_lines_before_the_version() {
        let mut bytes = b"junk line\r\nSSH-2.0-OpenSSH_9.2p1 Debian-2\r\n".to_vec();
        bytes.extend(kexinit_packet(LISTS));
        let hello = Arc::new(ClientHello::default());
        let mut capture = Capture {
            buffer: Vec::new(),
            done: false,
            hello: Arc::clone(&hello),
        };
        for byte in &bytes {
            capture.feed(std::slice::from_ref(byte));
        }
        assert!(capture.done);
        assert_eq!(hello.version(), Some("SSH-2.0-OpenSSH_9.2p1 Debian-2"));
        assert!(hello.kexinit().is_some());
    }

    #[test]
    fn hostile_lengths_end_the_capture_without_panicking() {
        let hello = ClientHello::default();
        let mut bytes = b"SSH-2.0-x\r\n".to_vec();
        bytes.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 9]);
        assert_eq!(scan(&bytes, &hello), Scan::Done);
        let mut short = b"SSH-2.0-x\r\n".to_vec();
        short.extend_from_slice(&[0, 0, 0, 6, 200, 20, 1, 2, 3, 4]);
        assert_eq!(scan(&short, &hello), Scan::Done);
        assert!(parse_kexinit(&[MSG_KEXINIT, 1, 2]).is_none());
        let mut truncated = vec![MSG_KEXINIT];
        truncated.extend_from_slice(&[0u8; 16]);
        truncated.extend_from_slice(&[0, 0, 0, 200, b'a']);
        assert!(parse_kexinit(&truncated).is_none());
        let no_newline = vec![b'A'; MAX_CAPTURE];
        assert_eq!(scan(&no_newline, &hello), Scan::Done);
    }
}
