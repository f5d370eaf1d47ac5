//! MongoDB wire protocol login, answering like a mongod 7.0 standalone with authorization
//! on: OP_MSG and legacy OP_QUERY (answered with OP_REPLY) carrying `hello` / `isMaster`,
//! `buildInfo`, `ping`, `saslStart` / `saslContinue`; anything else gets `Unauthorized`
//! (code 13). nmap's OP_QUERY `serverStatus` probe gets a short status document with the
//! version, so `nmap -sV` names the product; an HTTP `GET` on the driver port gets mongod's
//! "It looks like you are trying to access MongoDB over HTTP on the native driver port."
//! (nmap's GetRequest probe soft-matches it as MongoDB on any port).
//!
//! SCRAM-SHA-1 and SCRAM-SHA-256 (RFC 5802 / 7677) are walked to the client's proof, then
//! `Authentication failed.` (code 18, AuthenticationFailed). The exchange is kept crackable:
//! - SCRAM-SHA-256: `$scram-sha-256$<i>$<salt b64>$<AuthMessage b64>$<ClientProof b64>`,
//!   the same line as PostgreSQL's (the password is used as is, after SASLprep).
//! - SCRAM-SHA-1: `$mongodb-scram-sha-1$<i>$<salt b64>$<AuthMessage b64>$<ClientProof b64>`,
//!   where the SCRAM password is MongoDB's `hex(md5("<user>:mongo:<password>"))`.
//!
//! hashcat 24100/24200 crack MongoDB's *stored* ServerKey, which a network exchange does
//! not contain; no stock mode reads a captured proof, so docs/sensor-db.md gives the check
//! and the e2e test verifies both lines with Python hashlib/hmac. SASL `PLAIN` (LDAP
//! proxy auth) is recorded in clear. Iterations are mongod's defaults (10000 / 15000); the
//! salt for a user name is stable for the life of the sensor, as a stored user's would be.
//!
//! BSON: a small bounded reader/writer here instead of the `bson` crate. Only a dozen
//! element types occur in a login, the reader must refuse deep nesting and lengths that
//! disagree with the buffer without allocating from them, and `bson` would pull in a
//! serde data model, chrono/time, indexmap and rand for what is ~150 lines.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicI32, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::Value;
use trawl_event::{Credential, EndReason, Mechanism};

use crate::conn::{Conn, ConnError};
use crate::protocol::{BoxFuture, PrepareEnv, Protocol};
use crate::protocols::postgresql::{
    ClientFirst, derive_salt, parse_client_final, parse_client_first, random_bytes,
    random_hmac_key, scram_hash, take_cstring,
};
use crate::session::SessionCtx;

/// Largest message accepted (a login needs a few hundred bytes).
pub const MAX_MESSAGE: usize = 256 * 1024;
/// Deepest document nesting accepted.
pub const MAX_DEPTH: usize = 8;
/// Most elements read from one document.
pub const MAX_ELEMENTS: usize = 256;

const OP_REPLY: i32 = 1;
const OP_QUERY: i32 = 2004;
const OP_MSG: i32 = 2013;

const SHA1_ITERATIONS: u32 = 10_000;
const SHA256_ITERATIONS: u32 = 15_000;

/// A BSON value (the types a login exchange uses; others are skipped as [`Bson::Other`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Bson {
    /// 0x01
    Double(f64),
    /// 0x02
    String(String),
    /// 0x03
    Document(Document),
    /// 0x04 (keys "0", "1", ...)
    Array(Vec<Bson>),
    /// 0x05 (subtype, bytes)
    Binary(u8, Vec<u8>),
    /// 0x07
    ObjectId([u8; 12]),
    /// 0x08
    Bool(bool),
    /// 0x09 (milliseconds since the epoch)
    DateTime(i64),
    /// 0x0A
    Null,
    /// 0x10
    Int32(i32),
    /// 0x12
    Int64(i64),
    /// Any other element type, skipped (its type byte).
    Other(u8),
}

/// An ordered BSON document.
pub type Document = Vec<(String, Bson)>;

fn get<'a>(document: &'a Document, key: &str) -> Option<&'a Bson> {
    document
        .iter()
        .find(|(name, _)| name == key)
        .map(|(_, v)| v)
}

fn get_str<'a>(document: &'a Document, key: &str) -> Option<&'a str> {
    match get(document, key)? {
        Bson::String(text) => Some(text),
        _ => None,
    }
}

fn get_bytes<'a>(document: &'a Document, key: &str) -> Option<&'a [u8]> {
    match get(document, key)? {
        Bson::Binary(_, bytes) => Some(bytes),
        Bson::String(text) => Some(text.as_bytes()),
        _ => None,
    }
}

/// Reads one document from the front of `bytes`: (document, bytes consumed).
pub fn read_document(bytes: &[u8], depth: usize) -> Option<(Document, usize)> {
    if depth > MAX_DEPTH {
        return None;
    }
    let len = usize::try_from(read_i32(bytes)?).ok()?;
    if len < 5 || len > bytes.len() || bytes.get(len - 1) != Some(&0) {
        return None;
    }
    let mut body = bytes.get(4..len - 1)?;
    let mut document = Vec::new();
    while !body.is_empty() {
        if document.len() == MAX_ELEMENTS {
            return None;
        }
        let kind = *body.first()?;
        let (name, rest) = take_cstring(body.get(1..)?)?;
        let (value, used) = read_value(kind, rest, depth)?;
        document.push((String::from_utf8_lossy(name).into_owned(), value));
        body = rest.get(used..)?;
    }
    Some((document, len))
}

fn read_i32(bytes: &[u8]) -> Option<i32> {
    Some(i32::from_le_bytes(bytes.get(..4)?.try_into().ok()?))
}

fn read_8(bytes: &[u8]) -> Option<[u8; 8]> {
    bytes.get(..8)?.try_into().ok()
}

/// A BSON string (int32 length including the NUL): (text, bytes used).
fn read_string(bytes: &[u8]) -> Option<(String, usize)> {
    let len = usize::try_from(read_i32(bytes)?)
        .ok()
        .filter(|len| *len >= 1)?;
    let raw = bytes.get(4..4 + len)?;
    let text = raw.get(..len - 1)?;
    (raw.last() == Some(&0)).then(|| (String::from_utf8_lossy(text).into_owned(), 4 + len))
}

fn read_value(kind: u8, bytes: &[u8], depth: usize) -> Option<(Bson, usize)> {
    Some(match kind {
        0x01 => (Bson::Double(f64::from_le_bytes(read_8(bytes)?)), 8),
        0x02 => {
            let (text, used) = read_string(bytes)?;
            (Bson::String(text), used)
        }
        0x03 => {
            let (document, used) = read_document(bytes, depth + 1)?;
            (Bson::Document(document), used)
        }
        0x04 => {
            let (document, used) = read_document(bytes, depth + 1)?;
            (
                Bson::Array(document.into_iter().map(|(_, v)| v).collect()),
                used,
            )
        }
        0x05 => {
            let len = usize::try_from(read_i32(bytes)?).ok()?;
            let subtype = *bytes.get(4)?;
            let data = bytes.get(5..5 + len)?;
            (Bson::Binary(subtype, data.to_vec()), 5 + len)
        }
        0x06 | 0x7f | 0xff => (Bson::Other(kind), 0),
        0x07 => (Bson::ObjectId(bytes.get(..12)?.try_into().ok()?), 12),
        0x08 => (Bson::Bool(*bytes.first()? != 0), 1),
        0x09 => (Bson::DateTime(i64::from_le_bytes(read_8(bytes)?)), 8),
        0x0a => (Bson::Null, 0),
        0x0b => {
            let (_, rest) = take_cstring(bytes)?;
            let (_, after) = take_cstring(rest)?;
            (Bson::Other(kind), bytes.len() - after.len())
        }
        0x0c => {
            let (_, used) = read_string(bytes)?;
            bytes.get(used..used + 12)?;
            (Bson::Other(kind), used + 12)
        }
        0x0d | 0x0e => {
            let (_, used) = read_string(bytes)?;
            (Bson::Other(kind), used)
        }
        0x0f => {
            let len = usize::try_from(read_i32(bytes)?)
                .ok()
                .filter(|len| *len >= 4)?;
            bytes.get(..len)?;
            (Bson::Other(kind), len)
        }
        0x10 => (Bson::Int32(read_i32(bytes)?), 4),
        0x11 => (Bson::Other(kind), read_8(bytes).map(|_| 8)?),
        0x12 => (Bson::Int64(i64::from_le_bytes(read_8(bytes)?)), 8),
        0x13 => (Bson::Other(kind), bytes.get(..16).map(|_| 16)?),
        _ => return None,
    })
}

/// Encodes a document.
pub fn write_document(document: &Document) -> Vec<u8> {
    let mut out = vec![0; 4];
    for (name, value) in document {
        write_element(&mut out, name, value);
    }
    out.push(0);
    let len = i32::try_from(out.len()).unwrap_or(i32::MAX);
    out.splice(..4, len.to_le_bytes());
    out
}

fn write_element(out: &mut Vec<u8>, name: &str, value: &Bson) {
    let kind = match value {
        Bson::Double(_) => 0x01,
        Bson::String(_) => 0x02,
        Bson::Document(_) => 0x03,
        Bson::Array(_) => 0x04,
        Bson::Binary(..) => 0x05,
        Bson::ObjectId(_) => 0x07,
        Bson::Bool(_) => 0x08,
        Bson::DateTime(_) => 0x09,
        Bson::Null | Bson::Other(_) => 0x0a,
        Bson::Int32(_) => 0x10,
        Bson::Int64(_) => 0x12,
    };
    out.push(kind);
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    match value {
        Bson::Double(v) => out.extend_from_slice(&v.to_le_bytes()),
        Bson::String(text) => {
            let len = i32::try_from(text.len() + 1).unwrap_or(i32::MAX);
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(text.as_bytes());
            out.push(0);
        }
        Bson::Document(document) => out.extend(write_document(document)),
        Bson::Array(items) => {
            let document: Document = items
                .iter()
                .enumerate()
                .map(|(index, item)| (index.to_string(), item.clone()))
                .collect();
            out.extend(write_document(&document));
        }
        Bson::Binary(subtype, bytes) => {
            let len = i32::try_from(bytes.len()).unwrap_or(i32::MAX);
            out.extend_from_slice(&len.to_le_bytes());
            out.push(*subtype);
            out.extend_from_slice(bytes);
        }
        Bson::ObjectId(id) => out.extend_from_slice(id),
        Bson::Bool(v) => out.push(u8::from(*v)),
        Bson::DateTime(v) | Bson::Int64(v) => out.extend_from_slice(&v.to_le_bytes()),
        Bson::Int32(v) => out.extend_from_slice(&v.to_le_bytes()),
        Bson::Null | Bson::Other(_) => {}
    }
}

/// A decoded request: the command document, its database, and how to answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The client's requestID (the reply's responseTo).
    pub request_id: i32,
    /// OP_MSG (true) or OP_QUERY (false).
    pub op_msg: bool,
    /// The command document.
    pub command: Document,
    /// Database the command runs against (`$db`, or the `<db>.$cmd` collection).
    pub database: String,
}

/// (message length, requestID, opCode) of a 16-byte header, if the length is in bounds.
pub fn parse_header(header: &[u8]) -> Option<(usize, i32, i32)> {
    let len = usize::try_from(read_i32(header)?).ok()?;
    let request_id = read_i32(header.get(4..)?)?;
    let op_code = read_i32(header.get(12..)?)?;
    (16..=MAX_MESSAGE)
        .contains(&len)
        .then_some((len, request_id, op_code))
}

/// Decodes an OP_MSG or OP_QUERY body (after the header); `None` for anything else.
pub fn parse_request(request_id: i32, op_code: i32, body: &[u8]) -> Option<Request> {
    match op_code {
        OP_MSG => {
            let flags = u32::from_le_bytes(body.get(..4)?.try_into().ok()?);
            let end = if flags & 1 != 0 {
                body.len().checked_sub(4)?
            } else {
                body.len()
            };
            let mut sections = body.get(4..end)?;
            let mut command = None;
            while let Some(&kind) = sections.first() {
                let rest = sections.get(1..)?;
                let used = match kind {
                    0 => {
                        let (document, used) = read_document(rest, 0)?;
                        command.get_or_insert(document);
                        used
                    }
                    1 => usize::try_from(read_i32(rest)?).ok().filter(|n| *n >= 4)?,
                    _ => return None,
                };
                sections = rest.get(used..)?;
            }
            let command = command?;
            let database = get_str(&command, "$db").unwrap_or("admin").to_owned();
            Some(Request {
                request_id,
                op_msg: true,
                command,
                database,
            })
        }
        OP_QUERY => {
            let (collection, rest) = take_cstring(body.get(4..)?)?;
            let (mut command, _) = read_document(rest.get(8..)?, 0)?;
            if let Some(Bson::Document(inner)) = get(&command, "$query") {
                command = inner.clone();
            }
            let collection = String::from_utf8_lossy(collection);
            let database = collection.split('.').next().unwrap_or("admin").to_owned();
            Some(Request {
                request_id,
                op_msg: false,
                command,
                database,
            })
        }
        _ => None,
    }
}

/// Frames a reply document the way the request came (OP_MSG or OP_REPLY).
pub fn frame_reply(request: &Request, reply_id: i32, document: &Document) -> Vec<u8> {
    let doc = write_document(document);
    let mut body = Vec::new();
    let op_code = if request.op_msg {
        body.extend_from_slice(&0u32.to_le_bytes());
        body.push(0);
        body.extend(doc);
        OP_MSG
    } else {
        body.extend_from_slice(&8i32.to_le_bytes()); // AwaitCapable
        body.extend_from_slice(&0i64.to_le_bytes());
        body.extend_from_slice(&0i32.to_le_bytes());
        body.extend_from_slice(&1i32.to_le_bytes());
        body.extend(doc);
        OP_REPLY
    };
    let len = i32::try_from(body.len() + 16).unwrap_or(i32::MAX);
    let mut out = Vec::with_capacity(body.len() + 16);
    for field in [len, reply_id, request.request_id, op_code] {
        out.extend_from_slice(&field.to_le_bytes());
    }
    out.extend(body);
    out
}

struct MongoState {
    salt_key: ring::hmac::Key,
    connection_ids: AtomicI32,
}

/// MongoDB on 37017.
#[derive(Default)]
pub struct Mongodb {
    state: OnceLock<MongoState>,
}

impl Protocol for Mongodb {
    fn name(&self) -> &'static str {
        "mongodb"
    }
    fn default_port(&self) -> u16 {
        37017
    }
    /// The version `buildInfo` and nmap see.
    fn default_banner(&self) -> &'static str {
        "7.0.14"
    }
    fn default_max_attempts(&self) -> u32 {
        10
    }
    fn prepare(&self, env: &PrepareEnv<'_>) -> Result<(), String> {
        env.refuse_options()?;
        let first_id = i32::from(u16::from_le_bytes(random_bytes::<2>()) % 5000) + 1;
        let _ = self.state.set(MongoState {
            salt_key: random_hmac_key()?,
            connection_ids: AtomicI32::new(first_id),
        });
        Ok(())
    }
    fn serve<'a>(
        &'a self,
        conn: &'a mut Conn,
        ctx: &'a mut SessionCtx,
    ) -> BoxFuture<'a, Result<(), ConnError>> {
        Box::pin(async move {
            let Some(state) = self.state.get() else {
                return Err(ConnError::Protocol("mongodb not prepared".into()));
            };
            let connection_id = state.connection_ids.fetch_add(1, Ordering::Relaxed);
            let mut session =
                MongoSession::new(state, connection_id, ctx.settings().banner.clone());
            serve(&mut session, conn, ctx).await
        })
    }
}

/// A SCRAM conversation waiting for the client's proof.
struct Conversation {
    mechanism: Mechanism,
    iterations: u32,
    salt_b64: String,
    first: ClientFirst,
    server_first: String,
}

/// One connection's state: sans-IO, the driver feeds it requests.
struct MongoSession<'a> {
    state: &'a MongoState,
    connection_id: i32,
    version: String,
    conversation: Option<Conversation>,
}

/// What a command produced: the reply and maybe a login attempt.
struct Outcome {
    reply: Document,
    credential: Option<Credential>,
}

fn ok(mut document: Document) -> Document {
    document.push(("ok".into(), Bson::Double(1.0)));
    document
}

fn error(message: &str, code: i32, code_name: &str) -> Document {
    vec![
        ("ok".into(), Bson::Double(0.0)),
        ("errmsg".into(), Bson::String(message.into())),
        ("code".into(), Bson::Int32(code)),
        ("codeName".into(), Bson::String(code_name.into())),
    ]
}

fn auth_failed() -> Document {
    error("Authentication failed.", 18, "AuthenticationFailed")
}

fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl<'a> MongoSession<'a> {
    fn new(state: &'a MongoState, connection_id: i32, version: String) -> Self {
        MongoSession {
            state,
            connection_id,
            version,
            conversation: None,
        }
    }

    fn handle(&mut self, request: &Request) -> Outcome {
        let name = request
            .command
            .first()
            .map(|(name, _)| name.as_str())
            .unwrap_or_default();
        let reply = match name {
            "hello" | "isMaster" | "ismaster" => self.hello(&request.command, name == "hello"),
            "buildInfo" | "buildinfo" => self.build_info(),
            "ping" => ok(Vec::new()),
            "serverStatus" => self.server_status(),
            "saslStart" => return self.sasl_start(request),
            "saslContinue" => return self.sasl_continue(request),
            _ => error(
                &format!("command {name} requires authentication"),
                13,
                "Unauthorized",
            ),
        };
        Outcome {
            reply,
            credential: None,
        }
    }

    fn hello(&self, command: &Document, modern: bool) -> Document {
        let primary_key = if modern {
            "isWritablePrimary"
        } else {
            "ismaster"
        };
        let mut reply = Vec::new();
        if get(command, "helloOk").is_some() {
            reply.push(("helloOk".into(), Bson::Bool(true)));
        }
        reply.extend([
            (primary_key.into(), Bson::Bool(true)),
            ("maxBsonObjectSize".into(), Bson::Int32(16 * 1024 * 1024)),
            ("maxMessageSizeBytes".into(), Bson::Int32(48_000_000)),
            ("maxWriteBatchSize".into(), Bson::Int32(100_000)),
            ("localTime".into(), Bson::DateTime(now_millis())),
            ("logicalSessionTimeoutMinutes".into(), Bson::Int32(30)),
            ("connectionId".into(), Bson::Int32(self.connection_id)),
            ("minWireVersion".into(), Bson::Int32(0)),
            ("maxWireVersion".into(), Bson::Int32(21)),
            ("readOnly".into(), Bson::Bool(false)),
        ]);
        if get(command, "saslSupportedMechs").is_some() {
            let mechanisms = ["SCRAM-SHA-1", "SCRAM-SHA-256"]
                .map(|m| Bson::String(m.into()))
                .to_vec();
            reply.push(("saslSupportedMechs".into(), Bson::Array(mechanisms)));
        }
        ok(reply)
    }

    fn version_array(&self) -> Vec<Bson> {
        let mut parts: Vec<Bson> = self
            .version
            .split('.')
            .take(3)
            .map(|part| Bson::Int32(part.parse().unwrap_or(0)))
            .collect();
        parts.resize(4, Bson::Int32(0));
        parts
    }

    fn build_info(&self) -> Document {
        let openssl = vec![
            (
                "running".into(),
                Bson::String("OpenSSL 3.0.2 15 Mar 2022".into()),
            ),
            (
                "compiled".into(),
                Bson::String("OpenSSL 3.0.2 15 Mar 2022".into()),
            ),
        ];
        ok(vec![
            ("version".into(), Bson::String(self.version.clone())),
            (
                "gitVersion".into(),
                Bson::String("ce59cfc6a3c5e5c067dca0d30697edd68d4f5188".into()),
            ),
            ("modules".into(), Bson::Array(Vec::new())),
            ("allocator".into(), Bson::String("tcmalloc".into())),
            ("javascriptEngine".into(), Bson::String("mozjs".into())),
            ("sysInfo".into(), Bson::String("deprecated".into())),
            ("versionArray".into(), Bson::Array(self.version_array())),
            ("openssl".into(), Bson::Document(openssl)),
            ("bits".into(), Bson::Int32(64)),
            ("debug".into(), Bson::Bool(false)),
            ("maxBsonObjectSize".into(), Bson::Int32(16 * 1024 * 1024)),
        ])
    }

    fn server_status(&self) -> Document {
        ok(vec![
            ("host".into(), Bson::String("mongo".into())),
            ("version".into(), Bson::String(self.version.clone())),
            ("process".into(), Bson::String("mongod".into())),
            ("pid".into(), Bson::Int64(1)),
            ("localTime".into(), Bson::DateTime(now_millis())),
        ])
    }

    fn sasl_start(&mut self, request: &Request) -> Outcome {
        let command = &request.command;
        let mechanism = get_str(command, "mechanism").unwrap_or_default().to_owned();
        let payload = get_bytes(command, "payload").unwrap_or_default();
        let (scram, iterations, salt_len) = match mechanism.as_str() {
            "SCRAM-SHA-1" => (Mechanism::ScramSha1, SHA1_ITERATIONS, 16),
            "SCRAM-SHA-256" => (Mechanism::ScramSha256, SHA256_ITERATIONS, 28),
            "PLAIN" => return plain_outcome(payload),
            _ => {
                let message = format!(
                    "Received authentication for mechanism {mechanism} which is not enabled"
                );
                return Outcome {
                    reply: error(&message, 334, "MechanismUnavailable"),
                    credential: None,
                };
            }
        };
        let Some(first) = parse_client_first(payload) else {
            return Outcome {
                reply: auth_failed(),
                credential: None,
            };
        };
        let salt_b64 = B64.encode(derive_salt(&self.state.salt_key, &first.username, salt_len));
        let server_first = format!(
            "r={}{},s={salt_b64},i={iterations}",
            first.nonce,
            B64.encode(random_bytes::<24>())
        );
        let reply = ok(vec![
            ("conversationId".into(), Bson::Int32(1)),
            ("done".into(), Bson::Bool(false)),
            (
                "payload".into(),
                Bson::Binary(0, server_first.clone().into_bytes()),
            ),
        ]);
        self.conversation = Some(Conversation {
            mechanism: scram,
            iterations,
            salt_b64,
            first,
            server_first,
        });
        Outcome {
            reply,
            credential: None,
        }
    }

    fn sasl_continue(&mut self, request: &Request) -> Outcome {
        let Some(conversation) = self.conversation.take() else {
            return Outcome {
                reply: error("No SASL session state found", 17, "ProtocolError"),
                credential: None,
            };
        };
        let payload = get_bytes(&request.command, "payload").unwrap_or_default();
        let mut credential = Credential::new(
            conversation.first.username.clone(),
            Vec::new(),
            conversation.mechanism,
        );
        let tag = if conversation.mechanism == Mechanism::ScramSha1 {
            "mongodb-scram-sha-1"
        } else {
            "scram-sha-256"
        };
        credential.password_hash = parse_client_final(payload).map(|last| {
            scram_hash(
                tag,
                conversation.iterations,
                &conversation.salt_b64,
                &conversation.first,
                &conversation.server_first,
                &last,
            )
        });
        Outcome {
            reply: auth_failed(),
            credential: Some(credential),
        }
    }
}

/// SASL PLAIN: `authzid NUL authcid NUL password`.
fn plain_outcome(payload: &[u8]) -> Outcome {
    let mut parts = payload.splitn(3, |&b| b == 0);
    let credential = match (parts.next(), parts.next(), parts.next()) {
        (Some(_), Some(user), Some(password)) => {
            Some(Credential::new(user, password, Mechanism::Plain))
        }
        _ => None,
    };
    Outcome {
        reply: auth_failed(),
        credential,
    }
}

/// mongod's answer to an HTTP request on the driver port (its `checkForHTTPRequest`:
/// a message header starting with `GET `), after which it closes the connection.
pub const HTTP_ANSWER: &[u8] = b"HTTP/1.0 200 OK\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 84\r\n\r\nIt looks like you are trying to access MongoDB over HTTP on the native driver port.\n";

/// What arrived: a request, a message this server does not decode, or HTTP.
enum Incoming {
    Request(Request),
    Unsupported,
    Http,
}

async fn read_request(conn: &mut Conn) -> Result<Incoming, ConnError> {
    let header = conn.read_exact_bytes(16).await?;
    if header.starts_with(b"GET ") {
        return Ok(Incoming::Http);
    }
    let (len, request_id, op_code) =
        parse_header(&header).ok_or_else(|| ConnError::Protocol("bad message length".into()))?;
    let body = conn.read_exact_bytes(len - 16).await?;
    Ok(parse_request(request_id, op_code, &body).map_or(Incoming::Unsupported, Incoming::Request))
}

async fn serve(
    session: &mut MongoSession<'_>,
    conn: &mut Conn,
    ctx: &mut SessionCtx,
) -> Result<(), ConnError> {
    let mut reply_id: i32 = 1;
    loop {
        let request = match read_request(conn).await? {
            Incoming::Request(request) => request,
            Incoming::Unsupported => {
                return Err(ConnError::Protocol(
                    "unsupported opcode or bad document".into(),
                ));
            }
            Incoming::Http => {
                ctx.set_aux("http_probe", Value::Bool(true));
                conn.write_all(HTTP_ANSWER).await?;
                ctx.set_end_reason(EndReason::ProtocolError);
                return Ok(());
            }
        };
        if let Some((name, _)) = request.command.first() {
            ctx.push_aux(
                "commands",
                Value::from(name.chars().take(64).collect::<String>()),
            );
        }
        if let Some(Bson::Document(client)) = get(&request.command, "client") {
            ctx.set_aux("client", client_to_json(client));
        }
        let outcome = session.handle(&request);
        if let Some(credential) = outcome.credential {
            ctx.set_aux("database", Value::from(request.database.clone()));
            ctx.record_auth(credential).await;
        }
        reply_id = reply_id.wrapping_add(1);
        conn.write_all(&frame_reply(&request, reply_id, &outcome.reply))
            .await?;
        if ctx.attempts_exhausted() {
            ctx.set_end_reason(EndReason::MaxAttempts);
            return Ok(());
        }
    }
}

/// The driver's `client` metadata (driver name/version, OS, application) as JSON.
fn client_to_json(document: &Document) -> Value {
    let mut map = serde_json::Map::new();
    for (name, value) in document.iter().take(16) {
        let json = match value {
            Bson::String(text) => Value::from(text.chars().take(256).collect::<String>()),
            Bson::Document(inner) => client_to_json(inner),
            Bson::Int32(v) => Value::from(*v),
            Bson::Int64(v) => Value::from(*v),
            _ => continue,
        };
        map.insert(name.chars().take(64).collect(), json);
    }
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn state() -> MongoState {
        MongoState {
            salt_key: random_hmac_key().unwrap(),
            connection_ids: AtomicI32::new(1),
        }
    }

    fn msg(command: Document) -> Request {
        Request {
            request_id: 7,
            op_msg: true,
            command,
            database: "admin".into(),
        }
    }

    #[test]
    fn documents_round_trip() {
        let document: Document = vec![
            ("a".into(), Bson::Int32(1)),
            ("b".into(), Bson::String("x".into())),
            ("c".into(), Bson::Binary(0, vec![1, 2])),
            ("d".into(), Bson::Array(vec![Bson::Bool(true), Bson::Null])),
            (
                "e".into(),
                Bson::Document(vec![("f".into(), Bson::Int64(-3))]),
            ),
            ("g".into(), Bson::Double(1.5)),
            ("h".into(), Bson::DateTime(5)),
            ("i".into(), Bson::ObjectId([9; 12])),
        ];
        let bytes = write_document(&document);
        assert_eq!(read_document(&bytes, 0), Some((document, bytes.len())));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut document: Document = vec![("x".into(), Bson::Int32(1))];
        for _ in 0..=MAX_DEPTH + 1 {
            document = vec![("x".into(), Bson::Document(document))];
        }
        assert!(read_document(&write_document(&document), 0).is_none());
    }

    #[test]
    fn scram_conversation_is_kept_and_fails_with_code_18() {
        let state = state();
        let mut session = MongoSession::new(&state, 1, "7.0.14".into());
        let start = msg(vec![
            ("saslStart".into(), Bson::Int32(1)),
            ("mechanism".into(), Bson::String("SCRAM-SHA-256".into())),
            (
                "payload".into(),
                Bson::Binary(0, b"n,,n=bob,r=abc".to_vec()),
            ),
        ]);
        let outcome = session.handle(&start);
        let Some(Bson::Binary(_, server_first)) = get(&outcome.reply, "payload") else {
            panic!("no payload: {:?}", outcome.reply);
        };
        let server_first = String::from_utf8(server_first.clone()).unwrap();
        assert!(server_first.starts_with("r=abc") && server_first.ends_with(",i=15000"));
        let proof = B64.encode([7u8; 32]);
        let last = format!("c=biws,r=abc,p={proof}");
        let done = session.handle(&msg(vec![
            ("saslContinue".into(), Bson::Int32(1)),
            ("payload".into(), Bson::Binary(0, last.into_bytes())),
        ]));
        assert_eq!(get(&done.reply, "code"), Some(&Bson::Int32(18)));
        let credential = done.credential.unwrap();
        assert_eq!(credential.username, b"bob");
        let hash = credential.password_hash.unwrap();
        assert!(hash.starts_with("$scram-sha-256$15000$") && hash.ends_with(&proof));
    }

    #[test]
    fn op_query_is_answered_with_op_reply() {
        let query = write_document(&vec![("isMaster".into(), Bson::Int32(1))]);
        let mut body = 0i32.to_le_bytes().to_vec();
        body.extend_from_slice(b"admin.$cmd\0");
        body.extend_from_slice(&[0; 4]);
        body.extend_from_slice(&(-1i32).to_le_bytes());
        body.extend(query);
        let request = parse_request(3, OP_QUERY, &body).unwrap();
        assert_eq!(request.database, "admin");
        let reply = frame_reply(&request, 9, &ok(Vec::new()));
        assert_eq!(parse_header(&reply), Some((reply.len(), 9, OP_REPLY)));
    }

    /// nmap's mongodb probe (nmap-service-probes: OP_QUERY serverStatus on test.$cmd) gets
    /// an OP_REPLY its first match line reads the version from (`version.....([.\d]+)`).
    #[test]
    fn nmap_server_status_probe_gets_the_version() {
        let probe: &[u8] = b"\x41\0\0\0\x3a\x30\0\0\xff\xff\xff\xff\xd4\x07\0\0\0\0\0\0test.$cmd\0\0\0\0\0\xff\xff\xff\xff\x1b\0\0\0\x01serverStatus\0\0\0\0\0\0\0\xf0\x3f\0";
        let (len, id, op) = parse_header(probe).unwrap();
        assert_eq!(len, probe.len());
        let request = parse_request(id, op, &probe[16..]).unwrap();
        let state = state();
        let mut session = MongoSession::new(&state, 7, "7.0.14".into());
        let reply = frame_reply(&request, 2, &session.handle(&request).reply);
        assert_eq!(
            &reply[8..16],
            &[0x3a, 0x30, 0, 0, 1, 0, 0, 0],
            "responseTo, OP_REPLY"
        );
        let at = reply
            .windows(8)
            .position(|w| w == b"version\0")
            .expect("version element");
        assert_eq!(&reply[at + 12..at + 18], b"7.0.14");
    }

    #[test]
    fn http_answer_is_what_mongod_says() {
        let text = String::from_utf8_lossy(HTTP_ANSWER);
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.ends_with(&format!("Content-Length: {}", body.len())));
        assert!(body.starts_with("It looks like you are trying to access MongoDB over HTTP"));
    }

    proptest! {
        /// Hostile bytes never panic the decoders.
        #[test]
        fn decoders_survive_any_input(bytes in proptest::collection::vec(any::<u8>(), 0..2048),
                                      op in prop_oneof![Just(OP_MSG), Just(OP_QUERY), any::<i32>()]) {
            if let Some((document, used)) = read_document(&bytes, 0) {
                prop_assert!(used <= bytes.len());
                prop_assert!(document.len() <= MAX_ELEMENTS);
            }
            let _ = parse_request(1, op, &bytes);
            if let Some((len, _, _)) = parse_header(&bytes) {
                prop_assert!(len <= MAX_MESSAGE);
            }
        }

        /// Documents with random element bytes behind a valid length never panic.
        #[test]
        fn framed_garbage_survives(inner in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut bytes = ((inner.len() + 5) as i32).to_le_bytes().to_vec();
            bytes.extend(&inner);
            bytes.push(0);
            let _ = read_document(&bytes, 0);
        }
    }
}
