//! Redis (RESP2, inline commands too), answering like a Redis 7.0 server protected by
//! `requirepass`: every command is checked exactly as Redis 7 does before authentication
//! (unknown command, unknown subcommand, wrong number of arguments, then `-NOAUTH
//! Authentication required.`), so `PING` and `INFO` answer `-NOAUTH` and nmap's
//! `GET / HTTP/1.0` probe gets Redis' own `wrong number of arguments for 'get' command`.
//!
//! Captured: `AUTH password` (no username: Redis' implicit `default` user is not invented
//! here), `AUTH username password` (`redis-auth`), and `HELLO <2|3> AUTH username password
//! [SETNAME name]` (`redis-hello`); each answers
//! `-WRONGPASS invalid username-password pair or user is disabled.` Other commands
//! (first 32, arguments cut at 64 bytes, never those of AUTH/HELLO) go to
//! `auxiliary_data.redis_commands`; a HELLO `SETNAME` to `redis_client_name`.
//!
//! Limits are Redis' own for unauthenticated clients: at most 10 arguments per
//! multi-bulk command and 16384 bytes per bulk string; past them the exact Redis
//! protocol error is sent and the connection closed. Inline commands are cut at the
//! sensor's line cap (`max_line_bytes`, Redis uses 64 KiB) with Redis' `too big inline
//! request` error. `POST` and `Host:` (HTTP cross-protocol attacks) close the connection
//! silently, as Redis does. The command table (names, arity, which ones need no
//! authentication) is `assets/redis-commands.txt`, taken from a Redis 7.0.15 `COMMAND`
//! reply.
//!
//! RESP framing and Redis' inline argument splitting (`sdssplitargs`) are hand-written:
//! the server-side crates (redis-protocol, resp) parse into owned values without the
//! unauthenticated limits and error texts this emulation has to reproduce byte for byte.

use std::collections::HashMap;
use std::sync::LazyLock;

use serde_json::Value;
use trawl_event::{Credential, EndReason, Mechanism, display_bytes};

use crate::conn::{Conn, ConnError};
use crate::protocol::{BoxFuture, Protocol};
use crate::session::SessionCtx;

/// Redis' limit on multi-bulk arguments before authentication.
pub const MAX_UNAUTHENTICATED_ARGS: i64 = 10;
/// Redis' limit on one bulk string before authentication.
pub const MAX_UNAUTHENTICATED_BULK: i64 = 16384;
/// Redis' `proto-max-bulk-len` default (512 MiB): longer is an invalid length.
const PROTO_MAX_BULK: i64 = 512 * 1024 * 1024;
/// Longest argument kept in `redis_commands`.
const MAX_AUX_ARG: usize = 64;
/// Most arguments kept per command in `redis_commands`.
const MAX_AUX_ARGS: usize = 8;
/// Redis' inline buffer size: a NUL in an inline command hides its newline from Redis,
/// which then buffers until this size and fails.
const INLINE_MAX: usize = 64 * 1024;

const NOAUTH: &[u8] = b"-NOAUTH Authentication required.\r\n";
const WRONGPASS: &[u8] = b"-WRONGPASS invalid username-password pair or user is disabled.\r\n";
const HELLO_NOAUTH: &[u8] = b"-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\r\n";

/// Redis on 16379 (standard 6379).
pub struct Redis;

impl Protocol for Redis {
    fn name(&self) -> &'static str {
        "redis"
    }
    fn default_port(&self) -> u16 {
        16379
    }
    /// The Redis version claimed in documentation only: a protected Redis shows no
    /// version before authentication, and no client ever authenticates here.
    fn default_banner(&self) -> &'static str {
        "7.0.15"
    }
    fn serve<'a>(
        &'a self,
        conn: &'a mut Conn,
        ctx: &'a mut SessionCtx,
    ) -> BoxFuture<'a, Result<(), ConnError>> {
        Box::pin(serve(conn, ctx))
    }
}

/// What the sensor does after one command.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Send this and read the next command.
    Reply(Vec<u8>),
    /// Send this (possibly nothing) and close.
    Close(Vec<u8>),
}

/// One command as far as the sensor judges it.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// An answer that needs no credential handling.
    Answer(Outcome),
    /// `AUTH`/`HELLO ... AUTH` with a credential to record before answering.
    Credential(Credential, Vec<u8>),
}

async fn serve(conn: &mut Conn, ctx: &mut SessionCtx) -> Result<(), ConnError> {
    let mut swallowed: Option<usize> = None;
    loop {
        let read = read_command(conn).await?;
        if let Some(total) = swallowed.as_mut() {
            // Redis is stuck looking for a newline behind a NUL: nothing is answered
            // until its inline buffer overflows.
            *total += read.size();
            if *total > INLINE_MAX {
                let reply = protocol_error("too big inline request");
                return close_with(conn, ctx, reply).await;
            }
            if !matches!(read, Read::Eof) {
                continue;
            }
        }
        let args = match read {
            Read::Eof => return Ok(()),
            Read::Error(reply) => return close_with(conn, ctx, reply).await,
            Read::InlineWithNul(size) => {
                swallowed = Some(size);
                continue;
            }
            Read::Args(args) if args.is_empty() => continue,
            Read::Args(args) => args,
        };
        record_command(ctx, &args);
        let outcome = match judge(&args) {
            Verdict::Answer(outcome) => outcome,
            Verdict::Credential(credential, reply) => {
                ctx.record_auth(credential).await;
                if ctx.attempts_exhausted() {
                    conn.write_all(&reply).await?;
                    ctx.set_end_reason(EndReason::MaxAttempts);
                    return Ok(());
                }
                Outcome::Reply(reply)
            }
        };
        match outcome {
            Outcome::Reply(reply) => conn.write_all(&reply).await?,
            Outcome::Close(reply) => {
                if !reply.is_empty() {
                    conn.write_all(&reply).await?;
                }
                return Ok(());
            }
        }
    }
}

async fn close_with(
    conn: &mut Conn,
    ctx: &mut SessionCtx,
    reply: Vec<u8>,
) -> Result<(), ConnError> {
    conn.write_all(&reply).await?;
    ctx.set_end_reason(EndReason::ProtocolError);
    Ok(())
}

/// One read from the client.
enum Read {
    Eof,
    Args(Vec<Vec<u8>>),
    /// An inline command with a NUL byte (its size): Redis never sees its newline.
    InlineWithNul(usize),
    /// A protocol error to send before closing.
    Error(Vec<u8>),
}

impl Read {
    /// Roughly the bytes this read consumed (for the inline overflow count).
    fn size(&self) -> usize {
        match self {
            Read::Args(args) => args.iter().map(|arg| arg.len() + 1).sum::<usize>() + 1,
            Read::InlineWithNul(size) => *size,
            Read::Eof | Read::Error(_) => 0,
        }
    }
}

async fn read_command(conn: &mut Conn) -> Result<Read, ConnError> {
    let truncated = conn.truncated_lines();
    let Some(line) = conn.read_line().await? else {
        return Ok(Read::Eof);
    };
    if conn.truncated_lines() > truncated {
        let error = if line.first() == Some(&b'*') {
            "too big mbulk count string"
        } else {
            "too big inline request"
        };
        return Ok(Read::Error(protocol_error(error)));
    }
    match line.strip_prefix(b"*") {
        Some(count) => read_multibulk(conn, count).await,
        None if memchr::memchr(0, &line).is_some() => Ok(Read::InlineWithNul(line.len() + 2)),
        None => Ok(match split_inline(&line) {
            Some(args) => Read::Args(args),
            None => Read::Error(protocol_error("unbalanced quotes in request")),
        }),
    }
}

/// The bulk strings of a `*<count>` command.
async fn read_multibulk(conn: &mut Conn, count: &[u8]) -> Result<Read, ConnError> {
    let count = match parse_strict_integer(count) {
        Some(count) if count <= i64::from(i32::MAX) => count,
        _ => return Ok(Read::Error(protocol_error("invalid multibulk length"))),
    };
    if count > MAX_UNAUTHENTICATED_ARGS {
        return Ok(Read::Error(protocol_error(
            "unauthenticated multibulk length",
        )));
    }
    let mut args = Vec::new();
    for _ in 0..count.max(0) {
        let truncated = conn.truncated_lines();
        let Some(header) = conn.read_line().await? else {
            return Err(ConnError::Closed);
        };
        if conn.truncated_lines() > truncated {
            return Ok(Read::Error(protocol_error("too big bulk count string")));
        }
        let Some(length) = header.strip_prefix(b"$") else {
            let got = sanitize(header.get(..1).unwrap_or_default());
            let message = [&b"expected '$', got '"[..], &got, b"'"].concat();
            return Ok(Read::Error(protocol_error_bytes(&message)));
        };
        let length = match parse_strict_integer(length) {
            Some(length) if (0..=PROTO_MAX_BULK).contains(&length) => length,
            _ => return Ok(Read::Error(protocol_error("invalid bulk length"))),
        };
        if length > MAX_UNAUTHENTICATED_BULK {
            return Ok(Read::Error(protocol_error("unauthenticated bulk length")));
        }
        let length = usize::try_from(length).unwrap_or(0);
        let mut arg = conn.read_exact_bytes(length + 2).await?;
        arg.truncate(length);
        args.push(arg);
    }
    Ok(Read::Args(args))
}

fn protocol_error(message: &str) -> Vec<u8> {
    protocol_error_bytes(message.as_bytes())
}

fn protocol_error_bytes(message: &[u8]) -> Vec<u8> {
    [&b"-ERR Protocol error: "[..], message, b"\r\n"].concat()
}

/// Redis' `string2ll`: optional `-`, digits, no leading zeros (except `0`), no spaces.
pub fn parse_strict_integer(text: &[u8]) -> Option<i64> {
    let digits = text.strip_prefix(b"-").unwrap_or(text);
    let valid = match digits {
        [] => false,
        [b'0'] => text.len() == 1,
        [first, ..] => *first != b'0' && digits.iter().all(u8::is_ascii_digit),
    };
    if !valid || digits.len() > 19 {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

/// Redis' inline argument splitting (`sdssplitargs`): blanks separate arguments,
/// `"..."` understands `\n \r \t \b \a \\ \" \xHH`, `'...'` understands `\'`, and a
/// closing quote must be followed by a blank or the end. `None` for unbalanced quotes.
pub fn split_inline(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut args = Vec::new();
    let mut rest = line;
    loop {
        rest = trim_blanks(rest);
        if rest.is_empty() {
            return Some(args);
        }
        let (arg, after) = split_one(rest)?;
        args.push(arg);
        rest = after;
    }
}

fn trim_blanks(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|byte| !is_blank(*byte))
        .unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

fn is_blank(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Quote {
    None,
    Double,
    Single,
}

/// One argument from the start of `input` (not blank) and what follows it.
fn split_one(input: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    let mut arg = Vec::new();
    let mut quote = Quote::None;
    let mut index = 0;
    loop {
        let byte = input.get(index).copied();
        match (quote, byte) {
            (Quote::None, None) => return Some((arg, &[])),
            (Quote::None, Some(b' ' | b'\n' | b'\r' | b'\t')) => {
                return Some((arg, input.get(index..).unwrap_or_default()));
            }
            (Quote::None, Some(b'"')) => quote = Quote::Double,
            (Quote::None, Some(b'\'')) => quote = Quote::Single,
            (Quote::None, Some(other)) => arg.push(other),
            (_, None) => return None,
            (Quote::Double, Some(b'\\')) => {
                let (decoded, used) = double_quote_escape(input.get(index + 1..)?)?;
                arg.push(decoded);
                index += used;
            }
            (Quote::Single, Some(b'\\')) if input.get(index + 1) == Some(&b'\'') => {
                arg.push(b'\'');
                index += 1;
            }
            (Quote::Double, Some(b'"')) | (Quote::Single, Some(b'\'')) => {
                let after = input.get(index + 1..).unwrap_or_default();
                if after.first().is_some_and(|next| !is_blank(*next)) {
                    return None;
                }
                return Some((arg, after));
            }
            (_, Some(other)) => arg.push(other),
        }
        index += 1;
    }
}

/// The byte an escape inside `"..."` stands for, and how many bytes after the
/// backslash it used.
fn double_quote_escape(after_backslash: &[u8]) -> Option<(u8, usize)> {
    let first = *after_backslash.first()?;
    if first == b'x' {
        let high = after_backslash
            .get(1)
            .and_then(|b| (*b as char).to_digit(16));
        let low = after_backslash
            .get(2)
            .and_then(|b| (*b as char).to_digit(16));
        if let (Some(high), Some(low)) = (high, low) {
            return Some((u8::try_from(high * 16 + low).ok()?, 3));
        }
    }
    let decoded = match first {
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        b'b' => 0x08,
        b'a' => 0x07,
        other => other,
    };
    Some((decoded, 1))
}

/// One entry of the Redis 7 command table.
#[derive(Debug, Clone, Copy)]
struct CommandSpec {
    /// Exact count when positive, minimum when negative (Redis' convention).
    arity: i64,
    /// Runs before authentication (`AUTH`, `HELLO`, `QUIT`, `RESET`).
    no_auth: bool,
}

const COMMAND_TABLE: &str = include_str!("assets/redis-commands.txt");

/// `name` or `container|sub` → spec; containers are the names with subcommands.
static COMMANDS: LazyLock<HashMap<&'static str, CommandSpec>> = LazyLock::new(|| {
    COMMAND_TABLE
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_ascii_whitespace();
            let name = fields.next()?;
            let arity = fields.next()?.parse().ok()?;
            let no_auth = fields.next() == Some("no-auth");
            Some((name, CommandSpec { arity, no_auth }))
        })
        .collect()
});

static CONTAINERS: LazyLock<std::collections::HashSet<&'static str>> = LazyLock::new(|| {
    COMMANDS
        .keys()
        .filter_map(|name| name.split_once('|').map(|(container, _)| container))
        .collect()
});

/// Decides the answer to one non-empty command, exactly in Redis 7's order.
pub fn judge(args: &[Vec<u8>]) -> Verdict {
    let Some(first) = args.first() else {
        return Verdict::Answer(Outcome::Reply(Vec::new()));
    };
    let name = String::from_utf8_lossy(first).to_ascii_lowercase();
    if name == "post" || name == "host:" {
        return Verdict::Answer(Outcome::Close(Vec::new()));
    }
    let (full_name, spec) = match lookup(&name, args) {
        Ok(found) => found,
        Err(reply) => return Verdict::Answer(Outcome::Reply(reply)),
    };
    let argc = i64::try_from(args.len()).unwrap_or(i64::MAX);
    if (spec.arity > 0 && spec.arity != argc) || argc < -spec.arity {
        let reply = format!("-ERR wrong number of arguments for '{full_name}' command\r\n");
        return Verdict::Answer(Outcome::Reply(reply.into_bytes()));
    }
    if !spec.no_auth {
        return Verdict::Answer(Outcome::Reply(NOAUTH.to_vec()));
    }
    match full_name.as_str() {
        "auth" => auth(args),
        "hello" => hello(args),
        "quit" => Verdict::Answer(Outcome::Close(b"+OK\r\n".to_vec())),
        _ => Verdict::Answer(Outcome::Reply(b"+RESET\r\n".to_vec())),
    }
}

/// The command's table entry, or Redis' unknown (sub)command error.
fn lookup(name: &str, args: &[Vec<u8>]) -> Result<(String, CommandSpec), Vec<u8>> {
    if CONTAINERS.contains(name)
        && let Some(sub) = args.get(1)
    {
        let full = format!(
            "{name}|{}",
            String::from_utf8_lossy(sub).to_ascii_lowercase()
        );
        return match COMMANDS.get(full.as_str()) {
            Some(spec) => Ok((full, *spec)),
            None => {
                let mut reply = b"-ERR unknown subcommand '".to_vec();
                reply.extend(sanitize(truncate(sub, 128)));
                reply.extend(format!("'. Try {} HELP.\r\n", name.to_ascii_uppercase()).bytes());
                Err(reply)
            }
        };
    }
    match COMMANDS.get(name) {
        Some(spec) => Ok((name.to_owned(), *spec)),
        None => Err(unknown_command(args)),
    }
}

/// `-ERR unknown command 'x', with args beginning with: 'a' 'b' ` (Redis 7 wording,
/// arguments quoted until 128 bytes are used, CR/LF shown as spaces).
fn unknown_command(args: &[Vec<u8>]) -> Vec<u8> {
    let mut listed = Vec::new();
    for arg in args.iter().skip(1) {
        if listed.len() >= 128 {
            break;
        }
        let room = 128 - listed.len();
        listed.push(b'\'');
        listed.extend_from_slice(truncate(arg, room));
        listed.extend_from_slice(b"' ");
    }
    let name = args
        .first()
        .map(|name| truncate(name, 128))
        .unwrap_or_default();
    let mut reply = b"-ERR unknown command '".to_vec();
    reply.extend(sanitize(name));
    reply.extend_from_slice(b"', with args beginning with: ");
    reply.extend(sanitize(&listed));
    reply.extend_from_slice(b"\r\n");
    reply
}

fn truncate(bytes: &[u8], limit: usize) -> &[u8] {
    bytes.get(..limit.min(bytes.len())).unwrap_or_default()
}

/// Error replies are one line: CR and LF become spaces (as Redis does).
fn sanitize(bytes: &[u8]) -> Vec<u8> {
    bytes
        .iter()
        .map(|&byte| {
            if byte == b'\r' || byte == b'\n' {
                b' '
            } else {
                byte
            }
        })
        .collect()
}

fn auth(args: &[Vec<u8>]) -> Verdict {
    let (username, password) = match args {
        [_, password] => (Vec::new(), password.clone()),
        [_, username, password] => (username.clone(), password.clone()),
        _ => return Verdict::Answer(Outcome::Reply(b"-ERR syntax error\r\n".to_vec())),
    };
    Verdict::Credential(
        Credential::new(username, password, Mechanism::RedisAuth),
        WRONGPASS.to_vec(),
    )
}

/// `HELLO [protover [AUTH user pass] [SETNAME name]]`, checked in Redis 7's order.
fn hello(args: &[Vec<u8>]) -> Verdict {
    let reply = |text: &[u8]| Verdict::Answer(Outcome::Reply(text.to_vec()));
    if let Some(version) = args.get(1) {
        match parse_strict_integer(version) {
            None => return reply(b"-ERR Protocol version is not an integer or out of range\r\n"),
            Some(2 | 3) => {}
            Some(_) => return reply(b"-NOPROTO unsupported protocol version\r\n"),
        }
    }
    let mut credential = None;
    let mut index = 2;
    while let Some(option) = args.get(index) {
        let more = args.len() - 1 - index;
        if option.eq_ignore_ascii_case(b"AUTH") && more >= 2 {
            let (user, pass) = (&args[index + 1], &args[index + 2]);
            credential = Some(Credential::new(
                user.clone(),
                pass.clone(),
                Mechanism::RedisHello,
            ));
            index += 3;
        } else if option.eq_ignore_ascii_case(b"SETNAME") && more >= 1 {
            if args[index + 1].iter().any(|b| !(b'!'..=b'~').contains(b)) {
                return reply(
                    b"-ERR Client names cannot contain spaces, newlines or special characters.\r\n",
                );
            }
            index += 2;
        } else {
            let mut text = b"-ERR Syntax error in HELLO option '".to_vec();
            text.extend(sanitize(option));
            text.extend_from_slice(b"'\r\n");
            return Verdict::Answer(Outcome::Reply(text));
        }
    }
    match credential {
        Some(credential) => Verdict::Credential(credential, WRONGPASS.to_vec()),
        None => reply(HELLO_NOAUTH),
    }
}

/// Keeps what the client tried (credentials of AUTH/HELLO never go to aux data).
fn record_command(ctx: &mut SessionCtx, args: &[Vec<u8>]) {
    let Some(name) = args.first() else { return };
    let lower = name.to_ascii_lowercase();
    if lower == b"hello"
        && let Some(position) = args
            .iter()
            .position(|arg| arg.eq_ignore_ascii_case(b"SETNAME"))
        && let Some(client_name) = args.get(position + 1)
    {
        ctx.set_aux(
            "redis_client_name",
            Value::from(display_bytes(truncate(client_name, MAX_AUX_ARG))),
        );
    }
    let shown = if lower == b"auth" || lower == b"hello" {
        display_bytes(truncate(name, MAX_AUX_ARG))
    } else {
        args.iter()
            .take(MAX_AUX_ARGS)
            .map(|arg| display_bytes(truncate(arg, MAX_AUX_ARG)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    ctx.push_aux("redis_commands", Value::from(shown));
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::socks5::replay::replay;
    use super::*;

    fn answer(line: &str) -> Vec<u8> {
        let args = split_inline(line.as_bytes()).unwrap();
        match judge(&args) {
            Verdict::Answer(Outcome::Reply(reply) | Outcome::Close(reply)) => reply,
            Verdict::Credential(_, reply) => reply,
        }
    }

    fn text(bytes: Vec<u8>) -> String {
        String::from_utf8(bytes).unwrap()
    }

    /// Every expected reply below was recorded from a Redis 7.0.15 with `requirepass`.
    #[test]
    fn replies_match_a_protected_redis_7() {
        let cases = [
            ("PING", "-NOAUTH Authentication required.\r\n"),
            ("INFO server", "-NOAUTH Authentication required.\r\n"),
            (
                "AUTH x",
                "-WRONGPASS invalid username-password pair or user is disabled.\r\n",
            ),
            (
                "AUTH",
                "-ERR wrong number of arguments for 'auth' command\r\n",
            ),
            ("AUTH a b c", "-ERR syntax error\r\n"),
            ("HELLO 3", std::str::from_utf8(HELLO_NOAUTH).unwrap()),
            (
                "HELLO 4 AUTH u p",
                "-NOPROTO unsupported protocol version\r\n",
            ),
            (
                "HELLO x",
                "-ERR Protocol version is not an integer or out of range\r\n",
            ),
            (
                "HELLO 03",
                "-ERR Protocol version is not an integer or out of range\r\n",
            ),
            (
                "HELLO 3 AUTH u",
                "-ERR Syntax error in HELLO option 'AUTH'\r\n",
            ),
            ("HELLO 3 FOO", "-ERR Syntax error in HELLO option 'FOO'\r\n"),
            (
                "GET / HTTP/1.0",
                "-ERR wrong number of arguments for 'get' command\r\n",
            ),
            (
                "foo bar baz",
                "-ERR unknown command 'foo', with args beginning with: 'bar' 'baz' \r\n",
            ),
            (
                "foo",
                "-ERR unknown command 'foo', with args beginning with: \r\n",
            ),
            (
                "config foo",
                "-ERR unknown subcommand 'foo'. Try CONFIG HELP.\r\n",
            ),
            (
                "config get",
                "-ERR wrong number of arguments for 'config|get' command\r\n",
            ),
            (
                "CONFIG",
                "-ERR wrong number of arguments for 'config' command\r\n",
            ),
            ("CLIENT LIST", "-NOAUTH Authentication required.\r\n"),
            (
                "ab\"cd ef\" x",
                "-ERR unknown command 'abcd ef', with args beginning with: 'x' \r\n",
            ),
            ("reset", "+RESET\r\n"),
            ("quit extra", "+OK\r\n"),
        ];
        for (line, expected) in cases {
            assert_eq!(text(answer(line)), expected, "{line}");
        }
        let long = format!("foo {} y", "x".repeat(200));
        assert_eq!(
            text(answer(&long)),
            format!(
                "-ERR unknown command 'foo', with args beginning with: '{}' \r\n",
                "x".repeat(128)
            )
        );
        assert_eq!(
            judge(&[b"POST".to_vec()]),
            Verdict::Answer(Outcome::Close(Vec::new()))
        );
    }

    #[test]
    fn credentials_are_taken_from_auth_and_hello() {
        let verdict = |line: &str| judge(&split_inline(line.as_bytes()).unwrap());
        let Verdict::Credential(credential, _) = verdict("AUTH hunter2") else {
            panic!()
        };
        assert_eq!(
            (credential.username, credential.password),
            (vec![], b"hunter2".to_vec())
        );
        let Verdict::Credential(credential, _) = verdict("auth bob \"p w\"") else {
            panic!()
        };
        assert_eq!(
            (credential.username, credential.password),
            (b"bob".to_vec(), b"p w".to_vec())
        );
        let Verdict::Credential(credential, _) = verdict("HELLO 3 SETNAME cli AUTH al pw") else {
            panic!()
        };
        assert_eq!(credential.mechanism, Mechanism::RedisHello);
        assert_eq!(
            (credential.username, credential.password),
            (b"al".to_vec(), b"pw".to_vec())
        );
    }

    #[test]
    fn inline_splitting_follows_sdssplitargs() {
        let split = |line: &[u8]| split_inline(line);
        assert_eq!(
            split(b"  set \"a\\x41b\" 'c\\'d' "),
            Some(vec![b"set".to_vec(), b"aAb".to_vec(), b"c'd".to_vec()])
        );
        assert_eq!(split(b"\"\\x4g\""), Some(vec![b"x4g".to_vec()]));
        assert_eq!(split(b"ping 'a"), None);
        assert_eq!(split(b"ping \"a\"b"), None);
        assert_eq!(
            split(b"AUTH \"\""),
            Some(vec![b"AUTH".to_vec(), Vec::new()])
        );
        assert_eq!(split(b"   "), Some(vec![]));
        assert_eq!(parse_strict_integer(b"-1"), Some(-1));
        assert_eq!(parse_strict_integer(b"01"), None);
        assert_eq!(parse_strict_integer(b"1 "), None);
        assert_eq!(parse_strict_integer(b"99999999999999999999"), None);
    }

    fn run(input: &[u8]) -> (Vec<u8>, trawl_event::Session) {
        replay(&Redis, &toml::Table::new(), input)
    }

    #[test]
    fn resp_framing_and_its_limits_match_redis() {
        let (reply, session) = run(b"*3\r\n$4\r\nAUTH\r\n$1\r\nu\r\n$1\r\np\r\nPING\r\n");
        assert_eq!(
            text(reply),
            "-WRONGPASS invalid username-password pair or user is disabled.\r\n-NOAUTH Authentication required.\r\n"
        );
        assert_eq!(session.auth_attempts.len(), 1);
        assert_eq!(
            session.auxiliary_data["redis_commands"],
            serde_json::json!(["AUTH", "PING"])
        );
        let cases: [(&[u8], &str); 8] = [
            (
                b"*20\r\n",
                "-ERR Protocol error: unauthenticated multibulk length\r\n",
            ),
            (
                b"*2\r\n$20000\r\n",
                "-ERR Protocol error: unauthenticated bulk length\r\n",
            ),
            (
                b"*2\r\nx\r\n",
                "-ERR Protocol error: expected '$', got 'x'\r\n",
            ),
            (
                b"*x\r\n",
                "-ERR Protocol error: invalid multibulk length\r\n",
            ),
            (
                b"*1\r\n$-1\r\n",
                "-ERR Protocol error: invalid bulk length\r\n",
            ),
            (
                b"\"unbalanced\r\n",
                "-ERR Protocol error: unbalanced quotes in request\r\n",
            ),
            (
                b"*1\r\n$3\r\nf\r\no\r\n",
                "-ERR unknown command 'f  ', with args beginning with: \r\n",
            ),
            (
                b"*0\r\n*-1\r\n\r\nPING\r\nQUIT\r\nPING\r\n",
                "-NOAUTH Authentication required.\r\n+OK\r\n",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(text(run(input).0), expected, "{input:?}");
        }
        let (reply, _) = run(b"PING\0garbage\r\nPING\r\n");
        assert!(
            reply.is_empty(),
            "a NUL hides the newline from Redis: {reply:?}"
        );
        let (reply, _) = run(&[b"a".repeat(9000), b"\r\n".to_vec()].concat());
        assert_eq!(
            text(reply),
            "-ERR Protocol error: too big inline request\r\n"
        );
    }

    #[test]
    fn attempts_are_bounded_per_connection() {
        let input = "AUTH x\r\n".repeat(12);
        let (reply, session) = run(input.as_bytes());
        assert_eq!(session.auth_attempts.len(), 10);
        assert_eq!(reply.len(), WRONGPASS.len() * 10);
        assert_eq!(session.end_reason, EndReason::MaxAttempts);
    }

    proptest! {
        /// Inline splitting never panics and never yields more bytes than it was given.
        #[test]
        fn inline_split_is_total(line in proptest::collection::vec(any::<u8>(), 0..400)) {
            if let Some(args) = split_inline(&line) {
                prop_assert!(args.iter().map(Vec::len).sum::<usize>() <= line.len());
            }
        }

        /// Judging any argument list never panics; every reply is one CRLF-terminated line.
        #[test]
        fn judging_is_total(args in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..6)) {
            let reply = match judge(&args) {
                Verdict::Answer(Outcome::Reply(reply) | Outcome::Close(reply)) | Verdict::Credential(_, reply) => reply,
            };
            if !reply.is_empty() {
                prop_assert!(reply.ends_with(b"\r\n"));
                prop_assert_eq!(memchr::memchr(b'\n', &reply), Some(reply.len() - 1));
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// The whole dialog survives arbitrary bytes and RESP-looking garbage.
        #[test]
        fn dialog_survives_hostile_input(input in proptest::collection::vec(
            prop_oneof![any::<u8>(), Just(b'*'), Just(b'$'), Just(b'\r'), Just(b'\n'), Just(b'1'), Just(b'"')], 0..500)) {
            let (_, session) = run(&input);
            prop_assert!(session.auth_attempts.len() <= 10);
        }
    }
}
