//! Every table in one long CSV: `table,rank,value,username,password,count,kind,label,detail`.

use std::io::Write;

use crate::error::ReportError;
use crate::report::{Count, PairCount, Report};

fn counts(
    w: &mut csv::Writer<&mut dyn Write>,
    table: &str,
    items: &[Count],
) -> Result<(), csv::Error> {
    for (i, c) in items.iter().enumerate() {
        let rank = (i + 1).to_string();
        w.write_record([
            table,
            &rank,
            &c.value,
            "",
            "",
            &c.count.to_string(),
            "",
            "",
            "",
        ])?;
    }
    Ok(())
}

fn pairs(
    w: &mut csv::Writer<&mut dyn Write>,
    table: &str,
    items: &[PairCount],
) -> Result<(), csv::Error> {
    for (i, p) in items.iter().enumerate() {
        let rank = (i + 1).to_string();
        w.write_record([
            table,
            &rank,
            "",
            &p.username,
            &p.password,
            &p.count.to_string(),
            p.kind,
            p.label.unwrap_or(""),
            "",
        ])?;
    }
    Ok(())
}

/// The payload-hash and tunnel-destination rows.
fn ioc_rows(w: &mut csv::Writer<&mut dyn Write>, r: &Report) -> Result<(), csv::Error> {
    for (i, h) in r.payload_hashes.iter().enumerate() {
        let mut detail = format!(
            "sources={} urls={} uploads={} first={} last={}",
            h.sources,
            h.urls.join("|"),
            h.uploads.join("|"),
            h.first_seen.clone().unwrap_or_default(),
            h.last_seen.clone().unwrap_or_default()
        );
        if let Some(v) = &h.virustotal {
            detail.push_str(&format!(" virustotal={}", v.label()));
        }
        w.write_record([
            "payload_hashes",
            &(i + 1).to_string(),
            &h.sha256,
            "",
            "",
            &h.count.to_string(),
            "",
            "",
            &detail,
        ])?;
    }
    for (i, t) in r.tty_inputs.iter().enumerate() {
        let detail = format!(
            "sources={} first={} last={}",
            t.sources,
            t.first_seen.clone().unwrap_or_default(),
            t.last_seen.clone().unwrap_or_default()
        );
        w.write_record([
            "tty_inputs",
            &(i + 1).to_string(),
            &t.sha256,
            "",
            "",
            &t.sessions.to_string(),
            "",
            "",
            &detail,
        ])?;
    }
    for (i, t) in r.tunnel_destinations.iter().enumerate() {
        let detail = format!(
            "data={} sources={} http_hosts={} first={} last={}",
            t.data,
            t.sources,
            t.http_hosts.join("|"),
            t.first_seen.clone().unwrap_or_default(),
            t.last_seen.clone().unwrap_or_default()
        );
        w.write_record([
            "tunnel_destinations",
            &(i + 1).to_string(),
            &t.destination,
            "",
            "",
            &t.requests.to_string(),
            "",
            "",
            &detail,
        ])?;
    }
    for (i, h) in r.hashed_logins.iter().enumerate() {
        w.write_record([
            "hashed_logins",
            &(i + 1).to_string(),
            &h.mechanism,
            &h.username,
            "",
            &h.attempts.to_string(),
            "",
            "",
            "",
        ])?;
    }
    for (i, k) in r.ssh_keys.iter().enumerate() {
        let users: Vec<String> = k
            .usernames
            .iter()
            .map(|u| format!("{}:{}", u.value, u.count))
            .collect();
        let detail = format!(
            "offered={} planted={} sources={} users={} comments={} first={} last={}",
            k.offered,
            k.planted,
            k.sources,
            users.join("|"),
            k.comments.join("|"),
            k.first_seen.clone().unwrap_or_default(),
            k.last_seen.clone().unwrap_or_default()
        );
        w.write_record([
            "ssh_keys",
            &(i + 1).to_string(),
            &k.key,
            "",
            "",
            &(k.offered + k.planted).to_string(),
            "",
            "",
            &detail,
        ])?;
    }
    Ok(())
}

/// The `top_source_clients` rows: source, events, and in `detail`
/// `clients=a|b hassh=x|y libraries=l`.
fn source_clients(w: &mut csv::Writer<&mut dyn Write>, r: &Report) -> Result<(), csv::Error> {
    for (i, s) in r.top_source_clients.iter().enumerate() {
        let detail = format!(
            "clients={} hassh={} libraries={}",
            s.client_versions.join("|"),
            s.hassh.join("|"),
            s.libraries.join("|")
        );
        w.write_record([
            "top_source_clients",
            &(i + 1).to_string(),
            &s.source,
            "",
            "",
            &s.events.to_string(),
            "",
            "",
            &detail,
        ])?;
    }
    Ok(())
}

/// The `top_source_names` rows: source, events, and the PTR name as `detail`.
fn source_names(w: &mut csv::Writer<&mut dyn Write>, r: &Report) -> Result<(), csv::Error> {
    for (i, s) in r.top_source_names.iter().enumerate() {
        let rank = (i + 1).to_string();
        let events = s.events.to_string();
        w.write_record([
            "top_source_names",
            &rank,
            &s.source,
            "",
            "",
            &events,
            "",
            "",
            &s.ptr,
        ])?;
    }
    Ok(())
}

/// The `inputs` rows: path, events, format as `kind`, `skipped` as `label` (with
/// the reason in `detail`) and `bad_rows=N` in `detail`.
fn inputs(w: &mut csv::Writer<&mut dyn Write>, r: &Report) -> Result<(), csv::Error> {
    for (i, f) in r.inputs.iter().enumerate() {
        let mut detail = format!("bad_rows={}", f.bad_rows);
        if let Some(why) = &f.skipped {
            detail.push_str(&format!(" skipped={why}"));
        }
        let (rank, events) = ((i + 1).to_string(), f.events.to_string());
        let label = if f.skipped.is_some() { "skipped" } else { "" };
        w.write_record([
            "inputs", &rank, &f.path, "", "", &events, &f.format, label, &detail,
        ])?;
    }
    Ok(())
}

/// The `filters` rows: the filter as `value` (`since`, `until`, `protocol`,
/// `source`, `exclude_source`), what it keeps or drops in `detail`, a row per
/// protocol and network.
fn filters(w: &mut csv::Writer<&mut dyn Write>, r: &Report) -> Result<(), csv::Error> {
    let Some(f) = &r.filters else {
        return Ok(());
    };
    let rows = (f.since.iter().map(|v| ("since", v)))
        .chain(f.until.iter().map(|v| ("until", v)))
        .chain(f.protocols.iter().map(|v| ("protocol", v)))
        .chain(f.sources.iter().map(|v| ("source", v)))
        .chain(f.exclude_sources.iter().map(|v| ("exclude_source", v)));
    for (k, v) in rows {
        w.write_record(["filters", "", k, "", "", "", "", "", v])?;
    }
    Ok(())
}

/// The `sessions` rows (how sessions were rebuilt and what they did), the
/// entries-per-session histogram and the `longest_sessions` (source, entries,
/// behaviour as `kind`, start as `label`, seconds as `detail`).
fn sessions(w: &mut csv::Writer<&mut dyn Write>, r: &Report) -> Result<(), csv::Error> {
    let s = &r.sessions;
    for (k, v) in [
        ("total", s.total),
        ("by_session_id", s.by_session_id),
        ("by_time_gap", s.by_time_gap),
        ("with_credentials", s.with_credentials),
        ("with_commands", s.with_commands),
        ("mirai_sequence", s.mirai_sequence),
        ("with_downloads", s.with_downloads),
    ] {
        let count = v.to_string();
        w.write_record(["sessions", "", k, "", "", &count, "", "", ""])?;
    }
    if let Some(median) = s.median_duration_seconds {
        let median = format!("{median:.1}");
        let key = "median_duration_seconds";
        w.write_record(["sessions", "", key, "", "", "", "", "", &median])?;
    }
    counts(w, "session_entries_histogram", &s.attempts_histogram)?;
    for (i, row) in s.top.iter().enumerate() {
        let (rank, entries) = ((i + 1).to_string(), row.attempts.to_string());
        let seconds = format!("{:.1}", row.duration_seconds);
        w.write_record([
            "longest_sessions",
            &rank,
            &row.source,
            "",
            "",
            &entries,
            &row.behaviour,
            &row.start,
            &seconds,
        ])?;
    }
    Ok(())
}

/// `a:3|b:1`: values with their member counts.
fn counted_list(items: &[Count]) -> String {
    items
        .iter()
        .map(|c| format!("{}:{}", c.value, c.count))
        .collect::<Vec<_>>()
        .join("|")
}

/// The end of a campaign's `detail`, each part only when the campaign has it (so a
/// campaign row without them is as before): ` clients=a:3|b:1 hassh=x:3 libraries=l`
/// (members per value), ` bots=Satori (Mirai fork)|…` (bots named by the members'
/// BusyBox tokens) and ` keys=print:2|print:1` (members per SSH key).
fn campaign_extras(c: &crate::report::Campaign) -> String {
    let mut out = String::new();
    if !c.client_versions.is_empty() || !c.hassh.is_empty() {
        out += &format!(
            " clients={} hassh={} libraries={}",
            counted_list(&c.client_versions),
            counted_list(&c.hassh),
            c.client_libraries.join("|")
        );
    }
    if !c.variants.is_empty() {
        out += &format!(" bots={}", c.variants.join("|"));
    }
    if !c.ssh_keys.is_empty() {
        out += &format!(" keys={}", counted_list(&c.ssh_keys));
    }
    out
}

/// Writes the CSV.
pub fn render(r: &Report, out: &mut dyn Write) -> Result<(), ReportError> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "table", "rank", "value", "username", "password", "count", "kind", "label", "detail",
    ])?;
    let t = &r.totals;
    for (k, v) in [
        ("events", t.events),
        ("login_prompt_entries", t.login_prompt_entries),
        ("credential_attempts", t.credential_attempts),
        ("command_entries", t.command_entries),
        ("shell_commands", t.shell_commands),
        ("sources", t.sources),
        ("sessions", t.sessions),
        ("bad_rows", t.bad_rows),
        ("filtered_out", t.filtered_out),
        ("logins_succeeded", t.logins_succeeded),
        ("recorded_downloads", t.recorded_downloads),
        ("key_offers", t.key_offers),
        ("hashed_attempts", t.hashed_attempts),
        ("distinct_credentials", t.distinct_credentials),
    ] {
        w.write_record(["totals", "", k, "", "", &v.to_string(), "", "", ""])?;
    }
    if let Some((first, last)) = &r.time_range {
        for (k, v) in [("first", first), ("last", last)] {
            w.write_record(["time_range", "", k, "", "", "", "", "", v])?;
        }
    }
    inputs(&mut w, r)?;
    filters(&mut w, r)?;
    sessions(&mut w, r)?;
    counts(&mut w, "protocols", &r.protocols)?;
    counts(&mut w, "ports", &r.ports)?;
    counts(&mut w, "top_sources", &r.top_sources)?;
    source_clients(&mut w, r)?;
    source_names(&mut w, r)?;
    counts(&mut w, "top_usernames", &r.top_usernames)?;
    counts(&mut w, "top_passwords", &r.top_passwords)?;
    pairs(&mut w, "top_pairs", &r.top_pairs)?;
    counts(
        &mut w,
        "top_credential_usernames",
        &r.top_credential_usernames,
    )?;
    counts(
        &mut w,
        "top_credential_passwords",
        &r.top_credential_passwords,
    )?;
    pairs(&mut w, "top_credentials", &r.top_credentials)?;
    counts(&mut w, "top_commands", &r.top_commands)?;
    counts(&mut w, "top_client_versions", &r.top_client_versions)?;
    counts(&mut w, "top_client_env", &r.top_client_env)?;
    counts(&mut w, "top_terminal_sizes", &r.top_terminal_sizes)?;
    counts(&mut w, "top_hassh", &r.top_hassh)?;
    for (i, h) in r.hassh_algorithms.iter().enumerate() {
        let rank = (i + 1).to_string();
        w.write_record([
            "hassh_algorithms",
            &rank,
            &h.hassh,
            "",
            "",
            "",
            "",
            "",
            &h.algorithms,
        ])?;
    }
    for p in &r.timeline.points {
        w.write_record([
            "timeline",
            "",
            &p.start,
            "",
            "",
            &p.credentials.to_string(),
            "credentials",
            "",
            &p.commands.to_string(),
        ])?;
    }
    for f in &r.iot.families {
        w.write_record([
            "families",
            "",
            f.family,
            "",
            "",
            &f.sources.to_string(),
            "",
            "",
            &f.events.to_string(),
        ])?;
    }
    pairs(
        &mut w,
        "iot_default_credentials",
        &r.iot.top_default_credentials,
    )?;
    for (i, d) in r.downloads.iter().enumerate() {
        let port = d.port.map(|p| p.to_string()).unwrap_or_default();
        let (rank, count) = ((i + 1).to_string(), d.count.to_string());
        let mut detail = format!("file={}", d.file);
        if let Some(v) = &d.virustotal {
            detail.push_str(&format!(" virustotal={}", v.label()));
        }
        w.write_record([
            "downloads",
            &rank,
            &d.host,
            "",
            "",
            &count,
            &d.method,
            &port,
            &detail,
        ])?;
    }
    for (i, t) in r.iot.busybox_tokens.iter().enumerate() {
        w.write_record([
            "busybox_tokens",
            &(i + 1).to_string(),
            &t.value,
            "",
            "",
            &t.count.to_string(),
            "",
            t.variant.unwrap_or(""),
            "",
        ])?;
    }
    for (i, p) in r.payload_hosts.iter().enumerate() {
        let detail = format!(
            "scanners={} methods={} files={} first={} last={}",
            p.scanners,
            p.methods.join("|"),
            p.files.join("|"),
            p.first_seen.clone().unwrap_or_default(),
            p.last_seen.clone().unwrap_or_default()
        );
        w.write_record([
            "payload_hosts",
            &(i + 1).to_string(),
            &p.host,
            "",
            "",
            &p.attempts.to_string(),
            "",
            "",
            &detail,
        ])?;
    }
    ioc_rows(&mut w, r)?;
    for c in &r.campaigns {
        let detail = format!(
            "family={} creds={} hosts={} flags={}",
            c.family,
            c.credentials
                .iter()
                .map(|p| format!("{}/{}", p.username, p.password))
                .collect::<Vec<_>>()
                .join("|"),
            c.payload_hosts.join("|"),
            c.flags.join("|")
        ) + &campaign_extras(c);
        w.write_record([
            "campaigns",
            &c.id.to_string(),
            &c.source_sample.join("|"),
            "",
            "",
            &c.sources.to_string(),
            "",
            "",
            &detail,
        ])?;
    }
    for b in &r.bad_rows.shown {
        w.write_record([
            "bad_rows",
            "",
            &b.file,
            "",
            "",
            &b.line.to_string(),
            "",
            "",
            &b.reason,
        ])?;
    }
    w.flush()?;
    Ok(())
}
