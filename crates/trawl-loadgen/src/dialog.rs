//! Client side of one failed login per protocol (ftp, pop3, imap, smtp, telnet), the same
//! dialogs as the Heralding kit's `login_flood.py`, so both honeypots see identical load.

use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine as _;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::telnet_options::OptionAnswerer;

/// Longest reply line read from the honeypot.
const MAX_LINE: u64 = 16 * 1024;
/// Most bytes scanned for a telnet prompt.
const MAX_PROMPT_SCAN: usize = 64 * 1024;

const USER_PROMPTS: [&[u8]; 2] = [b"sername: ", b"ogin: "];
const PASS_PROMPTS: [&[u8]; 1] = [b"assword:"];

/// A protocol the generator speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Proto {
    Ftp,
    Pop3,
    Imap,
    Smtp,
    Telnet,
}

/// One client connection to the honeypot.
pub struct Client {
    stream: BufReader<TcpStream>,
    io_timeout: Duration,
    said_hello: bool,
    /// Answers the server's telnet options while prompts are awaited.
    options: OptionAnswerer,
}

impl Client {
    /// Wraps a connected stream.
    pub fn new(stream: TcpStream, io_timeout: Duration) -> Self {
        Self {
            stream: BufReader::new(stream),
            io_timeout,
            said_hello: false,
            options: OptionAnswerer::default(),
        }
    }

    async fn send(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        timeout(self.io_timeout, self.stream.get_mut().write_all(bytes))
            .await
            .context("write timed out")?
            .context("write failed")
    }

    async fn line(&mut self) -> anyhow::Result<Vec<u8>> {
        let mut line = Vec::new();
        let mut limited = (&mut self.stream).take(MAX_LINE);
        let count = timeout(self.io_timeout, limited.read_until(b'\n', &mut line))
            .await
            .context("read timed out")?
            .context("read failed")?;
        if count == 0 {
            bail!("connection closed by honeypot");
        }
        Ok(line)
    }

    /// Reads an SMTP/FTP reply (possibly multi-line `NNN-`) and returns its last line.
    async fn numeric_reply(&mut self) -> anyhow::Result<Vec<u8>> {
        loop {
            let line = self.line().await?;
            if line.get(3) != Some(&b'-') {
                return Ok(line);
            }
        }
    }

    async fn until(&mut self, markers: &[&[u8]]) -> anyhow::Result<()> {
        match self.until_or_eof(markers).await? {
            true => Ok(()),
            false => bail!("connection closed by honeypot"),
        }
    }

    /// Reads until one of `markers` (true) or until the honeypot closes (false), answering
    /// telnet option negotiation on the way like a real client.
    async fn until_or_eof(&mut self, markers: &[&[u8]]) -> anyhow::Result<bool> {
        let mut seen = Vec::new();
        while !markers
            .iter()
            .any(|marker| seen.windows(marker.len()).any(|window| window == *marker))
        {
            let mut chunk = [0u8; 4096];
            let count = timeout(self.io_timeout, self.stream.read(&mut chunk))
                .await
                .context("prompt timed out")?
                .context("read failed")?;
            if count == 0 {
                return Ok(false);
            }
            let chunk = chunk.get(..count).unwrap_or_default();
            let mut answers = Vec::new();
            self.options.feed(chunk, &mut answers);
            if !answers.is_empty() {
                self.send(&answers).await?;
            }
            seen.extend_from_slice(chunk);
            if seen.len() > MAX_PROMPT_SCAN {
                bail!("no prompt in {MAX_PROMPT_SCAN} bytes");
            }
        }
        Ok(true)
    }

    /// Waits for the greeting (telnet: the login prompt).
    pub async fn greeting(&mut self, proto: Proto) -> anyhow::Result<()> {
        match proto {
            Proto::Telnet => self.until(&USER_PROMPTS).await,
            Proto::Ftp | Proto::Smtp => self.numeric_reply().await.map(drop),
            Proto::Pop3 | Proto::Imap => self.line().await.map(drop),
        }
    }

    /// One failed login; Ok when the honeypot answered it.
    pub async fn attempt(&mut self, proto: Proto, user: &str, pass: &str) -> anyhow::Result<()> {
        let (user, pass) = (user.as_bytes(), pass.as_bytes());
        let reply = match proto {
            Proto::Ftp => {
                self.send(&[b"USER ", user, b"\r\n"].concat()).await?;
                self.numeric_reply().await?;
                self.send(&[b"PASS ", pass, b"\r\n"].concat()).await?;
                self.numeric_reply().await?
            }
            Proto::Pop3 => {
                self.send(&[b"USER ", user, b"\r\n"].concat()).await?;
                self.line().await?;
                self.send(&[b"PASS ", pass, b"\r\n"].concat()).await?;
                self.line().await?
            }
            Proto::Imap => {
                self.send(&[b"a LOGIN ", user, b" ", pass, b"\r\n"].concat())
                    .await?;
                loop {
                    let line = self.line().await?;
                    if line.starts_with(b"a ") {
                        break line;
                    }
                }
            }
            Proto::Smtp => {
                if !self.said_hello {
                    self.send(b"EHLO loadgen\r\n").await?;
                    self.numeric_reply().await?;
                    self.said_hello = true;
                }
                let token = base64::engine::general_purpose::STANDARD
                    .encode([&b"\0"[..], user, b"\0", pass].concat());
                self.send(format!("AUTH PLAIN {token}\r\n").as_bytes())
                    .await?;
                self.numeric_reply().await?
            }
            Proto::Telnet => {
                self.send(&[user, b"\r\n"].concat()).await?;
                self.until(&PASS_PROMPTS).await?;
                self.send(&[pass, b"\r\n"].concat()).await?;
                // A new login prompt, or the honeypot hanging up after its last allowed
                // attempt: either way the password was answered.
                self.until_or_eof(&USER_PROMPTS).await?;
                return Ok(());
            }
        };
        check_refusal(proto, &reply)
    }
}

/// The reply must be the protocol's "login failed" answer.
fn check_refusal(proto: Proto, reply: &[u8]) -> anyhow::Result<()> {
    let refused = match proto {
        Proto::Ftp => reply.starts_with(b"530"),
        Proto::Pop3 => reply.starts_with(b"-ERR"),
        Proto::Imap => reply.starts_with(b"a NO"),
        Proto::Smtp => reply.starts_with(b"535"),
        Proto::Telnet => true,
    };
    if refused {
        Ok(())
    } else {
        bail!(
            "unexpected reply: {}",
            String::from_utf8_lossy(reply).trim_end()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_recognised_per_protocol() {
        assert!(check_refusal(Proto::Ftp, b"530 Login incorrect.\r\n").is_ok());
        assert!(check_refusal(Proto::Pop3, b"+OK\r\n").is_err());
        assert!(check_refusal(Proto::Imap, b"a NO [AUTHENTICATIONFAILED] x\r\n").is_ok());
        assert!(check_refusal(Proto::Smtp, b"235 ok\r\n").is_err());
    }
}
