//! SASL capture shared by the mail protocols (POP3, IMAP, SMTP): the server side of PLAIN
//! (RFC 4616), LOGIN (draft-murchison-sasl-login) and CRAM-MD5 (RFC 2195), crackable-hash
//! formatting for CRAM-MD5 and APOP, and the small action vocabulary the mail state
//! machines speak.
//!
//! Hand-written on purpose: a honeypot never verifies anything, it only has to walk a
//! client through two or three base64 steps and keep the exact bytes it was sent. SASL
//! crates (rsasl) are built around validating against a credential store and do not hand
//! back the raw CRAM-MD5 response, which is the part worth keeping.
//!
//! Hash formats stored in `password_hash`:
//! - CRAM-MD5: `$cram_md5$<base64 challenge>$<base64 "user hexdigest">`, hashcat mode
//!   10200 ("CRAM-MD5") and John the Ripper's `--format=cram-md5` (hashcat 16400 is a
//!   different thing: Dovecot's stored `{CRAM-MD5}` password, not a challenge/response).
//! - APOP: `<hexdigest>:<challenge>`, hashcat mode 20 (`md5($salt.$pass)`); for John the
//!   same material is `$dynamic_4$<hexdigest>$<challenge>` (also `md5($s.$p)`).

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use trawl_event::{Credential, EndReason, Mechanism};

use crate::conn::{Conn, ConnError};
use crate::protocol::{BoxFuture, Protocol};
use crate::session::SessionCtx;

/// Standard alphabet, padding accepted but not required (clients differ).
const B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Longest hostname put into a challenge (DNS limit).
const MAX_HOSTNAME: usize = 253;

/// One step of a mail session's reaction to a client line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Bytes to write (already CRLF-terminated).
    Send(Vec<u8>),
    /// A login attempt to record.
    Record(Credential),
    /// Upgrade the connection to TLS now (after the "go ahead" reply was sent).
    StartTls,
    /// A session detail for `auxiliary_data`.
    Aux(&'static str, serde_json::Value),
    /// Close the connection: the client asked (QUIT/LOGOUT).
    Close,
    /// Close the connection: the sensor gave up on a misbehaving client.
    Hangup,
}

/// A sans-IO mail protocol session: the async driver feeds it lines and executes actions.
pub trait MailSession {
    /// What to send when the connection opens (or after implicit TLS is up).
    fn greeting(&mut self) -> Vec<Action>;
    /// Reaction to one client line (without its CRLF).
    fn on_line(&mut self, line: &[u8]) -> Vec<Action>;
    /// Called once the STARTTLS/STLS upgrade completed.
    fn tls_started(&mut self);
    /// Last words when the per-session attempt limit is reached.
    fn farewell_exhausted(&self) -> Vec<u8>;
}

/// Whether STARTTLS/STLS must not be offered: already encrypted, or no TLS configured.
/// What tells one mail protocol from another at the listener level: its two listener
/// names and default ports (plain with STARTTLS, implicit TLS), its greeting and how a
/// session starts. Implemented by each protocol's session type.
pub trait MailService: MailSession + Send + Sized + 'static {
    /// Listener names: `[plain, implicit TLS]`.
    const NAMES: [&'static str; 2];
    /// Default ports (standard + 10000): `[plain, implicit TLS]`.
    const PORTS: [u16; 2];
    /// Greeting used when the configuration sets none.
    const DEFAULT_BANNER: &'static str;
    /// A fresh session; `no_starttls` when the link is already TLS or no TLS is set up.
    fn open(hostname: &str, banner: &str, no_starttls: bool) -> Self;
}

/// The [`Protocol`] of a mail service `S`: plain (STARTTLS offered) or implicit TLS.
pub struct Mail<S> {
    tls: bool,
    service: std::marker::PhantomData<fn() -> S>,
}

impl<S> Mail<S> {
    /// The plain-text listener (STARTTLS/STLS offered when TLS is set up).
    pub const fn plain() -> Self {
        Self {
            tls: false,
            service: std::marker::PhantomData,
        }
    }

    /// The implicit-TLS listener (pop3s, imaps, smtps).
    pub const fn implicit_tls() -> Self {
        Self {
            tls: true,
            service: std::marker::PhantomData,
        }
    }
}

impl<S: MailService> Protocol for Mail<S> {
    fn name(&self) -> &'static str {
        S::NAMES[usize::from(self.tls)]
    }
    fn default_port(&self) -> u16 {
        S::PORTS[usize::from(self.tls)]
    }
    fn implicit_tls(&self) -> bool {
        self.tls
    }
    fn default_banner(&self) -> &'static str {
        S::DEFAULT_BANNER
    }
    fn serve<'a>(
        &'a self,
        conn: &'a mut Conn,
        ctx: &'a mut SessionCtx,
    ) -> BoxFuture<'a, Result<(), ConnError>> {
        Box::pin(async move {
            let no_starttls = starttls_unavailable(conn);
            let mut session = S::open(ctx.hostname(), &ctx.settings().banner, no_starttls);
            drive(&mut session, conn, ctx).await
        })
    }
}

pub fn starttls_unavailable(conn: &Conn) -> bool {
    conn.is_tls() || !conn.tls_available()
}

enum Flow {
    Continue,
    Stop,
}

/// Runs a mail session over a connection: greeting, then one line at a time until the
/// client leaves, the session hangs up, or the attempt limit is reached.
pub async fn drive<S: MailSession + Send>(
    session: &mut S,
    conn: &mut Conn,
    ctx: &mut SessionCtx,
) -> Result<(), ConnError> {
    let greeting = session.greeting();
    if let Flow::Stop = perform(session, greeting, conn, ctx).await? {
        return Ok(());
    }
    while let Some(line) = conn.read_line().await? {
        let actions = session.on_line(&line);
        if let Flow::Stop = perform(session, actions, conn, ctx).await? {
            return Ok(());
        }
    }
    Ok(())
}

/// Executes actions in order; consecutive replies go out in one write.
async fn perform<S: MailSession + Send>(
    session: &mut S,
    actions: Vec<Action>,
    conn: &mut Conn,
    ctx: &mut SessionCtx,
) -> Result<Flow, ConnError> {
    let mut out = Vec::new();
    let mut exhausted = false;
    for action in actions {
        match action {
            Action::Send(bytes) => out.extend_from_slice(&bytes),
            Action::Record(cred) => {
                ctx.record_auth(cred).await;
                exhausted |= ctx.attempts_exhausted();
            }
            Action::Aux(key, value) => ctx.set_aux(key, value),
            Action::StartTls => {
                flush(conn, &mut out).await?;
                conn.start_tls().await?;
                session.tls_started();
            }
            Action::Close => {
                flush(conn, &mut out).await?;
                return Ok(Flow::Stop);
            }
            Action::Hangup => {
                flush(conn, &mut out).await?;
                ctx.set_end_reason(EndReason::ProtocolError);
                return Ok(Flow::Stop);
            }
        }
    }
    if exhausted {
        out.extend_from_slice(&session.farewell_exhausted());
        flush(conn, &mut out).await?;
        ctx.set_end_reason(EndReason::MaxAttempts);
        return Ok(Flow::Stop);
    }
    flush(conn, &mut out).await?;
    Ok(Flow::Continue)
}

async fn flush(conn: &mut Conn, out: &mut Vec<u8>) -> Result<(), ConnError> {
    if out.is_empty() {
        return Ok(());
    }
    let result = conn.write_all(out).await;
    out.clear();
    result
}

/// A configured banner as one safe line: CR/LF removed, surrounding spaces trimmed.
pub fn banner_line(banner: &str) -> String {
    banner.replace(['\r', '\n'], " ").trim().to_owned()
}

/// Base64-encodes with padding.
pub fn b64_encode(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

/// Decodes a client's base64 line, tolerating surrounding spaces and missing padding.
pub fn b64_decode(text: &[u8]) -> Option<Vec<u8>> {
    B64.decode(text.trim_ascii()).ok()
}

/// The SASL mechanisms offered by every mail protocol, in advertised order.
pub const OFFERED: [SaslMechanism; 3] = [
    SaslMechanism::Plain,
    SaslMechanism::Login,
    SaslMechanism::CramMd5,
];

/// A SASL mechanism the sensor walks a client through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslMechanism {
    Plain,
    Login,
    CramMd5,
}

impl SaslMechanism {
    /// Parses a mechanism name case-insensitively.
    pub fn parse(name: &[u8]) -> Option<Self> {
        OFFERED
            .into_iter()
            .find(|mech| mech.name().as_bytes().eq_ignore_ascii_case(name))
    }

    /// The IANA name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::Login => "LOGIN",
            Self::CramMd5 => "CRAM-MD5",
        }
    }
}

/// Space-separated list of offered mechanism names ("PLAIN LOGIN CRAM-MD5").
pub fn offered_names() -> String {
    OFFERED
        .iter()
        .map(|mech| mech.name())
        .collect::<Vec<_>>()
        .join(" ")
}

/// What the server does next in a SASL exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaslStep {
    /// Send this challenge (raw bytes; the protocol base64-encodes and frames it).
    Challenge(Vec<u8>),
    /// The exchange produced a credential; the protocol records it and answers "failed".
    Done(Credential),
    /// The client cancelled with `*`.
    Aborted,
    /// The client's data was not valid base64 or not a valid message for the mechanism.
    Malformed,
}

#[derive(Debug)]
enum State {
    Plain,
    LoginUser,
    LoginPass { user: Vec<u8> },
    CramMd5 { challenge: String },
    Finished,
}

/// One server-side SASL exchange.
#[derive(Debug)]
pub struct SaslExchange {
    state: State,
}

const LOGIN_USER_PROMPT: &[u8] = b"Username:";
const LOGIN_PASS_PROMPT: &[u8] = b"Password:";

impl SaslExchange {
    /// Starts an exchange. `initial` is the optional initial response as sent on the
    /// command line (base64, or `=` for an empty one).
    pub fn begin(mech: SaslMechanism, initial: Option<&[u8]>, hostname: &str) -> (Self, SaslStep) {
        let mut exchange = match mech {
            SaslMechanism::Plain => Self {
                state: State::Plain,
            },
            SaslMechanism::Login => Self {
                state: State::LoginUser,
            },
            SaslMechanism::CramMd5 => {
                let challenge = new_challenge(hostname);
                let step = SaslStep::Challenge(challenge.clone().into_bytes());
                let exchange = Self {
                    state: State::CramMd5 { challenge },
                };
                // RFC 2195 has no initial response: a client sending one is confused.
                return match initial {
                    Some(_) => (exchange.finished(), SaslStep::Malformed),
                    None => (exchange, step),
                };
            }
        };
        let step = match initial {
            Some(initial) => exchange.respond(initial),
            None => exchange.first_challenge(),
        };
        (exchange, step)
    }

    fn finished(mut self) -> Self {
        self.state = State::Finished;
        self
    }

    fn first_challenge(&self) -> SaslStep {
        match self.state {
            State::LoginUser => SaslStep::Challenge(LOGIN_USER_PROMPT.to_vec()),
            _ => SaslStep::Challenge(Vec::new()),
        }
    }

    /// Feeds one client response line (base64, `=` for empty, `*` to cancel).
    pub fn respond(&mut self, line: &[u8]) -> SaslStep {
        let line = line.trim_ascii();
        if line == b"*" {
            self.state = State::Finished;
            return SaslStep::Aborted;
        }
        let decoded = if line == b"=" {
            Some(Vec::new())
        } else {
            b64_decode(line)
        };
        let Some(decoded) = decoded else {
            self.state = State::Finished;
            return SaslStep::Malformed;
        };
        match std::mem::replace(&mut self.state, State::Finished) {
            State::Plain => plain_credential(&decoded).map_or(SaslStep::Malformed, SaslStep::Done),
            State::LoginUser => {
                self.state = State::LoginPass { user: decoded };
                SaslStep::Challenge(LOGIN_PASS_PROMPT.to_vec())
            }
            State::LoginPass { user } => {
                SaslStep::Done(credential(user, decoded, None, Mechanism::Login))
            }
            State::CramMd5 { challenge } => {
                SaslStep::Done(cram_md5_credential(challenge.as_bytes(), &decoded))
            }
            State::Finished => SaslStep::Malformed,
        }
    }
}

/// Builds a credential (one place that knows the event type's shape).
pub fn credential(
    username: Vec<u8>,
    password: Vec<u8>,
    password_hash: Option<String>,
    mechanism: Mechanism,
) -> Credential {
    Credential {
        username,
        password,
        password_hash,
        mechanism,
    }
}

/// PLAIN message: `[authzid] NUL authcid NUL passwd`.
fn plain_credential(message: &[u8]) -> Option<Credential> {
    let mut parts = message.splitn(3, |&byte| byte == 0);
    let _authzid = parts.next()?;
    let authcid = parts.next()?;
    let password = parts.next()?;
    Some(credential(
        authcid.to_vec(),
        password.to_vec(),
        None,
        Mechanism::Plain,
    ))
}

/// CRAM-MD5 response: `user SP hexdigest` (the user name may itself contain spaces).
fn cram_md5_credential(challenge: &[u8], response: &[u8]) -> Credential {
    let username = match response.iter().rposition(|&byte| byte == b' ') {
        Some(space) => response.get(..space).unwrap_or_default(),
        None => response,
    };
    credential(
        username.to_vec(),
        Vec::new(),
        Some(cram_md5_hash(challenge, response)),
        Mechanism::CramMd5,
    )
}

/// hashcat 10200 / John `cram-md5`: `$cram_md5$<b64 challenge>$<b64 response>`.
pub fn cram_md5_hash(challenge: &[u8], response: &[u8]) -> String {
    format!(
        "$cram_md5${}${}",
        b64_encode(challenge),
        b64_encode(response)
    )
}

/// hashcat 20 (`md5($salt.$pass)`): `<hexdigest>:<challenge>`; the digest is kept as sent
/// (lower-cased), invalid bytes replaced.
pub fn apop_hash(challenge: &str, digest: &[u8]) -> String {
    let digest = String::from_utf8_lossy(digest).to_ascii_lowercase();
    format!("{digest}:{challenge}")
}

/// An APOP credential from `APOP name digest` and the greeting's challenge.
pub fn apop_credential(challenge: &str, name: &[u8], digest: &[u8]) -> Credential {
    credential(
        name.to_vec(),
        Vec::new(),
        Some(apop_hash(challenge, digest)),
        Mechanism::Apop,
    )
}

/// A fresh RFC 2195 / RFC 1939 style challenge: `<random.unixtime@hostname>`.
pub fn new_challenge(hostname: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    // RandomState is seeded from the OS once per thread; hashing a counter and the clock
    // gives an unpredictable-enough value without another dependency.
    let random = RandomState::new().hash_one((count, now.as_nanos()));
    format!(
        "<{random}.{}@{}>",
        now.as_secs(),
        challenge_hostname(hostname)
    )
}

/// Keeps a hostname usable inside `<...@host>` and hash formats (no `:`, `$`, spaces).
fn challenge_hostname(hostname: &str) -> String {
    let clean: String = hostname
        .chars()
        .filter(|ch| ch.is_ascii_alphanumeric() || *ch == '.' || *ch == '-')
        .take(MAX_HOSTNAME)
        .collect();
    if clean.is_empty() {
        "localhost".to_owned()
    } else {
        clean
    }
}

/// Splits `VERB rest` at the first space; the verb is upper-cased ASCII.
pub fn split_command(line: &[u8]) -> (Vec<u8>, &[u8]) {
    let (verb, rest) = match line.iter().position(|&byte| byte == b' ') {
        Some(space) => (
            line.get(..space).unwrap_or_default(),
            line.get(space + 1..).unwrap_or_default(),
        ),
        None => (line, &[][..]),
    };
    (verb.to_ascii_uppercase(), rest)
}

/// Caps a client-supplied value for `auxiliary_data`, lossily as text.
pub fn aux_text(bytes: &[u8], cap: usize) -> serde_json::Value {
    let cut = bytes.get(..cap).unwrap_or(bytes);
    serde_json::Value::String(String::from_utf8_lossy(cut).into_owned())
}

/// Helpers the protocol unit tests share: what a session sent and recorded.
#[cfg(test)]
pub(crate) mod test_util {
    use super::Action;

    pub(crate) fn sent(actions: &[Action]) -> String {
        actions
            .iter()
            .filter_map(|action| match action {
                Action::Send(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
                _ => None,
            })
            .collect()
    }

    pub(crate) fn records(actions: &[Action]) -> Vec<trawl_event::Credential> {
        actions
            .iter()
            .filter_map(|action| match action {
                Action::Record(cred) => Some(cred.clone()),
                _ => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn every_reply_is_crlf_terminated(session: &mut dyn MailSession, lines: &[Vec<u8>]) {
        let mut actions = session.greeting();
        for line in lines {
            actions.extend(session.on_line(line));
        }
        for action in actions {
            if let Action::Send(bytes) = action {
                assert!(bytes.ends_with(b"\r\n"), "{bytes:?}");
                assert!(!bytes.ends_with(b" \r\n") || bytes == b"+ \r\n" || bytes == b"334 \r\n");
            }
        }
    }

    proptest! {
        #[test]
        fn mail_sessions_survive_arbitrary_lines(
            lines in prop::collection::vec(
                prop_oneof![
                    prop::collection::vec(any::<u8>(), 0..64),
                    prop::sample::select(vec![
                        b"AUTH PLAIN".to_vec(), b"AUTH LOGIN".to_vec(), b"AUTH CRAM-MD5".to_vec(),
                        b"a AUTHENTICATE LOGIN".to_vec(), b"a LOGIN {5}".to_vec(), b"{3+}".to_vec(),
                        b"EHLO x".to_vec(), b"USER u".to_vec(), b"PASS p".to_vec(), b"*".to_vec(),
                        b"=".to_vec(), b"AHUAcA==".to_vec(), b"\"".to_vec(),
                    ]),
                ],
                0..40,
            )
        ) {
            every_reply_is_crlf_terminated(&mut super::super::pop3::Pop3Session::new("mx", "+OK x", false), &lines);
            every_reply_is_crlf_terminated(&mut super::super::imap::ImapSession::new("mx", "x", false), &lines);
            every_reply_is_crlf_terminated(&mut super::super::smtp::SmtpSession::new("mx", "x", false), &lines);
        }
    }

    fn b64(bytes: &[u8]) -> Vec<u8> {
        b64_encode(bytes).into_bytes()
    }

    #[test]
    fn plain_with_initial_response_yields_credential() {
        let (_, step) =
            SaslExchange::begin(SaslMechanism::Plain, Some(&b64(b"\0alice\0s3cret")), "mx");
        assert_eq!(
            step,
            SaslStep::Done(credential(
                b"alice".to_vec(),
                b"s3cret".to_vec(),
                None,
                Mechanism::Plain
            ))
        );
    }

    #[test]
    fn plain_keeps_nul_inside_password_and_authzid_is_ignored() {
        let (mut ex, step) = SaslExchange::begin(SaslMechanism::Plain, None, "mx");
        assert_eq!(step, SaslStep::Challenge(Vec::new()));
        let step = ex.respond(&b64(b"admin\0root\0pa\0ss"));
        let SaslStep::Done(cred) = step else {
            panic!("expected credential, got {step:?}")
        };
        assert_eq!(cred.username, b"root");
        assert_eq!(cred.password, b"pa\0ss");
    }

    #[test]
    fn plain_without_separators_is_malformed() {
        let (_, step) = SaslExchange::begin(SaslMechanism::Plain, Some(&b64(b"justtext")), "mx");
        assert_eq!(step, SaslStep::Malformed);
        let (_, step) = SaslExchange::begin(SaslMechanism::Plain, Some(b"="), "mx");
        assert_eq!(step, SaslStep::Malformed);
    }

    #[test]
    fn login_walks_username_then_password() {
        let (mut ex, step) = SaslExchange::begin(SaslMechanism::Login, None, "mx");
        assert_eq!(step, SaslStep::Challenge(b"Username:".to_vec()));
        assert_eq!(
            ex.respond(&b64(b"bob")),
            SaslStep::Challenge(b"Password:".to_vec())
        );
        let SaslStep::Done(cred) = ex.respond(&b64("pässword".as_bytes())) else {
            panic!("no credential")
        };
        assert_eq!(cred.username, b"bob");
        assert_eq!(cred.password, "pässword".as_bytes());
        assert_eq!(cred.mechanism, Mechanism::Login);
        assert_eq!(ex.respond(&b64(b"again")), SaslStep::Malformed);
    }

    #[test]
    fn login_initial_response_is_the_username() {
        let (mut ex, step) = SaslExchange::begin(SaslMechanism::Login, Some(&b64(b"carol")), "mx");
        assert_eq!(step, SaslStep::Challenge(b"Password:".to_vec()));
        let SaslStep::Done(cred) = ex.respond(b"=") else {
            panic!("no credential")
        };
        assert_eq!(
            (cred.username.as_slice(), cred.password.as_slice()),
            (&b"carol"[..], &b""[..])
        );
    }

    #[test]
    fn cram_md5_keeps_challenge_and_response() {
        let (mut ex, step) = SaslExchange::begin(SaslMechanism::CramMd5, None, "mail.example.org");
        let SaslStep::Challenge(challenge) = step else {
            panic!("no challenge")
        };
        let text = String::from_utf8(challenge.clone()).expect("ascii challenge");
        assert!(
            text.starts_with('<') && text.ends_with("@mail.example.org>"),
            "{text}"
        );
        let response = b"dave smith 0123456789abcdef0123456789abcdef";
        let SaslStep::Done(cred) = ex.respond(&b64(response)) else {
            panic!("no credential")
        };
        assert_eq!(cred.username, b"dave smith");
        assert!(cred.password.is_empty());
        assert_eq!(
            cred.password_hash.as_deref(),
            Some(
                format!(
                    "$cram_md5${}${}",
                    b64_encode(&challenge),
                    b64_encode(response)
                )
                .as_str()
            )
        );
    }

    #[test]
    fn cram_md5_hash_matches_hashcat_example_layout() {
        // hashcat's example for mode 10200 (challenge "<no-reply@hashcat.net>").
        assert_eq!(
            cram_md5_hash(
                b"<no-reply@hashcat.net>",
                b"user 44eafd22fe76670f6b2879081a7f5f71"
            ),
            "$cram_md5$PG5vLXJlcGx5QGhhc2hjYXQubmV0Pg==$dXNlciA0NGVhZmQyMmZlNzY2NzBmNmIyODc5MDgxYTdmNWY3MQ=="
        );
    }

    #[test]
    fn cram_md5_rejects_initial_response_and_handles_abort() {
        let (_, step) = SaslExchange::begin(SaslMechanism::CramMd5, Some(b"eA=="), "mx");
        assert_eq!(step, SaslStep::Malformed);
        let (mut ex, _) = SaslExchange::begin(SaslMechanism::CramMd5, None, "mx");
        assert_eq!(ex.respond(b"*"), SaslStep::Aborted);
    }

    #[test]
    fn garbage_base64_is_malformed_not_a_panic() {
        for junk in [&b"!!!!"[..], b"\xff\xfe", b"a", b"====", &[0u8; 3]] {
            let (mut ex, _) = SaslExchange::begin(SaslMechanism::Login, None, "mx");
            assert_eq!(ex.respond(junk), SaslStep::Malformed, "{junk:?}");
        }
    }

    #[test]
    fn unpadded_base64_is_accepted() {
        assert_eq!(b64_decode(b"YWxpY2U"), Some(b"alice".to_vec()));
        assert_eq!(b64_decode(b" YWxpY2U= "), Some(b"alice".to_vec()));
    }

    #[test]
    fn apop_hash_is_hashcat_mode_20_layout() {
        let cred = apop_credential(
            "<1896.697170952@dbc.mtview.ca.us>",
            b"mrose",
            b"C4C9334BAC560ECC979E58001B3E22FB",
        );
        assert_eq!(cred.username, b"mrose");
        assert_eq!(
            cred.password_hash.as_deref(),
            Some("c4c9334bac560ecc979e58001b3e22fb:<1896.697170952@dbc.mtview.ca.us>")
        );
        assert_eq!(cred.mechanism, Mechanism::Apop);
    }

    #[test]
    fn challenges_are_unique_and_hostname_is_sanitised() {
        let first = new_challenge("evil:host$ name");
        let second = new_challenge("evil:host$ name");
        assert_ne!(first, second);
        assert!(first.ends_with("@evilhostname>"), "{first}");
        assert!(new_challenge("").ends_with("@localhost>"));
    }

    #[test]
    fn mechanism_names_parse_case_insensitively() {
        assert_eq!(
            SaslMechanism::parse(b"cram-md5"),
            Some(SaslMechanism::CramMd5)
        );
        assert_eq!(SaslMechanism::parse(b"Plain"), Some(SaslMechanism::Plain));
        assert_eq!(SaslMechanism::parse(b"GSSAPI"), None);
        assert_eq!(offered_names(), "PLAIN LOGIN CRAM-MD5");
    }

    #[test]
    fn banners_become_one_line() {
        assert_eq!(banner_line(" a\r\nb \n"), "a  b");
    }

    #[test]
    fn split_command_uppercases_verb_only() {
        assert_eq!(
            split_command(b"user Bob Smith"),
            (b"USER".to_vec(), &b"Bob Smith"[..])
        );
        assert_eq!(split_command(b"quit"), (b"QUIT".to_vec(), &b""[..]));
        assert_eq!(split_command(b""), (Vec::new(), &b""[..]));
    }
}
