//! Output formats: aligned text (default), JSON, CSV, Markdown, HTML.

mod csv_out;
mod html;
mod md;
mod svg;
mod text;

use std::io::Write;

use crate::error::ReportError;
use crate::report::{Campaign, Report};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// Aligned terminal tables.
    Text,
    /// One JSON document.
    Json,
    /// Every table in one long CSV (`table,rank,...`).
    Csv,
    /// Markdown tables.
    Md,
    /// A self-contained HTML page with inline SVG charts.
    Html,
}

/// Writes the report.
pub fn render(
    report: &Report,
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<(), ReportError> {
    match format {
        OutputFormat::Text => text::render(report, out)?,
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, report)?;
            writeln!(out)?;
        }
        OutputFormat::Csv => csv_out::render(report, out)?,
        OutputFormat::Md => md::render(report, out)?,
        OutputFormat::Html => out.write_all(html::render(report).as_bytes())?,
    }
    Ok(())
}

/// Makes hostile text safe to print on a terminal or in a table cell: control
/// characters (ANSI escapes, newlines) become `\xNN`/`\n`, and long text is cut.
pub fn printable(text: &str, max_chars: usize) -> String {
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i >= max_chars {
            out.push('…');
            break;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

/// A labelled table: title, headers, rows, which columns are numbers (right-aligned).
pub(crate) struct Table {
    pub title: String,
    pub headers: Vec<&'static str>,
    pub numeric: Vec<bool>,
    pub rows: Vec<Vec<String>>,
}

/// Every table of the report, in display order (shared by text, Markdown and HTML).
/// Names of the four lists behind a HASSH, in their order.
const HASSH_LISTS: [&str; 4] = ["kex", "encryption", "mac", "compression"];

/// Characters of algorithm names per row of the HASSH algorithms table.
const ALGORITHMS_PER_ROW: usize = 80;

/// The algorithm lists behind the top HASSHes: a row per list, a long list over
/// several rows cut between names (no cell is clipped).
fn hassh_algorithms_table(items: &[crate::report::HasshAlgorithms]) -> Table {
    let mut rows = Vec::new();
    for h in items {
        let mut hassh = h.hassh.as_str();
        for (name, list) in HASSH_LISTS.iter().zip(h.lists()) {
            for (i, part) in comma_rows(list, ALGORITHMS_PER_ROW).into_iter().enumerate() {
                let name = if i == 0 { *name } else { "" };
                rows.push(vec![hassh.to_string(), name.to_string(), part]);
                hassh = "";
            }
        }
    }
    Table {
        title: "HASSH algorithms (what each HASSH above is the MD5 of)".into(),
        headers: vec!["hassh", "list", "algorithms"],
        numeric: vec![false, false, false],
        rows,
    }
}

/// `list` (comma-separated) in rows of at most `width` characters, cut after a
/// comma; a single longer name is a row of its own (and is clipped where cells are).
fn comma_rows(list: &str, width: usize) -> Vec<String> {
    let mut rows: Vec<String> = Vec::new();
    let mut names = list.split(',');
    let mut row = names.next().unwrap_or_default().to_string();
    for name in names {
        if row.chars().count() + 1 + name.chars().count() > width {
            rows.push(std::mem::take(&mut row) + ",");
        } else {
            row.push(',');
        }
        row.push_str(name);
    }
    rows.push(row);
    rows
}

pub(crate) fn tables(r: &Report) -> Vec<Table> {
    use crate::report::{Count, PairCount};
    let count_table = |title: &str, what: &'static str, items: &[Count]| Table {
        title: title.to_string(),
        headers: vec!["count", what],
        numeric: vec![true, false],
        rows: items
            .iter()
            .map(|c| vec![c.count.to_string(), c.value.clone()])
            .collect(),
    };
    let pair_table = |title: &str, items: &[PairCount]| Table {
        title: title.to_string(),
        headers: vec!["count", "username", "password", "kind", "label"],
        numeric: vec![true, false, false, false, false],
        rows: items
            .iter()
            .map(|p| {
                vec![
                    p.count.to_string(),
                    p.username.clone(),
                    p.password.clone(),
                    p.kind.into(),
                    p.label.unwrap_or("").into(),
                ]
            })
            .collect(),
    };
    let mut t = vec![
        Table {
            title: "Inputs".into(),
            headers: vec!["file", "format", "events", "bad rows"],
            numeric: vec![false, false, true, true],
            rows: r
                .inputs
                .iter()
                .map(|i| {
                    vec![
                        i.path.clone(),
                        i.format.clone(),
                        i.events.to_string(),
                        i.bad_rows.to_string(),
                    ]
                })
                .collect(),
        },
        filters_table(r),
        totals_table(r),
        count_table(
            "Login-prompt entries per protocol",
            "protocol",
            &r.protocols,
        ),
        count_table(
            "Login-prompt entries per destination port",
            "port",
            &r.ports,
        ),
        count_table("Top sources", "source_ip", &r.top_sources),
        source_clients_table(r),
        Table {
            title: "Reverse DNS of the top sources (Cowrie reversedns)".into(),
            headers: vec!["events", "source_ip", "ptr"],
            numeric: vec![true, false, false],
            rows: (r.top_source_names.iter())
                .map(|s| vec![s.events.to_string(), s.source.clone(), s.ptr.clone()])
                .collect(),
        },
        count_table("Top usernames (as logged)", "username", &r.top_usernames),
        count_table("Top passwords (as logged)", "password", &r.top_passwords),
        pair_table("Top username,password pairs (as logged)", &r.top_pairs),
        count_table(
            "Top usernames (credential attempts only)",
            "username",
            &r.top_credential_usernames,
        ),
        count_table(
            "Top passwords (credential attempts only)",
            "password",
            &r.top_credential_passwords,
        ),
        pair_table("Top credentials", &r.top_credentials),
        count_table("Top post-login commands", "command", &r.top_commands),
        count_table(
            "Client versions (sessions; SSH banners and the like)",
            "client",
            &r.top_client_versions,
        ),
        count_table(
            "SSH environment variables (Cowrie client.var)",
            "name=value",
            &r.top_client_env,
        ),
        count_table(
            "Terminal sizes (Cowrie client.size)",
            "width x height",
            &r.top_terminal_sizes,
        ),
        count_table(
            "Top HASSH (sessions; SSH client key-exchange fingerprints)",
            "hassh",
            &r.top_hassh,
        ),
        hassh_algorithms_table(&r.hassh_algorithms),
        Table {
            title: "IoT families (by source fingerprint)".into(),
            headers: vec!["sources", "events", "family"],
            numeric: vec![true, true, false],
            rows: r
                .iot
                .families
                .iter()
                .map(|f| vec![f.sources.to_string(), f.events.to_string(), f.family.into()])
                .collect(),
        },
        pair_table(
            "Known IoT default credentials seen",
            &r.iot.top_default_credentials,
        ),
        Table {
            title: "BusyBox token checks".into(),
            headers: vec!["count", "token", "known from"],
            numeric: vec![true, false, false],
            rows: r
                .iot
                .busybox_tokens
                .iter()
                .map(|t| {
                    vec![
                        t.count.to_string(),
                        t.value.clone(),
                        t.variant.unwrap_or("").into(),
                    ]
                })
                .collect(),
        },
        Table {
            title: "Payload hosts".into(),
            headers: vec![
                "attempts",
                "scanners",
                "host",
                "methods",
                "files",
                "first seen",
                "last seen",
                "credentials used",
            ],
            numeric: vec![true, true, false, false, false, false, false, false],
            rows: r
                .payload_hosts
                .iter()
                .map(|p| {
                    vec![
                        p.attempts.to_string(),
                        p.scanners.to_string(),
                        p.host.clone(),
                        p.methods.join(","),
                        p.files.join(","),
                        p.first_seen.clone().unwrap_or_default(),
                        p.last_seen.clone().unwrap_or_default(),
                        p.credentials
                            .iter()
                            .map(|c| format!("{}/{} ({})", c.username, c.password, c.count))
                            .collect::<Vec<_>>()
                            .join(" "),
                    ]
                })
                .collect(),
        },
        downloads_table(r),
        payload_hashes_table(r),
        tty_inputs_table(r),
        tunnels_table(r),
        ssh_keys_table(r),
        hashed_logins_table(r),
        Table {
            title: "Campaigns".into(),
            headers: vec![
                "#",
                "sources",
                "events",
                "family",
                "first seen",
                "last seen",
                "protocols",
                "credentials",
                "payload hosts",
                "flags",
            ],
            numeric: vec![
                true, true, true, false, false, false, false, false, false, false,
            ],
            rows: r
                .campaigns
                .iter()
                .map(|c| {
                    vec![
                        c.id.to_string(),
                        c.sources.to_string(),
                        c.events.to_string(),
                        c.family.into(),
                        c.first_seen.clone().unwrap_or_default(),
                        c.last_seen.clone().unwrap_or_default(),
                        c.protocols.join(","),
                        format!(
                            "{} pair(s): {}",
                            c.distinct_credentials,
                            c.credentials
                                .iter()
                                .map(|p| format!("{}/{}", p.username, p.password))
                                .collect::<Vec<_>>()
                                .join(" ")
                        ),
                        c.payload_hosts.join(" "),
                        c.flags.join("; "),
                    ]
                })
                .collect(),
        },
        sessions_table(r),
        Table {
            title: "Longest sessions".into(),
            headers: vec!["entries", "source", "start", "seconds", "behaviour"],
            numeric: vec![true, false, false, true, false],
            rows: r
                .sessions
                .top
                .iter()
                .map(|s| {
                    vec![
                        s.attempts.to_string(),
                        s.source.clone(),
                        s.start.clone(),
                        format!("{:.1}", s.duration_seconds),
                        s.behaviour.clone(),
                    ]
                })
                .collect(),
        },
        Table {
            title: format!(
                "Attempts over time ({}-second buckets, empty ones left out)",
                r.timeline.bucket_seconds
            ),
            headers: vec!["start", "credentials", "commands"],
            numeric: vec![false, true, true],
            rows: r
                .timeline
                .points
                .iter()
                .filter(|p| p.credentials + p.commands > 0)
                .map(|p| {
                    vec![
                        p.start.clone(),
                        p.credentials.to_string(),
                        p.commands.to_string(),
                    ]
                })
                .collect(),
        },
    ];
    add_campaign_columns(&mut t, r);
    t.push(Table {
        title: format!(
            "Bad rows ({} total, first {} shown)",
            r.bad_rows.total,
            r.bad_rows.shown.len()
        ),
        headers: vec!["file", "line", "problem"],
        numeric: vec![false, true, false],
        rows: r
            .bad_rows
            .shown
            .iter()
            .map(|b| vec![b.file.clone(), b.line.to_string(), b.reason.clone()])
            .collect(),
    });
    t
}

/// `value (count)` of each, space-separated.
fn counted(items: &[crate::report::Count]) -> String {
    items
        .iter()
        .map(|c| format!("{} ({})", c.value, c.count))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The client software of the top sources that announced any (no rows, so not
/// shown, for logs without client records).
fn source_clients_table(r: &Report) -> Table {
    Table {
        title: "SSH clients of the top sources".into(),
        headers: vec![
            "events",
            "source_ip",
            "client versions",
            "hassh",
            "library client",
        ],
        numeric: vec![true, false, false, false, false],
        rows: r
            .top_source_clients
            .iter()
            .map(|s| {
                vec![
                    s.events.to_string(),
                    s.source.clone(),
                    s.client_versions.join(" "),
                    s.hassh.join(" "),
                    s.libraries.join(", "),
                ]
            })
            .collect(),
    }
}

/// A column added to the campaigns table: its header and how a row's cell is made.
type CampaignColumn = (&'static str, fn(&Campaign) -> String);

/// Optional columns of the campaigns table that are shown together, and when a
/// campaign has a value for them.
struct ColumnGroup {
    has: fn(&Campaign) -> bool,
    columns: &'static [CampaignColumn],
}

/// The optional campaign columns, in table order: client software, bots named by
/// BusyBox tokens, SSH keys.
const CAMPAIGN_COLUMNS: [ColumnGroup; 3] = [
    ColumnGroup {
        has: |c| !c.client_versions.is_empty() || !c.hassh.is_empty(),
        columns: &[
            ("client versions (members)", |c| counted(&c.client_versions)),
            ("hassh (members)", |c| counted(&c.hassh)),
            ("library client", |c| c.client_libraries.join(", ")),
        ],
    },
    ColumnGroup {
        has: |c| !c.variants.is_empty(),
        columns: &[("known bots (busybox token)", |c| c.variants.join(", "))],
    },
    ColumnGroup {
        has: |c| !c.ssh_keys.is_empty(),
        columns: &[("ssh keys (members)", |c| counted(&c.ssh_keys))],
    },
];

/// Adds the optional columns (before `flags`) to the campaigns table, each group only
/// when some campaign has a value for it, so logs without them (Heralding's CSV) print
/// the table as before.
fn add_campaign_columns(tables: &mut [Table], r: &Report) {
    let Some(t) = tables.iter_mut().find(|t| t.title == "Campaigns") else {
        return;
    };
    for group in &CAMPAIGN_COLUMNS {
        if !r.campaigns.iter().any(group.has) {
            continue;
        }
        for (header, cell) in group.columns {
            let at = t.headers.len().saturating_sub(1);
            t.headers.insert(at, header);
            t.numeric.insert(at, false);
            for (row, c) in t.rows.iter_mut().zip(&r.campaigns) {
                let at = row.len().saturating_sub(1);
                row.insert(at, cell(c));
            }
        }
    }
}

/// The downloads, with a `virustotal` column when some URL has a verdict.
fn downloads_table(r: &Report) -> Table {
    let rows = (r.downloads.iter())
        .map(|d| {
            vec![
                d.count.to_string(),
                d.method.clone(),
                d.host.clone(),
                d.port.map(|p| p.to_string()).unwrap_or_default(),
                d.file.clone(),
                d.virustotal.as_ref().map(|v| v.label()).unwrap_or_default(),
            ]
        })
        .collect();
    let t = Table {
        title: "Downloads".into(),
        headers: vec!["count", "method", "host", "port", "file", "virustotal"],
        numeric: vec![true, false, false, true, false, false],
        rows,
    };
    without_empty_column(t, 5)
}

fn tty_inputs_table(r: &Report) -> Table {
    Table {
        title: "Identical shell sessions (Cowrie TTY input digests)".into(),
        headers: vec![
            "sessions",
            "sources",
            "sha256 of the typed input",
            "first seen",
            "last seen",
        ],
        numeric: vec![true, true, false, false, false],
        rows: r
            .tty_inputs
            .iter()
            .map(|t| {
                vec![
                    t.sessions.to_string(),
                    t.sources.to_string(),
                    t.sha256.clone(),
                    t.first_seen.clone().unwrap_or_default(),
                    t.last_seen.clone().unwrap_or_default(),
                ]
            })
            .collect(),
    }
}

/// `t` without column `col` when no row has anything in it (an optional column,
/// such as VirusTotal verdicts, that most logs never fill).
fn without_empty_column(mut t: Table, col: usize) -> Table {
    if t.rows
        .iter()
        .all(|row| row.get(col).is_none_or(String::is_empty))
        && col < t.headers.len()
    {
        t.headers.remove(col);
        if col < t.numeric.len() {
            t.numeric.remove(col);
        }
        for row in &mut t.rows {
            if col < row.len() {
                row.remove(col);
            }
        }
    }
    t
}

fn payload_hashes_table(r: &Report) -> Table {
    let t = Table {
        title: "Payload hashes (files the honeypot stored)".into(),
        headers: vec![
            "count",
            "sources",
            "sha256",
            "virustotal",
            "arrived as",
            "first seen",
            "last seen",
        ],
        numeric: vec![true, true, false, false, false, false, false],
        rows: r
            .payload_hashes
            .iter()
            .map(|h| {
                let arrived: Vec<String> = h
                    .urls
                    .iter()
                    .cloned()
                    .chain(h.uploads.iter().map(|u| format!("upload:{u}")))
                    .collect();
                vec![
                    h.count.to_string(),
                    h.sources.to_string(),
                    h.sha256.clone(),
                    h.virustotal.as_ref().map(|v| v.label()).unwrap_or_default(),
                    arrived.join(" "),
                    h.first_seen.clone().unwrap_or_default(),
                    h.last_seen.clone().unwrap_or_default(),
                ]
            })
            .collect(),
    };
    without_empty_column(t, 3)
}

fn tunnels_table(r: &Report) -> Table {
    Table {
        title: "Tunnel destinations (SSH direct-tcpip)".into(),
        headers: vec![
            "requests",
            "data",
            "sources",
            "destination",
            "http hosts",
            "first seen",
            "last seen",
        ],
        numeric: vec![true, true, true, false, false, false, false],
        rows: r
            .tunnel_destinations
            .iter()
            .map(|t| {
                vec![
                    t.requests.to_string(),
                    t.data.to_string(),
                    t.sources.to_string(),
                    t.destination.clone(),
                    t.http_hosts.join(" "),
                    t.first_seen.clone().unwrap_or_default(),
                    t.last_seen.clone().unwrap_or_default(),
                ]
            })
            .collect(),
    }
}

fn ssh_keys_table(r: &Report) -> Table {
    Table {
        title: "SSH public keys (offered at login, planted in authorized_keys)".into(),
        headers: vec![
            "offered",
            "planted",
            "sources",
            "key",
            "users",
            "comments",
            "first seen",
            "last seen",
        ],
        numeric: vec![true, true, true, false, false, false, false, false],
        rows: r
            .ssh_keys
            .iter()
            .map(|k| {
                vec![
                    k.offered.to_string(),
                    k.planted.to_string(),
                    k.sources.to_string(),
                    k.key.clone(),
                    k.usernames
                        .iter()
                        .map(|u| format!("{} ({})", u.value, u.count))
                        .collect::<Vec<_>>()
                        .join(" "),
                    k.comments.join(" "),
                    k.first_seen.clone().unwrap_or_default(),
                    k.last_seen.clone().unwrap_or_default(),
                ]
            })
            .collect(),
    }
}

fn hashed_logins_table(r: &Report) -> Table {
    Table {
        title: "Hashed logins (password not sent in clear; `trawl crack` tries wordlists)".into(),
        headers: vec!["attempts", "mechanism", "username"],
        numeric: vec![true, false, false],
        rows: r
            .hashed_logins
            .iter()
            .map(|h| {
                vec![
                    h.attempts.to_string(),
                    h.mechanism.clone(),
                    h.username.clone(),
                ]
            })
            .collect(),
    }
}

/// Networks of a filter shown in a table cell: a longer list (a scanner feed) is
/// its count and the first [`SHOWN_NETWORKS`] (JSON and CSV have them all).
const SHOWN_NETWORKS: usize = 3;

fn network_list(nets: &[String]) -> String {
    match nets.get(..SHOWN_NETWORKS) {
        Some(shown) if nets.len() > SHOWN_NETWORKS => {
            format!("{} networks: {}, …", nets.len(), shown.join(", "))
        }
        _ => nets.join(", "),
    }
}

/// The filters the report was made with; no rows when none was set.
fn filters_table(r: &Report) -> Table {
    let f = r.filters.clone().unwrap_or_default();
    let rows = [
        ("since", f.since.unwrap_or_default()),
        ("until (before)", f.until.unwrap_or_default()),
        ("protocols", f.protocols.join(", ")),
        ("sources in", network_list(&f.sources)),
        ("sources left out", network_list(&f.exclude_sources)),
    ];
    Table {
        title: "Filters".into(),
        headers: vec!["filter", "value"],
        numeric: vec![false, false],
        rows: rows
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| vec![k.to_string(), v])
            .collect(),
    }
}

fn totals_table(r: &Report) -> Table {
    let t = &r.totals;
    let (first, last) = r.time_range.clone().unwrap_or_default();
    let rows = [
        ("events", t.events.to_string()),
        ("time range", format!("{first} → {last}")),
        ("login-prompt entries", t.login_prompt_entries.to_string()),
        ("  credential attempts", t.credential_attempts.to_string()),
        ("  post-login commands", t.command_entries.to_string()),
        ("shell commands (Cowrie)", t.shell_commands.to_string()),
        ("logins accepted", t.logins_succeeded.to_string()),
        ("recorded downloads", t.recorded_downloads.to_string()),
        ("SSH public-key attempts", t.key_offers.to_string()),
        ("hashed-password attempts", t.hashed_attempts.to_string()),
        ("distinct sources", t.sources.to_string()),
        ("distinct credentials", t.distinct_credentials.to_string()),
        ("sessions", t.sessions.to_string()),
        (
            "Mirai default credential attempts",
            r.iot.mirai_default_attempts.to_string(),
        ),
        (
            "other IoT default credential attempts",
            r.iot.iot_default_attempts.to_string(),
        ),
        ("filtered out", t.filtered_out.to_string()),
        ("bad rows", t.bad_rows.to_string()),
    ];
    Table {
        title: "Totals".into(),
        headers: vec!["what", "value"],
        numeric: vec![false, true],
        rows: rows
            .into_iter()
            .map(|(k, v)| vec![k.to_string(), v])
            .collect(),
    }
}

fn sessions_table(r: &Report) -> Table {
    let s = &r.sessions;
    let mut rows: Vec<(String, String)> = [
        ("sessions", s.total.to_string()),
        ("  from session ids", s.by_session_id.to_string()),
        (
            "  rebuilt by address and time gap",
            s.by_time_gap.to_string(),
        ),
        ("with credential attempts", s.with_credentials.to_string()),
        ("with post-login commands", s.with_commands.to_string()),
        (
            "with Mirai's enable/system/shell/sh",
            s.mirai_sequence.to_string(),
        ),
        ("with download commands", s.with_downloads.to_string()),
        (
            "median length (s)",
            s.median_duration_seconds
                .map(|d| format!("{d:.1}"))
                .unwrap_or_default(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for h in &s.attempts_histogram {
        rows.push((format!("with {} entries", h.value), h.count.to_string()));
    }
    Table {
        title: "Sessions".into(),
        headers: vec!["what", "value"],
        numeric: vec![false, true],
        rows: rows
            .into_iter()
            .map(|(k, v)| vec![k.to_string(), v])
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_network_list_shows_its_count_first() {
        let nets =
            |n: usize| -> Vec<String> { (1..=n).map(|i| format!("10.{i}.0.0/16")).collect() };
        assert_eq!(network_list(&[]), "");
        assert_eq!(
            network_list(&nets(3)),
            "10.1.0.0/16, 10.2.0.0/16, 10.3.0.0/16"
        );
        assert_eq!(
            network_list(&nets(1200)),
            "1200 networks: 10.1.0.0/16, 10.2.0.0/16, 10.3.0.0/16, …"
        );
    }

    #[test]
    fn comma_rows_cut_between_names_and_keep_every_byte() {
        assert_eq!(comma_rows("", 10), [""]);
        assert_eq!(comma_rows("none", 10), ["none"]);
        assert_eq!(comma_rows("aaa,bbb,ccc", 7), ["aaa,bbb,", "ccc"]);
        assert_eq!(comma_rows("aaa,bbb,ccc", 11), ["aaa,bbb,ccc"]);
        assert_eq!(
            comma_rows("a,verylongname,b", 4),
            ["a,", "verylongname,", "b"]
        );
        for list in ["x,yy,zzz,,w", "curve25519-sha256,ecdh-sha2-nistp256,é,ü"] {
            for width in 1..12 {
                let rows = comma_rows(list, width);
                assert_eq!(rows.concat(), list, "{list} {width}");
                for row in &rows {
                    let name_fits = !row.trim_end_matches(',').contains(',');
                    assert!(row.chars().count() <= width + 1 || name_fits, "{row}");
                }
            }
        }
    }
}
