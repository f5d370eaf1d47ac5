//! POP3 and POP3S (RFC 1939, RFC 2449 CAPA, RFC 2595 STLS, RFC 5034 AUTH): a pre-login
//! Dovecot look-alike that captures USER/PASS, APOP (as a crackable hash), AUTH
//! PLAIN/LOGIN/CRAM-MD5, and offers STLS on plain POP3. No login ever succeeds.

use trawl_event::Mechanism;

use super::sasl::{
    self, Action, MailSession, SaslExchange, SaslMechanism, SaslStep, apop_credential, credential,
    split_command,
};

/// Dovecot's default pre-login greeting on Debian (the APOP challenge is appended).
pub const DEFAULT_BANNER: &str = "+OK Dovecot (Debian) ready.";

/// Dovecot pop3-login disconnects after this many invalid commands.
const MAX_BAD_COMMANDS: u32 = 10;

const AUTH_FAILED: &[u8] = b"-ERR [AUTH] Authentication failed.\r\n";

/// One POP3 connection's state machine (sans IO).
#[derive(Debug)]
pub struct Pop3Session {
    banner: String,
    challenge: String,
    tls: bool,
    user: Option<Vec<u8>>,
    sasl: Option<SaslExchange>,
    hostname: String,
    bad_commands: u32,
}

impl Pop3Session {
    /// A session; `tls` is true for POP3S (implicit TLS) so STLS is not offered.
    pub fn new(hostname: &str, banner: &str, tls: bool) -> Self {
        Self {
            banner: match sasl::banner_line(banner) {
                line if line.starts_with("+OK") => line,
                line => format!("+OK {line}"),
            },
            challenge: sasl::new_challenge(hostname),
            tls,
            user: None,
            sasl: None,
            hostname: hostname.to_owned(),
            bad_commands: 0,
        }
    }

    /// The APOP challenge announced in the greeting.
    pub fn challenge(&self) -> &str {
        &self.challenge
    }

    fn capabilities(&self) -> Vec<u8> {
        let mut out = String::from("+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\n");
        out.push_str("AUTH-RESP-CODE\r\n");
        if !self.tls {
            out.push_str("STLS\r\n");
        }
        out.push_str("USER\r\nSASL ");
        out.push_str(&sasl::offered_names());
        out.push_str("\r\n.\r\n");
        out.into_bytes()
    }

    fn mechanism_list() -> Vec<u8> {
        let mut out = String::from("+OK\r\n");
        for mech in sasl::OFFERED {
            out.push_str(mech.name());
            out.push_str("\r\n");
        }
        out.push_str(".\r\n");
        out.into_bytes()
    }

    fn bad_command(&mut self, reply: &[u8]) -> Vec<Action> {
        self.bad_commands += 1;
        if self.bad_commands >= MAX_BAD_COMMANDS {
            return vec![
                Action::Send(b"-ERR Too many invalid commands.\r\n".to_vec()),
                Action::Hangup,
            ];
        }
        vec![Action::Send(reply.to_vec())]
    }

    fn sasl_step(&mut self, step: SaslStep) -> Vec<Action> {
        match step {
            SaslStep::Challenge(bytes) => {
                let line = format!("+ {}\r\n", sasl::b64_encode(&bytes));
                vec![Action::Send(line.into_bytes())]
            }
            SaslStep::Done(cred) => {
                self.sasl = None;
                vec![Action::Record(cred), Action::Send(AUTH_FAILED.to_vec())]
            }
            SaslStep::Aborted => {
                self.sasl = None;
                vec![Action::Send(
                    b"-ERR Authentication aborted by client.\r\n".to_vec(),
                )]
            }
            SaslStep::Malformed => {
                self.sasl = None;
                self.bad_command(b"-ERR Invalid base64 data in continued response\r\n")
            }
        }
    }

    fn auth(&mut self, args: &[u8]) -> Vec<Action> {
        if args.is_empty() {
            return vec![Action::Send(Self::mechanism_list())];
        }
        let (name, initial) = match args.iter().position(|&byte| byte == b' ') {
            Some(space) => (args.get(..space).unwrap_or_default(), args.get(space + 1..)),
            None => (args, None),
        };
        let Some(mech) = SaslMechanism::parse(name) else {
            return self.bad_command(b"-ERR Unsupported authentication mechanism.\r\n");
        };
        let (exchange, step) = SaslExchange::begin(mech, initial, &self.hostname);
        self.sasl = Some(exchange);
        self.sasl_step(step)
    }

    fn apop(&mut self, args: &[u8]) -> Vec<Action> {
        let Some(space) = args.iter().rposition(|&byte| byte == b' ') else {
            return self.bad_command(b"-ERR Invalid arguments.\r\n");
        };
        let name = args.get(..space).unwrap_or_default();
        let digest = args.get(space + 1..).unwrap_or_default();
        vec![
            Action::Record(apop_credential(&self.challenge, name, digest)),
            Action::Send(AUTH_FAILED.to_vec()),
        ]
    }

    fn pass(&mut self, password: &[u8]) -> Vec<Action> {
        match self.user.take() {
            Some(user) => vec![
                Action::Record(credential(
                    user,
                    password.to_vec(),
                    None,
                    Mechanism::UserPass,
                )),
                Action::Send(AUTH_FAILED.to_vec()),
            ],
            None => self.bad_command(b"-ERR No username given.\r\n"),
        }
    }
}

impl MailSession for Pop3Session {
    fn greeting(&mut self) -> Vec<Action> {
        let line = format!("{} {}\r\n", self.banner, self.challenge);
        vec![Action::Send(line.into_bytes())]
    }

    fn on_line(&mut self, line: &[u8]) -> Vec<Action> {
        if let Some(exchange) = self.sasl.as_mut() {
            let step = exchange.respond(line);
            return self.sasl_step(step);
        }
        let (verb, args) = split_command(line);
        match verb.as_slice() {
            b"CAPA" => vec![Action::Send(self.capabilities())],
            b"USER" if args.is_empty() => self.bad_command(b"-ERR No username given.\r\n"),
            b"USER" => {
                self.user = Some(args.to_vec());
                vec![Action::Send(b"+OK\r\n".to_vec())]
            }
            b"PASS" => self.pass(args),
            b"APOP" => self.apop(args),
            b"AUTH" => self.auth(args),
            b"STLS" if self.tls => self.bad_command(b"-ERR TLS is already active.\r\n"),
            b"STLS" => vec![
                Action::Send(b"+OK Begin TLS negotiation now.\r\n".to_vec()),
                Action::StartTls,
            ],
            b"QUIT" => vec![
                Action::Send(b"+OK Logging out.\r\n".to_vec()),
                Action::Close,
            ],
            _ => self.bad_command(b"-ERR Unknown command.\r\n"),
        }
    }

    fn tls_started(&mut self) {
        self.tls = true;
        self.user = None;
        self.sasl = None;
    }

    fn farewell_exhausted(&self) -> Vec<u8> {
        b"-ERR Disconnected: Too many authentication failures.\r\n".to_vec()
    }
}

/// POP3 on 10110 and POP3S (implicit TLS) on 10995.
pub type Pop3 = sasl::Mail<Pop3Session>;

impl sasl::MailService for Pop3Session {
    const NAMES: [&'static str; 2] = ["pop3", "pop3s"];
    const PORTS: [u16; 2] = [10110, 10995];
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

    fn session() -> Pop3Session {
        Pop3Session::new("mail.example.org", DEFAULT_BANNER, false)
    }

    #[test]
    fn greeting_carries_apop_challenge_and_crlf() {
        let mut pop = session();
        let greeting = sent(&pop.greeting());
        assert!(
            greeting.starts_with("+OK Dovecot (Debian) ready. <"),
            "{greeting}"
        );
        assert!(greeting.ends_with("@mail.example.org>\r\n"));
        assert!(!greeting.contains(" \r\n"));
    }

    #[test]
    fn configured_banner_always_reads_as_ok() {
        let mut pop = Pop3Session::new("mx", "Welcome\r\n-ERR", false);
        let greeting = sent(&pop.greeting());
        assert!(greeting.starts_with("+OK Welcome  -ERR <"), "{greeting}");
        assert_eq!(greeting.matches("\r\n").count(), 1);
    }

    #[test]
    fn user_pass_is_recorded_and_refused() {
        let mut pop = session();
        assert_eq!(sent(&pop.on_line(b"USER alice")), "+OK\r\n");
        let actions = pop.on_line(b"PASS pass word");
        let creds = records(&actions);
        assert_eq!(creds.len(), 1);
        assert_eq!(creds[0].username, b"alice");
        assert_eq!(creds[0].password, b"pass word");
        assert_eq!(creds[0].mechanism, Mechanism::UserPass);
        assert_eq!(sent(&actions), "-ERR [AUTH] Authentication failed.\r\n");
        // PASS again without USER is an error, not a second record.
        assert!(records(&pop.on_line(b"PASS x")).is_empty());
    }

    #[test]
    fn capa_lists_stls_only_without_tls() {
        let mut pop = session();
        let capa = sent(&pop.on_line(b"capa"));
        assert!(
            capa.contains("\r\nSTLS\r\n") && capa.ends_with("\r\n.\r\n"),
            "{capa}"
        );
        assert!(capa.contains("SASL PLAIN LOGIN CRAM-MD5\r\n"));
        let mut secure = Pop3Session::new("mx", DEFAULT_BANNER, true);
        assert!(!sent(&secure.on_line(b"CAPA")).contains("STLS"));
        assert!(sent(&secure.on_line(b"STLS")).starts_with("-ERR"));
    }

    #[test]
    fn stls_upgrades_then_resets_state() {
        let mut pop = session();
        pop.on_line(b"USER early");
        let actions = pop.on_line(b"STLS");
        assert_eq!(actions.last(), Some(&Action::StartTls));
        pop.tls_started();
        assert!(records(&pop.on_line(b"PASS x")).is_empty());
    }

    #[test]
    fn apop_is_kept_as_hash() {
        let mut pop = session();
        let challenge = pop.challenge().to_owned();
        let actions = pop.on_line(b"APOP mrose c4c9334bac560ecc979e58001b3e22fb");
        let creds = records(&actions);
        assert_eq!(creds[0].username, b"mrose");
        assert_eq!(
            creds[0].password_hash.as_deref(),
            Some(format!("c4c9334bac560ecc979e58001b3e22fb:{challenge}").as_str())
        );
        assert!(sent(&actions).starts_with("-ERR [AUTH]"));
    }

    #[test]
    fn auth_plain_initial_and_continued() {
        let mut pop = session();
        let ir = format!("AUTH PLAIN {}", b64_encode(b"\0u1\0p1"));
        assert_eq!(records(&pop.on_line(ir.as_bytes()))[0].username, b"u1");
        assert_eq!(sent(&pop.on_line(b"AUTH PLAIN")), "+ \r\n");
        let creds = records(&pop.on_line(b64_encode(b"\0u2\0p2").as_bytes()));
        assert_eq!(creds[0].password, b"p2");
    }

    #[test]
    fn auth_login_and_cram_md5() {
        let mut pop = session();
        assert_eq!(sent(&pop.on_line(b"AUTH LOGIN")), "+ VXNlcm5hbWU6\r\n");
        assert_eq!(sent(&pop.on_line(b"dXNlcg==")), "+ UGFzc3dvcmQ6\r\n");
        let creds = records(&pop.on_line(b"cGFzcw=="));
        assert_eq!(
            (creds[0].username.as_slice(), creds[0].password.as_slice()),
            (&b"user"[..], &b"pass"[..])
        );
        let challenge = sent(&pop.on_line(b"AUTH CRAM-MD5"));
        assert!(challenge.starts_with("+ PD"), "{challenge}");
        let creds =
            records(&pop.on_line(b64_encode(b"joe 00112233445566778899aabbccddeeff").as_bytes()));
        assert!(
            creds[0]
                .password_hash
                .as_deref()
                .unwrap_or("")
                .starts_with("$cram_md5$")
        );
    }

    #[test]
    fn auth_without_mechanism_lists_them_and_unknown_is_refused() {
        let mut pop = session();
        assert_eq!(
            sent(&pop.on_line(b"AUTH")),
            "+OK\r\nPLAIN\r\nLOGIN\r\nCRAM-MD5\r\n.\r\n"
        );
        assert!(sent(&pop.on_line(b"AUTH GSSAPI")).starts_with("-ERR"));
    }

    #[test]
    fn too_many_bad_commands_close() {
        let mut pop = session();
        let mut closed = false;
        for _ in 0..MAX_BAD_COMMANDS {
            closed = pop.on_line(b"\xff\x00 junk").contains(&Action::Hangup);
        }
        assert!(closed);
    }

    #[test]
    fn quit_closes() {
        let mut pop = session();
        let actions = pop.on_line(b"QUIT");
        assert_eq!(actions.last(), Some(&Action::Close));
        assert_eq!(sent(&actions), "+OK Logging out.\r\n");
    }
}
