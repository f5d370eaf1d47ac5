//! Telnet (RFC 854) login prompts, negotiating like BusyBox telnetd (the server most
//! bots meet): `IAC DO ECHO, DO NAWS, WILL ECHO, WILL SGA`, then `<host> login: ` and
//! `Password: ` (not echoed), `Login incorrect` on failure. The client's option
//! negotiation (`WILL 34`, `WONT 1`, ...) is kept in `auxiliary_data.telnet_negotiation`.
//!
//! The IAC parser is hand-written: the only Telnet crate (libtelnet-rs) is unmaintained
//! since 2021, and we need byte-exact control over echo and line ends. Bytes are decoded
//! lazily, one line at a time, so the echo setting always matches the prompt the line
//! answers even when a bot pipelines user name and password in one packet.

use std::collections::HashSet;

use trawl_event::{Credential, EndReason, Mechanism};

use crate::conn::{Conn, ConnError};
use crate::protocol::{BoxFuture, Protocol};
use crate::session::SessionCtx;

/// Telnet on 10023.
pub struct Telnet;

impl Protocol for Telnet {
    fn name(&self) -> &'static str {
        "telnet"
    }
    fn default_port(&self) -> u16 {
        10023
    }
    /// Printed once before the first prompt (like /etc/issue.net); empty prints nothing.
    fn default_banner(&self) -> &'static str {
        ""
    }
    /// login(1)'s default number of tries.
    fn default_max_attempts(&self) -> u32 {
        3
    }
    fn serve<'a>(
        &'a self,
        conn: &'a mut Conn,
        ctx: &'a mut SessionCtx,
    ) -> BoxFuture<'a, Result<(), ConnError>> {
        Box::pin(serve(conn, ctx))
    }
}

const IAC: u8 = 255;
const DONT: u8 = 254;
const DO: u8 = 253;
const WONT: u8 = 252;
const WILL: u8 = 251;
const SB: u8 = 250;
const SE: u8 = 240;
const ECHO: u8 = 1;
const SGA: u8 = 3;
const NAWS: u8 = 31;

/// How long to wait for the client's answer to our options before the prompt.
const NEGOTIATION_WAIT: std::time::Duration = std::time::Duration::from_millis(250);
/// Pause between answering options and printing the prompt (separate segments).
const PROMPT_GAP: std::time::Duration = std::time::Duration::from_millis(30);

/// What BusyBox telnetd sends first.
const NEGOTIATION: [u8; 12] = [
    IAC, DO, ECHO, IAC, DO, NAWS, IAC, WILL, ECHO, IAC, WILL, SGA,
];

async fn serve(conn: &mut Conn, ctx: &mut SessionCtx) -> Result<(), ConnError> {
    let short_host = ctx
        .hostname()
        .split('.')
        .next()
        .unwrap_or("localhost")
        .to_owned();
    let prompt = format!("{short_host} login: ");
    let mut reader = TelnetReader::new(conn.limits().max_line);
    conn.write_all(&NEGOTIATION).await?;
    if !reader.settle_negotiation(conn).await? {
        return Ok(());
    }
    let banner = ctx.settings().banner.clone();
    let mut hello = Vec::new();
    if !banner.is_empty() {
        hello.extend_from_slice(format!("\r\n{banner}\r\n").as_bytes());
    }
    hello.extend_from_slice(format!("\r\n{prompt}").as_bytes());
    conn.write_all(&hello).await?;
    loop {
        let username = reader.next_line(conn, true).await?;
        reader.record_negotiation(ctx);
        let Some(username) = username else {
            return Ok(());
        };
        if username.is_empty() {
            conn.write_all(prompt.as_bytes()).await?;
            continue;
        }
        conn.write_all(b"Password: ").await?;
        let Some(password) = reader.next_line(conn, false).await? else {
            return Ok(());
        };
        ctx.record_auth(Credential::new(username, password, Mechanism::UserPass))
            .await;
        if ctx.attempts_exhausted() {
            conn.write_all(b"\r\nLogin incorrect\r\n").await?;
            ctx.set_end_reason(EndReason::MaxAttempts);
            return Ok(());
        }
        conn.write_all(format!("\r\nLogin incorrect\r\n{prompt}").as_bytes())
            .await?;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Data,
    Iac,
    Negotiate(u8),
    Sub,
    SubIac,
}

/// Turns the raw byte stream into lines, answering option negotiation on the way.
struct TelnetReader {
    raw: Vec<u8>,
    position: usize,
    state: State,
    line: Vec<u8>,
    after_cr: bool,
    max_line: usize,
    answered: HashSet<(u8, u8)>,
    /// What the client said in option negotiation, e.g. `WILL 34` (first 32).
    negotiation: Vec<String>,
    recorded: usize,
}

/// Output of decoding: bytes to send back (negotiation answers, echo) and maybe a line.
#[derive(Default)]
struct Decoded {
    reply: Vec<u8>,
    line: Option<Vec<u8>>,
}

impl TelnetReader {
    fn new(max_line: usize) -> Self {
        TelnetReader {
            raw: Vec::new(),
            position: 0,
            state: State::Data,
            line: Vec::new(),
            after_cr: false,
            max_line,
            answered: HashSet::new(),
            negotiation: Vec::new(),
            recorded: 0,
        }
    }

    /// Like telnetd, which answers option negotiation before login(1) prints its prompt:
    /// waits briefly for the client's first bytes and answers the options in them (the
    /// prompt then arrives in its own segment, which clients such as Hydra rely on).
    /// `false` when the client closed.
    async fn settle_negotiation(&mut self, conn: &mut Conn) -> Result<bool, ConnError> {
        match tokio::time::timeout(NEGOTIATION_WAIT, conn.read_chunk()).await {
            Err(_) => return Ok(true),
            Ok(Ok(Some(chunk))) => {
                self.raw = chunk;
                self.position = 0;
            }
            Ok(Ok(None)) => return Ok(false),
            Ok(Err(err)) => return Err(err),
        }
        let mut reply = Vec::new();
        while let Some(&byte) = self.raw.get(self.position) {
            if self.state == State::Data && byte != IAC {
                break;
            }
            self.position += 1;
            self.step(byte, false, &mut reply);
        }
        if !reply.is_empty() {
            conn.write_all(&reply).await?;
            tokio::time::sleep(PROMPT_GAP).await;
        }
        Ok(true)
    }

    /// Next line typed by the client (echoed back when `echo`); `None` on EOF.
    async fn next_line(
        &mut self,
        conn: &mut Conn,
        echo: bool,
    ) -> Result<Option<Vec<u8>>, ConnError> {
        loop {
            let decoded = self.decode(echo);
            if !decoded.reply.is_empty() {
                conn.write_all(&decoded.reply).await?;
            }
            if let Some(line) = decoded.line {
                return Ok(Some(line));
            }
            match conn.read_chunk().await? {
                Some(chunk) => {
                    self.raw = chunk;
                    self.position = 0;
                }
                None => return Ok(None),
            }
        }
    }

    /// Decodes buffered bytes up to the end of the next line.
    fn decode(&mut self, echo: bool) -> Decoded {
        let mut decoded = Decoded::default();
        while let Some(&byte) = self.raw.get(self.position) {
            self.position += 1;
            if let Some(line) = self.step(byte, echo, &mut decoded.reply) {
                decoded.line = Some(line);
                break;
            }
        }
        decoded
    }

    fn step(&mut self, byte: u8, echo: bool, reply: &mut Vec<u8>) -> Option<Vec<u8>> {
        match self.state {
            State::Data => return self.data(byte, echo, reply),
            State::Iac => {
                self.state = match byte {
                    IAC => return self.data(byte, echo, reply),
                    WILL | WONT | DO | DONT => State::Negotiate(byte),
                    SB => State::Sub,
                    _ => State::Data,
                };
            }
            State::Negotiate(command) => {
                self.answer(command, byte, reply);
                self.state = State::Data;
            }
            State::Sub => {
                if byte == IAC {
                    self.state = State::SubIac;
                }
            }
            State::SubIac => self.state = if byte == SE { State::Data } else { State::Sub },
        }
        None
    }

    fn data(&mut self, byte: u8, echo: bool, reply: &mut Vec<u8>) -> Option<Vec<u8>> {
        let after_cr = std::mem::take(&mut self.after_cr);
        match byte {
            IAC if self.state == State::Data => {
                self.state = State::Iac;
                self.after_cr = after_cr;
                None
            }
            b'\r' => {
                self.after_cr = true;
                Some(self.finish_line(echo, reply))
            }
            b'\n' if after_cr => None,
            b'\n' => Some(self.finish_line(echo, reply)),
            0 => None,
            _ => {
                self.state = State::Data;
                if self.line.len() < self.max_line {
                    self.line.push(byte);
                    if echo {
                        reply.push(byte);
                        if byte == IAC {
                            reply.push(IAC);
                        }
                    }
                }
                None
            }
        }
    }

    fn finish_line(&mut self, echo: bool, reply: &mut Vec<u8>) -> Vec<u8> {
        if echo {
            reply.extend_from_slice(b"\r\n");
        }
        std::mem::take(&mut self.line)
    }

    /// Puts the client's option negotiation (a fingerprint of the client software) in
    /// `auxiliary_data.telnet_negotiation` when it changed.
    fn record_negotiation(&mut self, ctx: &mut SessionCtx) {
        if self.negotiation.len() != self.recorded {
            self.recorded = self.negotiation.len();
            ctx.set_aux("telnet_negotiation", serde_json::json!(self.negotiation));
        }
    }

    /// Refuses options we did not offer, once per option (no negotiation loops).
    fn answer(&mut self, command: u8, option: u8, reply: &mut Vec<u8>) {
        if self.negotiation.len() < 32 {
            let verb = match command {
                WILL => "WILL",
                WONT => "WONT",
                DO => "DO",
                _ => "DONT",
            };
            self.negotiation.push(format!("{verb} {option}"));
        }
        let refusal = match command {
            DO if option != ECHO && option != SGA => WONT,
            WILL if option != ECHO && option != NAWS => DONT,
            _ => return,
        };
        if self.answered.insert((command, option)) {
            reply.extend_from_slice(&[IAC, refusal, option]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(reader: &mut TelnetReader, bytes: &[u8], echo: bool) -> (Vec<Vec<u8>>, Vec<u8>) {
        reader.raw = bytes.to_vec();
        reader.position = 0;
        let (mut lines, mut reply) = (Vec::new(), Vec::new());
        loop {
            let decoded = reader.decode(echo);
            reply.extend(decoded.reply);
            match decoded.line {
                Some(line) => lines.push(line),
                None => break,
            }
        }
        (lines, reply)
    }

    #[test]
    fn strips_negotiation_and_splits_on_crlf_crnul_lf() {
        let mut reader = TelnetReader::new(100);
        let input = [
            &[IAC, WILL, 24, IAC, DO, 5][..],
            b"root\r\n",
            &[IAC, SB, NAWS, 0, 80, 0, 24, IAC, SE],
            b"pa\xff\xffss\r\0x\n",
        ]
        .concat();
        let (lines, reply) = decode_all(&mut reader, &input, false);
        assert_eq!(
            lines,
            vec![b"root".to_vec(), b"pa\xffss".to_vec(), b"x".to_vec()]
        );
        assert_eq!(reply, vec![IAC, DONT, 24, IAC, WONT, 5]);
    }

    #[test]
    fn echoes_only_when_asked_and_bounds_lines() {
        let mut reader = TelnetReader::new(4);
        let (lines, reply) = decode_all(&mut reader, b"abcdefgh\n", true);
        assert_eq!(lines, vec![b"abcd".to_vec()]);
        assert_eq!(reply, b"abcd\r\n".to_vec());
        let (_, reply) = decode_all(&mut reader, b"secret\r\n", false);
        assert!(reply.is_empty());
    }
}
