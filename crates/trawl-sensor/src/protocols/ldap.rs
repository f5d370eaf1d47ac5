//! LDAPv3 (RFC 4511) answering like OpenLDAP 2.5 slapd: binds are captured and refused,
//! the root DSE is served to anonymous clients, everything else is refused politely.
//!
//! - Simple bind with DN and password: recorded (`ldap-simple`, username = the DN),
//!   answered `invalidCredentials (49)` with empty text, as slapd does. A DN without
//!   password is recorded with an empty password and gets slapd's `unwillingToPerform
//!   (53) unauthenticated bind (DN with no password) disallowed`; a password without DN
//!   is recorded and gets 49. The anonymous bind (both empty) succeeds.
//! - SASL PLAIN (`[authzid] NUL authcid NUL password`, with the initial response or
//!   after slapd's empty `saslBindInProgress (14)` challenge): recorded as `plain`
//!   (username = authcid) and answered 49 `SASL(-13): authentication failure: checkpass
//!   failed`. Other mechanisms get `authMethodNotSupported (7)`.
//! - LDAPv2 binds get slapd's `protocolError (2) historical protocol version requested,
//!   use LDAPv3 instead` (any credential in them is still recorded).
//! - Search with base `""` and scope base returns the root DSE of
//!   `assets/ldap-rootdse.txt` (attribute selection per RFC 4511 and RFC 3673 `+`); the
//!   naming context is `naming_context` in `[protocols.ldap.options]`, by default made of
//!   the domain part of `hostname`. Other searches end with `noSuchObject (32)`. Searches
//!   (base, scope, filter in RFC 4515 form, attributes) go to `auxiliary_data.ldap_searches`.
//! - Extended operations: StartTLS (when the sensor has a certificate; the `ldaps` listener
//!   is TLS from its first byte and refuses it), Who am I? (empty,
//!   anonymous); others `protocolError`. Writes and compares: `insufficientAccessRights`.
//!
//! Responses are encoded as OpenLDAP's liblber does: every constructed element with a
//! 4-byte length (`84 xx xx xx xx`), primitives with the shortest length. nmap
//! fingerprints OpenLDAP by exactly those bytes, and no BER/DER crate writes them (DER
//! crates always write the shortest form), so the writer is hand-written. The reader is
//! hand-written alongside it: LDAP needs only single-byte tags and definite lengths, a
//! bounded reader for that subset is ~60 lines, and every message is first bounded by
//! [`MAX_MESSAGE`] before any decoding; the filter printer is bounded in depth and size.

use std::fmt::Write as _;

use serde::Deserialize;
use serde_json::{Value, json};
use trawl_event::{Credential, EndReason, Mechanism, display_bytes};

use crate::conn::{Conn, ConnError};
use crate::protocol::{BoxFuture, PrepareEnv, Protocol};
use crate::session::SessionCtx;

/// Largest LDAP message accepted (bytes); longer ones close the connection.
pub const MAX_MESSAGE: usize = 64 * 1024;
/// Deepest filter nesting rendered into aux data.
const MAX_FILTER_DEPTH: usize = 16;
/// Longest filter text kept.
const MAX_FILTER_TEXT: usize = 512;

const ROOT_DSE: &str = include_str!("assets/ldap-rootdse.txt");
const STARTTLS_OID: &str = "1.3.6.1.4.1.1466.20037";
const WHOAMI_OID: &str = "1.3.6.1.4.1.4203.1.11.3";

/// Result codes used (RFC 4511 §4.1.9).
mod code {
    pub const SUCCESS: u8 = 0;
    pub const PROTOCOL_ERROR: u8 = 2;
    pub const AUTH_METHOD_NOT_SUPPORTED: u8 = 7;
    pub const SASL_BIND_IN_PROGRESS: u8 = 14;
    pub const NO_SUCH_OBJECT: u8 = 32;
    pub const INVALID_CREDENTIALS: u8 = 49;
    pub const INSUFFICIENT_ACCESS: u8 = 50;
    pub const UNAVAILABLE: u8 = 52;
    pub const UNWILLING_TO_PERFORM: u8 = 53;
}

/// Protocol operation tags (RFC 4511 §4.2–4.14, BER application class).
mod tag {
    pub const SEQUENCE: u8 = 0x30;
    pub const SET: u8 = 0x31;
    pub const INTEGER: u8 = 0x02;
    pub const OCTET_STRING: u8 = 0x04;
    pub const ENUMERATED: u8 = 0x0a;
    pub const BIND_REQUEST: u8 = 0x60;
    pub const BIND_RESPONSE: u8 = 0x61;
    pub const UNBIND_REQUEST: u8 = 0x42;
    pub const SEARCH_REQUEST: u8 = 0x63;
    pub const SEARCH_ENTRY: u8 = 0x64;
    pub const SEARCH_DONE: u8 = 0x65;
    pub const MODIFY_REQUEST: u8 = 0x66;
    pub const ADD_REQUEST: u8 = 0x68;
    pub const DEL_REQUEST: u8 = 0x4a;
    pub const MODDN_REQUEST: u8 = 0x6c;
    pub const COMPARE_REQUEST: u8 = 0x6e;
    pub const ABANDON_REQUEST: u8 = 0x50;
    pub const EXTENDED_REQUEST: u8 = 0x77;
    pub const EXTENDED_RESPONSE: u8 = 0x78;
    pub const SIMPLE_AUTH: u8 = 0x80;
    pub const SASL_AUTH: u8 = 0xa3;
    pub const SASL_CREDS: u8 = 0x87;
    pub const EXTENDED_NAME: u8 = 0x80;
    pub const RESPONSE_NAME: u8 = 0x8a;
    pub const RESPONSE_VALUE: u8 = 0x8b;
}

/// LDAP on 10389 (standard 389), with StartTLS; LDAPS (implicit TLS) on 10636 (636).
#[derive(Default)]
pub struct Ldap {
    naming_context: std::sync::OnceLock<String>,
    tls: bool,
}

impl Ldap {
    /// The plain listener (StartTLS offered when TLS is set up).
    pub fn plain() -> Self {
        Self::default()
    }

    /// The LDAPS listener: TLS from the first byte.
    pub fn implicit_tls() -> Self {
        Ldap {
            tls: true,
            ..Self::default()
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct LdapOptions {
    /// The directory's base DN (`namingContexts` of the root DSE).
    naming_context: Option<String>,
}

impl Protocol for Ldap {
    fn name(&self) -> &'static str {
        if self.tls { "ldaps" } else { "ldap" }
    }
    fn default_port(&self) -> u16 {
        if self.tls { 10636 } else { 10389 }
    }
    fn implicit_tls(&self) -> bool {
        self.tls
    }
    /// LDAP has no greeting; the banner is not sent (the product shows in how replies
    /// are encoded and in the root DSE).
    fn default_banner(&self) -> &'static str {
        ""
    }
    fn default_options(&self) -> &'static str {
        "# naming_context = \"dc=example,dc=com\"   # default: dc= labels of hostname's domain\n"
    }
    fn prepare(&self, env: &PrepareEnv<'_>) -> Result<(), String> {
        let options: LdapOptions = env.parse_options()?;
        let context = options
            .naming_context
            .unwrap_or_else(|| naming_context_for(&env.settings.hostname));
        let _ = self.naming_context.set(context);
        Ok(())
    }
    fn serve<'a>(
        &'a self,
        conn: &'a mut Conn,
        ctx: &'a mut SessionCtx,
    ) -> BoxFuture<'a, Result<(), ConnError>> {
        let context = self
            .naming_context
            .get()
            .cloned()
            .unwrap_or_else(|| naming_context_for(ctx.hostname()));
        Box::pin(async move { serve(conn, ctx, &context).await })
    }
}

/// `mail.example.com` → `dc=example,dc=com` (the host's own label is dropped when
/// there are three or more).
pub fn naming_context_for(hostname: &str) -> String {
    let labels: Vec<&str> = hostname.split('.').filter(|l| !l.is_empty()).collect();
    let domain = if labels.len() >= 3 {
        labels.get(1..).unwrap_or_default()
    } else {
        &labels[..]
    };
    if domain.is_empty() {
        return "dc=example,dc=com".into();
    }
    domain
        .iter()
        .map(|label| format!("dc={label}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// A malformed BER element.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BerError {
    /// The element runs past the end of its container.
    #[error("truncated element")]
    Truncated,
    /// Indefinite lengths are forbidden in LDAP (RFC 4511 §5.1).
    #[error("indefinite length")]
    Indefinite,
    /// A length of more than 4 bytes.
    #[error("length too long")]
    LengthTooLong,
    /// Multi-byte tags are not used by LDAP.
    #[error("multi-byte tag")]
    LongTag,
    /// Another element was expected here.
    #[error("expected tag {expected:#04x}, found {found:#04x}")]
    UnexpectedTag {
        /// The tag expected.
        expected: u8,
        /// The tag found.
        found: u8,
    },
    /// An INTEGER/ENUMERATED that is empty or wider than 8 bytes.
    #[error("bad integer")]
    BadInteger,
}

/// Reads consecutive BER elements from a byte slice (never past its end).
#[derive(Debug, Clone)]
pub struct BerReader<'a> {
    rest: &'a [u8],
}

impl<'a> BerReader<'a> {
    /// A reader over `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        BerReader { rest: bytes }
    }

    /// Whether every element was read.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The next element's tag, if any.
    pub fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// The next element: its tag and content.
    pub fn next_element(&mut self) -> Result<(u8, &'a [u8]), BerError> {
        let (&tag, after_tag) = self.rest.split_first().ok_or(BerError::Truncated)?;
        if tag & 0x1f == 0x1f {
            return Err(BerError::LongTag);
        }
        let (length, header) = parse_length(after_tag)?;
        let body = after_tag.get(header..).ok_or(BerError::Truncated)?;
        let content = body.get(..length).ok_or(BerError::Truncated)?;
        self.rest = body.get(length..).ok_or(BerError::Truncated)?;
        Ok((tag, content))
    }

    /// The next element's content, which must have tag `expected`.
    pub fn expect(&mut self, expected: u8) -> Result<&'a [u8], BerError> {
        let (found, content) = self.next_element()?;
        if found != expected {
            return Err(BerError::UnexpectedTag { expected, found });
        }
        Ok(content)
    }

    /// The next element if it has tag `wanted`.
    pub fn optional(&mut self, wanted: u8) -> Result<Option<&'a [u8]>, BerError> {
        if self.peek_tag() == Some(wanted) {
            return self.expect(wanted).map(Some);
        }
        Ok(None)
    }

    /// An INTEGER (or ENUMERATED, with its tag) as i64.
    pub fn integer(&mut self, expected: u8) -> Result<i64, BerError> {
        decode_integer(self.expect(expected)?)
    }
}

/// A BER length after the tag: (length, bytes used). Definite forms only, ≤ 4 bytes.
pub fn parse_length(bytes: &[u8]) -> Result<(usize, usize), BerError> {
    let first = *bytes.first().ok_or(BerError::Truncated)?;
    match first {
        0..=0x7f => Ok((usize::from(first), 1)),
        0x80 => Err(BerError::Indefinite),
        0x81..=0x84 => {
            let count = usize::from(first & 0x7f);
            let digits = bytes.get(1..=count).ok_or(BerError::Truncated)?;
            let length = digits
                .iter()
                .fold(0usize, |length, &digit| (length << 8) | usize::from(digit));
            Ok((length, 1 + count))
        }
        _ => Err(BerError::LengthTooLong),
    }
}

fn decode_integer(content: &[u8]) -> Result<i64, BerError> {
    if content.is_empty() || content.len() > 8 {
        return Err(BerError::BadInteger);
    }
    let negative = content.first().is_some_and(|byte| byte & 0x80 != 0);
    let start = if negative { -1i64 } else { 0 };
    Ok(content
        .iter()
        .fold(start, |value, &byte| (value << 8) | i64::from(byte)))
}

/// Writers producing OpenLDAP's encoding (see the module docs).
pub mod ber {
    /// A primitive element with the shortest length form.
    pub fn primitive(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let length = content.len();
        if length < 0x80 {
            out.push(length as u8);
        } else {
            let digits = (length as u32).to_be_bytes();
            let skip = digits.iter().take_while(|&&digit| digit == 0).count();
            let used = digits.get(skip..).unwrap_or_default();
            out.push(0x80 | used.len() as u8);
            out.extend_from_slice(used);
        }
        out.extend_from_slice(content);
        out
    }

    /// A constructed element with liblber's fixed 4-byte length.
    pub fn constructed(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag, 0x84];
        out.extend_from_slice(
            &u32::try_from(content.len())
                .unwrap_or(u32::MAX)
                .to_be_bytes(),
        );
        out.extend_from_slice(content);
        out
    }

    /// An INTEGER or ENUMERATED (by `tag`) in the shortest two's complement.
    pub fn integer(tag: u8, value: i64) -> Vec<u8> {
        let bytes = value.to_be_bytes();
        let mut start = 0;
        while start < 7 {
            let (current, next) = (bytes[start], bytes[start + 1]);
            let redundant =
                (current == 0 && next & 0x80 == 0) || (current == 0xff && next & 0x80 != 0);
            if !redundant {
                break;
            }
            start += 1;
        }
        primitive(tag, &bytes[start..])
    }
}

/// An LDAPMessage: messageID and one protocol operation.
pub fn message(id: i64, op_tag: u8, op_content: &[u8]) -> Vec<u8> {
    let mut content = ber::integer(tag::INTEGER, id);
    content.extend(ber::constructed(op_tag, op_content));
    ber::constructed(tag::SEQUENCE, &content)
}

/// LDAPResult fields: resultCode, matchedDN, diagnosticMessage.
pub fn ldap_result(code: u8, matched_dn: &str, text: &str) -> Vec<u8> {
    let mut out = ber::integer(tag::ENUMERATED, i64::from(code));
    out.extend(ber::primitive(tag::OCTET_STRING, matched_dn.as_bytes()));
    out.extend(ber::primitive(tag::OCTET_STRING, text.as_bytes()));
    out
}

/// One decoded request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// BindRequest.
    Bind {
        /// LDAP version (3; 2 from old clients and nmap).
        version: i64,
        /// Bind DN.
        name: Vec<u8>,
        /// Simple password or SASL mechanism + credentials.
        auth: BindAuth,
    },
    /// UnbindRequest.
    Unbind,
    /// SearchRequest (what is kept of it).
    Search(Search),
    /// ExtendedRequest by OID.
    Extended(String),
    /// AbandonRequest (no response).
    Abandon,
    /// A write or compare: answered with this response tag.
    Refused(u8),
}

/// The authentication choice of a BindRequest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindAuth {
    /// `simple [0]`.
    Simple(Vec<u8>),
    /// `sasl [3]`: mechanism and optional credentials.
    Sasl(Vec<u8>, Option<Vec<u8>>),
}

/// A SearchRequest's parts the sensor uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search {
    /// baseObject.
    pub base: Vec<u8>,
    /// 0 base, 1 one level, 2 subtree.
    pub scope: i64,
    /// typesOnly.
    pub types_only: bool,
    /// The filter in RFC 4515 text (bounded).
    pub filter: String,
    /// Requested attributes.
    pub attributes: Vec<Vec<u8>>,
}

/// Decodes the content of an LDAPMessage SEQUENCE: (messageID, request). `Ok(None)`
/// for an operation the sensor does not know (the connection is then closed).
pub fn decode_message(content: &[u8]) -> Result<(i64, Option<Request>), BerError> {
    let mut reader = BerReader::new(content);
    let id = reader.integer(tag::INTEGER)?;
    let (op, body) = reader.next_element()?;
    let request = match op {
        tag::BIND_REQUEST => Some(decode_bind(body)?),
        tag::UNBIND_REQUEST => Some(Request::Unbind),
        tag::SEARCH_REQUEST => Some(Request::Search(decode_search(body)?)),
        tag::EXTENDED_REQUEST => {
            let oid = BerReader::new(body).expect(tag::EXTENDED_NAME)?;
            Some(Request::Extended(String::from_utf8_lossy(oid).into_owned()))
        }
        tag::ABANDON_REQUEST => Some(Request::Abandon),
        tag::MODIFY_REQUEST
        | tag::ADD_REQUEST
        | tag::DEL_REQUEST
        | tag::MODDN_REQUEST
        | tag::COMPARE_REQUEST => Some(Request::Refused((op | 0x20) + 1)),
        _ => None,
    };
    Ok((id, request))
}

fn decode_bind(body: &[u8]) -> Result<Request, BerError> {
    let mut reader = BerReader::new(body);
    let version = reader.integer(tag::INTEGER)?;
    let name = reader.expect(tag::OCTET_STRING)?.to_vec();
    let (choice, content) = reader.next_element()?;
    let auth = match choice {
        tag::SIMPLE_AUTH => BindAuth::Simple(content.to_vec()),
        tag::SASL_AUTH => {
            let mut sasl = BerReader::new(content);
            let mechanism = sasl.expect(tag::OCTET_STRING)?.to_vec();
            let credentials = sasl.optional(tag::OCTET_STRING)?.map(<[u8]>::to_vec);
            BindAuth::Sasl(mechanism, credentials)
        }
        found => {
            return Err(BerError::UnexpectedTag {
                expected: tag::SIMPLE_AUTH,
                found,
            });
        }
    };
    Ok(Request::Bind {
        version,
        name,
        auth,
    })
}

fn decode_search(body: &[u8]) -> Result<Search, BerError> {
    let mut reader = BerReader::new(body);
    let base = reader.expect(tag::OCTET_STRING)?.to_vec();
    let scope = reader.integer(tag::ENUMERATED)?;
    let _deref = reader.integer(tag::ENUMERATED)?;
    let _size_limit = reader.integer(tag::INTEGER)?;
    let _time_limit = reader.integer(tag::INTEGER)?;
    let types_only = reader.expect(0x01)?.first().is_some_and(|&b| b != 0);
    let (filter_tag, filter_content) = reader.next_element()?;
    let mut filter = String::new();
    render_filter(filter_tag, filter_content, 0, &mut filter)?;
    let mut attributes = Vec::new();
    let mut list = BerReader::new(reader.expect(tag::SEQUENCE)?);
    while !list.is_empty() {
        attributes.push(list.expect(tag::OCTET_STRING)?.to_vec());
    }
    Ok(Search {
        base,
        scope,
        types_only,
        filter,
        attributes,
    })
}

/// Appends the RFC 4515 text of a filter element; deeper than [`MAX_FILTER_DEPTH`] or
/// longer than [`MAX_FILTER_TEXT`] is cut with `…`.
fn render_filter(tag: u8, content: &[u8], depth: usize, out: &mut String) -> Result<(), BerError> {
    if depth > MAX_FILTER_DEPTH || out.len() > MAX_FILTER_TEXT {
        out.push('…');
        return Ok(());
    }
    out.push('(');
    match tag {
        0xa0..=0xa2 => {
            out.push(['&', '|', '!'][usize::from(tag - 0xa0)]);
            let mut inner = BerReader::new(content);
            while !inner.is_empty() {
                let (child_tag, child) = inner.next_element()?;
                render_filter(child_tag, child, depth + 1, out)?;
            }
        }
        0xa3 | 0xa5 | 0xa6 | 0xa8 => {
            let mut pair = BerReader::new(content);
            let attribute = pair.expect(tag::OCTET_STRING)?;
            let value = pair.expect(tag::OCTET_STRING)?;
            let operator = match tag {
                0xa3 => "=",
                0xa5 => ">=",
                0xa6 => "<=",
                _ => "~=",
            };
            let _ = write!(
                out,
                "{}{operator}{}",
                display_bytes(attribute),
                escape_value(value)
            );
        }
        0xa4 => render_substrings(content, out)?,
        0x87 => {
            let _ = write!(out, "{}=*", display_bytes(content));
        }
        0xa9 => render_extensible(content, out)?,
        _ => {
            let _ = write!(out, "?{tag:#04x}");
        }
    }
    out.push(')');
    if out.len() > MAX_FILTER_TEXT {
        let mut cut = MAX_FILTER_TEXT;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push('…');
    }
    Ok(())
}

fn render_substrings(content: &[u8], out: &mut String) -> Result<(), BerError> {
    let mut reader = BerReader::new(content);
    let attribute = reader.expect(tag::OCTET_STRING)?;
    let _ = write!(out, "{}=", display_bytes(attribute));
    let mut parts = BerReader::new(reader.expect(tag::SEQUENCE)?);
    let mut previous_final = false;
    let mut first = true;
    while !parts.is_empty() {
        let (part_tag, value) = parts.next_element()?;
        if part_tag != 0x80 || !first {
            out.push('*');
        }
        out.push_str(&escape_value(value));
        previous_final = part_tag == 0x82;
        first = false;
    }
    if !previous_final {
        out.push('*');
    }
    Ok(())
}

fn render_extensible(content: &[u8], out: &mut String) -> Result<(), BerError> {
    let mut reader = BerReader::new(content);
    let rule = reader.optional(0x81)?;
    let attribute = reader.optional(0x82)?;
    let value = reader.expect(0x83)?;
    let dn = reader
        .optional(0x84)?
        .is_some_and(|flag| flag.iter().any(|&b| b != 0));
    if let Some(attribute) = attribute {
        out.push_str(&display_bytes(attribute));
    }
    if dn {
        out.push_str(":dn");
    }
    if let Some(rule) = rule {
        let _ = write!(out, ":{}", display_bytes(rule));
    }
    let _ = write!(out, ":={}", escape_value(value));
    Ok(())
}

/// RFC 4515 value escaping: `* ( ) \ NUL` and non-printable bytes as `\xx`.
fn escape_value(value: &[u8]) -> String {
    let mut out = String::new();
    for &byte in value {
        if matches!(byte, b'*' | b'(' | b')' | b'\\') || !(0x20..0x7f).contains(&byte) {
            let _ = write!(out, "\\{byte:02x}");
        } else {
            out.push(byte as char);
        }
    }
    out
}

/// What the sensor does after one request.
enum Next {
    Continue,
    Close,
}

async fn serve(conn: &mut Conn, ctx: &mut SessionCtx, context: &str) -> Result<(), ConnError> {
    let mut sasl_pending = false;
    loop {
        let Some(content) = read_message(conn).await? else {
            return Ok(());
        };
        let (id, request) = match decode_message(&content) {
            Ok((id, Some(request))) => (id, request),
            Ok((_, None)) | Err(_) => {
                ctx.set_end_reason(EndReason::ProtocolError);
                return Ok(());
            }
        };
        let next = match request {
            Request::Bind {
                version,
                name,
                auth,
            } => bind(conn, ctx, id, version, name, auth, &mut sasl_pending).await?,
            Request::Unbind => Next::Close,
            Request::Search(search) => {
                search_reply(conn, ctx, id, &search, context).await?;
                Next::Continue
            }
            Request::Extended(oid) => extended(conn, ctx, id, &oid).await?,
            Request::Abandon => Next::Continue,
            Request::Refused(response_tag) => {
                let result = ldap_result(code::INSUFFICIENT_ACCESS, "", "");
                conn.write_all(&message(id, response_tag, &result)).await?;
                Next::Continue
            }
        };
        if matches!(next, Next::Close) {
            return Ok(());
        }
    }
}

/// One LDAPMessage's content; `None` on a clean EOF before it. Anything but a
/// definite-length SEQUENCE of at most [`MAX_MESSAGE`] bytes is a protocol error.
async fn read_message(conn: &mut Conn) -> Result<Option<Vec<u8>>, ConnError> {
    let Some(first) = read_first_byte(conn).await? else {
        return Ok(None);
    };
    if first != tag::SEQUENCE {
        return Err(ConnError::Protocol("not an LDAP message".into()));
    }
    let mut header = conn.read_exact_bytes(1).await?;
    if let Some(&long) = header.first()
        && (0x81..=0x84).contains(&long)
    {
        header.extend(conn.read_exact_bytes(usize::from(long & 0x7f)).await?);
    }
    let (length, _) =
        parse_length(&header).map_err(|err| ConnError::Protocol(format!("LDAP length: {err}")))?;
    if length > MAX_MESSAGE {
        return Err(ConnError::Protocol(format!(
            "LDAP message of {length} bytes"
        )));
    }
    conn.read_exact_bytes(length).await.map(Some)
}

async fn read_first_byte(conn: &mut Conn) -> Result<Option<u8>, ConnError> {
    match conn.read_exact_bytes(1).await {
        Ok(byte) => Ok(byte.first().copied()),
        Err(ConnError::Closed) => Ok(None),
        Err(err) => Err(err),
    }
}

async fn bind(
    conn: &mut Conn,
    ctx: &mut SessionCtx,
    id: i64,
    version: i64,
    name: Vec<u8>,
    auth: BindAuth,
    sasl_pending: &mut bool,
) -> Result<Next, ConnError> {
    let (credential, result, sasl_creds) = judge_bind(version, name, auth, sasl_pending);
    let mut content = result;
    if let Some(creds) = sasl_creds {
        content.extend(ber::primitive(tag::SASL_CREDS, &creds));
    }
    let recorded = credential.is_some();
    if let Some(credential) = credential {
        ctx.record_auth(credential).await;
    }
    conn.write_all(&message(id, tag::BIND_RESPONSE, &content))
        .await?;
    if recorded && ctx.attempts_exhausted() {
        ctx.set_end_reason(EndReason::MaxAttempts);
        return Ok(Next::Close);
    }
    Ok(Next::Continue)
}

/// The credential to record (if any), the LDAPResult, and serverSaslCreds for one bind.
pub fn judge_bind(
    version: i64,
    name: Vec<u8>,
    auth: BindAuth,
    sasl_pending: &mut bool,
) -> (Option<Credential>, Vec<u8>, Option<Vec<u8>>) {
    let was_pending = std::mem::take(sasl_pending);
    if !(1..=3).contains(&version) {
        let result = ldap_result(
            code::PROTOCOL_ERROR,
            "",
            "requested protocol version not supported",
        );
        return (None, result, None);
    }
    match auth {
        BindAuth::Simple(password) => {
            let credential = (!name.is_empty() || !password.is_empty())
                .then(|| Credential::new(name.clone(), password.clone(), Mechanism::LdapSimple));
            let result = if version < 3 {
                ldap_result(
                    code::PROTOCOL_ERROR,
                    "",
                    "historical protocol version requested, use LDAPv3 instead",
                )
            } else if name.is_empty() && password.is_empty() {
                ldap_result(code::SUCCESS, "", "")
            } else if password.is_empty() {
                ldap_result(
                    code::UNWILLING_TO_PERFORM,
                    "",
                    "unauthenticated bind (DN with no password) disallowed",
                )
            } else {
                ldap_result(code::INVALID_CREDENTIALS, "", "")
            };
            (credential, result, None)
        }
        BindAuth::Sasl(mechanism, credentials) => {
            if version < 3 {
                let text = "historical protocol version requested, use LDAPv3 instead";
                return (None, ldap_result(code::PROTOCOL_ERROR, "", text), None);
            }
            if !mechanism.eq_ignore_ascii_case(b"PLAIN") {
                let result = ldap_result(
                    code::AUTH_METHOD_NOT_SUPPORTED,
                    "",
                    "SASL(-4): no mechanism available: ",
                );
                return (None, result, None);
            }
            match credentials {
                None if !was_pending => {
                    *sasl_pending = true;
                    (
                        None,
                        ldap_result(code::SASL_BIND_IN_PROGRESS, "", ""),
                        Some(Vec::new()),
                    )
                }
                None => (None, sasl_failure(), None),
                Some(message) => (plain_credential(&message), sasl_failure(), None),
            }
        }
    }
}

fn sasl_failure() -> Vec<u8> {
    ldap_result(
        code::INVALID_CREDENTIALS,
        "",
        "SASL(-13): authentication failure: checkpass failed",
    )
}

/// SASL PLAIN: `[authzid] NUL authcid NUL password` (RFC 4616).
fn plain_credential(message: &[u8]) -> Option<Credential> {
    let mut parts = message.splitn(3, |&byte| byte == 0);
    let _authzid = parts.next()?;
    let authcid = parts.next()?;
    let password = parts.next()?;
    Some(Credential::new(authcid, password, Mechanism::Plain))
}

async fn search_reply(
    conn: &mut Conn,
    ctx: &mut SessionCtx,
    id: i64,
    search: &Search,
    context: &str,
) -> Result<(), ConnError> {
    ctx.push_aux(
        "ldap_searches",
        json!({
            "base": display_bytes(&search.base),
            "scope": search.scope,
            "filter": search.filter,
            "attributes": search.attributes.iter().map(|a| display_bytes(a)).collect::<Vec<_>>(),
        }),
    );
    let mut reply = Vec::new();
    let done = if search.base.is_empty() && search.scope == 0 {
        let attributes = root_dse(context, conn.tls_available() && !conn.is_tls());
        let entry = search_entry(
            "",
            &select(&attributes, &search.attributes),
            search.types_only,
        );
        reply.extend(message(id, tag::SEARCH_ENTRY, &entry));
        ldap_result(code::SUCCESS, "", "")
    } else {
        let base = String::from_utf8_lossy(&search.base).to_ascii_lowercase();
        let matched = if base.ends_with(&context.to_ascii_lowercase()) && base.len() > context.len()
        {
            context
        } else {
            ""
        };
        ldap_result(code::NO_SUCH_OBJECT, matched, "")
    };
    reply.extend(message(id, tag::SEARCH_DONE, &done));
    conn.write_all(&reply).await
}

/// One root DSE attribute value: (name, value, operational).
type Attribute = (String, String, bool);

/// The root DSE of `assets/ldap-rootdse.txt`, placeholders filled.
pub fn root_dse(naming_context: &str, starttls: bool) -> Vec<Attribute> {
    ROOT_DSE
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| {
            let (operational, line) = match line.strip_prefix('+') {
                Some(rest) => (true, rest),
                None => (false, line),
            };
            let (name, value) = line.split_once(':')?;
            let value = value.trim();
            let value = match value {
                "{naming_context}" => naming_context.to_owned(),
                "{starttls}" if starttls => STARTTLS_OID.to_owned(),
                "{starttls}" => return None,
                other => other.to_owned(),
            };
            Some((name.to_owned(), value, operational))
        })
        .collect()
}

/// RFC 4511 §4.5.1.8 + RFC 3673: no list or `*` = user attributes, `+` = operational
/// ones, `1.1` = none, names = those.
fn select<'a>(attributes: &'a [Attribute], wanted: &[Vec<u8>]) -> Vec<&'a Attribute> {
    let all_user = wanted.is_empty() || wanted.iter().any(|w| w.as_slice() == b"*");
    let all_operational = wanted.iter().any(|w| w.as_slice() == b"+");
    attributes
        .iter()
        .filter(|(name, _, operational)| {
            (all_user && !operational)
                || (all_operational && *operational)
                || wanted
                    .iter()
                    .any(|w| w.eq_ignore_ascii_case(name.as_bytes()))
        })
        .collect()
}

/// SearchResultEntry content: objectName and the attributes grouped by name (in order).
fn search_entry(dn: &str, attributes: &[&Attribute], types_only: bool) -> Vec<u8> {
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for (name, value, _) in attributes {
        match groups.iter_mut().find(|(group, _)| group == name) {
            Some((_, values)) => values.push(value),
            None => groups.push((name, vec![value])),
        }
    }
    let mut list = Vec::new();
    for (name, values) in groups {
        let mut set = Vec::new();
        if !types_only {
            for value in values {
                set.extend(ber::primitive(tag::OCTET_STRING, value.as_bytes()));
            }
        }
        let mut partial = ber::primitive(tag::OCTET_STRING, name.as_bytes());
        partial.extend(ber::constructed(tag::SET, &set));
        list.extend(ber::constructed(tag::SEQUENCE, &partial));
    }
    let mut entry = ber::primitive(tag::OCTET_STRING, dn.as_bytes());
    entry.extend(ber::constructed(tag::SEQUENCE, &list));
    entry
}

async fn extended(
    conn: &mut Conn,
    ctx: &mut SessionCtx,
    id: i64,
    oid: &str,
) -> Result<Next, ConnError> {
    ctx.push_aux(
        "ldap_extended",
        Value::from(oid.chars().take(64).collect::<String>()),
    );
    let name = ber::primitive(tag::RESPONSE_NAME, oid.as_bytes());
    if oid == STARTTLS_OID {
        if !conn.tls_available() || conn.is_tls() {
            let mut content = ldap_result(code::UNAVAILABLE, "", "Could not initialize TLS");
            content.extend(name);
            conn.write_all(&message(id, tag::EXTENDED_RESPONSE, &content))
                .await?;
            return Ok(Next::Continue);
        }
        let mut content = ldap_result(code::SUCCESS, "", "");
        content.extend(name);
        conn.write_all(&message(id, tag::EXTENDED_RESPONSE, &content))
            .await?;
        conn.start_tls().await?;
        return Ok(Next::Continue);
    }
    let content = if oid == WHOAMI_OID {
        let mut content = ldap_result(code::SUCCESS, "", "");
        content.extend(ber::primitive(tag::RESPONSE_VALUE, b""));
        content
    } else {
        ldap_result(code::PROTOCOL_ERROR, "", "unsupported extended operation")
    };
    conn.write_all(&message(id, tag::EXTENDED_RESPONSE, &content))
        .await?;
    Ok(Next::Continue)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::socks5::replay::replay;
    use super::*;

    fn bind_request(id: i64, version: i64, dn: &[u8], auth: Vec<u8>) -> Vec<u8> {
        let mut body = ber::integer(tag::INTEGER, version);
        body.extend(ber::primitive(tag::OCTET_STRING, dn));
        body.extend(auth);
        message(id, tag::BIND_REQUEST, &body)
    }

    fn run(input: &[u8]) -> (Vec<u8>, trawl_event::Session) {
        replay(&Ldap::default(), &toml::Table::new(), input)
    }

    /// The nmap LDAPBindReq probe gets the exact bytes nmap's OpenLDAP 2.4 rule matches.
    #[test]
    fn ldapv2_probe_gets_openldap_bytes() {
        let (reply, session) = run(b"\x30\x0c\x02\x01\x01\x60\x07\x02\x01\x02\x04\x00\x80\x00");
        let expected = b"0\x84\0\0\0I\x02\x01\x01a\x84\0\0\0@\n\x01\x02\x04\0\x049historical protocol version requested, use LDAPv3 instead";
        assert_eq!(reply, expected.to_vec());
        assert!(session.auth_attempts.is_empty());
    }

    #[test]
    fn simple_and_plain_binds_are_recorded_and_refused() {
        let simple = bind_request(
            1,
            3,
            b"cn=admin,dc=x",
            ber::primitive(tag::SIMPLE_AUTH, b"s3cret"),
        );
        let mut sasl = ber::primitive(tag::OCTET_STRING, b"PLAIN");
        sasl.extend(ber::primitive(tag::OCTET_STRING, b"\0alice\0pw"));
        let plain = bind_request(2, 3, b"", ber::constructed(tag::SASL_AUTH, &sasl));
        let dn_only = bind_request(3, 3, b"cn=x", ber::primitive(tag::SIMPLE_AUTH, b""));
        let anonymous = bind_request(4, 3, b"", ber::primitive(tag::SIMPLE_AUTH, b""));
        let (reply, session) = run(&[simple, plain, dn_only, anonymous].concat());
        let attempts: Vec<_> = session
            .auth_attempts
            .iter()
            .map(|a| {
                (
                    a.credential.username.clone(),
                    a.credential.password.clone(),
                    a.credential.mechanism,
                )
            })
            .collect();
        assert_eq!(
            attempts,
            vec![
                (
                    b"cn=admin,dc=x".to_vec(),
                    b"s3cret".to_vec(),
                    Mechanism::LdapSimple
                ),
                (b"alice".to_vec(), b"pw".to_vec(), Mechanism::Plain),
                (b"cn=x".to_vec(), Vec::new(), Mechanism::LdapSimple),
            ]
        );
        let invalid = b"0\x84\0\0\0\x10\x02\x01\x01a\x84\0\0\0\x07\n\x011\x04\0\x04\0";
        assert!(reply.starts_with(invalid), "{reply:?}");
        assert!(reply.ends_with(b"\x02\x01\x04a\x84\0\0\0\x07\n\x01\0\x04\0\x04\0"));
    }

    #[test]
    fn root_dse_selection_follows_rfc_4511_and_3673() {
        let dse = root_dse("dc=example,dc=com", true);
        let names = |wanted: &[&[u8]]| {
            let wanted: Vec<Vec<u8>> = wanted.iter().map(|w| w.to_vec()).collect();
            select(&dse, &wanted)
                .iter()
                .map(|(n, v, _)| format!("{n}={v}"))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(&[]),
            ["objectClass=top", "objectClass=OpenLDAProotDSE"]
        );
        assert_eq!(
            names(&[b"namingcontexts"]),
            ["namingContexts=dc=example,dc=com"]
        );
        assert!(names(&[b"+"]).contains(&format!("supportedExtension={STARTTLS_OID}")));
        assert!(names(&[b"1.1"]).is_empty());
        assert!(
            !root_dse("x", false)
                .iter()
                .any(|(_, v, _)| v == STARTTLS_OID)
        );
        assert_eq!(naming_context_for("mail.example.com"), "dc=example,dc=com");
        assert_eq!(naming_context_for("example.org"), "dc=example,dc=org");
    }

    #[test]
    fn filters_render_as_rfc_4515_text() {
        let present = ber::primitive(0x87, b"objectClass");
        let mut equality = ber::primitive(tag::OCTET_STRING, b"uid");
        equality.extend(ber::primitive(tag::OCTET_STRING, b"a*b"));
        let and = ber::constructed(0xa0, &[present, ber::constructed(0xa3, &equality)].concat());
        let mut text = String::new();
        render_filter(0xa0, &and[6..], 0, &mut text).unwrap();
        assert_eq!(text, "(&(objectClass=*)(uid=a\\2ab))");
    }

    #[test]
    fn ber_reader_rejects_what_ldap_forbids() {
        assert_eq!(
            BerReader::new(b"\x04\x80").next_element(),
            Err(BerError::Indefinite)
        );
        assert_eq!(
            BerReader::new(b"\x04\x85\0\0\0\0\x01").next_element(),
            Err(BerError::LengthTooLong)
        );
        assert_eq!(
            BerReader::new(b"\x04\x05ab").next_element(),
            Err(BerError::Truncated)
        );
        assert_eq!(
            BerReader::new(b"\x1f\x01\x00").next_element(),
            Err(BerError::LongTag)
        );
        assert_eq!(decode_integer(&[0xff, 0x7f]), Ok(-129));
        assert_eq!(ber::integer(tag::INTEGER, -129), vec![2, 2, 0xff, 0x7f]);
        assert_eq!(ber::integer(tag::INTEGER, 128), vec![2, 2, 0, 0x80]);
        assert_eq!(ber::primitive(4, &[0; 300])[..4], [4, 0x82, 1, 0x2c]);
    }

    proptest! {
        /// Decoding any bytes never panics; integers round-trip through the writer.
        #[test]
        fn decoding_is_total(bytes in proptest::collection::vec(any::<u8>(), 0..600), value in any::<i64>()) {
            let _ = decode_message(&bytes);
            let encoded = ber::integer(tag::INTEGER, value);
            prop_assert_eq!(BerReader::new(&encoded).integer(tag::INTEGER), Ok(value));
        }

        /// Arbitrary (deep) filters render within bounds.
        #[test]
        fn filters_render_bounded(bytes in proptest::collection::vec(prop_oneof![any::<u8>(), Just(0xa0u8), Just(0x87u8), Just(0x04u8)], 0..400)) {
            let mut text = String::new();
            if let Ok((tag, content)) = BerReader::new(&bytes).next_element() {
                let _ = render_filter(tag, content, 0, &mut text);
            }
            prop_assert!(text.len() <= MAX_FILTER_TEXT + 8);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// The whole dialog survives arbitrary bytes after a valid-looking header.
        #[test]
        fn dialog_survives_hostile_input(body in proptest::collection::vec(any::<u8>(), 0..400)) {
            let mut input = vec![0x30, 0x82];
            input.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
            input.extend(&body);
            let (_, session) = run(&input);
            prop_assert!(session.auth_attempts.len() <= 1);
        }
    }
}
