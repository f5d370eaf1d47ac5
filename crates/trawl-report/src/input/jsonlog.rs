//! JSON lines: Cowrie, OpenCanary, Heralding `log_session.json`, trawl `events.jsonl`.
//!
//! Each line is recognised on its own by its fields: `eventid` (Cowrie),
//! `logtype` (OpenCanary), `type` (trawl), `auth_attempts` without `type`
//! (Heralding session JSON).

use std::borrow::Cow;
use std::net::IpAddr;

use serde::Deserialize;

use crate::Options;
use crate::agg::Aggregator;
use crate::error::ReportError;
use crate::event::{ClientRequest, Event, EventKind, Secret};
use crate::input::csvlog::{bad, clip};
use crate::input::{Block, InputFile};
use crate::time::parse_timestamp;

/// A number or a string holding one (Cowrie writes ports as numbers, some shippers as strings).
#[derive(Deserialize)]
#[serde(untagged)]
enum NumOrText<'a> {
    Num(f64),
    #[serde(borrow)]
    Text(Cow<'a, str>),
}

impl NumOrText<'_> {
    fn as_f64(&self) -> Option<f64> {
        match self {
            NumOrText::Num(n) => Some(*n),
            NumOrText::Text(t) => t.trim().parse().ok(),
        }
    }
    fn as_port(&self) -> Option<u16> {
        self.as_f64()
            .filter(|n| (0.0..=65535.0).contains(n))
            .map(|n| n as u16)
    }
}

#[derive(Deserialize, Default)]
struct LogData<'a> {
    #[serde(rename = "USERNAME", borrow)]
    username: Option<Cow<'a, str>>,
    #[serde(rename = "PASSWORD", borrow)]
    password: Option<Cow<'a, str>>,
    /// The SSH client's version string (logtypes 4001 and 4002).
    #[serde(rename = "REMOTEVERSION", borrow)]
    remote_version: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct NestedAttempt<'a> {
    #[serde(borrow)]
    timestamp: Option<Cow<'a, str>>,
    #[serde(borrow)]
    username: Option<Cow<'a, str>>,
    #[serde(borrow)]
    password: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow)]
    eventid: Option<Cow<'a, str>>,
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    logtype: Option<u32>,
    #[serde(borrow)]
    timestamp: Option<Cow<'a, str>>,
    #[serde(borrow)]
    utc_time: Option<Cow<'a, str>>,
    #[serde(borrow)]
    src_ip: Option<Cow<'a, str>>,
    #[serde(borrow)]
    source_ip: Option<Cow<'a, str>>,
    #[serde(borrow)]
    src_host: Option<Cow<'a, str>>,
    #[serde(borrow)]
    src_port: Option<NumOrText<'a>>,
    #[serde(borrow)]
    source_port: Option<NumOrText<'a>>,
    #[serde(borrow)]
    dst_port: Option<NumOrText<'a>>,
    #[serde(borrow)]
    destination_port: Option<NumOrText<'a>>,
    #[serde(borrow)]
    session: Option<Cow<'a, str>>,
    #[serde(borrow)]
    session_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    protocol: Option<Cow<'a, str>>,
    #[serde(borrow)]
    username: Option<Cow<'a, str>>,
    #[serde(borrow)]
    password: Option<Cow<'a, str>>,
    #[serde(borrow)]
    input: Option<Cow<'a, str>>,
    /// Cowrie `command.input` of a line typed into a running command's stdin
    /// (`crontab`, `wc`...): present only there; such a line is data, not a command.
    realm: Option<serde::de::IgnoredAny>,
    /// trawl's `auth_attempt`: how the secret was sent (`publickey` for a key offer).
    #[serde(borrow)]
    mechanism: Option<Cow<'a, str>>,
    /// trawl's `auth_attempt`: a hash of the secret, or for a key offer its
    /// fingerprint (`algorithm SHA256:...`).
    #[serde(borrow)]
    password_hash: Option<Cow<'a, str>>,
    /// Cowrie `client.fingerprint`: the offered key's MD5 fingerprint.
    #[serde(borrow)]
    fingerprint: Option<Cow<'a, str>>,
    /// Cowrie `client.fingerprint`: the offered key (OpenSSH one-line form).
    #[serde(borrow)]
    key: Option<Cow<'a, str>>,
    #[serde(borrow)]
    url: Option<Cow<'a, str>>,
    #[serde(borrow)]
    duration: Option<NumOrText<'a>>,
    #[serde(borrow)]
    duration_ms: Option<NumOrText<'a>>,
    num_auth_attempts: Option<u64>,
    #[serde(borrow)]
    auth_attempts: Option<Vec<NestedAttempt<'a>>>,
    #[serde(borrow)]
    logdata: Option<LogData<'a>>,
    /// Cowrie `cowrie.client.version`: the client's banner. Any JSON value, so that
    /// an odd type in some other record does not make the whole line unreadable.
    version: Option<serde_json::Value>,
    /// Heralding's and trawl's session extras (`client_version` is read); any value.
    auxiliary_data: Option<serde_json::Value>,
    /// Cowrie `file_download` / `file_upload`: the payload's SHA-256. The fields
    /// below are any JSON value for the same reason as `version`.
    shasum: Option<serde_json::Value>,
    /// Cowrie `file_upload`: the uploaded file's name.
    filename: Option<serde_json::Value>,
    /// Cowrie `client.kex`: the client's HASSH.
    hassh: Option<serde_json::Value>,
    /// Cowrie `client.var`: the environment variable's name and value.
    name: Option<serde_json::Value>,
    value: Option<serde_json::Value>,
    /// Cowrie `client.size`: the terminal's width and height.
    width: Option<serde_json::Value>,
    height: Option<serde_json::Value>,
    /// Cowrie `reversedns.connect`: the source address's PTR name.
    ptr: Option<serde_json::Value>,
    /// Cowrie `virustotal.scanfile`: the file's SHA-256.
    sha256: Option<serde_json::Value>,
    /// Cowrie `virustotal.scanfile`: engines that flagged the file (known files).
    positives: Option<serde_json::Value>,
    /// Cowrie `virustotal.scanfile`: engines consulted (known files).
    total: Option<serde_json::Value>,
    /// Cowrie `client.kex`: the algorithm lists behind the HASSH.
    #[serde(rename = "hasshAlgorithms")]
    hassh_algorithms: Option<serde_json::Value>,
    /// Cowrie `direct-tcpip.*`: the tunnel's destination host.
    dst_ip: Option<serde_json::Value>,
    /// Cowrie `direct-tcpip.data`: Python's `repr()` of the bytes sent.
    data: Option<serde_json::Value>,
}

/// The format name of Heralding's `log_session.json`.
pub const HERALDING_SESSION_JSON: &str = "Heralding session JSON";

/// The format name of trawl's `events.jsonl`.
pub const TRAWL_EVENTS: &str = "trawl events.jsonl";

/// Names the format of a first line, for the input summary.
pub fn describe(line: &str) -> String {
    match serde_json::from_str::<Line<'_>>(line) {
        Ok(l) if l.eventid.is_some() => "Cowrie JSON".into(),
        Ok(l) if l.logtype.is_some() => "OpenCanary JSON".into(),
        Ok(l) if l.kind.is_some() => TRAWL_EVENTS.into(),
        Ok(l) if l.auth_attempts.is_some() => HERALDING_SESSION_JSON.into(),
        _ => "JSON lines".into(),
    }
}

fn text<'a>(v: &Option<Cow<'a, str>>) -> Cow<'a, str> {
    v.clone().unwrap_or(Cow::Borrowed(""))
}

fn parse_ip(text: Option<&Cow<'_, str>>) -> Option<IpAddr> {
    text?
        .trim()
        .parse::<IpAddr>()
        .ok()
        .map(|ip| ip.to_canonical())
}

/// Parses every line of a JSON-lines block.
pub fn parse_block(block: &Block, agg: &mut Aggregator, opts: &Options) -> Result<(), ReportError> {
    let file = &block.file;
    for (offset, raw) in block.data.split(|&b| b == b'\n').enumerate() {
        let line_no = block.first_line + offset as u64;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let line: Line<'_> = match serde_json::from_slice(raw) {
            Ok(l) => l,
            Err(e) => {
                bad(
                    agg,
                    opts,
                    file.index,
                    &file.display,
                    line_no,
                    format!("bad JSON: {e}"),
                )?;
                continue;
            }
        };
        if let Err(reason) = ingest_line(&line, agg, file, opts) {
            bad(agg, opts, file.index, &file.display, line_no, reason)?;
        }
    }
    Ok(())
}

fn ingest_line(
    line: &Line<'_>,
    agg: &mut Aggregator,
    file: &InputFile,
    opts: &Options,
) -> Result<(), String> {
    let index = file.index;
    if let Some(eventid) = &line.eventid {
        return cowrie(line, eventid, agg, index, opts);
    }
    if let Some(code) = line.logtype {
        return opencanary(line, code, agg, index, opts);
    }
    if line.kind.is_some() || line.auth_attempts.is_some() {
        return trawl_or_heralding(line, agg, file, opts);
    }
    Err("JSON line is not a Cowrie, OpenCanary, Heralding or trawl record".into())
}

fn required_ts(text: Option<&Cow<'_, str>>) -> Result<i64, String> {
    let t = text.ok_or("missing timestamp")?;
    parse_timestamp(t).ok_or_else(|| format!("bad timestamp {:?}", clip(t)))
}

fn required_ip(text: Option<&Cow<'_, str>>, name: &str) -> Result<IpAddr, String> {
    parse_ip(text)
        .ok_or_else(|| format!("missing or bad {name} {:?}", clip(text.map_or("", |t| t))))
}

/// The fingerprint of the key of a Cowrie `client.fingerprint` record: computed
/// from its `key` (so that it matches trawl's records of the same key), else its
/// logged MD5 fingerprint under the key's `type`; empty when neither is usable.
fn cowrie_key_print(line: &Line<'_>) -> String {
    let kind = line.kind.as_deref();
    if let Some(print) = line
        .key
        .as_deref()
        .and_then(|k| crate::sshkey::print_of_key(k, kind))
    {
        return print;
    }
    let md5 = line
        .fingerprint
        .as_deref()
        .map(str::trim)
        .unwrap_or_default();
    let is_md5 = md5.len() == 47
        && md5.bytes().enumerate().all(|(i, b)| {
            if i % 3 == 2 {
                b == b':'
            } else {
                b.is_ascii_hexdigit()
            }
        });
    match kind {
        Some(kind) if is_md5 && crate::sshkey::is_algorithm_name(kind) => {
            format!("{kind} MD5:{}", md5.to_ascii_lowercase())
        }
        _ => String::new(),
    }
}

fn cowrie(
    line: &Line<'_>,
    eventid: &str,
    agg: &mut Aggregator,
    index: usize,
    opts: &Options,
) -> Result<(), String> {
    let base = |kind| -> Result<Event<'_>, String> {
        Ok(Event {
            ts: Some(required_ts(line.timestamp.as_ref())?),
            src: Some(required_ip(line.src_ip.as_ref(), "src_ip")?),
            src_port: line.src_port.as_ref().and_then(NumOrText::as_port),
            dst_port: line.dst_port.as_ref().and_then(NumOrText::as_port),
            protocol: Cow::Owned(
                line.protocol
                    .as_deref()
                    .unwrap_or("ssh")
                    .to_ascii_lowercase(),
            ),
            session: line.session.clone(),
            kind,
        })
    };
    if let Some(kind) = cowrie_ioc(line, eventid) {
        let mut ev = base(kind)?;
        if matches!(ev.kind, EventKind::Tunnel { .. }) {
            // The ports of a direct-tcpip record are the tunnel's, not the connection's.
            (ev.src_port, ev.dst_port) = (None, None);
        }
        agg.ingest(index, &ev, &opts.filters);
    }
    let kind = match eventid {
        "cowrie.login.failed" | "cowrie.login.success" => {
            let key_login =
                line.password.is_none() && (line.fingerprint.is_some() || line.key.is_some());
            let success = eventid == "cowrie.login.success";
            if line.username.is_none() || key_login {
                // A public-key attempt: Cowrie logs it as `client.fingerprint`, which
                // counts it, and then (newer versions) as a login record with the
                // user and the key but no password: not a second attempt, and no
                // empty password; an accepted one still counts as a login.
                if key_login && success {
                    agg.ingest(index, &base(EventKind::KeyLoginSucceeded)?, &opts.filters);
                }
                return Ok(());
            }
            let success = Some(success);
            EventKind::Auth {
                username: text(&line.username),
                password: text(&line.password),
                success,
            }
        }
        "cowrie.client.fingerprint" => EventKind::KeyOffer {
            username: text(&line.username),
            print: Cow::Owned(cowrie_key_print(line)),
        },
        // Every shell line is a `command.input`; `command.failed` repeats each of its
        // commands Cowrie does not emulate (`foo; bar` logs three records), so it
        // would count them twice.
        "cowrie.command.failed" => return Ok(()),
        "cowrie.command.input" if line.realm.is_some() => return Ok(()),
        "cowrie.command.input" => EventKind::Command {
            line: line.input.clone().ok_or("command event without input")?,
        },
        "cowrie.session.file_download" | "cowrie.session.file_download.failed" => match &line.url {
            Some(url) => EventKind::Download { url: url.clone() },
            None => return Ok(()),
        },
        "cowrie.session.connect" => EventKind::Connect,
        "cowrie.client.version" => match line.version.as_ref().and_then(|v| v.as_str()) {
            Some(version) => EventKind::ClientVersion {
                version: Cow::Owned(version.to_string()),
            },
            None => return Ok(()),
        },
        "cowrie.session.closed" => {
            let ms = match (&line.duration_ms, &line.duration) {
                (Some(ms), _) => ms.as_f64(),
                (None, Some(secs)) => secs.as_f64().map(|s| s * 1000.0),
                (None, None) => None,
            };
            EventKind::SessionEnd {
                duration_ms: ms.filter(|m| m.is_finite() && *m >= 0.0).map(|m| m as u64),
                attempts: None,
            }
        }
        _ => return Ok(()),
    };
    let ev = base(kind)?;
    agg.ingest(index, &ev, &opts.filters);
    Ok(())
}

/// The indicator a Cowrie record carries besides what [`cowrie`] counts: a
/// payload digest (downloads and uploads), a tunnel request or its data, a HASSH.
/// Values of another JSON type are ignored without a bad row.
fn cowrie_ioc<'l>(line: &'l Line<'_>, eventid: &str) -> Option<EventKind<'l>> {
    let text = |v: &'l Option<serde_json::Value>| v.as_ref().and_then(|v| v.as_str());
    match eventid {
        "cowrie.session.file_download" | "cowrie.session.file_upload" => {
            let upload = eventid == "cowrie.session.file_upload";
            Some(EventKind::PayloadHash {
                sha256: Cow::Borrowed(text(&line.shasum)?),
                url: line.url.clone().filter(|_| !upload),
                upload: text(&line.filename).filter(|_| upload).map(Cow::Borrowed),
            })
        }
        "cowrie.direct-tcpip.request" | "cowrie.direct-tcpip.data" => Some(EventKind::Tunnel {
            host: Cow::Borrowed(text(&line.dst_ip)?),
            port: line.dst_port.as_ref().and_then(NumOrText::as_port)?,
            data: (eventid == "cowrie.direct-tcpip.data")
                .then(|| Cow::Borrowed(text(&line.data).unwrap_or_default())),
        }),
        "cowrie.client.var" => Some(EventKind::ClientRequest {
            what: ClientRequest::Env,
            text: Cow::Owned(format!("{}={}", text(&line.name)?, text(&line.value)?)),
        }),
        "cowrie.client.size" => Some(EventKind::ClientRequest {
            what: ClientRequest::TerminalSize,
            text: Cow::Owned(format!(
                "{}x{}",
                engine_count(&line.width)?,
                engine_count(&line.height)?
            )),
        }),
        "cowrie.log.closed" => Some(EventKind::TtyInput {
            sha256: Cow::Borrowed(text(&line.shasum)?),
        }),
        "cowrie.reversedns.connect" => Some(EventKind::SourceName {
            ptr: Cow::Borrowed(text(&line.ptr)?),
        }),
        "cowrie.virustotal.scanfile" => Some(EventKind::VirusTotal {
            sha256: Cow::Borrowed(text(&line.sha256)?),
            result: engine_count(&line.positives).zip(engine_count(&line.total)),
        }),
        "cowrie.virustotal.scanurl" => Some(EventKind::UrlVerdict {
            url: Cow::Borrowed(line.url.as_deref()?),
            result: engine_count(&line.positives).zip(engine_count(&line.total)),
        }),
        "cowrie.client.kex" => Some(EventKind::Hassh {
            hassh: Cow::Borrowed(text(&line.hassh)?),
            algorithms: text(&line.hassh_algorithms).map(Cow::Borrowed),
        }),
        _ => None,
    }
}

/// A count (antivirus engines, terminal columns): a JSON number or numeric
/// string, at most `u32::MAX` (anything else is no count).
fn engine_count(value: &Option<serde_json::Value>) -> Option<u32> {
    match value.as_ref()? {
        serde_json::Value::Number(n) => u32::try_from(n.as_u64()?).ok(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The client version and HASSH in a session record's `auxiliary_data` (string
/// values only), as events.
fn client_events(aux: Option<&serde_json::Value>) -> impl Iterator<Item = EventKind<'_>> {
    let text = move |key: &str| aux?.get(key)?.as_str().map(Cow::Borrowed);
    let version = text("client_version").map(|version| EventKind::ClientVersion { version });
    let hassh = text("hassh").map(|hassh| EventKind::Hassh {
        hassh,
        algorithms: text("hassh_algorithms"),
    });
    version.into_iter().chain(hassh)
}

fn opencanary(
    line: &Line<'_>,
    code: u32,
    agg: &mut Aggregator,
    index: usize,
    opts: &Options,
) -> Result<(), String> {
    let Some((protocol, kind)) = crate::data::opencanary_logtype(code) else {
        return Ok(());
    };
    let kind = match kind {
        "auth" => {
            let data = line.logdata.as_ref().ok_or("login event without logdata")?;
            EventKind::Auth {
                username: data.username.clone().unwrap_or(Cow::Borrowed("")),
                password: data.password.clone().unwrap_or(Cow::Borrowed("")),
                success: None,
            }
        }
        "connect" => EventKind::Connect,
        // Once per connection (4001); the login records (4002) repeat it.
        "client" => match line.logdata.as_ref().and_then(|d| d.remote_version.clone()) {
            Some(version) => EventKind::ClientVersion { version },
            None => return Ok(()),
        },
        _ => return Ok(()),
    };
    let ev = Event {
        ts: Some(required_ts(
            line.utc_time.as_ref().or(line.timestamp.as_ref()),
        )?),
        src: Some(required_ip(line.src_host.as_ref(), "src_host")?),
        src_port: line.src_port.as_ref().and_then(NumOrText::as_port),
        dst_port: line.dst_port.as_ref().and_then(NumOrText::as_port),
        protocol: Cow::Borrowed(protocol),
        session: None,
        kind,
    };
    agg.ingest(index, &ev, &opts.filters);
    Ok(())
}

fn trawl_or_heralding(
    line: &Line<'_>,
    agg: &mut Aggregator,
    file: &InputFile,
    opts: &Options,
) -> Result<(), String> {
    let index = file.index;
    if !matches!(
        line.kind.as_deref(),
        None | Some("auth_attempt" | "session")
    ) {
        return Ok(()); // event kinds added later (docs/sensor-outputs.md) are skipped
    }
    let ts = required_ts(line.timestamp.as_ref())?;
    let src = required_ip(line.source_ip.as_ref(), "source_ip")?;
    let protocol = Cow::<str>::Owned(
        line.protocol
            .as_deref()
            .unwrap_or_default()
            .to_ascii_lowercase(),
    );
    let make = |ts, kind| Event {
        ts: Some(ts),
        src: Some(src),
        src_port: line.source_port.as_ref().and_then(NumOrText::as_port),
        dst_port: line.destination_port.as_ref().and_then(NumOrText::as_port),
        protocol: protocol.clone(),
        session: line.session_id.clone(),
        kind,
    };
    match line.kind.as_deref() {
        Some("auth_attempt") => {
            let password = text(&line.password);
            let kind = Secret::of(
                &password,
                line.mechanism.as_deref().unwrap_or_default(),
                line.password_hash.as_deref().unwrap_or_default(),
            )
            .login(text(&line.username), password.clone());
            agg.ingest(index, &make(ts, kind), &opts.filters);
        }
        Some("session") | None => {
            if line.kind.is_none() && !file.nested_attempts_elsewhere {
                // Heralding's log_session.json without its log_auth.csv: the
                // attempts are only here.
                for attempt in line.auth_attempts.iter().flatten() {
                    let at = attempt
                        .timestamp
                        .as_ref()
                        .and_then(|t| parse_timestamp(t))
                        .unwrap_or(ts);
                    let kind = EventKind::Auth {
                        username: text(&attempt.username),
                        password: text(&attempt.password),
                        success: None,
                    };
                    agg.ingest(index, &make(at, kind), &opts.filters);
                }
            }
            for kind in client_events(line.auxiliary_data.as_ref()) {
                agg.ingest(index, &make(ts, kind), &opts.filters);
            }
            let secs = line.duration.as_ref().and_then(NumOrText::as_f64);
            let kind = EventKind::SessionEnd {
                duration_ms: secs
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .map(|s| (s * 1000.0) as u64),
                attempts: line.num_auth_attempts,
            };
            agg.ingest(index, &make(ts, kind), &opts.filters);
        }
        Some(_) => {}
    }
    Ok(())
}
