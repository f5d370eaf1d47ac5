//! SMTP and SMTPS (RFC 5321, RFC 4954 AUTH incl. initial responses, RFC 3207 STARTTLS): a
//! Postfix look-alike that captures AUTH PLAIN/LOGIN/CRAM-MD5. Mail is never relayed or
//! stored: MAIL FROM is accepted, every RCPT TO is refused with Postfix's "Relay access
//! denied", so DATA never starts (senders and recipients go to auxiliary data).

use super::sasl::{
    self, Action, MailSession, SaslExchange, SaslMechanism, SaslStep, split_command,
};

/// Postfix's default banner text on Debian (after `220 <hostname> `).
pub const DEFAULT_BANNER: &str = "ESMTP Postfix (Debian/GNU)";

/// Postfix's `smtpd_hard_error_limit`.
const MAX_ERRORS: u32 = 20;
/// How many MAIL FROM / RCPT TO values are kept per session.
const MAX_ENVELOPE_VALUES: usize = 16;
/// Longest envelope value kept.
const MAX_ENVELOPE_VALUE: usize = 256;

#[derive(Debug)]
struct Authenticating {
    exchange: SaslExchange,
}

/// One SMTP connection's state machine (sans IO).
#[derive(Debug)]
pub struct SmtpSession {
    banner: String,
    hostname: String,
    tls: bool,
    greeted: bool,
    mail_from: bool,
    auth: Option<Authenticating>,
    errors: u32,
    senders: Vec<serde_json::Value>,
    recipients: Vec<serde_json::Value>,
}

impl SmtpSession {
    /// A session; `tls` is true for SMTPS (implicit TLS) so STARTTLS is not offered.
    pub fn new(hostname: &str, banner: &str, tls: bool) -> Self {
        Self {
            banner: sasl::banner_line(banner),
            hostname: hostname.to_owned(),
            tls,
            greeted: false,
            mail_from: false,
            auth: None,
            errors: 0,
            senders: Vec::new(),
            recipients: Vec::new(),
        }
    }

    fn reply(text: &str) -> Action {
        Action::Send(format!("{text}\r\n").into_bytes())
    }

    fn error(&mut self, text: &str) -> Vec<Action> {
        self.errors += 1;
        if self.errors >= MAX_ERRORS {
            return vec![
                Self::reply(&format!(
                    "421 4.7.0 {} Error: too many errors",
                    self.hostname
                )),
                Action::Hangup,
            ];
        }
        vec![Self::reply(text)]
    }

    fn ehlo(&mut self, name: &[u8]) -> Vec<Action> {
        if name.trim_ascii().is_empty() {
            return self.error("501 Syntax: EHLO hostname");
        }
        self.greeted = true;
        self.mail_from = false;
        let mut lines = vec![
            self.hostname.clone(),
            "PIPELINING".into(),
            "SIZE 10240000".into(),
        ];
        lines.push("ETRN".into());
        if !self.tls {
            lines.push("STARTTLS".into());
        }
        lines.push(format!("AUTH {}", sasl::offered_names()));
        for extension in [
            "ENHANCEDSTATUSCODES",
            "8BITMIME",
            "DSN",
            "SMTPUTF8",
            "CHUNKING",
        ] {
            lines.push(extension.into());
        }
        let last = lines.len().saturating_sub(1);
        let mut out = String::new();
        for (index, line) in lines.iter().enumerate() {
            let separator = if index == last { ' ' } else { '-' };
            out.push_str(&format!("250{separator}{line}\r\n"));
        }
        vec![
            Action::Aux("smtp_ehlo", sasl::aux_text(name, MAX_ENVELOPE_VALUE)),
            Action::Send(out.into_bytes()),
        ]
    }

    fn helo(&mut self, name: &[u8]) -> Vec<Action> {
        if name.trim_ascii().is_empty() {
            return self.error("501 Syntax: HELO hostname");
        }
        self.greeted = true;
        self.mail_from = false;
        vec![
            Action::Aux("smtp_helo", sasl::aux_text(name, MAX_ENVELOPE_VALUE)),
            Self::reply(&format!("250 {}", self.hostname)),
        ]
    }

    fn auth(&mut self, args: &[u8]) -> Vec<Action> {
        if !self.greeted {
            return self.error("503 5.5.1 Error: send HELO/EHLO first");
        }
        let mut words = args
            .split(|&byte| byte == b' ')
            .filter(|word| !word.is_empty());
        let Some(name) = words.next() else {
            return self.error("501 5.5.4 Syntax: AUTH mechanism");
        };
        let Some(mech) = SaslMechanism::parse(name) else {
            return self.error("504 5.5.4 Unsupported authentication mechanism");
        };
        let (exchange, step) = SaslExchange::begin(mech, words.next(), &self.hostname);
        self.auth = Some(Authenticating { exchange });
        self.sasl_step(step)
    }

    fn sasl_step(&mut self, step: SaslStep) -> Vec<Action> {
        match step {
            SaslStep::Challenge(bytes) => {
                vec![Self::reply(&format!("334 {}", sasl::b64_encode(&bytes)))]
            }
            SaslStep::Done(cred) => {
                self.auth = None;
                vec![
                    Action::Record(cred),
                    Self::reply("535 5.7.8 Error: authentication failed: authentication failure"),
                ]
            }
            SaslStep::Aborted => {
                self.auth = None;
                self.error("501 5.7.0 Authentication aborted")
            }
            SaslStep::Malformed => {
                self.auth = None;
                self.error("501 5.5.2 Cannot decode response")
            }
        }
    }

    fn mail(&mut self, args: &[u8]) -> Vec<Action> {
        if !self.greeted {
            return self.error("503 5.5.1 Error: send HELO/EHLO first");
        }
        let Some(address) = envelope_address(args, b"FROM:") else {
            return self.error("501 5.5.4 Syntax: MAIL FROM:<address>");
        };
        self.mail_from = true;
        keep(&mut self.senders, address);
        vec![
            Action::Aux(
                "smtp_mail_from",
                serde_json::Value::Array(self.senders.clone()),
            ),
            Self::reply("250 2.1.0 Ok"),
        ]
    }

    fn rcpt(&mut self, args: &[u8]) -> Vec<Action> {
        if !self.mail_from {
            return self.error("503 5.5.1 Error: need MAIL command");
        }
        let Some(address) = envelope_address(args, b"TO:") else {
            return self.error("501 5.5.4 Syntax: RCPT TO:<address>");
        };
        let shown = String::from_utf8_lossy(address.get(..MAX_ENVELOPE_VALUE).unwrap_or(address))
            .replace(['\r', '\n'], "");
        keep(&mut self.recipients, address);
        let mut actions = vec![Action::Aux(
            "smtp_rcpt_to",
            serde_json::Value::Array(self.recipients.clone()),
        )];
        actions.extend(self.error(&format!("554 5.7.1 <{shown}>: Relay access denied")));
        actions
    }

    fn data(&mut self) -> Vec<Action> {
        if !self.mail_from {
            return self.error("503 5.5.1 Error: need RCPT command");
        }
        self.error("554 5.5.1 Error: no valid recipients")
    }
}

/// `FROM:<a@b> SIZE=1` → `a@b` (angle brackets optional, parameters dropped).
fn envelope_address<'a>(args: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let head = args.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = args.get(prefix.len()..)?.trim_ascii_start();
    let path = rest.split(|&byte| byte == b' ').next().unwrap_or_default();
    let path = path.strip_prefix(b"<").unwrap_or(path);
    Some(path.strip_suffix(b">").unwrap_or(path))
}

fn keep(values: &mut Vec<serde_json::Value>, address: &[u8]) {
    if values.len() < MAX_ENVELOPE_VALUES {
        values.push(sasl::aux_text(address, MAX_ENVELOPE_VALUE));
    }
}

impl MailSession for SmtpSession {
    fn greeting(&mut self) -> Vec<Action> {
        vec![Self::reply(&format!(
            "220 {} {}",
            self.hostname, self.banner
        ))]
    }

    fn on_line(&mut self, line: &[u8]) -> Vec<Action> {
        if let Some(auth) = self.auth.as_mut() {
            let step = auth.exchange.respond(line);
            return self.sasl_step(step);
        }
        let (verb, args) = split_command(line);
        match verb.as_slice() {
            b"EHLO" => self.ehlo(args),
            b"HELO" => self.helo(args),
            b"AUTH" => self.auth(args),
            b"STARTTLS" if self.tls => self.error("554 5.5.1 Error: TLS already active"),
            b"STARTTLS" => vec![
                Self::reply("220 2.0.0 Ready to start TLS"),
                Action::StartTls,
            ],
            b"MAIL" => self.mail(args),
            b"RCPT" => self.rcpt(args),
            b"DATA" | b"BDAT" => self.data(),
            b"RSET" => {
                self.mail_from = false;
                vec![Self::reply("250 2.0.0 Ok")]
            }
            b"NOOP" => vec![Self::reply("250 2.0.0 Ok")],
            b"VRFY" => self.error("502 5.5.1 VRFY command is disabled"),
            b"QUIT" => vec![Self::reply("221 2.0.0 Bye"), Action::Close],
            _ => self.error("502 5.5.2 Error: command not recognized"),
        }
    }

    fn tls_started(&mut self) {
        // RFC 3207: the client must start over with EHLO.
        self.tls = true;
        self.greeted = false;
        self.mail_from = false;
        self.auth = None;
    }

    fn farewell_exhausted(&self) -> Vec<u8> {
        format!("421 4.7.0 {} Error: too many errors\r\n", self.hostname).into_bytes()
    }
}

/// SMTP on 10025 and SMTPS (implicit TLS) on 10465.
pub type Smtp = sasl::Mail<SmtpSession>;

impl sasl::MailService for SmtpSession {
    const NAMES: [&'static str; 2] = ["smtp", "smtps"];
    const PORTS: [u16; 2] = [10025, 10465];
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
    use trawl_event::Mechanism;

    fn session() -> SmtpSession {
        SmtpSession::new("mail.example.org", DEFAULT_BANNER, false)
    }

    #[test]
    fn greeting_is_postfix_without_trailing_space() {
        let greeting = sent(&session().greeting());
        assert_eq!(
            greeting,
            "220 mail.example.org ESMTP Postfix (Debian/GNU)\r\n"
        );
    }

    #[test]
    fn ehlo_lists_auth_and_starttls() {
        let mut smtp = session();
        let reply = sent(&smtp.on_line(b"EHLO client.example"));
        assert!(
            reply.starts_with("250-mail.example.org\r\n250-PIPELINING\r\n"),
            "{reply}"
        );
        assert!(reply.contains("250-STARTTLS\r\n250-AUTH PLAIN LOGIN CRAM-MD5\r\n"));
        assert!(reply.ends_with("250 CHUNKING\r\n"));
        assert!(!reply.contains(" \r\n"));
        let mut secure = SmtpSession::new("mx", DEFAULT_BANNER, true);
        assert!(!sent(&secure.on_line(b"EHLO x")).contains("STARTTLS"));
    }

    #[test]
    fn auth_requires_ehlo() {
        let mut smtp = session();
        assert!(sent(&smtp.on_line(b"AUTH PLAIN AHUAcA==")).starts_with("503"));
        assert!(records(&smtp.on_line(b"AUTH PLAIN AHUAcA==")).is_empty());
    }

    #[test]
    fn auth_plain_initial_response_and_empty_challenge() {
        let mut smtp = session();
        smtp.on_line(b"EHLO x");
        let line = format!("AUTH PLAIN {}", b64_encode(b"\0alice\0pw"));
        let actions = smtp.on_line(line.as_bytes());
        assert_eq!(records(&actions)[0].username, b"alice");
        assert!(sent(&actions).starts_with("535 5.7.8 "));
        assert_eq!(sent(&smtp.on_line(b"auth plain")), "334 \r\n");
        let actions = smtp.on_line(b64_encode(b"\0bob\0pw2").as_bytes());
        assert_eq!(records(&actions)[0].password, b"pw2");
    }

    #[test]
    fn auth_login_with_and_without_initial_username() {
        let mut smtp = session();
        smtp.on_line(b"HELO x");
        assert_eq!(sent(&smtp.on_line(b"AUTH LOGIN")), "334 VXNlcm5hbWU6\r\n");
        assert_eq!(sent(&smtp.on_line(b"dQ==")), "334 UGFzc3dvcmQ6\r\n");
        assert_eq!(records(&smtp.on_line(b"cA==")).len(), 1);
        assert_eq!(
            sent(&smtp.on_line(b"AUTH LOGIN dXNlcg==")),
            "334 UGFzc3dvcmQ6\r\n"
        );
        let creds = records(&smtp.on_line(b"cGFzcw=="));
        assert_eq!(creds[0].username, b"user");
        assert_eq!(creds[0].mechanism, Mechanism::Login);
    }

    #[test]
    fn auth_cram_md5_and_malformed() {
        let mut smtp = session();
        smtp.on_line(b"EHLO x");
        assert!(sent(&smtp.on_line(b"AUTH CRAM-MD5")).starts_with("334 PD"));
        let creds =
            records(&smtp.on_line(b64_encode(b"u 00112233445566778899aabbccddeeff").as_bytes()));
        assert_eq!(creds[0].mechanism, Mechanism::CramMd5);
        smtp.on_line(b"AUTH LOGIN");
        assert!(sent(&smtp.on_line(b"%%%")).starts_with("501"));
        assert!(sent(&smtp.on_line(b"AUTH XOAUTH2 abc")).starts_with("504"));
    }

    #[test]
    fn mail_never_relays() {
        let mut smtp = session();
        smtp.on_line(b"EHLO x");
        assert_eq!(
            sent(&smtp.on_line(b"MAIL FROM:<a@b.example> SIZE=10")),
            "250 2.1.0 Ok\r\n"
        );
        let actions = smtp.on_line(b"RCPT TO:<victim@elsewhere.example>");
        assert_eq!(
            sent(&actions),
            "554 5.7.1 <victim@elsewhere.example>: Relay access denied\r\n"
        );
        assert!(
            actions
                .iter()
                .any(|a| matches!(a, Action::Aux("smtp_rcpt_to", _)))
        );
        assert!(sent(&smtp.on_line(b"DATA")).starts_with("554 5.5.1"));
    }

    #[test]
    fn starttls_resets_the_session() {
        let mut smtp = session();
        smtp.on_line(b"EHLO x");
        let actions = smtp.on_line(b"STARTTLS");
        assert_eq!(actions.last(), Some(&Action::StartTls));
        smtp.tls_started();
        assert!(sent(&smtp.on_line(b"AUTH PLAIN")).starts_with("503"));
        assert!(!sent(&smtp.on_line(b"EHLO x")).contains("STARTTLS"));
    }

    #[test]
    fn errors_are_bounded_and_junk_does_not_panic() {
        let mut smtp = session();
        let junk: [&[u8]; 6] = [b"", b"\xff\xff", b"MAIL", b"RCPT TO:", b"AUTH", b"EHLO"];
        let mut closed = false;
        for line in junk.iter().cycle().take(40) {
            closed |= smtp.on_line(line).contains(&Action::Hangup);
        }
        assert!(closed);
    }

    #[test]
    fn quit_closes() {
        let actions = session().on_line(b"QUIT");
        assert_eq!(sent(&actions), "221 2.0.0 Bye\r\n");
        assert_eq!(actions.last(), Some(&Action::Close));
    }
}
