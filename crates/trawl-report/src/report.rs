//! The finished report: every table, built once from the merged counts.

use std::net::IpAddr;

use rayon::prelude::*;
use serde::Serialize;

use crate::Options;
use crate::agg::{Aggregator, BadRow, PairKey, PairRef, SourceState, feature, id_of, sflag};
use crate::agg::{Map, Set};
use crate::campaign;
use crate::command::marker;
use crate::data::{self, CredLabel};
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
    /// Credential attempts.
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
    /// Non-applet BusyBox tokens (`MIRAI`, `ECCHI`...).
    pub busybox_tokens: Vec<Count>,
    /// Most frequent credentials that are known IoT defaults.
    pub top_default_credentials: Vec<PairCount>,
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
    /// Notes such as `tiny-unknown-dictionary`.
    pub flags: Vec<String>,
}

/// Rows that could not be read.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BadRows {
    /// How many.
    pub total: u64,
    /// The first few.
    pub shown: Vec<BadRow>,
}

/// The report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Inputs read.
    pub inputs: Vec<InputSummary>,
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
    /// Campaigns.
    pub campaigns: Vec<Campaign>,
    /// Unreadable rows.
    pub bad_rows: BadRows,
}

/// The N largest by count, ties by value.
pub fn top_n<K: Ord + Clone>(items: impl Iterator<Item = (K, u64)>, n: usize) -> Vec<(K, u64)> {
    let mut all: Vec<(K, u64)> = items.collect();
    let cmp = |a: &(K, u64), b: &(K, u64)| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0));
    if all.len() > n && n > 0 {
        all.select_nth_unstable_by(n - 1, cmp);
        all.truncate(n);
    }
    all.sort_by(cmp);
    all.truncate(n);
    all
}

fn counts<K: Ord + Clone + ToString>(
    items: impl Iterator<Item = (K, u64)>,
    n: usize,
) -> Vec<Count> {
    top_n(items, n)
        .into_iter()
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
    /// Credentials only.
    pub const BRUTE_FORCE: &str = "brute force";
    /// Connections only.
    pub const NONE: &str = "no attempts";
}

/// The family a source's behaviour matches.
pub(crate) fn family_of(s: &SourceState) -> &'static str {
    let m = s.markers;
    let words = (s.login_words & sflag::MIRAI_SEQ).count_ones();
    if m & (marker::GAFGYT_ECHO | marker::GAFGYT_ONELINER) != 0 {
        family::GAFGYT
    } else if m & marker::HAJIME != 0
        || (m & marker::ECCHI_TOKEN != 0 && m & marker::MIRAI_LOADER == 0)
    {
        family::HAJIME
    } else if words >= 2 || m & (marker::BUSYBOX_TOKEN | marker::MIRAI_LOADER) != 0 {
        family::MIRAI
    } else if s.cmd_attempts > 0 || m & (marker::SHELL_LINE | marker::DOWNLOAD) != 0 {
        family::UNKNOWN_LOADER
    } else if s.cred_attempts > 0 {
        family::BRUTE_FORCE
    } else {
        family::NONE
    }
}

struct Names<'a> {
    creds: Map<u64, (&'a PairKey, Option<CredLabel>)>,
    lines: Map<u64, &'a str>,
    hosts: Map<u64, &'a str>,
    protocols: Map<u64, &'a str>,
}

impl<'a> Names<'a> {
    fn new(agg: &'a Aggregator) -> Self {
        Names {
            creds: agg
                .pairs
                .iter()
                .filter(|(_, s)| !s.is_command)
                .map(|(k, s)| (s.id, (k, s.label)))
                .collect(),
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
        }
    }

    fn cred_table(&self, totals: &Map<u64, u64>, n: usize) -> Vec<PairCount> {
        top_n(totals.iter().map(|(id, c)| (*id, *c)), usize::MAX)
            .into_iter()
            .filter_map(|(id, c)| {
                self.creds
                    .get(&id)
                    .map(|(k, label)| pair_count(k, c, false, *label))
            })
            .take(n)
            .collect::<Vec<_>>()
            .into_iter()
            .fold(Vec::new(), |mut v, p| {
                v.push(p);
                v
            })
    }
}

/// Builds the report from the merged counts.
pub(crate) fn build(agg: &Aggregator, files: &[InputFile], opts: &Options) -> Report {
    // Campaign grouping (over every source) runs beside the name tables and the
    // other tables; only the listed campaigns' rows need the names.
    let (members, (names, mut report)) = rayon::join(
        || campaign_members(agg, opts),
        || {
            let names = Names::new(agg);
            let report = tables(agg, &names, files, opts);
            (names, report)
        },
    );
    // Big campaigns have ~100 k members each: their rows are built in parallel.
    report.campaigns = members
        .par_iter()
        .enumerate()
        .map(|(i, m)| campaign_row(agg, &names, opts, i + 1, m))
        .collect();
    report.totals.distinct_credentials = names.creds.len() as u64;
    report
}

/// Every table but the campaigns.
fn tables(agg: &Aggregator, names: &Names<'_>, files: &[InputFile], opts: &Options) -> Report {
    let n = opts.top;
    let mut report = Report {
        inputs: files
            .iter()
            .map(|f| {
                let c = agg.files.get(f.index).copied().unwrap_or_default();
                InputSummary {
                    path: f.display.clone(),
                    format: f.format_name.clone(),
                    events: c.events,
                    bad_rows: c.bad,
                }
            })
            .collect(),
        time_range: agg
            .first
            .zip(agg.last)
            .map(|(a, b)| (format_timestamp(a), format_timestamp(b))),
        protocols: counts(
            agg.protocols.iter().map(|(k, v)| (k.to_string(), *v)),
            usize::MAX,
        ),
        ports: counts(agg.ports.iter().map(|(k, v)| (*k, *v)), n.max(20)),
        top_sources: counts(agg.sources.iter().map(|(k, v)| (*k, v.events)), n),
        ..Report::default()
    };
    fill_pair_tables(agg, &mut report, n);
    report.top_commands = counts(
        agg.commands.iter().map(|(k, v)| (k.to_string(), v.count)),
        n,
    );
    report.timeline = timeline(agg);
    report.sessions = sessions(agg, n);
    report.iot = iot(agg, n);
    report.payload_hosts = payload_hosts(agg, names, n);
    report.downloads = top_n(
        agg.downloads.iter().map(|(k, v)| (k.clone(), *v)),
        n.max(20),
    )
    .into_iter()
    .map(|((method, host, port, file), count)| DownloadRow {
        method: method.to_string(),
        host: host.to_string(),
        port,
        file: file.to_string(),
        count,
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
        sources: agg.sources.len() as u64,
        sessions: report.sessions.total,
        distinct_credentials: 0,
        bad_rows: agg.bad_total,
    };
    report.bad_rows = BadRows {
        total: agg.bad_total,
        shown: agg.bad_shown.clone(),
    };
    report
}

fn fill_pair_tables(agg: &Aggregator, report: &mut Report, n: usize) {
    let mut users: Map<&str, u64> = Map::default();
    let mut passes: Map<&str, u64> = Map::default();
    let mut cred_users: Map<&str, u64> = Map::default();
    let mut cred_passes: Map<&str, u64> = Map::default();
    for (k, s) in &agg.pairs {
        let (user, pass) = (k.user(), k.pass());
        *users.entry(user).or_default() += s.count;
        *passes.entry(pass).or_default() += s.count;
        if !s.is_command {
            *cred_users.entry(user).or_default() += s.count;
            *cred_passes.entry(pass).or_default() += s.count;
        }
    }
    report.top_usernames = counts(users.into_iter(), n);
    report.top_passwords = counts(passes.into_iter(), n);
    report.top_credential_usernames = counts(cred_users.into_iter(), n);
    report.top_credential_passwords = counts(cred_passes.into_iter(), n);
    let pair_rows = |only_creds: bool| -> Vec<PairCount> {
        let refs = agg
            .pairs
            .iter()
            .filter(|(_, s)| !only_creds || !s.is_command)
            .map(|(k, s)| ((k.user(), k.pass()), s.count));
        top_n(refs, n)
            .into_iter()
            .filter_map(|((u, p), c)| {
                let (key, stats) = agg.pairs.get_key_value(&PairRef { user: u, pass: p })?;
                Some(pair_count(key, c, stats.is_command, stats.label))
            })
            .collect()
    };
    report.top_pairs = pair_rows(false);
    report.top_credentials = pair_rows(true);
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

fn iot(agg: &Aggregator, n: usize) -> Iot {
    let mut out = Iot {
        credential_attempts: agg.cred_attempts,
        command_entries: agg.cmd_attempts,
        ..Iot::default()
    };
    for s in agg.pairs.values() {
        match s.label {
            Some(CredLabel::Mirai) => out.mirai_default_attempts += s.count,
            Some(CredLabel::IotDefault) => out.iot_default_attempts += s.count,
            None => {}
        }
    }
    let mut fams: Map<&'static str, (u64, u64)> = Map::default();
    for s in agg.sources.iter().map(|(_, s)| s) {
        let slot = fams.entry(family_of(s)).or_default();
        slot.0 += 1;
        slot.1 += s.events;
    }
    out.families = top_n(fams.into_iter().map(|(f, (s, e))| ((f, e), s)), usize::MAX)
        .into_iter()
        .map(|((family, events), sources)| FamilyCount {
            family,
            sources,
            events,
        })
        .collect();
    out.busybox_tokens = counts(
        agg.busybox_tokens.iter().map(|(k, v)| (k.to_string(), *v)),
        n,
    );
    let labelled = agg
        .pairs
        .iter()
        .filter(|(_, s)| s.label.is_some())
        .map(|(k, s)| ((k.user(), k.pass()), s.count));
    out.top_default_credentials = top_n(labelled, n)
        .into_iter()
        .filter_map(|((u, p), c)| {
            let (key, stats) = agg.pairs.get_key_value(&PairRef { user: u, pass: p })?;
            Some(pair_count(key, c, false, stats.label))
        })
        .collect();
    out
}

fn scanner_creds(agg: &Aggregator, scanners: impl Iterator<Item = IpAddr>) -> Map<u64, u64> {
    let mut totals: Map<u64, u64> = Map::default();
    for ip in scanners {
        if let Some(s) = agg.sources.get(&ip) {
            for (id, c) in &s.creds {
                *totals.entry(*id).or_default() += u64::from(*c);
            }
        }
    }
    totals
}

fn payload_hosts(agg: &Aggregator, names: &Names<'_>, n: usize) -> Vec<PayloadHost> {
    let ranked = top_n(
        agg.payloads.iter().map(|(k, v)| (&**k, v.attempts)),
        n.max(20),
    );
    ranked
        .into_iter()
        .filter_map(|(host, _)| {
            let p = agg.payloads.get(host)?;
            let mut sample: Vec<IpAddr> = p.scanners.iter().copied().collect();
            sample.sort_unstable();
            let creds = scanner_creds(agg, sample.iter().copied());
            sample.truncate(10);
            Some(PayloadHost {
                host: host.to_string(),
                methods: p.methods.iter().map(|m| (*m).to_string()).collect(),
                ports: p.ports.clone(),
                files: p.files.iter().map(|f| f.to_string()).collect(),
                first_seen: fmt_opt(p.first),
                last_seen: fmt_opt(p.last),
                attempts: p.attempts,
                scanners: p.scanners.len() as u64,
                scanner_sample: sample.iter().map(ToString::to_string).collect(),
                credentials: names.cred_table(&creds, 10),
            })
        })
        .collect()
}

/// Member lists of the listed campaigns, largest first.
fn campaign_members(agg: &Aggregator, opts: &Options) -> Vec<Vec<IpAddr>> {
    // A campaign is listed when it has two or more sources, or one that typed commands.
    campaign::top_campaigns(
        &agg.sources,
        opts.jaccard,
        opts.campaigns,
        |s| s.cmd_attempts > 0 || !s.lines().is_empty(),
        |len, notable| len >= 2 || notable,
    )
}

fn campaign_row(
    agg: &Aggregator,
    names: &Names<'_>,
    opts: &Options,
    id: usize,
    members: &[IpAddr],
) -> Campaign {
    let mut first = None;
    let mut last = None;
    let mut events = 0;
    let mut fams: Map<&'static str, u64> = Map::default();
    let mut protocols: Set<&str> = Set::default();
    let mut lines: Map<&str, u64> = Map::default();
    let mut hosts: Set<&str> = Set::default();
    for ip in members {
        let Some(s) = agg.sources.get(ip) else {
            continue;
        };
        events += s.events;
        for t in [s.first, s.last].into_iter().flatten() {
            first = Some(first.map_or(t, |f: Micros| f.min(t)));
            last = Some(last.map_or(t, |l: Micros| l.max(t)));
        }
        *fams.entry(family_of(s)).or_default() += 1;
        protocols.extend(
            s.protocols
                .iter()
                .filter_map(|p| names.protocols.get(p).copied()),
        );
        for l in s.lines() {
            if let Some(line) = names.lines.get(l) {
                *lines.entry(line).or_default() += 1;
            }
        }
        hosts.extend(
            s.features()
                .iter()
                .filter_map(|f| names.hosts.get(f).copied()),
        );
    }
    let creds = scanner_creds(agg, members.iter().copied());
    let family = top_n(fams.into_iter(), 1)
        .first()
        .map_or(family::NONE, |(f, _)| *f);
    let mut protocols: Vec<String> = protocols.into_iter().map(str::to_string).collect();
    protocols.sort();
    let mut hosts: Vec<String> = hosts.into_iter().map(str::to_string).collect();
    hosts.sort();
    let mut flags = Vec::new();
    let distinct = creds.len() as u64;
    let known = creds.keys().any(|id| {
        names
            .creds
            .get(id)
            .is_some_and(|(k, _)| data::is_mirai_cred(k.user(), k.pass()))
    });
    if distinct > 0 && distinct <= opts.tiny_dictionary as u64 && !known {
        flags.push(format!(
            "tiny-unknown-dictionary: only {distinct} credential pair(s), none in Mirai's table (new variant?)"
        ));
    }
    Campaign {
        id,
        family,
        sources: members.len() as u64,
        source_sample: members.iter().take(10).map(ToString::to_string).collect(),
        events,
        first_seen: fmt_opt(first),
        last_seen: fmt_opt(last),
        protocols,
        distinct_credentials: distinct,
        credentials: names.cred_table(&creds, 10),
        commands: top_n(lines.into_iter(), 10)
            .into_iter()
            .map(|(l, _)| l.to_string())
            .collect(),
        payload_hosts: hosts,
        flags,
    }
}
