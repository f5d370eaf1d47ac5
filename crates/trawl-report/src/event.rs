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
    /// A session summary or close record.
    SessionEnd {
        /// Duration in milliseconds, when known.
        duration_ms: Option<u64>,
        /// Number of login attempts the honeypot counted, when known.
        attempts: Option<u64>,
    },
}
