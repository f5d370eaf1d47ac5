//! HTTP/1.x and HTTPS, answering like nginx 1.18 (Ubuntu): `/`, `/login` and
//! `/index.html` serve an HTML login form (POSTed `username`/`password`-like fields are
//! captured); every other path asks for HTTP Basic (401 + `WWW-Authenticate`). Any
//! `Authorization: Basic` header is captured wherever it is sent. Exchange/IIS paths
//! that password sprayers hit (`/owa`, `/ews`, `/autodiscover`, ActiveSync, `/mapi`,
//! `/rpc`, `/oab`, `/powershell`) also offer `Negotiate` and `NTLM`, and an
//! `Authorization: NTLM` (or raw NTLM under `Negotiate`) is answered on any path with a
//! CHALLENGE; the client's AUTHENTICATE is kept as a NetNTLMv2/v1 hash (hashcat 5600 /
//! 5500, see [`crate::ntlm`]). Keep-alive follows HTTP/1.0 and 1.1 rules. Request lines
//! and headers go to `auxiliary_data.http_requests`.
//!
//! Requests are parsed by httparse; bodies, plain or chunked, are bounded (64 KiB in all;
//! chunk-size lines by the line cap), so no request can make the sensor buffer without
//! bound.

use base64::Engine as _;
use serde_json::{Value, json};
use trawl_event::{Credential, EndReason, Mechanism, display_bytes};

use crate::conn::{Conn, ConnError};
use crate::ntlm::{self, ClientMessage, ServerIdentity};
use crate::protocol::{BoxFuture, Protocol};
use crate::session::SessionCtx;

/// HTTP on 10080, or HTTPS on 10443 with `tls: true`.
pub struct Http {
    /// Implicit TLS (https).
    pub tls: bool,
}

impl Protocol for Http {
    fn name(&self) -> &'static str {
        if self.tls { "https" } else { "http" }
    }
    fn default_port(&self) -> u16 {
        if self.tls { 10443 } else { 10080 }
    }
    fn implicit_tls(&self) -> bool {
        self.tls
    }
    /// The `Server` header.
    fn default_banner(&self) -> &'static str {
        "nginx/1.18.0 (Ubuntu)"
    }
    fn serve<'a>(
        &'a self,
        conn: &'a mut Conn,
        ctx: &'a mut SessionCtx,
    ) -> BoxFuture<'a, Result<(), ConnError>> {
        Box::pin(serve(conn, ctx))
    }
}

const LOGIN_PAGE: &str = include_str!("assets/login.html");
const MAX_HEADERS: usize = 64;
const MAX_HEAD_BYTES: usize = 64 * 1024;
const MAX_BODY: usize = 64 * 1024;
const USER_FIELDS: [&str; 9] = [
    "username",
    "user",
    "login",
    "email",
    "log",
    "uname",
    "user_name",
    "userid",
    "name",
];
const PASSWORD_FIELDS: [&str; 6] = ["password", "pass", "passwd", "pwd", "pw", "secret"];

/// One parsed request.
struct Request {
    method: String,
    path: String,
    minor_version: u8,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_slice())
    }

    fn keep_alive(&self) -> bool {
        let connection = self
            .header("connection")
            .map(|v| String::from_utf8_lossy(v).to_ascii_lowercase())
            .unwrap_or_default();
        if self.minor_version == 0 {
            connection.contains("keep-alive")
        } else {
            !connection.contains("close")
        }
    }

    fn aux(&self) -> Value {
        let headers: Vec<Value> = self
            .headers
            .iter()
            .map(|(key, value)| json!([key, display_bytes(value)]))
            .collect();
        json!({ "method": self.method, "path": self.path, "version": format!("HTTP/1.{}", self.minor_version), "headers": headers })
    }
}

enum ReadOutcome {
    Request(Request),
    Eof,
    Refuse(&'static str),
}

/// NTLM state of one connection: the challenge sent, if any (NTLM authenticates the
/// connection, so the AUTHENTICATE comes on the same one).
#[derive(Default)]
struct NtlmState {
    challenge: Option<[u8; 8]>,
}

/// What the authentication step adds to the response.
enum AuthReply {
    /// Nothing special: the page for the path.
    Page,
    /// 401 carrying this `WWW-Authenticate` value (an NTLM CHALLENGE).
    Challenge(String),
}

async fn serve(conn: &mut Conn, ctx: &mut SessionCtx) -> Result<(), ConnError> {
    let mut ntlm_state = NtlmState::default();
    loop {
        let request = match read_request(conn).await? {
            ReadOutcome::Request(request) => request,
            ReadOutcome::Eof => return Ok(()),
            ReadOutcome::Refuse(status) => {
                let response = respond(
                    ctx,
                    status,
                    "text/html",
                    &error_page(status, &ctx.settings().banner),
                    false,
                    &[],
                    false,
                );
                conn.write_all(&response).await?;
                ctx.set_end_reason(EndReason::ProtocolError);
                return Ok(());
            }
        };
        ctx.push_aux("http_requests", request.aux());
        let reply = capture_credentials(&request, ctx, &mut ntlm_state).await;
        let exhausted = ctx.attempts_exhausted();
        let keep_alive = request.keep_alive() && !exhausted;
        let response = match reply {
            AuthReply::Page => build_response(&request, ctx, keep_alive),
            AuthReply::Challenge(challenge) => {
                unauthorized(&request, ctx, keep_alive, vec![challenge])
            }
        };
        conn.write_all(&response).await?;
        if exhausted {
            ctx.set_end_reason(EndReason::MaxAttempts);
            return Ok(());
        }
        if !keep_alive {
            return Ok(());
        }
    }
}

async fn read_request(conn: &mut Conn) -> Result<ReadOutcome, ConnError> {
    let mut head = Vec::new();
    let mut lines = 0;
    loop {
        let Some(line) = conn.read_line().await? else {
            return Ok(if head.is_empty() {
                ReadOutcome::Eof
            } else {
                ReadOutcome::Refuse("400 Bad Request")
            });
        };
        if line.is_empty() {
            if head.is_empty() {
                continue;
            }
            break;
        }
        lines += 1;
        if lines > MAX_HEADERS + 1 || head.len() + line.len() > MAX_HEAD_BYTES {
            return Ok(ReadOutcome::Refuse("400 Bad Request"));
        }
        head.extend_from_slice(&line);
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    let Some(mut request) = parse_head(&head) else {
        return Ok(ReadOutcome::Refuse("400 Bad Request"));
    };
    if let Some(coding) = request.header("transfer-encoding") {
        if !coding.trim_ascii().eq_ignore_ascii_case(b"chunked") {
            return Ok(ReadOutcome::Refuse("501 Not Implemented"));
        }
        if request.header("content-length").is_some() {
            return Ok(ReadOutcome::Refuse("400 Bad Request"));
        }
        send_continue(conn, &request).await?;
        return Ok(match read_chunked(conn).await? {
            Ok(body) => {
                request.body = body;
                ReadOutcome::Request(request)
            }
            Err(status) => ReadOutcome::Refuse(status),
        });
    }
    let length = match request.header("content-length").map(parse_length) {
        None => 0,
        Some(Some(length)) if length <= MAX_BODY => length,
        Some(Some(_)) => return Ok(ReadOutcome::Refuse("413 Request Entity Too Large")),
        Some(None) => return Ok(ReadOutcome::Refuse("400 Bad Request")),
    };
    if length > 0 {
        send_continue(conn, &request).await?;
    }
    request.body = conn.read_exact_bytes(length).await?;
    Ok(ReadOutcome::Request(request))
}

/// `100 Continue` when an HTTP/1.1 client waits for it before sending its body.
async fn send_continue(conn: &mut Conn, request: &Request) -> Result<(), ConnError> {
    let expects_continue = request
        .header("expect")
        .is_some_and(|value| value.eq_ignore_ascii_case(b"100-continue"));
    if expects_continue && request.minor_version == 1 {
        conn.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
    }
    Ok(())
}

/// A chunked body (RFC 9112 section 7.1), at most `MAX_BODY` bytes of data in all;
/// chunk extensions and trailer fields are read and dropped. The inner `Err` is the
/// status to refuse the request with.
async fn read_chunked(conn: &mut Conn) -> Result<Result<Vec<u8>, &'static str>, ConnError> {
    let mut body = Vec::new();
    loop {
        let Some(line) = conn.read_line().await? else {
            return Err(ConnError::Closed);
        };
        let Some(size) = chunk_size(&line) else {
            return Ok(Err("400 Bad Request"));
        };
        if size == 0 {
            break;
        }
        if body.len() + size > MAX_BODY {
            return Ok(Err("413 Request Entity Too Large"));
        }
        body.extend_from_slice(&conn.read_exact_bytes(size).await?);
        match conn.read_line().await? {
            Some(rest) if rest.is_empty() => {}
            Some(_) => return Ok(Err("400 Bad Request")),
            None => return Err(ConnError::Closed),
        }
    }
    for _ in 0..=MAX_HEADERS {
        match conn.read_line().await? {
            Some(trailer) if trailer.is_empty() => return Ok(Ok(body)),
            Some(_) => {}
            None => return Err(ConnError::Closed),
        }
    }
    Ok(Err("400 Bad Request"))
}

/// The hex size at the start of a chunk-size line (`1a;ext=1` → 26).
fn chunk_size(line: &[u8]) -> Option<usize> {
    let end = memchr::memchr(b';', line).unwrap_or(line.len());
    let digits = std::str::from_utf8(line.get(..end)?).ok()?.trim();
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    usize::from_str_radix(digits, 16).ok()
}

fn parse_length(value: &[u8]) -> Option<usize> {
    std::str::from_utf8(value).ok()?.trim().parse().ok()
}

fn parse_head(head: &[u8]) -> Option<Request> {
    let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut storage);
    match parsed.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return None,
    }
    Some(Request {
        method: parsed.method?.to_owned(),
        path: parsed.path?.to_owned(),
        minor_version: parsed.version?,
        headers: parsed
            .headers
            .iter()
            .map(|h| (h.name.to_owned(), h.value.to_vec()))
            .collect(),
        body: Vec::new(),
    })
}

async fn capture_credentials(
    request: &Request,
    ctx: &mut SessionCtx,
    ntlm_state: &mut NtlmState,
) -> AuthReply {
    let authorization = request.header("authorization");
    if let Some(credential) = authorization.and_then(basic_credential) {
        ctx.record_auth(credential).await;
    }
    let mut reply = AuthReply::Page;
    if let Some((scheme, message)) = authorization.and_then(ntlm_token) {
        reply = answer_ntlm(scheme, &message, ctx, ntlm_state).await;
    }
    if request.method == "POST" {
        let form = request.header("content-type").is_some_and(|v| {
            v.to_ascii_lowercase()
                .starts_with(b"application/x-www-form-urlencoded")
        });
        if form && let Some(credential) = form_credential(&request.body) {
            ctx.record_auth(credential).await;
        }
    }
    reply
}

/// `NTLM <base64>` or `Negotiate <base64>` whose token is a raw NTLM message (not
/// SPNEGO-wrapped): the scheme the client used and the decoded message.
fn ntlm_token(value: &[u8]) -> Option<(&'static str, ClientMessage)> {
    let value = std::str::from_utf8(value).ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let scheme = if scheme.eq_ignore_ascii_case("ntlm") {
        "NTLM"
    } else if scheme.eq_ignore_ascii_case("negotiate") {
        "Negotiate"
    } else {
        return None;
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .ok()?;
    Some((scheme, ntlm::parse_client_message(&bytes)?))
}

/// NEGOTIATE → a CHALLENGE in a 401; AUTHENTICATE → the attempt, recorded with its
/// crackable hash, and a fresh offer (the login "failed").
async fn answer_ntlm(
    scheme: &'static str,
    message: &ClientMessage,
    ctx: &mut SessionCtx,
    state: &mut NtlmState,
) -> AuthReply {
    match message {
        ClientMessage::Negotiate(negotiate) => {
            let challenge = super::random_bytes::<8>();
            state.challenge = Some(challenge);
            let identity = ServerIdentity::from_hostname(ctx.hostname());
            let message =
                ntlm::challenge_message(*negotiate, challenge, &identity, ntlm::filetime_now());
            let encoded = base64::engine::general_purpose::STANDARD.encode(message);
            AuthReply::Challenge(format!("{scheme} {encoded}"))
        }
        ClientMessage::Authenticate(auth) => {
            ntlm::record_authenticate(ctx, auth, state.challenge.take()).await;
            AuthReply::Challenge(scheme.to_owned())
        }
    }
}

/// `Basic base64(user:password)`; the password may contain further colons.
fn basic_credential(value: &[u8]) -> Option<Credential> {
    let value = value.trim_ascii();
    let scheme = value.get(..6)?;
    if !scheme.eq_ignore_ascii_case(b"basic ") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(value.get(6..)?.trim_ascii())
        .ok()?;
    let (username, password) = match memchr::memchr(b':', &decoded) {
        Some(colon) => (
            decoded.get(..colon)?.to_vec(),
            decoded.get(colon + 1..)?.to_vec(),
        ),
        None => (decoded, Vec::new()),
    };
    Some(Credential::new(username, password, Mechanism::Basic))
}

/// Finds user-name and password fields in an urlencoded body.
fn form_credential(body: &[u8]) -> Option<Credential> {
    let (mut username, mut password) = (None, None);
    for pair in body.split(|&byte| byte == b'&') {
        let (key, value) = match memchr::memchr(b'=', pair) {
            Some(equals) => (pair.get(..equals)?, pair.get(equals + 1..)?),
            None => (pair, &[][..]),
        };
        let key = String::from_utf8_lossy(&url_decode(key)).to_ascii_lowercase();
        if username.is_none() && USER_FIELDS.contains(&key.as_str()) {
            username = Some(url_decode(value));
        } else if password.is_none() && PASSWORD_FIELDS.contains(&key.as_str()) {
            password = Some(url_decode(value));
        }
    }
    if username.is_none() && password.is_none() {
        return None;
    }
    Some(Credential::new(
        username.unwrap_or_default(),
        password.unwrap_or_default(),
        Mechanism::Form,
    ))
}

fn url_decode(text: &[u8]) -> Vec<u8> {
    let spaced: Vec<u8> = text
        .iter()
        .map(|&byte| if byte == b'+' { b' ' } else { byte })
        .collect();
    percent_encoding::percent_decode(&spaced).collect()
}

fn build_response(request: &Request, ctx: &SessionCtx, keep_alive: bool) -> Vec<u8> {
    let head_only = request.method == "HEAD";
    let path = request.path.split(['?', '#']).next().unwrap_or("/");
    if request.method == "POST" {
        let page = LOGIN_PAGE.replace(
            "{{error}}",
            "<p class=\"err\">Invalid username or password.</p>\n",
        );
        return respond(
            ctx,
            "200 OK",
            "text/html; charset=utf-8",
            &page,
            keep_alive,
            &[],
            head_only,
        );
    }
    if matches!(path, "/" | "/login" | "/index.html") {
        let page = LOGIN_PAGE.replace("{{error}}", "");
        return respond(
            ctx,
            "200 OK",
            "text/html; charset=utf-8",
            &page,
            keep_alive,
            &[],
            head_only,
        );
    }
    let mut challenges = Vec::new();
    if is_windows_auth_path(path) {
        challenges.push("Negotiate".to_owned());
        challenges.push("NTLM".to_owned());
    }
    challenges.push("Basic realm=\"Restricted\"".to_owned());
    unauthorized(request, ctx, keep_alive, challenges)
}

/// Paths of Exchange/IIS services that sprayers try with NTLM.
fn is_windows_auth_path(path: &str) -> bool {
    const PREFIXES: [&str; 9] = [
        "/owa",
        "/ews",
        "/autodiscover",
        "/microsoft-server-activesync",
        "/mapi",
        "/rpc",
        "/oab",
        "/powershell",
        "/ecp",
    ];
    let lower = path.to_ascii_lowercase();
    PREFIXES.iter().any(|prefix| {
        lower
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '.']))
    })
}

/// 401 with one `WWW-Authenticate` header per challenge.
fn unauthorized(
    request: &Request,
    ctx: &SessionCtx,
    keep_alive: bool,
    challenges: Vec<String>,
) -> Vec<u8> {
    let server = ctx.settings().banner.clone();
    respond(
        ctx,
        "401 Unauthorized",
        "text/html",
        &error_page("401 Authorization Required", &server),
        keep_alive,
        &challenges,
        request.method == "HEAD",
    )
}

fn error_page(status: &str, server: &str) -> String {
    format!(
        "<html>\r\n<head><title>{status}</title></head>\r\n<body>\r\n<center><h1>{status}</h1></center>\r\n<hr><center>{server}</center>\r\n</body>\r\n</html>\r\n"
    )
}

fn respond(
    ctx: &SessionCtx,
    status: &str,
    content_type: &str,
    body: &str,
    keep_alive: bool,
    challenges: &[String],
    head_only: bool,
) -> Vec<u8> {
    let date = chrono::Utc::now().format("%a, %d %b %Y %H:%M:%S GMT");
    let connection = if keep_alive { "keep-alive" } else { "close" };
    let mut response = format!(
        "HTTP/1.1 {status}\r\nServer: {}\r\nDate: {date}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: {connection}\r\n",
        ctx.settings().banner,
        body.len()
    );
    for challenge in challenges {
        response.push_str(&format!("WWW-Authenticate: {challenge}\r\n"));
    }
    response.push_str("\r\n");
    if !head_only {
        response.push_str(body);
    }
    response.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_header_decodes_to_raw_bytes() {
        let credential = basic_credential(b"Basic cm9vdDpwYTpzcw==");
        assert_eq!(
            credential.map(|c| (c.username, c.password)),
            Some((b"root".to_vec(), b"pa:ss".to_vec()))
        );
        assert!(basic_credential(b"Bearer abc").is_none());
        assert!(basic_credential(b"Basic !!!").is_none());
    }

    #[test]
    fn form_fields_are_found_and_decoded() {
        let credential = form_credential(b"csrf=1&user=admin%2C1&pwd=p%FF+q&submit=");
        assert_eq!(
            credential.map(|c| (c.username, c.password)),
            Some((b"admin,1".to_vec(), b"p\xff q".to_vec()))
        );
        assert!(form_credential(b"q=search").is_none());
    }

    #[test]
    fn chunk_sizes_are_hex_with_optional_extensions() {
        assert_eq!(chunk_size(b"1a"), Some(26));
        assert_eq!(chunk_size(b"0"), Some(0));
        assert_eq!(chunk_size(b"8;name=value"), Some(8));
        assert_eq!(chunk_size(b" 10 "), Some(16));
        assert_eq!(chunk_size(b""), None);
        assert_eq!(chunk_size(b"zz"), None);
        assert_eq!(chunk_size(b"fffffffff"), None, "longer than 8 digits");
    }

    #[test]
    fn windows_auth_paths_are_recognised() {
        assert!(is_windows_auth_path("/owa"));
        assert!(is_windows_auth_path("/OWA/auth.owa"));
        assert!(is_windows_auth_path("/Autodiscover/Autodiscover.xml"));
        assert!(!is_windows_auth_path("/owasp"));
        assert!(!is_windows_auth_path("/admin"));
    }

    #[test]
    fn keep_alive_rules() {
        let request = |minor: u8, connection: &str| Request {
            method: "GET".into(),
            path: "/".into(),
            minor_version: minor,
            headers: vec![("Connection".into(), connection.as_bytes().to_vec())],
            body: Vec::new(),
        };
        assert!(request(1, "").keep_alive());
        assert!(!request(1, "close").keep_alive());
        assert!(!request(0, "").keep_alive());
        assert!(request(0, "Keep-Alive").keep_alive());
    }
}
