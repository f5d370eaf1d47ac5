//! IMAP and IMAPS (RFC 3501 / RFC 9051 pre-login state, RFC 4959 SASL-IR, RFC 7888
//! literals): a Dovecot look-alike that captures LOGIN (atoms, quoted strings and
//! literals) and AUTHENTICATE PLAIN/LOGIN/CRAM-MD5, answers CAPABILITY/ID/NOOP/LOGOUT and
//! offers STARTTLS on plain IMAP. No login ever succeeds.
//!
//! The command tokenizer is hand-written: only the pre-login grammar (tag, atom,
//! quoted string, literal) is needed, and the IMAP parser crates (imap-codec) are stale
//! and parse far more than a honeypot should accept.

use trawl_event::Mechanism;

use super::sasl::{self, Action, MailSession, SaslExchange, SaslMechanism, SaslStep, credential};

/// Dovecot's default greeting text on Debian (after `* OK [CAPABILITY ...] `).
pub const DEFAULT_BANNER: &str = "Dovecot (Debian) ready.";

/// Dovecot imap-login disconnects after this many invalid commands.
const MAX_BAD_COMMANDS: u32 = 10;
/// Largest literal accepted before login (RFC 7888 LITERAL- uses 4096).
const MAX_LITERAL: usize = 4096;
/// Most literals in one command (LOGIN needs two).
const MAX_LITERALS_PER_COMMAND: usize = 4;
/// Longest command assembled from several lines.
const MAX_COMMAND: usize = 16 * 1024;

/// A piece of a command: text from the wire or the contents of a literal.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Text(Vec<u8>),
    Literal(Vec<u8>),
}

/// A command being assembled across literal continuations.
#[derive(Debug, Default)]
struct Pending {
    segments: Vec<Segment>,
    literal_left: usize,
    literal: Vec<u8>,
    size: usize,
}

#[derive(Debug)]
struct Authenticating {
    tag: Vec<u8>,
    exchange: SaslExchange,
}

/// One IMAP connection's state machine (sans IO).
#[derive(Debug)]
pub struct ImapSession {
    banner: String,
    hostname: String,
    tls: bool,
    pending: Option<Pending>,
    auth: Option<Authenticating>,
    bad_commands: u32,
}

/// A literal marker `{n}` / `{n+}` at the end of a line: (count, synchronizing).
fn trailing_literal(line: &[u8]) -> Option<(usize, bool)> {
    let body = line.strip_suffix(b"}")?;
    let open = body.iter().rposition(|&byte| byte == b'{')?;
    let inner = body.get(open + 1..)?;
    let (digits, sync) = match inner.strip_suffix(b"+") {
        Some(digits) => (digits, false),
        None => (inner, true),
    };
    if digits.is_empty() || digits.len() > 10 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let count = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some((count, sync))
}

/// Splits assembled segments into tokens: atoms, quoted strings (unescaped), literals.
/// `None` when a quoted string is unterminated.
fn tokenize(segments: &[Segment]) -> Option<Vec<Vec<u8>>> {
    let mut tokens = Vec::new();
    for segment in segments {
        match segment {
            Segment::Literal(bytes) => tokens.push(bytes.clone()),
            Segment::Text(text) => tokenize_text(text, &mut tokens)?,
        }
    }
    Some(tokens)
}

fn tokenize_text(text: &[u8], tokens: &mut Vec<Vec<u8>>) -> Option<()> {
    let mut rest = text;
    loop {
        rest = rest.trim_ascii_start();
        let Some(&first) = rest.first() else {
            return Some(());
        };
        if first == b'"' {
            let (token, after) = quoted(rest.get(1..).unwrap_or_default())?;
            tokens.push(token);
            rest = after;
        } else {
            let end = rest
                .iter()
                .position(|&byte| byte == b' ')
                .unwrap_or(rest.len());
            tokens.push(rest.get(..end).unwrap_or_default().to_vec());
            rest = rest.get(end..).unwrap_or_default();
        }
    }
}

/// Reads a quoted string body (after the opening quote): returns it unescaped and the rest.
fn quoted(body: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    let mut out = Vec::new();
    let mut iter = body.iter().enumerate();
    while let Some((index, &byte)) = iter.next() {
        match byte {
            b'"' => return Some((out, body.get(index + 1..).unwrap_or_default())),
            b'\\' => {
                let (_, &escaped) = iter.next()?;
                out.push(escaped);
            }
            other => out.push(other),
        }
    }
    None
}

impl ImapSession {
    /// A session; `tls` is true for IMAPS (implicit TLS) so STARTTLS is not offered.
    pub fn new(hostname: &str, banner: &str, tls: bool) -> Self {
        Self {
            banner: sasl::banner_line(banner),
            hostname: hostname.to_owned(),
            tls,
            pending: None,
            auth: None,
            bad_commands: 0,
        }
    }

    fn capabilities(&self) -> String {
        let mut caps = String::from("IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+");
        if !self.tls {
            caps.push_str(" STARTTLS");
        }
        for mech in sasl::OFFERED {
            caps.push_str(" AUTH=");
            caps.push_str(mech.name());
        }
        caps
    }

    fn tagged(tag: &[u8], text: &str) -> Action {
        let mut line = tag.to_vec();
        line.push(b' ');
        line.extend_from_slice(text.as_bytes());
        line.extend_from_slice(b"\r\n");
        Action::Send(line)
    }

    fn bad(&mut self, tag: &[u8], text: &str) -> Vec<Action> {
        self.bad_commands += 1;
        if self.bad_commands >= MAX_BAD_COMMANDS {
            return vec![
                Action::Send(b"* BYE Too many invalid IMAP commands.\r\n".to_vec()),
                Action::Hangup,
            ];
        }
        vec![Self::tagged(tag, text)]
    }

    /// Feeds a line into the command being assembled; returns actions when the command is
    /// complete or needs a continuation.
    fn assemble(&mut self, line: &[u8]) -> Vec<Action> {
        let continuing = self.pending.is_some();
        let mut pending = self.pending.take().unwrap_or_default();
        pending.size = pending.size.saturating_add(line.len() + 2);
        if continuing && pending.size > MAX_COMMAND {
            return vec![
                Action::Send(b"* BYE Command line too long.\r\n".to_vec()),
                Action::Hangup,
            ];
        }
        let mut rest = line;
        if pending.literal_left > 0 {
            let take = pending.literal_left.min(rest.len());
            pending
                .literal
                .extend_from_slice(rest.get(..take).unwrap_or_default());
            pending.literal_left -= take;
            rest = rest.get(take..).unwrap_or_default();
            if pending.literal_left > 0 {
                // The line break the reader stripped belongs to the literal.
                let crlf = pending.literal_left.min(2);
                pending
                    .literal
                    .extend_from_slice(b"\r\n".get(..crlf).unwrap_or_default());
                pending.literal_left -= crlf;
                if pending.literal_left > 0 {
                    self.pending = Some(pending);
                    return Vec::new();
                }
                // The literal ended exactly at the line break: the command continues on the
                // next line.
                let literal = std::mem::take(&mut pending.literal);
                pending.segments.push(Segment::Literal(literal));
                self.pending = Some(pending);
                return Vec::new();
            }
            let literal = std::mem::take(&mut pending.literal);
            pending.segments.push(Segment::Literal(literal));
        }
        match trailing_literal(rest) {
            Some((count, sync)) => self.open_literal(pending, rest, count, sync),
            None => {
                pending.segments.push(Segment::Text(rest.to_vec()));
                self.command(&pending.segments)
            }
        }
    }

    fn open_literal(
        &mut self,
        mut pending: Pending,
        rest: &[u8],
        count: usize,
        sync: bool,
    ) -> Vec<Action> {
        let tag = first_token(&pending.segments, rest);
        let literals = pending
            .segments
            .iter()
            .filter(|segment| matches!(segment, Segment::Literal(_)))
            .count();
        if count > MAX_LITERAL || literals >= MAX_LITERALS_PER_COMMAND {
            if !sync {
                // The client sends the bytes regardless; the stream cannot be resynced.
                return vec![
                    Action::Send(b"* BYE Literal too large.\r\n".to_vec()),
                    Action::Hangup,
                ];
            }
            return self.bad(&tag, "BAD Literal too large.");
        }
        let marker = rest.iter().rposition(|&byte| byte == b'{').unwrap_or(0);
        pending.segments.push(Segment::Text(
            rest.get(..marker).unwrap_or_default().to_vec(),
        ));
        pending.literal_left = count;
        if count == 0 {
            pending.segments.push(Segment::Literal(Vec::new()));
        }
        self.pending = Some(pending);
        if sync {
            vec![Action::Send(b"+ OK\r\n".to_vec())]
        } else {
            Vec::new()
        }
    }

    fn command(&mut self, segments: &[Segment]) -> Vec<Action> {
        let Some(tokens) = tokenize(segments) else {
            let tag = first_token(segments, b"");
            return self.bad(&tag, "BAD Error in IMAP command received by server.");
        };
        let mut tokens = tokens.into_iter();
        let (Some(tag), Some(command)) = (tokens.next(), tokens.next()) else {
            return self.bad(b"*", "BAD Error in IMAP command received by server.");
        };
        let args: Vec<Vec<u8>> = tokens.collect();
        match command.to_ascii_uppercase().as_slice() {
            b"CAPABILITY" => vec![
                Action::Send(format!("* CAPABILITY {}\r\n", self.capabilities()).into_bytes()),
                Self::tagged(
                    &tag,
                    "OK Pre-login capabilities listed, post-login capabilities have more.",
                ),
            ],
            b"NOOP" => vec![Self::tagged(&tag, "OK NOOP completed.")],
            b"LOGOUT" => vec![
                Action::Send(b"* BYE Logging out\r\n".to_vec()),
                Self::tagged(&tag, "OK Logout completed."),
                Action::Close,
            ],
            b"ID" => self.id(&tag, segments),
            b"STARTTLS" if self.tls => self.bad(&tag, "BAD TLS is already active."),
            b"STARTTLS" => vec![
                Self::tagged(&tag, "OK Begin TLS negotiation now."),
                Action::StartTls,
            ],
            b"LOGIN" => self.login(&tag, &args),
            b"AUTHENTICATE" => self.authenticate(tag, &args),
            _ => self.bad(&tag, "BAD Error in IMAP command received by server."),
        }
    }

    fn id(&mut self, tag: &[u8], segments: &[Segment]) -> Vec<Action> {
        let raw: Vec<u8> = segments
            .iter()
            .flat_map(|segment| match segment {
                Segment::Text(bytes) | Segment::Literal(bytes) => bytes.clone(),
            })
            .collect();
        vec![
            Action::Aux("imap_id", sasl::aux_text(&raw, 512)),
            Action::Send(b"* ID (\"name\" \"Dovecot\")\r\n".to_vec()),
            Self::tagged(tag, "OK ID completed."),
        ]
    }

    fn login(&mut self, tag: &[u8], args: &[Vec<u8>]) -> Vec<Action> {
        let [user, password, ..] = args else {
            return self.bad(tag, "BAD Error in IMAP command LOGIN: Missing arguments.");
        };
        vec![
            Action::Record(credential(
                user.clone(),
                password.clone(),
                None,
                Mechanism::UserPass,
            )),
            Self::tagged(tag, "NO [AUTHENTICATIONFAILED] Authentication failed."),
        ]
    }

    fn authenticate(&mut self, tag: Vec<u8>, args: &[Vec<u8>]) -> Vec<Action> {
        let Some(name) = args.first() else {
            return self.bad(
                &tag,
                "BAD Error in IMAP command AUTHENTICATE: Missing arguments.",
            );
        };
        let Some(mech) = SaslMechanism::parse(name) else {
            return self.bad(&tag, "NO Unsupported authentication mechanism.");
        };
        let initial = args.get(1).map(Vec::as_slice);
        let (exchange, step) = SaslExchange::begin(mech, initial, &self.hostname);
        self.auth = Some(Authenticating { tag, exchange });
        self.sasl_step(step)
    }

    fn sasl_step(&mut self, step: SaslStep) -> Vec<Action> {
        if let SaslStep::Challenge(bytes) = &step {
            let line = format!("+ {}\r\n", sasl::b64_encode(bytes));
            return vec![Action::Send(line.into_bytes())];
        }
        let Some(auth) = self.auth.take() else {
            return Vec::new();
        };
        match step {
            SaslStep::Done(cred) => vec![
                Action::Record(cred),
                Self::tagged(
                    &auth.tag,
                    "NO [AUTHENTICATIONFAILED] Authentication failed.",
                ),
            ],
            SaslStep::Aborted => vec![Self::tagged(
                &auth.tag,
                "BAD Authentication aborted by client.",
            )],
            _ => self.bad(&auth.tag, "BAD Invalid base64 data in continued response"),
        }
    }
}

/// The first word of a command (its tag), for error replies before full parsing.
fn first_token(segments: &[Segment], fallback: &[u8]) -> Vec<u8> {
    let text = match segments.first() {
        Some(Segment::Text(text)) => text.as_slice(),
        _ => fallback,
    };
    let word = text
        .trim_ascii_start()
        .split(|&byte| byte == b' ')
        .next()
        .unwrap_or_default();
    if word.is_empty() {
        b"*".to_vec()
    } else {
        word.to_vec()
    }
}

impl MailSession for ImapSession {
    fn greeting(&mut self) -> Vec<Action> {
        let line = format!(
            "* OK [CAPABILITY {}] {}\r\n",
            self.capabilities(),
            self.banner
        );
        vec![Action::Send(line.into_bytes())]
    }

    fn on_line(&mut self, line: &[u8]) -> Vec<Action> {
        if let Some(auth) = self.auth.as_mut() {
            let step = auth.exchange.respond(line);
            return self.sasl_step(step);
        }
        self.assemble(line)
    }

    fn tls_started(&mut self) {
        self.tls = true;
        self.pending = None;
        self.auth = None;
    }

    fn farewell_exhausted(&self) -> Vec<u8> {
        b"* BYE Too many invalid IMAP commands.\r\n".to_vec()
    }
}

/// IMAP on 10143 and IMAPS (implicit TLS) on 10993.
pub type Imap = sasl::Mail<ImapSession>;

impl sasl::MailService for ImapSession {
    const NAMES: [&'static str; 2] = ["imap", "imaps"];
    const PORTS: [u16; 2] = [10143, 10993];
    const DEFAULT_BANNER: &'static str = DEFAULT_BANNER;
    fn open(hostname: &str, banner: &str, no_starttls: bool) -> Self {
        Self::new(hostname, banner, no_starttls)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocols::sasl::b64_encode;
    use crate::protocols::sasl::test_util::{records, sent};

    fn session() -> ImapSession {
        ImapSession::new("mail.example.org", DEFAULT_BANNER, false)
    }

    fn user_pass(cred: &trawl_event::Credential) -> (&[u8], &[u8]) {
        (&cred.username, &cred.password)
    }

    #[test]
    fn greeting_looks_like_dovecot() {
        let greeting = sent(&session().greeting());
        assert!(
            greeting.starts_with("* OK [CAPABILITY IMAP4rev1 SASL-IR"),
            "{greeting}"
        );
        assert!(greeting.contains(" STARTTLS AUTH=PLAIN AUTH=LOGIN AUTH=CRAM-MD5]"));
        assert!(greeting.ends_with("] Dovecot (Debian) ready.\r\n"));
        let tls = sent(&ImapSession::new("mx", DEFAULT_BANNER, true).greeting());
        assert!(!tls.contains("STARTTLS"));
    }

    #[test]
    fn login_atoms_and_quoted_strings() {
        let mut imap = session();
        let actions = imap.on_line(b"a1 LOGIN alice secret");
        assert_eq!(
            user_pass(&records(&actions)[0]),
            (&b"alice"[..], &b"secret"[..])
        );
        assert_eq!(records(&actions)[0].mechanism, Mechanism::UserPass);
        assert_eq!(
            sent(&actions),
            "a1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"
        );
        let actions = imap.on_line(br#"a2 login "bob smith" "pa\"ss\\word""#);
        assert_eq!(
            user_pass(&records(&actions)[0]),
            (&b"bob smith"[..], &br#"pa"ss\word"#[..])
        );
    }

    #[test]
    fn login_with_synchronizing_literals() {
        let mut imap = session();
        assert_eq!(sent(&imap.on_line(b"a3 LOGIN {4}")), "+ OK\r\n");
        assert_eq!(sent(&imap.on_line(b"user {10}")), "+ OK\r\n");
        let actions = imap.on_line(b"pass\"word!");
        assert_eq!(
            user_pass(&records(&actions)[0]),
            (&b"user"[..], &b"pass\"word!"[..])
        );
        assert!(sent(&actions).starts_with("a3 NO"));
    }

    #[test]
    fn literal_may_contain_line_breaks_and_non_sync_form() {
        let mut imap = session();
        assert!(sent(&imap.on_line(b"a4 LOGIN {3+}")).is_empty());
        assert!(imap.on_line(b"x").is_empty());
        let actions = imap.on_line(b" {0}");
        assert_eq!(sent(&actions), "+ OK\r\n");
        let actions = imap.on_line(b"");
        assert_eq!(user_pass(&records(&actions)[0]), (&b"x\r\n"[..], &b""[..]));
    }

    #[test]
    fn oversized_literals_are_refused() {
        let mut imap = session();
        assert_eq!(
            sent(&imap.on_line(b"a LOGIN {999999}")),
            "a BAD Literal too large.\r\n"
        );
        let actions = imap.on_line(b"a LOGIN {999999+}");
        assert_eq!(actions.last(), Some(&Action::Hangup));
        assert!(
            imap.on_line(b"{99999999999999999999999}")
                .iter()
                .all(|a| a != &Action::Hangup)
        );
    }

    #[test]
    fn capability_and_starttls() {
        let mut imap = session();
        let reply = sent(&imap.on_line(b"c CAPABILITY"));
        assert!(reply.starts_with("* CAPABILITY IMAP4rev1"));
        assert!(reply.ends_with(
            "c OK Pre-login capabilities listed, post-login capabilities have more.\r\n"
        ));
        let actions = imap.on_line(b"s STARTTLS");
        assert_eq!(actions.last(), Some(&Action::StartTls));
        imap.tls_started();
        assert!(!sent(&imap.on_line(b"c CAPABILITY")).contains("STARTTLS"));
        assert!(sent(&imap.on_line(b"s STARTTLS")).starts_with("s BAD"));
    }

    #[test]
    fn authenticate_plain_with_sasl_ir_and_continuation() {
        let mut imap = session();
        let line = format!("t1 AUTHENTICATE PLAIN {}", b64_encode(b"\0u\0p"));
        let actions = imap.on_line(line.as_bytes());
        assert_eq!(user_pass(&records(&actions)[0]), (&b"u"[..], &b"p"[..]));
        assert_eq!(sent(&imap.on_line(b"t2 AUTHENTICATE PLAIN")), "+ \r\n");
        let actions = imap.on_line(b64_encode(b"\0u2\0p2").as_bytes());
        assert_eq!(records(&actions)[0].mechanism, Mechanism::Plain);
        assert!(sent(&actions).starts_with("t2 NO [AUTHENTICATIONFAILED]"));
    }

    #[test]
    fn authenticate_login_and_cram_md5_and_abort() {
        let mut imap = session();
        assert_eq!(
            sent(&imap.on_line(b"t AUTHENTICATE LOGIN")),
            "+ VXNlcm5hbWU6\r\n"
        );
        imap.on_line(b"dQ==");
        let actions = imap.on_line(b"cA==");
        assert_eq!(user_pass(&records(&actions)[0]), (&b"u"[..], &b"p"[..]));
        assert!(sent(&imap.on_line(b"k AUTHENTICATE CRAM-MD5")).starts_with("+ PD"));
        let actions = imap.on_line(b64_encode(b"joe 00112233445566778899aabbccddeeff").as_bytes());
        assert_eq!(records(&actions)[0].mechanism, Mechanism::CramMd5);
        imap.on_line(b"z AUTHENTICATE LOGIN");
        assert_eq!(
            sent(&imap.on_line(b"*")),
            "z BAD Authentication aborted by client.\r\n"
        );
        assert!(sent(&imap.on_line(b"y AUTHENTICATE NTLM")).starts_with("y NO"));
    }

    #[test]
    fn junk_never_panics_and_eventually_closes() {
        let mut imap = session();
        let junk: [&[u8]; 8] = [
            b"",
            b" ",
            b"\"",
            b"a \"unterminated",
            b"{",
            b"}",
            b"a LOGIN",
            b"\xff\xfe {x}",
        ];
        let mut closed = false;
        for line in junk.iter().cycle().take(20) {
            closed |= imap.on_line(line).contains(&Action::Hangup);
        }
        assert!(closed);
    }

    #[test]
    fn id_is_answered_and_kept() {
        let mut imap = session();
        let actions = imap.on_line(br#"i ID ("name" "Thunderbird")"#);
        assert!(
            actions
                .iter()
                .any(|a| matches!(a, Action::Aux("imap_id", _)))
        );
        assert!(sent(&actions).ends_with("i OK ID completed.\r\n"));
    }

    #[test]
    fn logout_closes() {
        let actions = session().on_line(b"z LOGOUT");
        assert_eq!(actions.last(), Some(&Action::Close));
    }
}
