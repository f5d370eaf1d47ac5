//! Borderless threat-intel monitoring: checks an inventory of the organisation and its
//! suppliers (domains, mail domains, brands, IP ranges, executives) against outside data —
//! domain feeds and DNS/proxy logs, threat feeds and honeypot logs, scan results, credential
//! dumps, social and forum text — and turns what it finds into deduplicated alerts.
//!
//! * [`inventory`] reads the TOML inventory (errors with line and column).
//! * [`input`] expands sources and reads bounded lines (gzip transparently).
//! * [`format`] sniffs each source's format and extracts domains and addresses per line.
//! * Lookalikes use the `trawl-domains` [`Matcher`]; addresses the [`ipindex::IpIndex`];
//!   dumps the [`creds::CredScanner`]; scan results the [`scan::ServiceIndex`] (nmap XML is
//!   read as a document there); social text the [`social::Mentions`].
//! * [`store`] remembers reported alerts (SQLite), [`render`] prints them, [`webhook`] posts
//!   the new ones.

pub mod alert;
mod blocks;
pub mod creds;
pub mod document;
pub mod follow;
pub mod format;
pub mod input;
pub mod inventory;
pub mod ipindex;
pub mod render;
pub mod scan;
pub mod social;
pub mod store;
pub mod webhook;

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;

use trawl_domains::{Brand, MatchOptions, Matcher};

use crate::alert::{Alert, Category, Evidence, Severity, shorten};
use crate::creds::{CredHit, CredScanner};
use crate::format::{Format, Items, Sniff};
use crate::input::Line;
use crate::inventory::Inventory;
use crate::ipindex::{IpIndex, RangeOwner, interval};

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The inventory file is unusable.
    #[error("inventory {path}: {reason}")]
    Inventory {
        /// The file.
        path: String,
        /// What is wrong (with line and column when known).
        reason: String,
    },
    /// A source argument matched nothing.
    #[error("source {path}: {reason}")]
    Source {
        /// The argument.
        path: String,
        /// Why.
        reason: String,
    },
    /// I/O failure.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The lookalike matcher could not be built.
    #[error("domains: {0}")]
    Domains(#[from] trawl_domains::DomainError),
    /// State store failure.
    #[error("state store: {0}")]
    Store(String),
}

/// A problem with one line (or a whole source) that did not stop the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The source.
    pub source: String,
    /// 1-based line (0: the whole source).
    pub line: u64,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.source, self.message)
        } else {
            write!(f, "{}: line {}: {}", self.source, self.line, self.message)
        }
    }
}

/// Scan settings.
#[derive(Debug, Clone, Copy, Default)]
pub struct Settings {
    /// Show dumped passwords in clear (never stored).
    pub reveal: bool,
}

/// Counters and findings of one run.
#[derive(Debug, Default)]
pub struct Run {
    /// Sources read.
    pub sources: u64,
    /// Lines read.
    pub lines: u64,
    /// Bytes read (decompressed).
    pub bytes: u64,
    /// Lines skipped (too long, binary, invalid UTF-8, malformed).
    pub skipped: u64,
    /// Warnings, in order.
    pub warnings: Vec<Warning>,
    alerts: Vec<Alert>,
    by_key: HashMap<String, usize>,
    /// Alerts already handed out by [`Run::take_fresh`].
    handed_out: usize,
}

impl Run {
    /// The alerts, deduplicated within the run, in order of first sighting.
    pub fn into_alerts(self) -> Vec<Alert> {
        self.alerts
    }

    /// The alerts first seen since the last call (follow mode emits them as they are found).
    pub fn take_fresh(&mut self) -> Vec<Alert> {
        let fresh = self
            .alerts
            .get(self.handed_out..)
            .unwrap_or_default()
            .to_vec();
        self.handed_out = self.alerts.len();
        fresh
    }

    fn add(&mut self, alert: Alert) {
        let key = alert.key();
        if let Some(&i) = self.by_key.get(&key) {
            if let Some(a) = self.alerts.get_mut(i) {
                a.count += 1;
            }
            return;
        }
        self.by_key.insert(key, self.alerts.len());
        self.alerts.push(alert);
    }

    fn warn(&mut self, source: &str, line: u64, message: impl Into<String>) {
        self.warnings.push(Warning {
            source: source.to_string(),
            line,
            message: message.into(),
        });
    }
}

/// One source being scanned: its name, its format once sniffed, and its line count.
#[derive(Debug, Default)]
pub struct SourceScan {
    name: String,
    format: Option<Format>,
    items: Items,
    hits: Vec<CredHit>,
    line_no: u64,
    warned_unknown: bool,
}

impl SourceScan {
    /// A source not read yet (its format is sniffed from its first meaningful line).
    pub fn new(name: &str) -> SourceScan {
        SourceScan {
            name: name.to_string(),
            ..SourceScan::default()
        }
    }

    /// The source's name in warnings and evidence.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Lines seen so far (the number of the last line).
    pub fn line_no(&self) -> u64 {
        self.line_no
    }
}

/// The inventory compiled for scanning. Build once.
pub struct Watcher {
    inventory: Inventory,
    matcher: Option<Matcher>,
    ranges: IpIndex,
    allowed_ips: IpIndex,
    creds: Option<CredScanner>,
    settings: Settings,
    services: scan::ServiceIndex,
    mentions: Option<social::Mentions>,
}

impl Watcher {
    /// Compiles the inventory: lookalike matcher, range index, dump patterns.
    pub fn new(inventory: Inventory, settings: Settings) -> Result<Watcher, WatchError> {
        let brands: Vec<Brand> = inventory
            .entities
            .iter()
            .filter(|e| !e.domains.is_empty() || !e.keywords.is_empty())
            .map(|e| Brand {
                name: e.name.clone(),
                domains: e.domains.clone(),
                keywords: e.keywords.iter().map(|k| k.to_lowercase()).collect(),
            })
            .collect();
        let allow: Vec<String> = inventory
            .entities
            .iter()
            .flat_map(|e| e.allow.domains.iter().cloned())
            .collect();
        let matcher = if brands.is_empty() {
            None
        } else {
            let options = MatchOptions {
                allow,
                ..MatchOptions::default()
            };
            Some(Matcher::new(&brands, &options)?)
        };
        let mut owners = Vec::new();
        let mut allowed = Vec::new();
        for (i, e) in inventory.entities.iter().enumerate() {
            RangeOwner::push_entity(&mut owners, i, &e.ip_ranges, &e.executives);
            RangeOwner::push_entity(&mut allowed, i, &e.allow.ips, &[]);
        }
        let creds = CredScanner::new(&inventory.entities);
        let services = scan::ServiceIndex::new(&inventory.entities);
        let mentions = social::Mentions::new(&inventory.entities);
        Ok(Watcher {
            inventory,
            matcher,
            ranges: IpIndex::new(owners),
            allowed_ips: IpIndex::new(allowed),
            creds,
            settings,
            services,
            mentions,
        })
    }

    /// Scans one opened source. `progress` gets the bytes read since the last call.
    pub fn scan_reader(
        &self,
        name: &str,
        mut reader: Box<dyn BufRead + Send>,
        run: &mut Run,
        progress: &dyn Fn(u64),
    ) {
        run.sources += 1;
        let mut scan = SourceScan::new(name);
        let mut buf = Vec::with_capacity(1 << 12);
        // A lone `[` or `{` first line (and any blank lines after it), held until the next
        // line says whether the source is one indented JSON document (document.rs).
        let mut held: Option<Vec<Vec<u8>>> = None;
        let mut seen_content = false;
        loop {
            let (state, used) =
                match input::read_line_bounded(&mut reader, &mut buf, input::MAX_LINE) {
                    Ok(x) => x,
                    Err(e) => {
                        run.skipped += 1;
                        run.warn(
                            name,
                            scan.line_no + 1,
                            format!("read error, rest of source skipped: {e}"),
                        );
                        break;
                    }
                };
            run.bytes += used as u64;
            progress(used as u64);
            if state == Line::Ok && scan.format.is_none() {
                let blank = buf.trim_ascii().is_empty();
                if let Some(lines) = &mut held {
                    if blank {
                        lines.push(buf.clone());
                        continue;
                    }
                    let lines = held.take().unwrap_or_default();
                    if !document::is_record_line(&buf) {
                        let mut head = Vec::new();
                        for line in lines.iter().chain(std::iter::once(&buf)) {
                            head.extend_from_slice(line);
                            head.push(b'\n');
                        }
                        self.scan_json_document(&mut scan, head, &mut *reader, run, progress);
                        break;
                    }
                    for line in &lines {
                        self.scan_line(&mut scan, line, run);
                    }
                } else if !seen_content && document::is_opening(&buf) {
                    held = Some(vec![buf.clone()]);
                    seen_content = true;
                    continue;
                }
                seen_content |= !blank;
            }
            for line in held.take().unwrap_or_default() {
                // Not a document after all (the source ended, or a line was too long).
                self.scan_line(&mut scan, &line, run);
            }
            match state {
                Line::Eof => break,
                Line::TooLong(len) => self.skip_long_line(&mut scan, len, run),
                Line::Ok => self.scan_line(&mut scan, &buf, run),
            }
            if scan.format == Some(Format::NmapXml) {
                // A document, not lines: the rest of the source goes to the XML reader.
                self.scan_nmap_xml(name, &buf, reader, scan.line_no, run, progress);
                break;
            }
            if matches!(scan.format, Some(Format::Dump | Format::IpList)) {
                // Bulk formats: the rest is read in blocks (blocks.rs), same output.
                self.scan_blocks(&mut scan, &mut *reader, run, progress);
                break;
            }
        }
    }

    /// Counts and reports a line longer than [`input::MAX_LINE`] (never buffered whole).
    pub fn skip_long_line(&self, scan: &mut SourceScan, len: usize, run: &mut Run) {
        scan.line_no += 1;
        run.skipped += 1;
        run.warn(
            &scan.name,
            scan.line_no,
            format!(
                "line of {len} bytes longer than {} skipped",
                input::MAX_LINE
            ),
        );
    }

    /// Scans the next line of a source (without its `\n` / `\r\n`).
    pub fn scan_line(&self, scan: &mut SourceScan, buf: &[u8], run: &mut Run) {
        scan.line_no += 1;
        let (name, line_no) = (scan.name.as_str(), scan.line_no);
        run.lines += 1;
        if memchr::memchr(0, buf).is_some() {
            run.skipped += 1;
            run.warn(name, line_no, "binary data (NUL bytes), line skipped");
            return;
        }
        if let Some(creds) = &self.creds
            && creds.is_candidate(buf)
        {
            scan.hits.clear();
            creds.scan_line(buf, &mut scan.hits);
            for h in scan.hits.drain(..) {
                let alert = self.credential_alert(name, line_no, h);
                run.add(alert);
            }
        }
        if scan.format == Some(Format::Dump) {
            return;
        }
        let Ok(text) = std::str::from_utf8(buf) else {
            run.skipped += 1;
            run.warn(name, line_no, "invalid UTF-8, line skipped");
            return;
        };
        let fmt = match &mut scan.format {
            Some(f) => f,
            None => match format::sniff(text) {
                Sniff::Undecided => return,
                Sniff::Unknown => {
                    if !scan.warned_unknown {
                        run.warn(
                            name,
                            line_no,
                            "unknown format; line skipped (credentials are still looked for)",
                        );
                        scan.warned_unknown = true;
                    }
                    run.skipped += 1;
                    return;
                }
                Sniff::Found(f, header) => {
                    let f = scan.format.insert(f);
                    if header && !matches!(f, Format::ZeekTsv(_)) {
                        return;
                    }
                    f
                }
            },
        };
        let items = &mut scan.items;
        items.clear();
        if let Err(reason) = format::extract(fmt, text, items) {
            run.skipped += 1;
            run.warn(name, line_no, format!("{}: {reason}", fmt.name()));
            return;
        }
        let honeypot = fmt.is_honeypot();
        let feed = fmt.name();
        self.check_items(name, line_no, text, items, honeypot, feed, run);
    }

    #[allow(clippy::too_many_arguments)]
    fn check_items(
        &self,
        name: &str,
        line_no: u64,
        text: &str,
        items: &Items,
        honeypot: bool,
        feed: &str,
        run: &mut Run,
    ) {
        let evidence = || Evidence {
            source: name.to_string(),
            line: line_no,
            snippet: shorten(text.trim(), 200),
        };
        if let Some(m) = &self.matcher {
            for d in &items.domains {
                if let Some(hit) = m.check(d) {
                    let severity = match hit.score {
                        80.. => Severity::High,
                        50..=79 => Severity::Medium,
                        _ => Severity::Low,
                    };
                    run.add(Alert {
                        entity: hit.brand.clone(),
                        category: Category::LookalikeDomain,
                        severity,
                        subject: hit.domain.clone(),
                        detail: format!(
                            "imitates {} ({}; score {})",
                            hit.brand_domain, hit.explanation, hit.score
                        ),
                        evidence: evidence(),
                        count: 1,
                        first_seen: 0,
                        last_seen: 0,
                        new: true,
                    });
                }
            }
        }
        for net in &items.nets {
            let (a, b) = interval(net);
            if !self.ranges.touches(a, b) || self.allowed_ips.covers(a, b) {
                continue;
            }
            let mut found = Vec::new();
            self.ranges.overlapping(a, b, |o| found.push(o.clone()));
            for o in found {
                let Some(entity) = self.inventory.entities.get(o.entity) else {
                    continue;
                };
                let (severity, whose) = match &o.executive {
                    Some(x) => (Severity::High, format!("home range of {x}")),
                    None if honeypot => (Severity::High, "entity range".to_string()),
                    None => (Severity::Medium, "entity range".to_string()),
                };
                let seen = if honeypot {
                    "attacking a honeypot"
                } else {
                    "listed"
                };
                run.add(Alert {
                    entity: entity.name.clone(),
                    category: Category::DirtyIp,
                    severity,
                    subject: net.trunc().to_string(),
                    detail: format!("{seen} in {feed} {name}; inside {} ({whose})", o.range),
                    evidence: evidence(),
                    count: 1,
                    first_seen: 0,
                    last_seen: 0,
                    new: true,
                });
            }
        }
        self.check_ports(name, line_no, &items.ports, feed, run);
        self.check_texts(name, line_no, &items.texts, feed, run);
    }

    fn credential_alert(&self, name: &str, line_no: u64, h: CredHit) -> Alert {
        let entity = self
            .inventory
            .entities
            .get(h.entity)
            .map(|e| e.name.clone())
            .unwrap_or_default();
        let masked = h.password.as_deref().map(creds::mask);
        let subject = match &masked {
            Some(m) => format!("{} ({m})", h.email),
            None => h.email.clone(),
        };
        let severity = match (&h.executive, &h.password) {
            (Some(_), Some(_)) => Severity::Critical,
            (_, Some(_)) | (Some(_), None) => Severity::High,
            (None, None) => Severity::Medium,
        };
        let whose = h
            .executive
            .as_ref()
            .map_or(String::new(), |x| format!(" (personal address of {x})"));
        let password = match (&h.password, self.settings.reveal) {
            (Some(p), true) => format!("password {:?}", String::from_utf8_lossy(p)),
            (Some(_), false) => format!("password {}", masked.unwrap_or_default()),
            (None, _) => "no password on the line".to_string(),
        };
        Alert {
            entity,
            category: Category::CredentialExposure,
            severity,
            subject,
            detail: format!("{}{whose} in dump; {password}", h.email),
            evidence: Evidence {
                source: name.to_string(),
                line: line_no,
                snippet: format!("{}:<password hidden>", h.email),
            },
            count: 1,
            first_seen: 0,
            last_seen: 0,
            new: true,
        }
    }

    /// Scans files, directories, globs or `-`; a source that cannot be opened is a warning.
    pub fn scan_sources(
        &self,
        sources: &[String],
        run: &mut Run,
        progress: &dyn Fn(u64),
    ) -> Result<(), WatchError> {
        for path in input::expand_sources(sources)? {
            let name = path.display().to_string();
            match input::open(&path) {
                Ok(reader) => self.scan_reader(&name, reader, run, progress),
                Err(e) => run.warn(&name, 0, format!("cannot open: {e}")),
            }
        }
        Ok(())
    }
}

/// Loads the inventory and compiles it.
pub fn load(inventory: &Path, settings: Settings) -> Result<Watcher, WatchError> {
    Watcher::new(Inventory::load(inventory)?, settings)
}
