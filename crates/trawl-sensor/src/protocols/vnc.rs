//! VNC (RFB 3.3, 3.7 and 3.8, RFC 6143) with VNC authentication only, answering like a
//! password-protected RFB 3.8 server (the banner is the ProtocolVersion it sends).
//!
//! The client's version picks the dialog: 3.3 (and 3.5, 3.4, 3.6, as RFC 6143 §7.1.1 asks)
//! gets the security type as a `u32` followed by the challenge; 3.7 and 3.8 (and Apple's
//! 3.889, and anything newer) get the one-entry type list `[2]`. Each connection gets a
//! fresh random 16-byte challenge; the client's 16-byte DES response is kept crackable as
//! John the Ripper's `$vnc$*<challenge>*<response>` (upper-case hex) in `password_hash`.
//! Every attempt fails like a real server: `SecurityResult = 1`, followed in 3.8 by the
//! reason string `Authentication failed`, then the connection closes (one attempt per
//! connection, as in every VNC server).
//!
//! With `wordlist = "/path"` in `[protocols.vnc.options]` the sensor tries each word of
//! that list against the response (VNC uses the first 8 bytes of a password) and stores
//! the first matching word as the password. The list is read once at start (at most
//! [`MAX_WORDLIST_BYTES`] and [`MAX_WORDS`]); one crack runs at a time, off the async
//! threads.
//!
//! The RFB framing is hand-written: the pre-authentication part is four fixed-size
//! messages, smaller than any crate's API for it. DES is RustCrypto's `des`.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use serde::Deserialize;
use serde_json::Value;
use trawl_event::{Credential, EndReason, Mechanism, display_bytes};

use crate::conn::{Conn, ConnError};
use crate::protocol::{BoxFuture, PrepareEnv, Protocol};
use crate::session::SessionCtx;

/// Largest wordlist file accepted (bytes).
pub const MAX_WORDLIST_BYTES: u64 = 32 * 1024 * 1024;
/// Most distinct words (after truncation to 8 bytes) kept from the wordlist.
pub const MAX_WORDS: usize = 2_000_000;
/// Longest wordlist line accepted (bytes).
const MAX_WORD_LINE: usize = 1024;
/// The security type this server offers: VNC authentication.
const SECURITY_VNC_AUTH: u8 = 2;
const FAILURE_REASON: &str = "Authentication failed";
const UNSUPPORTED_REASON: &str = "Security type not supported";

/// VNC on 15900 (standard 5900).
#[derive(Default)]
pub struct Vnc {
    state: OnceLock<VncState>,
}

/// What `prepare` builds once.
struct VncState {
    server_version: RfbVersion,
    wordlist: Option<Arc<Wordlist>>,
    crack_slot: Arc<tokio::sync::Semaphore>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct VncOptions {
    /// Words to try against every response (one per line).
    wordlist: Option<PathBuf>,
}

impl Protocol for Vnc {
    fn name(&self) -> &'static str {
        "vnc"
    }
    fn default_port(&self) -> u16 {
        15900
    }
    /// The ProtocolVersion message without its newline (`RFB 003.008`; `RFB 004.001`
    /// looks like RealVNC Enterprise, `RFB 003.889` like Apple Remote Desktop).
    fn default_banner(&self) -> &'static str {
        "RFB 003.008"
    }
    /// VNC servers close the connection after a failed authentication.
    fn default_max_attempts(&self) -> u32 {
        1
    }
    fn default_options(&self) -> &'static str {
        "# wordlist = \"/path/to/words.txt\"   # try each word against every VNC response; a match is stored as the password\n"
    }
    fn prepare(&self, env: &PrepareEnv<'_>) -> Result<(), String> {
        let options: VncOptions = env.parse_options()?;
        let server_version = RfbVersion::parse_banner(&env.settings.banner).ok_or_else(|| {
            format!(
                "banner {:?} is not an RFB ProtocolVersion like \"RFB 003.008\"",
                env.settings.banner
            )
        })?;
        let wordlist = match &options.wordlist {
            Some(path) => Some(Arc::new(Wordlist::load(path)?)),
            None => None,
        };
        let state = VncState {
            server_version,
            wordlist,
            crack_slot: Arc::new(tokio::sync::Semaphore::new(1)),
        };
        // A second prepare (tests, reload) keeps the first state.
        let _ = self.state.set(state);
        Ok(())
    }
    fn serve<'a>(
        &'a self,
        conn: &'a mut Conn,
        ctx: &'a mut SessionCtx,
    ) -> BoxFuture<'a, Result<(), ConnError>> {
        Box::pin(serve(self.state.get(), conn, ctx))
    }
}

/// An RFB ProtocolVersion (`RFB xxx.yyy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct RfbVersion {
    /// Major number.
    pub major: u16,
    /// Minor number.
    pub minor: u16,
}

impl RfbVersion {
    #[cfg(test)]
    const V3_8: RfbVersion = RfbVersion { major: 3, minor: 8 };

    /// Parses the 12-byte ProtocolVersion message `RFB xxx.yyy\n`.
    pub fn parse_message(message: &[u8]) -> Option<Self> {
        match message {
            [b'R', b'F', b'B', b' ', major @ .., b'\n'] => Self::parse_numbers(major),
            _ => None,
        }
    }

    fn parse_banner(banner: &str) -> Option<Self> {
        banner
            .strip_prefix("RFB ")
            .and_then(|numbers| Self::parse_numbers(numbers.as_bytes()))
    }

    /// `xxx.yyy`, exactly three digits each.
    fn parse_numbers(numbers: &[u8]) -> Option<Self> {
        let [a, b, c, b'.', d, e, f] = numbers else {
            return None;
        };
        Some(RfbVersion {
            major: three_digits(*a, *b, *c)?,
            minor: three_digits(*d, *e, *f)?,
        })
    }

    fn message(self) -> Vec<u8> {
        format!("RFB {:03}.{:03}\n", self.major, self.minor).into_bytes()
    }
}

fn three_digits(a: u8, b: u8, c: u8) -> Option<u16> {
    [a, b, c].iter().try_fold(0u16, |value, &digit| {
        digit
            .is_ascii_digit()
            .then(|| value * 10 + u16::from(digit - b'0'))
    })
}

/// The handshake variant both sides end up speaking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialog {
    /// RFB 3.3: the server picks the security type.
    V3_3,
    /// RFB 3.7: type list, no failure reason.
    V3_7,
    /// RFB 3.8: type list, failure reason string.
    V3_8,
}

impl Dialog {
    /// The dialog for a client version (never above what the server announced);
    /// `None` for versions below 3 (not RFB).
    pub fn negotiate(server: RfbVersion, client: RfbVersion) -> Option<Self> {
        let version = server.min(client);
        match (version.major, version.minor) {
            (0..=2, _) => None,
            (3, 0..=6) => Some(Dialog::V3_3),
            (3, 7) => Some(Dialog::V3_7),
            _ => Some(Dialog::V3_8),
        }
    }

    fn failure(self, reason: &str) -> Vec<u8> {
        let mut reply = 1u32.to_be_bytes().to_vec();
        if self == Dialog::V3_8 {
            let length = u32::try_from(reason.len()).unwrap_or(0);
            reply.extend_from_slice(&length.to_be_bytes());
            reply.extend_from_slice(reason.as_bytes());
        }
        reply
    }
}

async fn serve(
    state: Option<&VncState>,
    conn: &mut Conn,
    ctx: &mut SessionCtx,
) -> Result<(), ConnError> {
    let state = state.ok_or_else(|| ConnError::Protocol("vnc was not prepared".into()))?;
    conn.write_all(&state.server_version.message()).await?;
    let client_message = conn.read_exact_bytes(12).await?;
    ctx.set_aux(
        "vnc_client_version",
        Value::from(display_bytes(client_message.trim_ascii_end())),
    );
    let dialog = RfbVersion::parse_message(&client_message)
        .and_then(|client| Dialog::negotiate(state.server_version, client))
        .ok_or_else(|| ConnError::Protocol("not an RFB ProtocolVersion".into()))?;
    let challenge = random_challenge()?;
    if !offer_vnc_auth(conn, ctx, dialog, &challenge).await? {
        return Ok(());
    }
    let response: [u8; 16] = conn
        .read_exact_bytes(16)
        .await?
        .try_into()
        .map_err(|_| ConnError::Closed)?;
    let password = match &state.wordlist {
        Some(list) => crack(list, &state.crack_slot, challenge, response).await,
        None => Vec::new(),
    };
    let mut credential = Credential::new(Vec::new(), password, Mechanism::VncAuth);
    credential.password_hash = Some(john_hash(&challenge, &response));
    ctx.record_auth(credential).await;
    conn.write_all(&dialog.failure(FAILURE_REASON)).await?;
    ctx.set_end_reason(EndReason::MaxAttempts);
    Ok(())
}

/// Offers VNC authentication and sends the challenge; `false` when the client chose
/// another security type (it was refused and the session is over).
async fn offer_vnc_auth(
    conn: &mut Conn,
    ctx: &mut SessionCtx,
    dialog: Dialog,
    challenge: &[u8; 16],
) -> Result<bool, ConnError> {
    if dialog == Dialog::V3_3 {
        let mut message = u32::from(SECURITY_VNC_AUTH).to_be_bytes().to_vec();
        message.extend_from_slice(challenge);
        conn.write_all(&message).await?;
        return Ok(true);
    }
    conn.write_all(&[1, SECURITY_VNC_AUTH]).await?;
    let chosen = conn.read_exact_bytes(1).await?;
    let chosen = chosen.first().copied().unwrap_or(0);
    if chosen != SECURITY_VNC_AUTH {
        ctx.set_aux("vnc_security_type", Value::from(chosen));
        if dialog == Dialog::V3_8 {
            conn.write_all(&dialog.failure(UNSUPPORTED_REASON)).await?;
        }
        ctx.set_end_reason(EndReason::ProtocolError);
        return Ok(false);
    }
    conn.write_all(challenge).await?;
    Ok(true)
}

fn random_challenge() -> Result<[u8; 16], ConnError> {
    use ring::rand::SecureRandom;
    let mut challenge = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut challenge)
        .map_err(|_| ConnError::Protocol("no randomness for the VNC challenge".into()))?;
    Ok(challenge)
}

/// John the Ripper's VNC format: `$vnc$*<challenge hex>*<response hex>`.
pub fn john_hash(challenge: &[u8; 16], response: &[u8; 16]) -> String {
    format!("$vnc$*{}*{}", upper_hex(challenge), upper_hex(response))
}

fn upper_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02X}")).collect()
}

use trawl_crack::formats::vnc_encrypt as encrypt_challenge;
pub use trawl_crack::formats::{vnc_key, vnc_response};

/// The configured wordlist, deduplicated by the 8-byte key VNC actually uses.
pub struct Wordlist {
    keys: Vec<[u8; 8]>,
    /// All kept words back to back; `ends[i]` is where word `i` ends.
    text: Vec<u8>,
    ends: Vec<u32>,
}

impl Wordlist {
    /// Reads a wordlist file: one word per line (LF or CRLF), empty lines skipped. Errors
    /// name the file and, for a bad line, its number.
    pub fn load(path: &std::path::Path) -> Result<Self, String> {
        let shown = path.display();
        let size = std::fs::metadata(path)
            .map_err(|err| format!("wordlist {shown}: {err}"))?
            .len();
        if size > MAX_WORDLIST_BYTES {
            return Err(format!(
                "wordlist {shown}: {size} bytes, more than the {MAX_WORDLIST_BYTES} allowed"
            ));
        }
        let bytes = std::fs::read(path).map_err(|err| format!("wordlist {shown}: {err}"))?;
        Self::parse(&bytes).map_err(|err| format!("wordlist {shown}: {err}"))
    }

    /// Parses wordlist bytes (see [`Wordlist::load`]).
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let mut list = Wordlist {
            keys: Vec::new(),
            text: Vec::new(),
            ends: Vec::new(),
        };
        let mut seen = std::collections::HashSet::new();
        for (index, line) in bytes.split(|&byte| byte == b'\n').enumerate() {
            let word = line.strip_suffix(b"\r").unwrap_or(line);
            if word.is_empty() {
                continue;
            }
            if word.len() > MAX_WORD_LINE {
                return Err(format!(
                    "line {}: longer than {MAX_WORD_LINE} bytes",
                    index + 1
                ));
            }
            let key = vnc_key(word);
            if !seen.insert(key) {
                continue;
            }
            if list.keys.len() == MAX_WORDS {
                return Err(format!(
                    "line {}: more than {MAX_WORDS} distinct words",
                    index + 1
                ));
            }
            list.keys.push(key);
            list.text.extend_from_slice(word);
            list.ends
                .push(u32::try_from(list.text.len()).map_err(|_| "wordlist too large")?);
        }
        Ok(list)
    }

    /// Distinct words kept.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no word was kept.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The first listed word whose VNC response to `challenge` is `response`.
    pub fn crack(&self, challenge: &[u8; 16], response: &[u8; 16]) -> Option<&[u8]> {
        let index = self
            .keys
            .iter()
            .position(|key| encrypt_challenge(key, challenge) == *response)?;
        self.word(index)
    }

    fn word(&self, index: usize) -> Option<&[u8]> {
        let end = *self.ends.get(index)? as usize;
        let start = match index.checked_sub(1) {
            Some(previous) => *self.ends.get(previous)? as usize,
            None => 0,
        };
        self.text.get(start..end)
    }
}

/// Cracks on a blocking thread, one crack at a time across all sessions.
async fn crack(
    list: &Arc<Wordlist>,
    slot: &Arc<tokio::sync::Semaphore>,
    challenge: [u8; 16],
    response: [u8; 16],
) -> Vec<u8> {
    let Ok(_permit) = Arc::clone(slot).acquire_owned().await else {
        return Vec::new();
    };
    let list = Arc::clone(list);
    tokio::task::spawn_blocking(move || {
        list.crack(&challenge, &response)
            .map(<[u8]>::to_vec)
            .unwrap_or_default()
    })
    .await
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn hex16(text: &str) -> [u8; 16] {
        let mut out = [0u8; 16];
        for (index, slot) in out.iter_mut().enumerate() {
            *slot = u8::from_str_radix(&text[index * 2..index * 2 + 2], 16).unwrap();
        }
        out
    }

    /// Test vectors published with John the Ripper's VNC format.
    #[test]
    fn responses_match_john_vectors() {
        let vectors = [
            (
                "84076F040550EEA9341967633B5F3855",
                "DD96D21781A70DA49443279975404DD0",
                "pass1234",
            ),
            (
                "0805B790B58E967F2A350A0C99DE3881",
                "AECB26FAEAAA62D79636A5934BAC1078",
                "Password",
            ),
            (
                "ADDC021F444F999B8E27144C0DCE7389",
                "AFAF1BB57588784333962A124668A2C6",
                "openwall",
            ),
        ];
        for (challenge, response, password) in vectors {
            let (challenge, response) = (hex16(challenge), hex16(response));
            assert_eq!(vnc_response(password.as_bytes(), &challenge), response);
            assert_ne!(vnc_response(b"wrong", &challenge), response);
            let long = format!("{password}-ignored-after-8");
            assert_eq!(vnc_response(long.as_bytes(), &challenge), response);
        }
        assert_eq!(
            john_hash(&[0xab; 16], &[1; 16]),
            "$vnc$*ABABABABABABABABABABABABABABABAB*01010101010101010101010101010101"
        );
    }

    #[test]
    fn wordlist_cracks_first_match_and_reports_bad_lines() {
        let list = Wordlist::parse(b"alpha\r\n\nopenwall\nopenwall-long\nzulu\n").unwrap();
        assert_eq!(list.len(), 3, "openwall-long shares openwall's 8-byte key");
        let challenge = hex16("ADDC021F444F999B8E27144C0DCE7389");
        let response = hex16("AFAF1BB57588784333962A124668A2C6");
        assert_eq!(list.crack(&challenge, &response), Some(&b"openwall"[..]));
        assert_eq!(list.crack(&challenge, &[0; 16]), None);
        assert_eq!(list.word(0), Some(&b"alpha"[..]));
        assert_eq!(list.word(2), Some(&b"zulu"[..]));
        let long = [b"ok\n".to_vec(), vec![b'x'; 2000]].concat();
        assert_eq!(
            Wordlist::parse(&long).err().as_deref(),
            Some("line 2: longer than 1024 bytes")
        );
    }

    #[test]
    fn versions_negotiate_like_rfc_6143() {
        let server = RfbVersion { major: 3, minor: 8 };
        let dialog = |message: &[u8]| {
            RfbVersion::parse_message(message).and_then(|v| Dialog::negotiate(server, v))
        };
        assert_eq!(dialog(b"RFB 003.003\n"), Some(Dialog::V3_3));
        assert_eq!(dialog(b"RFB 003.005\n"), Some(Dialog::V3_3));
        assert_eq!(dialog(b"RFB 003.007\n"), Some(Dialog::V3_7));
        assert_eq!(dialog(b"RFB 003.008\n"), Some(Dialog::V3_8));
        assert_eq!(dialog(b"RFB 003.889\n"), Some(Dialog::V3_8));
        assert_eq!(dialog(b"RFB 004.001\n"), Some(Dialog::V3_8));
        assert_eq!(dialog(b"RFB 000.000\n"), None);
        assert_eq!(dialog(b"RFB 003.00x\n"), None);
        assert_eq!(dialog(b"GET / HTTP/1"), None);
        let old = RfbVersion { major: 3, minor: 3 };
        assert_eq!(
            Dialog::negotiate(old, RfbVersion { major: 3, minor: 8 }),
            Some(Dialog::V3_3)
        );
        assert_eq!(
            RfbVersion::parse_banner("RFB 004.001").unwrap().message(),
            b"RFB 004.001\n"
        );
        assert!(RfbVersion::parse_banner("VNC").is_none());
    }

    #[test]
    fn failure_carries_a_reason_only_in_3_8() {
        assert_eq!(Dialog::V3_3.failure("x"), vec![0, 0, 0, 1]);
        assert_eq!(Dialog::V3_7.failure("x"), vec![0, 0, 0, 1]);
        assert_eq!(
            Dialog::V3_8.failure("no"),
            vec![0, 0, 0, 1, 0, 0, 0, 2, b'n', b'o']
        );
    }

    proptest! {
        /// Any 12 bytes: parsing never panics, and what parses round-trips.
        #[test]
        fn version_parser_is_total(message in proptest::collection::vec(any::<u8>(), 0..20)) {
            if let Some(version) = RfbVersion::parse_message(&message) {
                prop_assert_eq!(version.message(), message);
                let _ = Dialog::negotiate(RfbVersion::V3_8, version);
            }
        }

        /// Any wordlist bytes: parsing never panics and keeps words within bounds.
        #[test]
        fn wordlist_parser_is_total(bytes in proptest::collection::vec(any::<u8>(), 0..3000)) {
            if let Ok(list) = Wordlist::parse(&bytes) {
                for index in 0..list.len() {
                    let word = list.word(index).unwrap();
                    prop_assert!(!word.is_empty() && word.len() <= MAX_WORD_LINE);
                }
            }
        }
    }
}
