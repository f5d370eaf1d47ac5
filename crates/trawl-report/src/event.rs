//! The normalised record every input format is read into.

use std::borrow::Cow;
use std::net::IpAddr;

use crate::time::Micros;

/// One thing that happened at a honeypot, borrowed from the input line.
#[derive(Debug, Clone)]
pub struct Event<'a> {
    /// When (UTC microseconds); `None` if the log had no usable timestamp.
    pub ts: Option<Micros>,
    /// The connecting address.
    pub src: Option<IpAddr>,
    /// The connecting port.
    pub src_port: Option<u16>,
    /// The honeypot port.
    pub dst_port: Option<u16>,
    /// Protocol name (`telnet`, `ssh`...), lower case.
    pub protocol: Cow<'a, str>,
    /// Session id when the log has one.
    pub session: Option<Cow<'a, str>>,
    /// What happened.
    pub kind: EventKind<'a>,
}

/// The kinds of [`EventKind::ClientRequest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientRequest {
    /// An environment variable (`NAME=value`).
    Env,
    /// A terminal size (`WIDTHxHEIGHT`).
    TerminalSize,
}

/// The kinds of event the analyses use.
#[derive(Debug, Clone)]
pub enum EventKind<'a> {
    /// Something typed at a login prompt (a credential or, for Mirai-style bots, a command).
    Auth {
        /// Username prompt text.
        username: Cow<'a, str>,
        /// Password prompt text.
        password: Cow<'a, str>,
        /// Whether the honeypot accepted it, when known.
        success: Option<bool>,
    },
    /// A public key offered at an SSH login (trawl's `publickey` attempts, Cowrie
    /// `cowrie.client.fingerprint`): an attempt, but no credential pair.
    KeyOffer {
        /// The user the key was offered for.
        username: Cow<'a, str>,
        /// `algorithm SHA256:...`, as `ssh-keygen -l` prints it (see [`crate::sshkey`]).
        print: Cow<'a, str>,
    },
    /// A public-key login the honeypot accepted (Cowrie `cowrie.login.success` with
    /// a key and no password): the offer ([`Self::KeyOffer`]) counted the attempt;
    /// this counts only the success, and is no event of its own.
    KeyLoginSucceeded,
    /// A login whose password the honeypot saw only hashed (a challenge-response:
    /// PostgreSQL MD5 or SCRAM, MySQL, NTLM, CRAM-MD5…; trawl records the hash in
    /// `password_hash` and no password): an attempt of a known user, but no pair.
    HashedAuth {
        /// The user.
        username: Cow<'a, str>,
        /// trawl's mechanism name (`pg-md5`, `scram-sha-256`…), or the hash format
        /// when the log has no mechanism (see [`hash_kind`]).
        mechanism: Cow<'a, str>,
    },
    /// A command typed in a shell (Cowrie `cowrie.command.input`).
    Command {
        /// The command line.
        line: Cow<'a, str>,
    },
    /// A file download the honeypot recorded (Cowrie `cowrie.session.file_download`).
    Download {
        /// The URL (`tftp://host:port/file` for tftp).
        url: Cow<'a, str>,
    },
    /// A connection opened.
    Connect,
    /// The client software a session announced (an SSH banner such as
    /// `SSH-2.0-Go`): Cowrie `cowrie.client.version`, `client_version` in the
    /// `auxiliary_data` of Heralding's and trawl's session records.
    ClientVersion {
        /// The version string as sent.
        version: Cow<'a, str>,
    },
    /// What an SSH client asked for besides its banner, as `text`: an environment
    /// variable it set (Cowrie `cowrie.client.var`, `NAME=value`) or its terminal
    /// size (`cowrie.client.size`, `WIDTHxHEIGHT`). Bot toolkits send fixed ones.
    ClientRequest {
        /// Which request.
        what: ClientRequest,
        /// Its text.
        text: Cow<'a, str>,
    },
    /// The SHA-256 of a payload the honeypot stored: Cowrie
    /// `cowrie.session.file_download` (fetched from `url`) and
    /// `cowrie.session.file_upload` (sent by SCP/SFTP as `upload`), field `shasum`.
    PayloadHash {
        /// The digest as logged (checked when counted: 64 hex digits).
        sha256: Cow<'a, str>,
        /// The URL it was downloaded from, if any.
        url: Option<Cow<'a, str>>,
        /// The file name it was uploaded as, if any.
        upload: Option<Cow<'a, str>>,
    },
    /// A request to use the honeypot as a proxy: an SSH `direct-tcpip` channel to
    /// `host:port` (Cowrie `cowrie.direct-tcpip.request`), or data sent into one
    /// (`cowrie.direct-tcpip.data`, with `data`).
    Tunnel {
        /// The destination host or address the client asked for.
        host: Cow<'a, str>,
        /// The destination port.
        port: u16,
        /// The data sent (Cowrie logs Python's `repr()` of the bytes), for data records.
        data: Option<Cow<'a, str>>,
    },
    /// The HASSH fingerprint of a session's SSH client (MD5 of its key-exchange
    /// algorithm lists): Cowrie `cowrie.client.kex` `hassh`, `hassh` in the
    /// `auxiliary_data` of trawl's session records.
    Hassh {
        /// The fingerprint as logged (checked when counted: 32 hex digits).
        hassh: Cow<'a, str>,
        /// The algorithm lists it is the MD5 of (`kex;encryption;mac;compression`,
        /// each comma-separated), when logged: Cowrie's `hasshAlgorithms`, trawl's
        /// `hassh_algorithms`.
        algorithms: Option<Cow<'a, str>>,
    },
    /// The SHA-256 of what the attacker typed in a session (Cowrie's
    /// `cowrie.log.closed` `shasum`: of the attacker's input only, not the
    /// honeypot's output), so sessions that ran the same script share it.
    TtyInput {
        /// The digest as logged (checked when counted: 64 hex digits).
        sha256: Cow<'a, str>,
    },
    /// The reverse DNS name of the event's source address (Cowrie's reversedns
    /// plugin, `cowrie.reversedns.connect` `ptr`). About the address, not its
    /// activity: it is no event, and no filter applies to it.
    SourceName {
        /// The PTR name as logged.
        ptr: Cow<'a, str>,
    },
    /// A VirusTotal verdict on a payload (Cowrie's `cowrie.virustotal.scanfile`).
    /// Enrichment, not activity: it is no event, and no filter applies to it.
    VirusTotal {
        /// The payload's SHA-256 as logged (checked when counted: 64 hex digits).
        sha256: Cow<'a, str>,
        /// The scan: engines that flagged the file and engines consulted (files
        /// VirusTotal knew), or `None` for a file new to it.
        result: Option<(u32, u32)>,
    },
    /// A VirusTotal verdict on a URL an attacker fetched from (Cowrie's
    /// `cowrie.virustotal.scanurl`). Enrichment, like [`EventKind::VirusTotal`].
    UrlVerdict {
        /// The URL as logged.
        url: Cow<'a, str>,
        /// Engines that flagged the URL and engines consulted, or `None` for a URL
        /// new to VirusTotal.
        result: Option<(u32, u32)>,
    },
    /// A session summary or close record.
    SessionEnd {
        /// Duration in milliseconds, when known.
        duration_ms: Option<u64>,
        /// Number of login attempts the honeypot counted, when known.
        attempts: Option<u64>,
    },
}

/// What the secret of a login attempt was, from the way trawl records one (the
/// same in `trawl.db`, `events.jsonl` and `log_auth.csv`, which has no mechanism
/// column): a public key's fingerprint in `password_hash` (mechanism `publickey`),
/// or a hash with no password (a challenge-response), or else the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Secret<'a> {
    /// The password, in clear (possibly empty).
    Password,
    /// A public key: `algorithm SHA256:...`, empty when the record's is unreadable.
    Key(String),
    /// A password seen only hashed: the mechanism, or the hash's format.
    Hashed(&'a str),
}

impl<'a> Secret<'a> {
    /// Reads one attempt's `password`, `mechanism` (empty when the log has none)
    /// and `password_hash`.
    pub fn of(password: &str, mechanism: &'a str, hash: &'a str) -> Self {
        if mechanism == "publickey" {
            return Secret::Key(crate::sshkey::logged_print(hash).unwrap_or_default());
        }
        if !password.is_empty() || hash.trim().is_empty() {
            return Secret::Password;
        }
        if let Some(print) = crate::sshkey::logged_print(hash) {
            return Secret::Key(print);
        }
        Secret::Hashed(match mechanism.trim() {
            "" => hash_kind(hash),
            named => named,
        })
    }

    /// The event of an attempt by `username` with `password` and this secret.
    pub fn login(self, username: Cow<'a, str>, password: Cow<'a, str>) -> EventKind<'a> {
        match self {
            Secret::Password => EventKind::Auth {
                username,
                password,
                success: None,
            },
            Secret::Key(print) => EventKind::KeyOffer {
                username,
                print: Cow::Owned(print),
            },
            Secret::Hashed(mechanism) => EventKind::HashedAuth {
                username,
                mechanism: Cow::Borrowed(mechanism),
            },
        }
    }
}

/// A short name for the format of a hash logged without its mechanism (trawl's
/// `log_auth.csv` has no mechanism column): hashcat's `$name$` prefix, `netntlm`
/// for `user::domain:...` lines, else `hash`.
pub fn hash_kind(hash: &str) -> &str {
    let hash = hash.trim();
    if let Some(rest) = hash.strip_prefix('$')
        && let Some((name, _)) = rest.split_once('$')
        && !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return name;
    }
    if hash.contains("::") {
        return "netntlm";
    }
    "hash"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_kinds_are_hashcat_names() {
        assert_eq!(hash_kind("$postgres$admin*1a2b*3c4d"), "postgres");
        assert_eq!(
            hash_kind(" $scram-sha-256$4096$c2FsdA==$abc"),
            "scram-sha-256"
        );
        assert_eq!(
            hash_kind("admin::WORKGROUP:1122334455667788:aa:bb"),
            "netntlm"
        );
        assert_eq!(hash_kind("$$"), "hash");
        assert_eq!(hash_kind("$na me$x"), "hash");
        assert_eq!(hash_kind("5f4dcc3b5aa765d61d8327deb882cf99"), "hash");
    }
}
