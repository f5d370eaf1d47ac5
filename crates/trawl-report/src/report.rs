//! The finished report: every table, built once from the merged counts.

use std::hash::BuildHasher;
use std::net::IpAddr;

use rayon::prelude::*;
use serde::Serialize;

use crate::Options;
use crate::agg::{Aggregator, BadRow, PairKey, PairStats, SourceState, feature, id_of, sflag};
use crate::agg::{Map, Set};
use crate::campaign;
use crate::command::marker;
use crate::data::{self, CredLabel};
use crate::filter::AppliedFilters;
use crate::input::InputFile;
use crate::time::{Micros, format_timestamp};

/// A value and how often it was seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Count {
    /// The value.
    pub value: String,
    /// How often.
    pub count: u64,
}

/// A username/password pair and how often it was seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PairCount {
    /// Username prompt text.
    pub username: String,
    /// Password prompt text.
    pub password: String,
    /// How often.
    pub count: u64,
    /// `credential` or `command` (post-login commands typed at the prompts).
    pub kind: &'static str,
    /// `mirai` / `iot-default` when the pair is a known IoT default.
    pub label: Option<&'static str>,
}

/// One input file.
#[derive(Debug, Clone, Serialize)]
pub struct InputSummary {
    /// File name.
    pub path: String,
    /// Detected format.
    pub format: String,
    /// Events read.
    pub events: u64,
    /// Rows that could not be read.
    pub bad_rows: u64,
    /// Why the input was not read (another input of the same sensor holds its
    /// events), or null.
    pub skipped: Option<String>,
}

/// Headline numbers.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    /// Events kept after filters.
    pub events: u64,
    /// Events dropped by filters.
    pub filtered_out: u64,
    /// Pairs typed at login prompts.
    pub login_prompt_entries: u64,
    /// Of those, real credential attempts.
    pub credential_attempts: u64,
    /// Of those, post-login commands.
    pub command_entries: u64,
    /// Commands typed in a shell (Cowrie).
    pub shell_commands: u64,
    /// Logins the honeypot accepted.
    pub logins_succeeded: u64,
    /// Downloads the honeypot recorded.
    pub recorded_downloads: u64,
    /// Login attempts with an SSH public key (not credential pairs).
    pub key_offers: u64,
    /// Logins whose password was only seen hashed (not credential pairs).
    pub hashed_attempts: u64,
    /// Distinct source addresses.
    pub sources: u64,
    /// Sessions rebuilt.
    pub sessions: u64,
    /// Distinct credential pairs.
    pub distinct_credentials: u64,
    /// Rows that could not be read.
    pub bad_rows: u64,
}

/// Attempts over time.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timeline {
    /// Width of a bucket.
    pub bucket_seconds: i64,
    /// Bucket start, credential attempts, commands.
    pub points: Vec<TimelinePoint>,
}

/// One timeline bucket.
#[derive(Debug, Clone, Serialize)]
pub struct TimelinePoint {
    /// Bucket start (UTC).
    pub start: String,
    /// Credential attempts (passwords, and public keys offered).
    pub credentials: u64,
    /// Commands (login-prompt commands and shell commands).
    pub commands: u64,
}

/// Sessions rebuilt.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Sessions {
    /// All sessions.
    pub total: u64,
    /// Sessions from logs with session ids.
    pub by_session_id: u64,
    /// Sessions rebuilt from source address/port and time gaps.
    pub by_time_gap: u64,
    /// Sessions with at least one credential attempt.
    pub with_credentials: u64,
    /// Sessions with post-login commands.
    pub with_commands: u64,
    /// Sessions with all of `enable`, `system`, `shell`, `sh` (Mirai's scanner).
    pub mirai_sequence: u64,
    /// Sessions with a download command.
    pub with_downloads: u64,
    /// Login-prompt entries per session.
    pub attempts_histogram: Vec<Count>,
    /// Median length in seconds.
    pub median_duration_seconds: Option<f64>,
    /// Longest sessions by entries.
    pub top: Vec<SessionRow>,
}

/// One session in the top list.
#[derive(Debug, Clone, Serialize)]
pub struct SessionRow {
    /// Source address.
    pub source: String,
    /// Start.
    pub start: String,
    /// Login-prompt entries.
    pub attempts: u64,
    /// Length in seconds.
    pub duration_seconds: f64,
    /// What happened (`credentials`, `commands`, `mirai-sequence`, `download`).
    pub behaviour: String,
}

/// IoT botnet recognition.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Iot {
    /// Login-prompt entries that are credentials.
    pub credential_attempts: u64,
    /// Login-prompt entries that are commands.
    pub command_entries: u64,
    /// Credential attempts with a pair from Mirai's table.
    pub mirai_default_attempts: u64,
    /// Credential attempts with a pair from the IoT default list (not Mirai's).
    pub iot_default_attempts: u64,
    /// Sources per family.
    pub families: Vec<FamilyCount>,
    /// Non-applet BusyBox tokens (`MIRAI`, `ECCHI`...), with the bot known to use each.
    pub busybox_tokens: Vec<TokenCount>,
    /// Most frequent credentials that are known IoT defaults.
    pub top_default_credentials: Vec<PairCount>,
}

/// One BusyBox token a bot checked its shell with (`/bin/busybox TOKEN`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenCount {
    /// The token.
    pub value: String,
    /// Command lines that sent it.
    pub count: u64,
    /// The bot known to send it (`data/busybox_tokens.tsv`): a Mirai fork, Mirai's
    /// loader or Hajime; null when unknown (a new fork's token).
    pub variant: Option<&'static str>,
}

/// Sources of one family.
#[derive(Debug, Clone, Serialize)]
pub struct FamilyCount {
    /// Family label.
    pub family: &'static str,
    /// Distinct sources.
    pub sources: u64,
    /// Their events.
    pub events: u64,
}

/// One payload host.
#[derive(Debug, Clone, Serialize)]
pub struct PayloadHost {
    /// Host or IP.
    pub host: String,
    /// Download methods.
    pub methods: Vec<String>,
    /// Ports named.
    pub ports: Vec<u16>,
    /// File names.
    pub files: Vec<String>,
    /// First seen.
    pub first_seen: Option<String>,
    /// Last seen.
    pub last_seen: Option<String>,
    /// Commands naming it.
    pub attempts: u64,
    /// Distinct scanners that pushed it.
    pub scanners: u64,
    /// Some of them.
    pub scanner_sample: Vec<String>,
    /// Credentials those scanners used.
    pub credentials: Vec<PairCount>,
}

/// One payload the honeypot stored, by SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PayloadHash {
    /// SHA-256, lowercase hex.
    pub sha256: String,
    /// Records naming it (downloads and uploads).
    pub count: u64,
    /// Distinct sources that fetched or sent it.
    pub sources: u64,
    /// Some of them (the smallest addresses).
    pub source_sample: Vec<String>,
    /// URLs it was downloaded from (the first few in sort order).
    pub urls: Vec<String>,
    /// File names it was uploaded as (SCP/SFTP; the first few in sort order).
    pub uploads: Vec<String>,
    /// First seen.
    pub first_seen: Option<String>,
    /// Last seen.
    pub last_seen: Option<String>,
    /// The latest VirusTotal verdict logged for it (Cowrie's VirusTotal plugin).
    pub virustotal: Option<VirusTotal>,
}

/// A top source's reverse DNS name, as Cowrie's reversedns plugin logged it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceName {
    /// The address.
    pub source: String,
    /// Its events (as in `top_sources`).
    pub events: u64,
    /// Its PTR name (lowercased, without the final dot).
    pub ptr: String,
}

/// Sessions in which the attacker typed the same input (Cowrie's TTY logs): one
/// script run by a bot on many honeypot sessions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TtyInput {
    /// SHA-256 of the typed input, lowercase hex (Cowrie names the TTY log file
    /// after it: `bin/playlog var/lib/cowrie/tty/SHA256` replays it).
    pub sha256: String,
    /// Sessions that typed it.
    pub sessions: u64,
    /// Distinct sources of those sessions.
    pub sources: u64,
    /// Some of them (the smallest addresses).
    pub source_sample: Vec<String>,
    /// First seen.
    pub first_seen: Option<String>,
    /// Last seen.
    pub last_seen: Option<String>,
}

/// A VirusTotal verdict on a payload, as Cowrie's VirusTotal plugin logged it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VirusTotal {
    /// Engines that flagged the file (`None`: the file was new to VirusTotal).
    pub positives: Option<u32>,
    /// Engines consulted.
    pub total: Option<u32>,
    /// When the verdict was logged.
    pub logged: Option<String>,
}

impl From<&crate::agg::Verdict> for VirusTotal {
    fn from(v: &crate::agg::Verdict) -> Self {
        VirusTotal {
            positives: v.result.map(|r| r.0),
            total: v.result.map(|r| r.1),
            logged: fmt_opt(v.ts),
        }
    }
}

impl VirusTotal {
    /// `flagged/consulted`, or `new` for a file VirusTotal did not know.
    pub fn label(&self) -> String {
        match (self.positives, self.total) {
            (Some(p), Some(t)) => format!("{p}/{t}"),
            _ => "new".to_string(),
        }
    }
}

/// One destination clients asked the honeypot to tunnel to (SSH direct-tcpip).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TunnelDestination {
    /// `host:port` (`[v6]:port`).
    pub destination: String,
    /// Host or address as requested (lowercased).
    pub host: String,
    /// Port.
    pub port: u16,
    /// Channel requests.
    pub requests: u64,
    /// Data records (data sent into the channel).
    pub data: u64,
    /// Distinct sources.
    pub sources: u64,
    /// Some of them (the smallest addresses).
    pub source_sample: Vec<String>,
    /// Hosts the HTTP requests sent into it asked for (`CONNECT` target,
    /// absolute URL or `Host:` header; the first few in sort order).
    pub http_hosts: Vec<String>,
    /// First seen.
    pub first_seen: Option<String>,
    /// Last seen.
    pub last_seen: Option<String>,
}

/// A user of logins whose password was only seen hashed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HashedLogin {
    /// trawl's mechanism name, or the hash format (see [`crate::event::hash_kind`]).
    pub mechanism: String,
    /// The user.
    pub username: String,
    /// Attempts.
    pub attempts: u64,
}

/// An SSH public key seen offered at a login or written into `authorized_keys`.
#[derive(Debug, Clone, Serialize)]
pub struct SshKeyRow {
    /// `algorithm SHA256:...` as `ssh-keygen -l` prints it (`algorithm MD5:...` when
    /// a Cowrie log gave only that).
    pub key: String,
    /// Login attempts that offered it.
    pub offered: u64,
    /// Command lines that wrote it into `authorized_keys`.
    pub planted: u64,
    /// Distinct sources that offered or planted it.
    pub sources: u64,
    /// Some of them (the smallest addresses).
    pub source_sample: Vec<String>,
    /// Users it was offered for, most often first (at most 5).
    pub usernames: Vec<Count>,
    /// Comments it was planted with (often a botnet's tag).
    pub comments: Vec<String>,
    /// First seen.
    pub first_seen: Option<String>,
    /// Last seen.
    pub last_seen: Option<String>,
}

/// One distinct download.
#[derive(Debug, Clone, Serialize)]
pub struct DownloadRow {
    /// Method.
    pub method: String,
    /// Host (empty for echo droppers).
    pub host: String,
    /// Port when named.
    pub port: Option<u16>,
    /// File.
    pub file: String,
    /// How often.
    pub count: u64,
    /// The latest VirusTotal verdict logged for a URL naming this host, port and
    /// file (Cowrie's VirusTotal plugin), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub virustotal: Option<VirusTotal>,
}

/// A group of sources that behave alike.
#[derive(Debug, Clone, Serialize)]
pub struct Campaign {
    /// 1-based rank.
    pub id: usize,
    /// Family label (most common among members).
    pub family: &'static str,
    /// Member sources.
    pub sources: u64,
    /// Some members.
    pub source_sample: Vec<String>,
    /// Events by members.
    pub events: u64,
    /// First seen.
    pub first_seen: Option<String>,
    /// Last seen.
    pub last_seen: Option<String>,
    /// Protocols used.
    pub protocols: Vec<String>,
    /// Distinct credential pairs.
    pub distinct_credentials: u64,
    /// Most used credentials.
    pub credentials: Vec<PairCount>,
    /// Commands typed.
    pub commands: Vec<String>,
    /// Payload hosts.
    pub payload_hosts: Vec<String>,
    /// Client versions the members announced (SSH banners), with the number of
    /// members that announced each, most first (at most [`MAX_CAMPAIGN_CLIENTS`];
    /// left out of JSON when none, as for Heralding's CSV logs).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub client_versions: Vec<Count>,
    /// The members' HASSHes, with the number of members that sent each, most first
    /// (at most [`MAX_CAMPAIGN_CLIENTS`]; left out of JSON when none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hassh: Vec<Count>,
    /// The SSH libraries whose default banners are among the members' client
    /// versions (`data/ssh_client_libraries.tsv`; a library, not a bot family),
    /// sorted; left out of JSON when none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub client_libraries: Vec<String>,
    /// SSH public keys the members offered at logins or planted in
    /// `authorized_keys`, with the number of members that used each, most first (at
    /// most [`MAX_CAMPAIGN_CLIENTS`]; left out of JSON when none). A key is a
    /// fingerprint feature: sources sharing one join a campaign as shared
    /// credentials do.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ssh_keys: Vec<Count>,
    /// The bots known from the BusyBox tokens the members sent (a Mirai fork, Mirai's
    /// loader, Hajime: `data/busybox_tokens.tsv`), sorted; tokens are fingerprint
    /// features, so these come from the members' fingerprints; left out of JSON when
    /// none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<&'static str>,
    /// Notes such as `tiny-unknown-dictionary` and `unknown-busybox-token`.
    pub flags: Vec<String>,
}

/// Client versions and HASSHes listed per campaign.
pub const MAX_CAMPAIGN_CLIENTS: usize = 5;

/// The client software one of the top sources announced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceClients {
    /// Source address.
    pub source: String,
    /// Its events (as in `top_sources`).
    pub events: u64,
    /// Its client versions, in sort order (at most
    /// [`crate::agg::MAX_SOURCE_CLIENTS`] are kept per source).
    pub client_versions: Vec<String>,
    /// Its HASSHes, in sort order (at most [`crate::agg::MAX_SOURCE_CLIENTS`]).
    pub hassh: Vec<String>,
    /// The SSH libraries whose default banners its client versions are
    /// (`data/ssh_client_libraries.tsv`), sorted.
    pub libraries: Vec<String>,
}

/// Rows that could not be read.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BadRows {
    /// How many.
    pub total: u64,
    /// The first few.
    pub shown: Vec<BadRow>,
}

/// What a HASSH is the MD5 of: the client's key-exchange, encryption, MAC and
/// compression algorithm lists, as its log gave them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HasshAlgorithms {
    /// The HASSH (32 lowercase hex digits).
    pub hassh: String,
    /// `kex;encryption;mac;compression`, each list comma-separated.
    pub algorithms: String,
}

impl HasshAlgorithms {
    /// The four lists (fewer when the logged text has fewer `;`).
    pub fn lists(&self) -> impl Iterator<Item = &str> {
        self.algorithms.splitn(4, ';')
    }
}

fn hassh_algorithms(top: &[Count], agg: &Aggregator) -> Vec<HasshAlgorithms> {
    top.iter()
        .filter_map(|c| {
            let algorithms = agg.hassh_algorithms.get(c.value.as_str())?;
            Some(HasshAlgorithms {
                hassh: c.value.clone(),
                algorithms: algorithms.to_string(),
            })
        })
        .collect()
}

/// The report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Inputs read.
    pub inputs: Vec<InputSummary>,
    /// The filters the report was made with (left out of JSON when none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filters: Option<AppliedFilters>,
    /// Headline numbers.
    pub totals: Totals,
    /// First and last event.
    pub time_range: Option<(String, String)>,
    /// Login-prompt entries per protocol.
    pub protocols: Vec<Count>,
    /// Login-prompt entries per destination port.
    pub ports: Vec<Count>,
    /// Top sources (all events).
    pub top_sources: Vec<Count>,
    /// The client software of those of the top sources that announced any, in
    /// the order of `top_sources` (left out of JSON when none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub top_source_clients: Vec<SourceClients>,
    /// The reverse DNS names of those of the top sources that have one, in the
    /// order of `top_sources` (left out of JSON when none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub top_source_names: Vec<SourceName>,
    /// Top usernames as logged (commands included, like `csvcut -c username`).
    pub top_usernames: Vec<Count>,
    /// Top passwords as logged.
    pub top_passwords: Vec<Count>,
    /// Top pairs as logged, each marked credential or command.
    pub top_pairs: Vec<PairCount>,
    /// Top usernames of real credential attempts.
    pub top_credential_usernames: Vec<Count>,
    /// Top passwords of real credential attempts.
    pub top_credential_passwords: Vec<Count>,
    /// Top credential pairs.
    pub top_credentials: Vec<PairCount>,
    /// Top commands (login-prompt commands and shell commands).
    pub top_commands: Vec<Count>,
    /// Client software announced per session (SSH banners such as `SSH-2.0-Go`),
    /// most sessions first.
    pub top_client_versions: Vec<Count>,
    /// Environment variables SSH clients set (`NAME=value`), most sessions first.
    pub top_client_env: Vec<Count>,
    /// Terminal sizes SSH clients announced (`WIDTHxHEIGHT`), most sessions first.
    pub top_terminal_sizes: Vec<Count>,
    /// SSH client HASSH fingerprints per session, most sessions first.
    pub top_hassh: Vec<Count>,
    /// The algorithm lists behind the HASSHes of [`Self::top_hassh`] whose logs gave
    /// them, in that table's order.
    pub hassh_algorithms: Vec<HasshAlgorithms>,
    /// Attempts over time.
    pub timeline: Timeline,
    /// Sessions.
    pub sessions: Sessions,
    /// IoT recognition.
    pub iot: Iot,
    /// Payload hosts.
    pub payload_hosts: Vec<PayloadHost>,
    /// Distinct downloads.
    pub downloads: Vec<DownloadRow>,
    /// Payloads stored by the honeypot, by SHA-256, most records first.
    pub payload_hashes: Vec<PayloadHash>,
    /// Digests of the input typed in Cowrie sessions, most sessions first.
    pub tty_inputs: Vec<TtyInput>,
    /// Tunnel (direct-tcpip) destinations, most records first.
    pub tunnel_destinations: Vec<TunnelDestination>,
    /// SSH public keys offered at logins or planted in `authorized_keys`, most
    /// uses first.
    pub ssh_keys: Vec<SshKeyRow>,
    /// Users of logins whose password was only seen hashed, by mechanism, most
    /// attempts first (`trawl crack` tries a wordlist against the hashes).
    pub hashed_logins: Vec<HashedLogin>,
    /// Campaigns.
    pub campaigns: Vec<Campaign>,
    /// Unreadable rows.
    pub bad_rows: BadRows,
}

/// The N largest by count, ties by value.
pub fn top_n<K: Ord>(items: impl Iterator<Item = (K, u64)>, n: usize) -> Vec<(K, u64)> {
    let mut top = TopN::new(n);
    for (k, c) in items {
        top.offer(k, c);
    }
    top.finish()
}

/// The N largest `(key, count)` of a stream by count, ties by smallest key, kept in
/// a buffer of at most 2·N: once N are held, a count below the N-th is refused
/// without building its key, so a top 10 of a million values costs a million
/// integer comparisons, not a million-element vector and its partition.
pub(crate) struct TopN<K> {
    n: usize,
    items: Vec<(K, u64)>,
    /// `items[n - 1]` is the worst of the best N seen so far (after a shrink).
    floor_known: bool,
}

fn by_count_then_key<K: Ord>(a: &(K, u64), b: &(K, u64)) -> std::cmp::Ordering {
    b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0))
}

impl<K: Ord> TopN<K> {
    /// Keeps the `n` largest.
    pub fn new(n: usize) -> Self {
        TopN {
            n,
            items: Vec::new(),
            floor_known: false,
        }
    }

    /// Offers one value.
    pub fn offer(&mut self, key: K, count: u64) {
        self.offer_with(count, || key);
    }

    /// Offers one value whose key is built only if the count can make the top.
    pub fn offer_with(&mut self, count: u64, key: impl FnOnce() -> K) {
        if self.n == 0 {
            return;
        }
        if self.floor_known
            && let Some((floor_key, floor)) = self.n.checked_sub(1).and_then(|i| self.items.get(i))
        {
            if count < *floor {
                return;
            }
            if count == *floor {
                let key = key();
                if key > *floor_key {
                    return;
                }
                self.push(key, count);
                return;
            }
        }
        self.push(key(), count);
    }

    fn push(&mut self, key: K, count: u64) {
        self.items.push((key, count));
        if self.items.len() >= self.n.saturating_mul(2).max(64) {
            self.shrink();
        }
    }

    fn shrink(&mut self) {
        if self.items.len() > self.n && self.n > 0 {
            self.items
                .select_nth_unstable_by(self.n - 1, by_count_then_key);
            self.items.truncate(self.n);
            self.floor_known = true;
        }
    }

    /// Adds the values another `TopN` kept.
    pub fn merge(&mut self, other: TopN<K>) {
        for (k, c) in other.items {
            self.offer(k, c);
        }
    }

    /// The best `n`, best first.
    pub fn finish(mut self) -> Vec<(K, u64)> {
        self.shrink();
        self.items.sort_by(by_count_then_key);
        self.items.truncate(self.n);
        self.items
    }
}

fn counts<K: Ord + ToString>(items: impl Iterator<Item = (K, u64)>, n: usize) -> Vec<Count> {
    to_counts(top_n(items, n))
}

fn to_counts<K: ToString>(top: Vec<(K, u64)>) -> Vec<Count> {
    top.into_iter()
        .map(|(k, c)| Count {
            value: k.to_string(),
            count: c,
        })
        .collect()
}

fn pair_count(key: &PairKey, count: u64, is_command: bool, label: Option<CredLabel>) -> PairCount {
    PairCount {
        username: key.user().to_string(),
        password: key.pass().to_string(),
        count,
        kind: if is_command { "command" } else { "credential" },
        label: label.map(CredLabel::as_str),
    }
}

fn fmt_opt(ts: Option<Micros>) -> Option<String> {
    ts.map(format_timestamp)
}

/// Family labels.
pub mod family {
    /// Mirai (scanner words, BusyBox token checks, loader marks).
    pub const MIRAI: &str = "Mirai";
    /// Gafgyt / Bashlite.
    pub const GAFGYT: &str = "Gafgyt";
    /// Hajime.
    pub const HAJIME: &str = "Hajime";
    /// Commands and downloads matching no known family.
    pub const UNKNOWN_LOADER: &str = "unknown loader";
    /// Logins only (passwords, SSH keys or hashes).
    pub const BRUTE_FORCE: &str = "brute force";
    /// Connections only.
    pub const NONE: &str = "no attempts";
}

/// The family labels, numbered for per-family counters (see [`family_slot`]).
const FAMILIES: [&str; 6] = [
    family::GAFGYT,
    family::HAJIME,
    family::MIRAI,
    family::UNKNOWN_LOADER,
    family::BRUTE_FORCE,
    family::NONE,
];

/// Per family (numbered as in [`FAMILIES`]): sources, events.
type FamilyCounts = [(u64, u64); FAMILIES.len()];

/// The family a source's behaviour matches, as its number in [`FAMILIES`].
fn family_slot(s: &SourceState) -> usize {
    let m = s.markers;
    let words = (s.login_words & sflag::MIRAI_SEQ).count_ones();
    if m & (marker::GAFGYT_ECHO | marker::GAFGYT_ONELINER) != 0 {
        0
    } else if m & marker::HAJIME != 0
        || (m & marker::ECCHI_TOKEN != 0 && m & marker::MIRAI_LOADER == 0)
    {
        1
    } else if words >= 2 || m & (marker::BUSYBOX_TOKEN | marker::MIRAI_LOADER) != 0 {
        2
    } else if s.cmd_attempts > 0 || m & (marker::SHELL_LINE | marker::DOWNLOAD) != 0 {
        3
    } else if s.cred_attempts > 0 || m & marker::LOGIN_WITHOUT_PASSWORD != 0 {
        4
    } else {
        5
    }
}

/// The families counted in `counts` (number in [`FAMILIES`], count), those seen.
fn seen_families<'a, T: Copy>(
    counts: &'a [T],
    seen: impl Fn(T) -> bool + 'a,
) -> impl Iterator<Item = (&'static str, T)> + 'a {
    FAMILIES
        .iter()
        .zip(counts)
        .filter(move |&(_, &c)| seen(c))
        .map(|(f, &c)| (*f, c))
}

/// Names of the command lines, payload hosts and protocols behind fingerprint ids.
struct Names<'a> {
    lines: Map<u64, &'a str>,
    hosts: Map<u64, &'a str>,
    protocols: Map<u64, &'a str>,
    /// Client versions ([`feature::CLIENT`]).
    clients: Map<u64, &'a str>,
    /// HASSHes ([`feature::HASSH`]).
    hassh: Map<u64, &'a str>,
    /// SSH public keys ([`feature::KEY`]).
    keys: Map<u64, &'a str>,
    /// The bots known to send a BusyBox token ([`crate::data::token_variant`]), by
    /// the token's [`feature::TOKEN`] id.
    token_variants: Map<u64, &'static str>,
    /// The BusyBox tokens no known bot sends, by the id of a command line that sent
    /// them (only such lines).
    unknown_tokens: Map<u64, Vec<&'a str>>,
}

impl<'a> Names<'a> {
    fn new(agg: &'a Aggregator) -> Self {
        Names {
            lines: agg
                .commands
                .keys()
                .map(|k| (id_of(feature::LINE, &[k]), &**k))
                .collect(),
            hosts: agg
                .payloads
                .keys()
                .map(|k| (id_of(feature::HOST, &[k]), &**k))
                .collect(),
            protocols: agg
                .protocols
                .keys()
                .map(|k| (id_of(feature::PROTO, &[k]), &**k))
                .collect(),
            clients: agg
                .client_versions
                .keys()
                .map(|k| (id_of(feature::CLIENT, &[k]), &**k))
                .collect(),
            hassh: agg
                .hassh
                .keys()
                .map(|k| (id_of(feature::HASSH, &[k]), &**k))
                .collect(),
            keys: agg
                .ssh_keys
                .keys()
                .map(|k| (id_of(feature::KEY, &[k]), &**k))
                .collect(),
            token_variants: agg
                .busybox_tokens
                .keys()
                .filter_map(|t| Some((id_of(feature::TOKEN, &[t]), data::token_variant(t)?)))
                .collect(),
            unknown_tokens: agg
                .command_stats
                .iter()
                .filter_map(|c| {
                    let tokens: Vec<&'a str> = (c.info.facts.busybox_tokens.iter())
                        .filter(|t| data::token_variant(t).is_none())
                        .map(String::as_str)
                        .collect();
                    (!tokens.is_empty()).then_some((c.info.line_id, tokens))
                })
                .collect(),
        }
    }
}

/// Credential pair ids named, with their labels.
type CredNames<'a> = Map<u64, (&'a PairKey, Option<CredLabel>)>;

/// Names the credential ids in `ids`: one pass over the pairs, instead of a map of
/// every pair (~600 k) of which only the few dozen shown are ever looked up. A
/// credential id is the pair's [`id_of`]; every id in a source's list comes from a
/// credential (not command) pair, so each one shown is found.
fn name_creds<'a>(agg: &'a Aggregator, ids: &Set<u64>) -> CredNames<'a> {
    let mut out = Map::default();
    if ids.is_empty() {
        return out;
    }
    // Ids are hashes: a bit per id (top bits pick the word, low bits the bit) turns
    // away nearly every other pair before the set is looked up.
    let bit = |id: u64| ((id >> 58) as usize, 1u64 << (id & 63));
    let mut filter = [0u64; 64];
    for &id in ids {
        let (word, mask) = bit(id);
        if let Some(w) = filter.get_mut(word) {
            *w |= mask;
        }
    }
    for (k, s) in &agg.pairs {
        let (word, mask) = bit(s.id);
        let maybe = filter.get(word).is_some_and(|w| w & mask != 0);
        if maybe && !s.is_command && ids.contains(&s.id) {
            out.insert(s.id, (k, s.label));
        }
    }
    out
}

/// The credential rows of the ids `top` (best first), as named in `names`.
fn cred_rows(top: &[(u64, u64)], names: &CredNames<'_>) -> Vec<PairCount> {
    top.iter()
        .filter_map(|(id, c)| {
            names
                .get(id)
                .map(|(k, label)| pair_count(k, *c, false, *label))
        })
        .collect()
}

/// What the one parallel pass over every source yields.
struct SourcePass {
    /// Campaign fingerprints, chunk after chunk in the order of the entries.
    prints: Vec<campaign::Prints>,
    /// Sources and events per family.
    families: FamilyCounts,
    /// The top sources by events.
    top_sources: Vec<(IpAddr, u64)>,
    /// Sources with events (a source known only from client records has none).
    active_sources: u64,
}

/// A campaign is listed when it has two or more sources, or one that typed commands.
fn is_notable(s: &SourceState) -> bool {
    s.cmd_attempts > 0 || !s.lines().is_empty()
}

/// A source, its state, and its position in [`Sources::iter`] order.
/// The address is copied (it is read while the index is walked in its own order; a
/// reference would be a cache miss wherever the entries are read later).
type Entry<'a> = (IpAddr, &'a SourceState, u32);

/// Every source, in the memory order of the states: a pass over ~1 M states (which
/// do not fit in the caches) then streams through memory instead of jumping around
/// it. Each keeps its position in [`Sources::iter`] order, which numbers the
/// campaign groups (so the report does not depend on where states live).
///
/// The states live in a few vectors (one per worker, see [`Sources::iter_placed`]):
/// the entries are placed by each state's place in them, in one pass.
fn entries_in_memory_order(agg: &Aggregator) -> Vec<Entry<'_>> {
    let sources = &agg.sources;
    let Some((first_ip, first_state)) = sources.iter().next() else {
        return Vec::new();
    };
    // Position `u32::MAX` marks a free place (positions are below `len`).
    let mut entries: Vec<Entry<'_>> = vec![(*first_ip, first_state, u32::MAX); sources.places()];
    for ((ip, s, place), pos) in sources.iter_placed().zip(0u32..) {
        if let Some(slot) = entries.get_mut(place) {
            *slot = (*ip, s, pos);
        }
    }
    if entries.len() != sources.len() {
        entries.retain(|e| e.2 != u32::MAX);
    }
    entries
}

/// Sources whose heap parts [`warm`] loads ahead of the work on them.
const WARM_BLOCK: usize = 128;

/// Loads the heap parts of a block of source states (command lists, long
/// credential lists) that a pass over them is about to read, in tight loops with
/// no other work: their cache misses then overlap, where inside the pass each
/// source would wait for its own, one after another.
fn warm<'a>(states: impl Iterator<Item = &'a SourceState> + Clone) {
    let mut x = 0usize;
    for s in states.clone() {
        x ^= s.creds.len()
            ^ s.cmds
                .as_ref()
                .map_or(0, |c| c.features.len() ^ c.lines.len());
    }
    for s in states {
        x ^= s.creds.first().map_or(0, |c| c.0 as usize)
            ^ s.features().first().map_or(0, |&f| f as usize)
            ^ s.lines().first().map_or(0, |&l| l as usize);
    }
    std::hint::black_box(x);
}

/// Fingerprints, families and the top sources in one parallel pass (each source's
/// state is read once).
fn source_pass(entries: &[Entry<'_>], n: usize) -> SourcePass {
    type Part = (campaign::Prints, FamilyCounts, TopN<IpAddr>, u64);
    let parts: Vec<Part> = entries
        .par_chunks(campaign::PRINT_CHUNK)
        .map(|part| {
            let mut prints = campaign::Prints::with_capacity(part.len());
            let mut families = FamilyCounts::default();
            let mut top = TopN::new(n);
            let mut active = 0;
            for block in part.chunks(WARM_BLOCK) {
                warm(block.iter().map(|(_, s, _)| *s));
                for &(ip, s, pos) in block {
                    prints.push(s, is_notable(s), pos);
                    // Known from client records only: in campaigns, not counted.
                    if s.events == 0 {
                        continue;
                    }
                    active += 1;
                    if let Some(slot) = families.get_mut(family_slot(s)) {
                        slot.0 += 1;
                        slot.1 += s.events;
                    }
                    top.offer(ip, s.events);
                }
            }
            (prints, families, top, active)
        })
        .collect();
    let mut pass = SourcePass {
        prints: Vec::with_capacity(parts.len()),
        families: FamilyCounts::default(),
        top_sources: Vec::new(),
        active_sources: 0,
    };
    let mut top = TopN::new(n);
    for (prints, families, part_top, active) in parts {
        pass.active_sources += active;
        pass.prints.push(prints);
        for (slot, (s, e)) in pass.families.iter_mut().zip(families) {
            slot.0 += s;
            slot.1 += e;
        }
        top.merge(part_top);
    }
    pass.top_sources = top.finish();
    pass
}

/// Builds the report from the merged counts.
pub(crate) fn build(agg: &Aggregator, files: &[InputFile], opts: &Options) -> Report {
    // The pass over every source and the campaign grouping run beside the tables
    // drawn from the other counts.
    let ((entries, sources, members), (names, (mut report, host_creds))) = rayon::join(
        || {
            let entries = entries_in_memory_order(agg);
            let pass = source_pass(&entries, opts.top);
            let members = campaign_members(&entries, &pass.prints, opts);
            (
                entries,
                (pass.families, pass.top_sources, pass.active_sources),
                members,
            )
        },
        || rayon::join(|| Names::new(agg), || tables(agg, files, opts)),
    );
    let (families, top_sources, active_sources) = sources;
    report.totals.sources = active_sources;
    report.top_source_clients = source_clients(agg, &names, &top_sources);
    report.top_source_names = (top_sources.iter())
        .filter_map(|(ip, events)| {
            Some(SourceName {
                source: ip.to_string(),
                events: *events,
                ptr: agg.source_names.get(ip)?.to_string(),
            })
        })
        .collect();
    report.top_sources = to_counts(top_sources);
    report.iot.families = top_n(
        seen_families(&families, |(s, _)| s > 0).map(|(f, (s, e))| ((f, e), s)),
        usize::MAX,
    )
    .into_iter()
    .map(|((family, events), sources)| FamilyCount {
        family,
        sources,
        events,
    })
    .collect();
    // Big campaigns have ~100 k members each: their rows are built in parallel.
    let drafts: Vec<CampaignDraft> = members
        .par_iter()
        .enumerate()
        .map(|(i, m)| campaign_draft(&entries, &names, opts, i + 1, m))
        .collect();
    let mut wanted: Set<u64> = Set::default();
    for top in &host_creds {
        wanted.extend(top.iter().map(|(id, _)| *id));
    }
    for d in &drafts {
        wanted.extend(d.top_creds.iter().map(|(id, _)| *id));
        wanted.extend(d.tiny_dictionary.iter().copied());
    }
    let cred_names = name_creds(agg, &wanted);
    for (host, top) in report.payload_hosts.iter_mut().zip(&host_creds) {
        host.credentials = cred_rows(top, &cred_names);
    }
    report.campaigns = drafts.into_iter().map(|d| d.finish(&cred_names)).collect();
    report
}

/// The client software of those of `top` (sources and their events) that announced any.
fn source_clients(
    agg: &Aggregator,
    names: &Names<'_>,
    top: &[(IpAddr, u64)],
) -> Vec<SourceClients> {
    let named = |ids: &[u64], table: &Map<u64, &str>| -> Vec<String> {
        let mut v: Vec<String> = ids
            .iter()
            .filter_map(|id| table.get(id).map(|t| (*t).to_string()))
            .collect();
        v.sort_unstable();
        v
    };
    top.iter()
        .filter_map(|(ip, events)| {
            let s = agg.sources.get(ip)?;
            let versions = named(s.client_versions(), &names.clients);
            let hassh = named(s.client_hassh(), &names.hassh);
            (!versions.is_empty() || !hassh.is_empty()).then(|| SourceClients {
                source: ip.to_string(),
                events: *events,
                libraries: libraries_of(versions.iter().map(String::as_str)),
                client_versions: versions,
                hassh,
            })
        })
        .collect()
}

/// Every table but the campaigns, and the payload hosts' top credential ids (in
/// the order of `payload_hosts`), to be named once the campaigns' are known.
fn tables(agg: &Aggregator, files: &[InputFile], opts: &Options) -> (Report, Vec<Vec<(u64, u64)>>) {
    let n = opts.top;
    let mut report = Report {
        filters: opts.filters.applied(),
        inputs: files
            .iter()
            .map(|f| {
                let c = agg.files.get(f.index).copied().unwrap_or_default();
                InputSummary {
                    path: f.display.clone(),
                    format: f.format_name.clone(),
                    events: c.events,
                    bad_rows: c.bad,
                    skipped: f.skipped.clone(),
                }
            })
            .collect(),
        time_range: agg
            .first
            .zip(agg.last)
            .map(|(a, b)| (format_timestamp(a), format_timestamp(b))),
        protocols: counts(agg.protocols.iter().map(|(k, v)| (&**k, *v)), usize::MAX),
        ports: counts(agg.ports.iter().map(|(k, v)| (*k, *v)), n.max(20)),
        ..Report::default()
    };
    let (pairs, (hosts, rest)) = rayon::join(
        || pair_tables(agg, n),
        || {
            rayon::join(
                || payload_hosts(agg, n),
                || (timeline(agg), sessions(agg, n)),
            )
        },
    );
    let (payload_hosts, host_creds) = hosts;
    (report.timeline, report.sessions) = rest;
    report.payload_hosts = payload_hosts;
    report.top_usernames = pairs.users;
    report.top_credential_usernames = pairs.cred_users;
    report.top_passwords = pairs.passes;
    report.top_credential_passwords = pairs.cred_passes;
    report.top_pairs = pairs.pairs;
    report.top_credentials = pairs.credentials;
    report.top_commands = counts(agg.command_counts(), n);
    report.top_client_versions = counts(agg.client_versions.iter().map(|(k, v)| (&**k, *v)), n);
    report.top_client_env = counts(agg.client_env.iter().map(|(k, v)| (&**k, *v)), n);
    report.top_terminal_sizes = counts(agg.terminal_sizes.iter().map(|(k, v)| (&**k, *v)), n);
    report.top_hassh = counts(agg.hassh.iter().map(|(k, v)| (&**k, *v)), n);
    report.hassh_algorithms = hassh_algorithms(&report.top_hassh, agg);
    report.payload_hashes = payload_hashes(agg, n.max(20));
    report.tty_inputs = tty_inputs(agg, n.max(20));
    report.tunnel_destinations = tunnel_destinations(agg, n.max(20));
    report.ssh_keys = ssh_keys(agg, n.max(20));
    report.hashed_logins = hashed_logins(agg, n.max(20));
    report.iot = Iot {
        credential_attempts: agg.cred_attempts,
        command_entries: agg.cmd_attempts,
        mirai_default_attempts: pairs.mirai_attempts,
        iot_default_attempts: pairs.iot_attempts,
        families: Vec::new(),
        busybox_tokens: counts(agg.busybox_tokens.iter().map(|(k, v)| (&**k, *v)), n)
            .into_iter()
            .map(|c| TokenCount {
                variant: data::token_variant(&c.value),
                value: c.value,
                count: c.count,
            })
            .collect(),
        top_default_credentials: pairs.defaults,
    };
    report.downloads = top_n(
        agg.downloads
            .iter()
            .map(|((method, host, port, file), v)| ((*method, &**host, *port, &**file), *v)),
        n.max(20),
    )
    .into_iter()
    .map(|((method, host, port, file), count)| DownloadRow {
        method: method.to_string(),
        host: host.to_string(),
        port,
        file: file.to_string(),
        count,
        virustotal: url_verdict(agg, (host, port, file)),
    })
    .collect();
    report.totals = Totals {
        events: agg.events,
        filtered_out: agg.filtered_out,
        login_prompt_entries: agg.auth_attempts,
        credential_attempts: agg.cred_attempts,
        command_entries: agg.cmd_attempts,
        shell_commands: agg.shell_commands,
        logins_succeeded: agg.logins_succeeded,
        recorded_downloads: agg.recorded_downloads,
        key_offers: agg.key_offers,
        hashed_attempts: agg.hashed_attempts,
        sources: agg.sources.len() as u64,
        sessions: report.sessions.total,
        distinct_credentials: pairs.distinct_credentials,
        bad_rows: agg.bad_total,
    };
    report.bad_rows = BadRows {
        total: agg.bad_total,
        shown: agg.bad_shown.clone(),
    };
    (report, host_creds)
}

/// The tables drawn from the credential pairs.
struct PairTables {
    users: Vec<Count>,
    cred_users: Vec<Count>,
    passes: Vec<Count>,
    cred_passes: Vec<Count>,
    pairs: Vec<PairCount>,
    credentials: Vec<PairCount>,
    defaults: Vec<PairCount>,
    mirai_attempts: u64,
    iot_attempts: u64,
    distinct_credentials: u64,
}

/// The tables drawn from the pairs, in one pass over them.
fn pair_tables(agg: &Aggregator, n: usize) -> PairTables {
    let mut rows = PairRows::new(n);
    let [users, passes] = column_tables(agg, n, |k, s| rows.add(k, s));
    let pairs = rows.finish();
    PairTables {
        users: users.0,
        cred_users: users.1,
        passes: passes.0,
        cred_passes: passes.1,
        ..pairs
    }
}

/// Pairs per hash partition of [`column_tables`] (its table then stays in cache).
const COLUMN_PART: usize = 8_192;

/// One pair's value in a column: hash, text, and the pair's count, with
/// [`COMMAND_BIT`] set when the pair is a command (not a credential attempt).
type ColumnRow<'a> = (u64, Text<'a>, u64);

/// Marks a command pair's count in a [`ColumnRow`] (counts stay far below 2^63).
const COMMAND_BIT: u64 = 1 << 63;

/// Top values of the username and the password column of the pairs: as logged,
/// and of credential attempts only.
///
/// The pairs are split (in one pass over them, which also hands each pair to
/// `each`) by the hash of each value into partitions small enough for the counting
/// table to stay in cache (one table over ~600 k pairs spent most of its time
/// waiting for memory); the partitions are counted in parallel and their top
/// values merged.
fn column_tables<'a>(
    agg: &'a Aggregator,
    n: usize,
    mut each: impl FnMut(&'a PairKey, &'a PairStats),
) -> [(Vec<Count>, Vec<Count>); 2] {
    let parts = (agg.pairs.len() / COLUMN_PART)
        .next_power_of_two()
        .clamp(1, 1024);
    let bits = parts.trailing_zeros();
    let hasher = foldhash::fast::FixedState::with_seed(0x636f_6c75);
    // Partitions fill unevenly: room for 1/8 more than the mean (room never touched
    // costs no memory; a partition that outgrows its room is copied).
    let mean = agg.pairs.len() / parts;
    let mut partitions: Vec<Vec<ColumnRow<'_>>> = (0..2 * parts)
        .map(|_| Vec::with_capacity(mean + mean / 8 + 64))
        .collect();
    let (users, passes) = partitions.split_at_mut(parts);
    for (k, s) in &agg.pairs {
        each(k, s);
        let count = s.count.min(COMMAND_BIT - 1) | if s.is_command { COMMAND_BIT } else { 0 };
        for (column, value) in [(&mut *users, k.user()), (&mut *passes, k.pass())] {
            let hash = hasher.hash_one(value);
            let part = if bits == 0 {
                0
            } else {
                (hash >> (64 - bits)) as usize
            };
            if let Some(rows) = column.get_mut(part) {
                rows.push((hash, Text::new(value), count));
            }
        }
    }
    let tops: Vec<(TopN<Text<'_>>, TopN<Text<'_>>)> = partitions
        .par_iter()
        .map(|rows| count_partition(rows, n))
        .collect();
    let mut columns = [(TopN::new(n), TopN::new(n)), (TopN::new(n), TopN::new(n))];
    for (i, (a, c)) in tops.into_iter().enumerate() {
        if let Some((all, creds)) = columns.get_mut(i / parts) {
            all.merge(a);
            creds.merge(c);
        }
    }
    columns.map(|(all, creds)| (to_counts(all.finish()), to_counts(creds.finish())))
}

/// Totals of one partition of [`column_tables`], as its top values.
fn count_partition<'a>(rows: &[ColumnRow<'a>], n: usize) -> (TopN<Text<'a>>, TopN<Text<'a>>) {
    // (hash, value, [as logged, credential attempts])
    let mut table: hashbrown::HashTable<(u64, Text<'a>, [u64; 2])> =
        hashbrown::HashTable::with_capacity(rows.len() / 2);
    for &(hash, text, count) in rows {
        let logged = count & !COMMAND_BIT;
        // A value seen only in commands is not in the credential table.
        let cred = if count & COMMAND_BIT == 0 { logged } else { 0 };
        match table.find_mut(hash, |e| e.0 == hash && e.1 == text) {
            Some(e) => {
                e.2[0] += logged;
                e.2[1] += cred;
            }
            None => {
                table.insert_unique(hash, (hash, text, [logged, cred]), |e| e.0);
            }
        }
    }
    let mut all = TopN::new(n);
    let mut creds = TopN::new(n);
    for (_, value, [logged, cred]) in table {
        all.offer(value, logged);
        if cred > 0 {
            creds.offer(value, cred);
        }
    }
    (all, creds)
}

/// Longest text kept inline by [`Text`].
const INLINE_TEXT: usize = 22;

/// A username or password as a map key: short ones (nearly all) are kept inline,
/// so the map compares keys without following a pointer into the pair map.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Text<'a> {
    Inline { len: u8, bytes: [u8; INLINE_TEXT] },
    Borrowed(&'a str),
}

impl<'a> Text<'a> {
    fn new(text: &'a str) -> Self {
        match u8::try_from(text.len()) {
            Ok(len) if text.len() <= INLINE_TEXT => {
                let mut bytes = [0u8; INLINE_TEXT];
                if let Some(head) = bytes.get_mut(..text.len()) {
                    head.copy_from_slice(text.as_bytes());
                }
                Text::Inline { len, bytes }
            }
            _ => Text::Borrowed(text),
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            Text::Inline { len, bytes } => bytes.get(..usize::from(*len)).unwrap_or_default(),
            Text::Borrowed(text) => text.as_bytes(),
        }
    }
}

/// Ordered as the strings are (byte order).
impl Ord for Text<'_> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl PartialOrd for Text<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// The text (built from a `&str`, so always valid UTF-8).
impl std::fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(std::str::from_utf8(self.as_bytes()).unwrap_or_default())
    }
}

/// A pair ordered by its text (username, then password), as the tables break ties.
struct ByText<'a>(&'a PairKey, &'a PairStats);

impl ByText<'_> {
    fn text(&self) -> (&str, &str) {
        (self.0.user(), self.0.pass())
    }

    fn row(&self, count: u64, is_command: bool) -> PairCount {
        pair_count(self.0, count, is_command, self.1.label)
    }
}

impl PartialEq for ByText<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.text() == other.text()
    }
}

impl Eq for ByText<'_> {}

impl PartialOrd for ByText<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ByText<'_> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.text().cmp(&other.text())
    }
}

/// Top pairs as logged, top credentials, top known defaults and the label counts,
/// gathered pair by pair (during the pass of [`column_tables`]).
struct PairRows<'a> {
    pairs: TopN<ByText<'a>>,
    credentials: TopN<ByText<'a>>,
    defaults: TopN<ByText<'a>>,
    mirai_attempts: u64,
    iot_attempts: u64,
    distinct_credentials: u64,
}

impl<'a> PairRows<'a> {
    fn new(n: usize) -> Self {
        PairRows {
            pairs: TopN::new(n),
            credentials: TopN::new(n),
            defaults: TopN::new(n),
            mirai_attempts: 0,
            iot_attempts: 0,
            distinct_credentials: 0,
        }
    }

    fn add(&mut self, k: &'a PairKey, s: &'a PairStats) {
        self.pairs.offer_with(s.count, || ByText(k, s));
        if s.is_command {
            return;
        }
        // Credential ids are 64-bit hashes of distinct pairs: one per pair.
        self.distinct_credentials += 1;
        self.credentials.offer_with(s.count, || ByText(k, s));
        match s.label {
            Some(CredLabel::Mirai) => self.mirai_attempts += s.count,
            Some(CredLabel::IotDefault) => self.iot_attempts += s.count,
            None => {}
        }
        if s.label.is_some() {
            self.defaults.offer_with(s.count, || ByText(k, s));
        }
    }

    fn finish(self) -> PairTables {
        let rows = |top: TopN<ByText<'_>>, default_kind: bool| -> Vec<PairCount> {
            top.finish()
                .iter()
                .map(|(p, c)| p.row(*c, !default_kind && p.1.is_command))
                .collect()
        };
        PairTables {
            users: Vec::new(),
            cred_users: Vec::new(),
            passes: Vec::new(),
            cred_passes: Vec::new(),
            pairs: rows(self.pairs, false),
            credentials: rows(self.credentials, false),
            defaults: rows(self.defaults, true),
            mirai_attempts: self.mirai_attempts,
            iot_attempts: self.iot_attempts,
            distinct_credentials: self.distinct_credentials,
        }
    }
}

fn timeline(agg: &Aggregator) -> Timeline {
    let (Some(&lo), Some(&hi)) = (agg.timeline.keys().min(), agg.timeline.keys().max()) else {
        return Timeline::default();
    };
    let span_minutes = hi - lo + 1;
    let bucket_minutes = [1i64, 5, 15, 60, 360, 1440, 10080]
        .into_iter()
        .find(|b| span_minutes / b <= 120)
        .unwrap_or(10080 * ((span_minutes / 10080 / 120) + 1));
    let mut buckets: Map<i64, [u64; 2]> = Map::default();
    for (minute, c) in &agg.timeline {
        let b = minute.div_euclid(bucket_minutes) * bucket_minutes;
        let slot = buckets.entry(b).or_default();
        slot[0] += c[0];
        slot[1] += c[1];
    }
    let first = lo.div_euclid(bucket_minutes) * bucket_minutes;
    let last = hi.div_euclid(bucket_minutes) * bucket_minutes;
    let points = (0..=((last - first) / bucket_minutes))
        .map(|i| {
            let b = first + i * bucket_minutes;
            let c = buckets.get(&b).copied().unwrap_or_default();
            TimelinePoint {
                start: format_timestamp(b * 60_000_000),
                credentials: c[0],
                commands: c[1],
            }
        })
        .collect();
    Timeline {
        bucket_seconds: bucket_minutes * 60,
        points,
    }
}

fn sessions(agg: &Aggregator, n: usize) -> Sessions {
    let mut sum = agg.done_sessions.clone();
    for s in agg.sessions.values() {
        sum.add(s, false);
    }
    for s in agg.gap_sessions.values().flatten() {
        sum.add(s, true);
    }
    let mut out = Sessions {
        total: sum.by_id + sum.by_gap,
        by_session_id: sum.by_id,
        by_time_gap: sum.by_gap,
        with_credentials: sum.with_credentials,
        with_commands: sum.with_commands,
        mirai_sequence: sum.mirai_sequence,
        with_downloads: sum.with_downloads,
        ..Sessions::default()
    };
    out.attempts_histogram = ["0-1", "2", "3", "4-10", ">10"]
        .iter()
        .zip(sum.histogram)
        .map(|(label, count)| Count {
            value: (*label).to_string(),
            count,
        })
        .collect();
    if !sum.durations_ms.is_empty() {
        let mid = sum.durations_ms.len() / 2;
        let (_, median, _) = sum.durations_ms.select_nth_unstable(mid);
        out.median_duration_seconds = Some(f64::from(*median) / 1000.0);
    }
    sum.top.sort_unstable_by(|a, b| b.cmp(a));
    out.top = sum
        .top
        .into_iter()
        .take(n)
        .map(|(attempts, neg_start, src, duration, f)| SessionRow {
            source: src.to_string(),
            start: format_timestamp(-neg_start),
            attempts,
            duration_seconds: duration as f64 / 1000.0,
            behaviour: behaviour(f),
        })
        .collect();
    out
}

fn behaviour(f: u8) -> String {
    let mut parts = Vec::new();
    if f & sflag::CRED != 0 {
        parts.push("credentials");
    }
    if f & sflag::MIRAI_SEQ == sflag::MIRAI_SEQ {
        parts.push("mirai-sequence");
    } else if f & (sflag::MIRAI_SEQ | sflag::SHELL_LINE) != 0 {
        parts.push("commands");
    }
    if f & sflag::DOWNLOAD != 0 {
        parts.push("download");
    }
    parts.join("+")
}

/// Credential totals of some sources (counts of the pairs each kept).
fn add_creds(totals: &mut Map<u64, u64>, s: &SourceState) {
    for (id, c) in &s.creds {
        *totals.entry(*id).or_default() += u64::from(*c);
    }
}

/// The payload hosts, and the ids of the top credentials their scanners used (to
/// be named later, with the campaigns').
fn payload_hosts(agg: &Aggregator, n: usize) -> (Vec<PayloadHost>, Vec<Vec<(u64, u64)>>) {
    let ranked = top_n(
        agg.payloads.iter().map(|(k, v)| (&**k, v.attempts)),
        n.max(20),
    );
    ranked
        .par_iter()
        .filter_map(|(host, _)| {
            let p = agg.payloads.get(*host)?;
            let mut creds: Map<u64, u64> = Map::default();
            for s in p.scanners.iter().filter_map(|ip| agg.sources.get(ip)) {
                add_creds(&mut creds, s);
            }
            let sample = smallest(p.scanners.iter().copied(), 10);
            let row = PayloadHost {
                host: (*host).to_string(),
                methods: p.methods.iter().map(|m| (*m).to_string()).collect(),
                ports: p.ports.clone(),
                files: p.files.iter().map(|f| f.to_string()).collect(),
                first_seen: fmt_opt(p.first),
                last_seen: fmt_opt(p.last),
                attempts: p.attempts,
                scanners: p.scanners.len() as u64,
                scanner_sample: sample.iter().map(ToString::to_string).collect(),
                credentials: Vec::new(),
            };
            Some((row, top_n(creds.into_iter(), 10)))
        })
        .unzip()
}

/// The `n` payload digests named most often (ties by digest).
fn payload_hashes(agg: &Aggregator, n: usize) -> Vec<PayloadHash> {
    top_n(agg.payload_hashes.iter().map(|(k, v)| (&**k, v.count)), n)
        .into_iter()
        .filter_map(|(sha256, count)| {
            let h = agg.payload_hashes.get(sha256)?;
            Some(PayloadHash {
                sha256: sha256.to_string(),
                count,
                sources: h.sources.len() as u64,
                source_sample: address_sample(&h.sources),
                urls: h.urls.iter().map(|u| u.to_string()).collect(),
                uploads: h.uploads.iter().map(|u| u.to_string()).collect(),
                first_seen: fmt_opt(h.first),
                last_seen: fmt_opt(h.last),
                virustotal: agg.virustotal.get(sha256).map(VirusTotal::from),
            })
        })
        .collect()
}

/// The URL verdict for a downloads row: by host, port and file, as
/// [`crate::fetch::fetch_key`] matches a command line's fetch to Cowrie's record.
fn url_verdict(
    agg: &Aggregator,
    (host, port, file): (&str, Option<u16>, &str),
) -> Option<VirusTotal> {
    if agg.url_verdicts.is_empty() || host.is_empty() {
        return None;
    }
    agg.url_verdicts
        .get(&crate::fetch::fetch_key_of(host, port, file))
        .map(VirusTotal::from)
}

/// The `n` typed-input digests of the most sessions (ties by digest).
fn tty_inputs(agg: &Aggregator, n: usize) -> Vec<TtyInput> {
    top_n(agg.tty_inputs.iter().map(|(k, v)| (&**k, v.count)), n)
        .into_iter()
        .filter_map(|(sha256, sessions)| {
            let t = agg.tty_inputs.get(sha256)?;
            Some(TtyInput {
                sha256: sha256.to_string(),
                sessions,
                sources: t.sources.len() as u64,
                source_sample: address_sample(&t.sources),
                first_seen: fmt_opt(t.first),
                last_seen: fmt_opt(t.last),
            })
        })
        .collect()
}

/// The `n` tunnel destinations with the most records (requests and data; ties by
/// host, then port).
fn tunnel_destinations(agg: &Aggregator, n: usize) -> Vec<TunnelDestination> {
    top_n(
        agg.tunnels
            .iter()
            .map(|((host, port), t)| ((&**host, *port), t.requests + t.data)),
        n,
    )
    .into_iter()
    .filter_map(|((host, port), _)| {
        let t = agg.tunnels.get(&(Box::<str>::from(host), port))?;
        Some(TunnelDestination {
            destination: crate::ioc::host_port(host, port),
            host: host.to_string(),
            port,
            requests: t.requests,
            data: t.data,
            sources: t.sources.len() as u64,
            source_sample: address_sample(&t.sources),
            http_hosts: t.http_hosts.iter().map(|h| h.to_string()).collect(),
            first_seen: fmt_opt(t.first),
            last_seen: fmt_opt(t.last),
        })
    })
    .collect()
}

/// The `n` users of hashed logins with the most attempts (ties by mechanism, user).
fn hashed_logins(agg: &Aggregator, n: usize) -> Vec<HashedLogin> {
    top_n(
        agg.hashed_logins
            .iter()
            .map(|((m, u), c)| ((&**m, &**u), *c)),
        n,
    )
    .into_iter()
    .map(|((mechanism, username), attempts)| HashedLogin {
        mechanism: mechanism.to_string(),
        username: username.to_string(),
        attempts,
    })
    .collect()
}

/// The `n` SSH keys used most (offers and plants; ties by key).
fn ssh_keys(agg: &Aggregator, n: usize) -> Vec<SshKeyRow> {
    top_n(
        agg.ssh_keys
            .iter()
            .map(|(key, k)| (&**key, k.offered + k.planted)),
        n,
    )
    .into_iter()
    .filter_map(|(key, _)| {
        let k = agg.ssh_keys.get(key)?;
        Some(SshKeyRow {
            key: key.to_string(),
            offered: k.offered,
            planted: k.planted,
            sources: k.sources.len() as u64,
            source_sample: address_sample(&k.sources),
            usernames: counts(k.users.iter().map(|(u, c)| (&**u, *c)), 5),
            comments: k.comments.iter().map(|c| c.to_string()).collect(),
            first_seen: fmt_opt(k.first),
            last_seen: fmt_opt(k.last),
        })
    })
    .collect()
}

/// The 10 smallest addresses of a set, as text.
fn address_sample(addresses: &Set<IpAddr>) -> Vec<String> {
    smallest(addresses.iter().copied(), 10)
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// Member lists (numbers in `entries`, ascending) of the listed campaigns, largest
/// first.
fn campaign_members(
    entries: &[Entry<'_>],
    prints: &[campaign::Prints],
    opts: &Options,
) -> Vec<Vec<u32>> {
    campaign::top_campaigns(
        prints,
        opts.jaccard,
        opts.campaigns,
        |i| entries.get(i as usize).map(|(ip, _, _)| *ip),
        |len, notable| len >= 2 || notable,
    )
}

/// A listed campaign whose credentials are still ids.
struct CampaignDraft {
    row: Campaign,
    /// The most used credential ids, best first.
    top_creds: Vec<(u64, u64)>,
    /// Every credential id, when there are at most `--tiny-dictionary` of them.
    tiny_dictionary: Vec<u64>,
}

impl CampaignDraft {
    fn finish(mut self, names: &CredNames<'_>) -> Campaign {
        let distinct = self.row.distinct_credentials;
        let known = self.tiny_dictionary.iter().any(|id| {
            names
                .get(id)
                .is_some_and(|(k, _)| data::is_mirai_cred(k.user(), k.pass()))
        });
        if !self.tiny_dictionary.is_empty() && !known {
            self.row.flags.push(format!(
                "tiny-unknown-dictionary: only {distinct} credential pair(s), none in Mirai's table (new variant?)"
            ));
        }
        self.row.credentials = cred_rows(&self.top_creds, names);
        self.row
    }
}

fn campaign_draft(
    entries: &[Entry<'_>],
    names: &Names<'_>,
    opts: &Options,
    id: usize,
    members: &[u32],
) -> CampaignDraft {
    let mut first = None;
    let mut last = None;
    let mut events = 0;
    let mut fams = [0u64; FAMILIES.len()];
    let mut protocols: Set<u64> = Set::default();
    let mut lines: Map<u64, u64> = Map::default();
    let mut features: Set<u64> = Set::default();
    // Members of one campaign mostly typed the same commands: each distinct list of
    // features is added once.
    let mut feature_lists: Set<&[u64]> = Set::default();
    let mut creds: Map<u64, u64> = Map::default();
    // Members per client version and per HASSH.
    let mut clients: Map<u64, u64> = Map::default();
    let mut hassh: Map<u64, u64> = Map::default();
    // Members per SSH key (keys are features; most logs have none to look for).
    let mut keys: Map<u64, u64> = Map::default();
    let member_entries = || members.iter().filter_map(|&i| entries.get(i as usize));
    let member_states: Vec<&SourceState> = member_entries().map(|&(_, s, _)| s).collect();
    for block in member_states.chunks(WARM_BLOCK) {
        warm(block.iter().copied());
        for &s in block {
            events += s.events;
            for t in [s.first, s.last].into_iter().flatten() {
                first = Some(first.map_or(t, |f: Micros| f.min(t)));
                last = Some(last.map_or(t, |l: Micros| l.max(t)));
            }
            if let Some(c) = fams.get_mut(family_slot(s)) {
                *c += 1;
            }
            protocols.extend(s.protocols.iter().copied());
            for l in s.lines() {
                *lines.entry(*l).or_default() += 1;
            }
            if !s.features().is_empty() && feature_lists.insert(s.features()) {
                features.extend(s.features().iter().copied());
            }
            if !names.keys.is_empty() {
                for f in s.features().iter().filter(|&f| names.keys.contains_key(f)) {
                    *keys.entry(*f).or_default() += 1;
                }
            }
            add_creds(&mut creds, s);
            for id in s.client_versions() {
                *clients.entry(*id).or_default() += 1;
            }
            for id in s.client_hassh() {
                *hassh.entry(*id).or_default() += 1;
            }
        }
    }
    let family = top_n(seen_families(&fams, |c| c > 0), 1)
        .first()
        .map_or(family::NONE, |(f, _)| *f);
    let sorted_names = |ids: Set<u64>, table: &Map<u64, &str>| -> Vec<String> {
        let mut v: Vec<&str> = ids
            .iter()
            .filter_map(|id| table.get(id).copied())
            .collect::<Set<&str>>()
            .into_iter()
            .collect();
        v.sort_unstable();
        v.into_iter().map(str::to_string).collect()
    };
    let distinct = creds.len();
    let tiny_dictionary = if distinct > 0 && distinct <= opts.tiny_dictionary {
        creds.keys().copied().collect()
    } else {
        Vec::new()
    };
    let commands = top_n(
        lines
            .iter()
            .filter_map(|(l, c)| names.lines.get(l).map(|line| (*line, *c))),
        10,
    );
    let (variants, unknown_tokens) = tokens_of(&features, &lines, names);
    let row = Campaign {
        id,
        family,
        sources: members.len() as u64,
        source_sample: smallest(member_entries().map(|(ip, _, _)| *ip), 10)
            .iter()
            .map(ToString::to_string)
            .collect(),
        events,
        first_seen: fmt_opt(first),
        last_seen: fmt_opt(last),
        protocols: sorted_names(protocols, &names.protocols),
        distinct_credentials: distinct as u64,
        credentials: Vec::new(),
        commands: commands.into_iter().map(|(l, _)| l.to_string()).collect(),
        payload_hosts: sorted_names(features, &names.hosts),
        client_versions: named_counts(&clients, &names.clients),
        hassh: named_counts(&hassh, &names.hassh),
        client_libraries: libraries_of(
            clients
                .keys()
                .filter_map(|id| names.clients.get(id).copied()),
        ),
        ssh_keys: named_counts(&keys, &names.keys),
        variants,
        flags: unknown_token_flag(&unknown_tokens).into_iter().collect(),
    };
    CampaignDraft {
        row,
        top_creds: top_n(creds.into_iter(), 10),
        tiny_dictionary,
    }
}

/// A campaign's BusyBox tokens: the distinct bots its members' token features name,
/// and the tokens no known bot sends found in its members' command lines (the 16
/// lines kept per member), each sorted.
fn tokens_of<'a>(
    features: &Set<u64>,
    lines: &Map<u64, u64>,
    names: &Names<'a>,
) -> (Vec<&'static str>, Vec<&'a str>) {
    let mut known: Vec<&'static str> = Vec::new();
    if !names.token_variants.is_empty() {
        known.extend(features.iter().filter_map(|f| names.token_variants.get(f)));
        known.sort_unstable();
        known.dedup();
    }
    let mut unknown: Vec<&'a str> = Vec::new();
    if !names.unknown_tokens.is_empty() {
        unknown.extend(
            lines
                .keys()
                .filter_map(|l| names.unknown_tokens.get(l))
                .flatten(),
        );
        unknown.sort_unstable();
        unknown.dedup();
    }
    (known, unknown)
}

/// Tokens named in a campaign's unknown-token flag at most.
const MAX_FLAG_TOKENS: usize = 5;

/// The flag of a campaign whose members sent BusyBox tokens no known bot uses: a
/// Mirai fork that changed the word, as the seed's tiny dictionary hinted at one.
fn unknown_token_flag(tokens: &[&str]) -> Option<String> {
    if tokens.is_empty() {
        return None;
    }
    let mut list = tokens.get(..MAX_FLAG_TOKENS).unwrap_or(tokens).join(", ");
    if tokens.len() > MAX_FLAG_TOKENS {
        list += &format!(" and {} more", tokens.len() - MAX_FLAG_TOKENS);
    }
    Some(format!(
        "unknown-busybox-token: {list} (no known bot sends it: a new Mirai fork?)"
    ))
}

/// The [`MAX_CAMPAIGN_CLIENTS`] ids of `members` counted most (ties by name), named.
fn named_counts(members: &Map<u64, u64>, table: &Map<u64, &str>) -> Vec<Count> {
    counts(
        members
            .iter()
            .filter_map(|(id, c)| table.get(id).map(|name| (*name, *c))),
        MAX_CAMPAIGN_CLIENTS,
    )
}

/// The distinct SSH libraries behind some client versions, sorted.
fn libraries_of<'a>(versions: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut v: Vec<&str> = versions.filter_map(data::client_library).collect();
    v.sort_unstable();
    v.dedup();
    v.into_iter().map(str::to_string).collect()
}

/// The `n` smallest values, ascending.
fn smallest<T: Ord>(items: impl Iterator<Item = T>, n: usize) -> Vec<T> {
    let mut all: Vec<T> = items.collect();
    if n == 0 {
        return Vec::new();
    }
    if all.len() > n {
        all.select_nth_unstable(n - 1);
        all.truncate(n);
    }
    all.sort_unstable();
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_token_flag_lists_five_tokens_then_counts_the_rest() {
        assert_eq!(unknown_token_flag(&[]), None);
        assert_eq!(
            unknown_token_flag(&["NEWBOT"]).as_deref(),
            Some("unknown-busybox-token: NEWBOT (no known bot sends it: a new Mirai fork?)")
        );
        let seven = ["A", "B", "C", "D", "E", "F", "G"];
        assert_eq!(
            unknown_token_flag(&seven).as_deref(),
            Some(
                "unknown-busybox-token: A, B, C, D, E and 2 more (no known bot sends it: a new \
                 Mirai fork?)"
            )
        );
    }

    fn naive(items: &[(u32, u64)], n: usize) -> Vec<(u32, u64)> {
        let mut all = items.to_vec();
        all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        all.truncate(n);
        all
    }

    #[test]
    fn bounded_top_n_equals_a_full_sort() {
        let mut x = 12_345u64;
        for len in [0usize, 1, 5, 63, 64, 65, 200, 5_000] {
            // Few distinct counts, so ties (broken by key) are everywhere.
            let items: Vec<(u32, u64)> = (0..len as u32)
                .map(|k| {
                    x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    (k.wrapping_mul(2_654_435_761), (x >> 40) % 7)
                })
                .collect();
            for n in [0usize, 1, 3, 10, 31, 32, 33, 100, usize::MAX] {
                assert_eq!(
                    top_n(items.iter().copied(), n),
                    naive(&items, n),
                    "{len} items, top {n}"
                );
                let mut merged = TopN::new(n);
                for part in items.chunks(17) {
                    let mut t = TopN::new(n);
                    for &(k, c) in part {
                        t.offer_with(c, || k);
                    }
                    merged.merge(t);
                }
                assert_eq!(
                    merged.finish(),
                    naive(&items, n),
                    "merged, {len} items, top {n}"
                );
            }
        }
    }

    #[test]
    fn inline_text_orders_and_prints_like_the_string() {
        let words = [
            "",
            "a",
            "root",
            "admin",
            "Admin",
            "x".repeat(22).leak(),
            "y".repeat(23).leak(),
            "é",
        ];
        for a in words {
            assert_eq!(Text::new(a).to_string(), a);
            for b in words {
                assert_eq!(Text::new(a).cmp(&Text::new(b)), a.cmp(b), "{a:?} {b:?}");
                assert_eq!(Text::new(a) == Text::new(b), a == b);
            }
        }
    }

    #[test]
    fn entries_follow_memory_and_keep_their_index_positions() {
        let mut agg = Aggregator::new(300);
        for i in 0..2_000u32 {
            let event = crate::event::Event {
                ts: Some(i64::from(i) * 1_000_000),
                src: Some(IpAddr::from(
                    (i % 700).wrapping_mul(2_654_435_761).to_be_bytes(),
                )),
                src_port: Some(1),
                dst_port: Some(23),
                protocol: "telnet".into(),
                session: None,
                kind: crate::event::EventKind::Connect,
            };
            agg.ingest(0, &event, &crate::filter::Filters::default());
        }
        let entries = entries_in_memory_order(&agg);
        let in_index_order: Vec<IpAddr> = agg.sources.iter().map(|(ip, _)| *ip).collect();
        assert_eq!(entries.len(), in_index_order.len());
        let address = |s: &SourceState| std::ptr::from_ref(s).addr();
        assert!(
            entries
                .windows(2)
                .all(|w| address(w[0].1) < address(w[1].1))
        );
        for &(ip, state, pos) in &entries {
            assert_eq!(in_index_order[pos as usize], ip);
            assert!(std::ptr::eq(agg.sources.get(&ip).unwrap(), state));
        }
    }

    #[test]
    fn smallest_takes_the_n_least_in_order() {
        assert_eq!(smallest([5, 1, 4, 2, 3].into_iter(), 3), vec![1, 2, 3]);
        assert_eq!(smallest([2, 1].into_iter(), 10), vec![1, 2]);
        assert!(smallest([1].into_iter(), 0).is_empty());
    }
}
