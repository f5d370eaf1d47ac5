//! SSH client fingerprints per source and in campaigns: Cowrie's
//! `client.version` and `client.kex` records (fixture `cowrie_clients.json`, see
//! fixtures/README.md) and the `client_version`/`hassh` of trawl's session records
//! (events.jsonl and trawl.db).

mod common;

use common::{counts, fixture, read_cleanly, rendered, run_with};
use trawl_report::Options;
use trawl_report::render::OutputFormat;
use trawl_report::report::{Campaign, Report, SourceClients};

const HASSH_A: &str = "aaaa0000aaaa0000aaaa0000aaaa0001";
const HASSH_B: &str = "bbbb0000bbbb0000bbbb0000bbbb0002";
const HASSH_C: &str = "cccc0000cccc0000cccc0000cccc0003";
const GO: &str = "SSH-2.0-Go";
const LIBSSH: &str = "SSH-2.0-libssh_0.9.6";
const RARE: &str = "SSH-2.0-RareClient_1.0";

fn clients(jaccard: f64) -> Report {
    let opts = Options {
        jaccard,
        ..Options::default()
    };
    run_with(&[fixture("cowrie_clients.json")], &opts)
}

/// (sources, sample, client versions, HASSHes, distinct credentials) per campaign.
type Row<'a> = (
    u64,
    Vec<&'a str>,
    Vec<(&'a str, u64)>,
    Vec<(&'a str, u64)>,
    u64,
);

fn rows(campaigns: &[Campaign]) -> Vec<Row<'_>> {
    campaigns
        .iter()
        .map(|c| {
            (
                c.sources,
                c.source_sample.iter().map(String::as_str).collect(),
                counts(&c.client_versions),
                counts(&c.hassh),
                c.distinct_credentials,
            )
        })
        .collect()
}

/// Six sources try the same three pairs, three with a Go client and one HASSH,
/// three with libssh and another: two campaigns (without the client features it
/// was one of six). One of the Go sources announced its client in an earlier
/// session than its logins: still in its campaign.
#[test]
fn same_dictionary_two_toolkits_are_two_campaigns() {
    let r = clients(0.6);
    assert_eq!(
        rows(&r.campaigns),
        [
            (
                3,
                vec!["198.51.100.1", "198.51.100.2", "198.51.100.3"],
                vec![(GO, 3)],
                vec![(HASSH_A, 3)],
                3
            ),
            (
                3,
                vec!["203.0.113.1", "203.0.113.2", "203.0.113.3"],
                vec![(LIBSSH, 3)],
                vec![(HASSH_B, 3)],
                3
            ),
        ]
    );
    // 3 shared pairs of 7 features: joined from a threshold of 3/7.
    let joined = clients(0.4);
    assert_eq!(joined.campaigns.first().map(|c| c.sources), Some(6));
    assert_eq!(
        joined.campaigns.first().map(|c| counts(&c.client_versions)),
        Some(vec![(GO, 3), (LIBSSH, 3)])
    );
}

/// Two sources with one (different) pair each and the same rare client: 2 of 4
/// features shared, a campaign at `--jaccard 0.5`, none at the default 0.6.
#[test]
fn a_shared_rare_client_joins_when_the_threshold_allows() {
    fn rare(r: &Report) -> Option<Row<'_>> {
        rows(&r.campaigns)
            .into_iter()
            .find(|row| row.3.iter().any(|&(h, _)| h == HASSH_C))
    }
    assert_eq!(rare(&clients(0.6)), None);
    assert_eq!(
        rare(&clients(0.5)),
        Some((
            2,
            vec!["192.0.2.10", "192.0.2.11"],
            vec![(RARE, 2)],
            vec![(HASSH_C, 2)],
            2
        ))
    );
}

/// Client records are no events: totals and top sources count the connects,
/// logins and closes only; the top sources' clients are listed beside them.
#[test]
fn client_records_are_not_events_and_top_sources_list_their_clients() {
    let r = clients(0.6);
    // 29 sessions (see the generator): 29 connects and 29 closes, and the logins.
    let logins = 3 * 6 + 2 + 20;
    assert_eq!(r.totals.events, 29 * 2 + logins);
    assert_eq!(r.totals.sources, 28);
    assert_eq!(
        counts(&r.top_client_versions),
        [(GO, 3), (LIBSSH, 3), (RARE, 2)],
        "per session"
    );
    let go = r
        .top_source_clients
        .iter()
        .find(|s| s.source == "198.51.100.3")
        .expect("198.51.100.3 in the top sources");
    assert_eq!(
        go,
        &SourceClients {
            source: "198.51.100.3".into(),
            // Two connects and three logins (closes are session records).
            events: 2 + 3,
            client_versions: vec![GO.into()],
            hassh: vec![HASSH_A.into()],
            libraries: vec!["Go x/crypto/ssh".into()],
        }
    );
    assert!(
        r.top_source_clients
            .iter()
            .all(|s| !s.source.starts_with("192.0.2.2") && !s.source.starts_with("192.0.2.3")),
        "sources without client records are not listed"
    );
}

/// One worker or three, on blocks of a few lines (a source's client records and
/// its logins read by different workers): the same report.
#[test]
fn one_or_three_threads_give_the_same_json() {
    let inputs = [fixture("cowrie_clients.json"), fixture("cowrie_iocs.json")];
    let json = |threads: usize, block_size: usize, jaccard: f64| {
        let opts = Options {
            threads,
            block_size,
            jaccard,
            ..Options::default()
        };
        serde_json::to_string_pretty(&run_with(&inputs, &opts)).expect("serialize")
    };
    for jaccard in [0.6, 0.4] {
        let reference = json(1, 0, jaccard);
        assert!(reference.contains(HASSH_A) && reference.contains("top_source_clients"));
        for (threads, block) in [(1, 512), (3, 512), (3, 300), (3, 1_500)] {
            assert_eq!(
                json(threads, block, jaccard),
                reference,
                "{threads} threads, {block}-byte blocks, jaccard {jaccard}"
            );
        }
    }
}

/// Campaign client columns and the top sources' clients in every format.
#[test]
fn every_output_format_has_the_client_columns() {
    let r = clients(0.6);
    let csv = rendered(&r, OutputFormat::Csv);
    for row in [
        format!(
            "campaigns,1,198.51.100.1|198.51.100.2|198.51.100.3,,,3,,,family=brute force creds=root/123456|root/admin|admin/admin hosts= flags= clients={GO}:3 hassh={HASSH_A}:3 libraries=Go x/crypto/ssh"
        ),
        format!(
            "top_source_clients,1,198.51.100.3,,,5,,,clients={GO} hassh={HASSH_A} libraries=Go x/crypto/ssh"
        ),
        format!("top_source_clients,7,192.0.2.10,,,2,,,clients={RARE} hassh={HASSH_C} libraries="),
    ] {
        assert!(
            csv.lines().any(|l| l == row),
            "CSV row {row:?} missing:\n{csv}"
        );
    }
    let json: serde_json::Value =
        serde_json::from_str(&rendered(&r, OutputFormat::Json)).expect("JSON");
    assert_eq!(json["campaigns"][1]["client_versions"][0]["value"], LIBSSH);
    assert_eq!(json["campaigns"][1]["hassh"][0]["count"], 3);
    assert_eq!(json["top_source_clients"][0]["hassh"][0], HASSH_A);
    assert_eq!(
        json["campaigns"][0]["client_libraries"][0],
        "Go x/crypto/ssh"
    );
    assert_eq!(json["campaigns"][1]["client_libraries"][0], "libssh");
    let text = rendered(&r, OutputFormat::Text);
    let md = rendered(&r, OutputFormat::Md);
    let html = rendered(&r, OutputFormat::Html);
    let title = "SSH clients of the top sources";
    assert!(text.contains(title), "text");
    assert!(md.contains(&format!("## {title}")), "Markdown");
    assert!(html.contains(&format!("<h2>{title}</h2>")), "HTML");
    for header in [
        "client versions (members)",
        "hassh (members)",
        "library client",
    ] {
        assert!(text.contains(header), "text: {header}");
        assert!(md.contains(&format!("| {header} |")), "Markdown: {header}");
        assert!(
            html.contains(&format!("<th>{header}</th>")),
            "HTML: {header}"
        );
    }
    assert!(text.contains(&format!("{LIBSSH} (3)")));
    assert!(html.contains(&format!("<td>{HASSH_B} (3)</td>")));
}

/// Logs without client records: no client keys in JSON, no client columns.
#[test]
fn heralding_input_has_no_client_columns() {
    let r = run_with(&[fixture("seed_heralding.csv")], &Options::default());
    assert!(!r.campaigns.is_empty());
    assert!(r.top_source_clients.is_empty());
    let json = rendered(&r, OutputFormat::Json);
    assert!(
        !json.contains("client_versions\": [{") && !json.contains("top_source_clients"),
        "{json}"
    );
    assert!(!json.contains("\"hassh\""));
    let text = rendered(&r, OutputFormat::Text);
    assert!(!text.contains("hassh (members)") && !text.contains("SSH clients"));
}

/// A trawl session record as the sensor writes it to events.jsonl.
fn trawl_session(src: &str, id: &str, second: u32, aux: &str) -> String {
    format!(
        r#"{{"type":"session","timestamp":"2024-05-01T10:00:{second:02}Z","session_id":"{id}","source_ip":"{src}","source_port":40000,"destination_ip":"192.0.2.1","destination_port":2222,"protocol":"ssh","duration":1.5,"num_auth_attempts":0,"auth_attempts":[],"end_reason":"client_closed","auxiliary_data":{aux}}}"#
    )
}

fn trawl_attempt(src: &str, id: &str, second: u32, user: &str) -> String {
    format!(
        r#"{{"type":"auth_attempt","timestamp":"2024-05-01T10:00:{second:02}Z","session_id":"{id}","source_ip":"{src}","source_port":40000,"destination_ip":"192.0.2.1","destination_port":2222,"protocol":"ssh","username":"{user}","password":"x"}}"#
    )
}

/// trawl's session records (events.jsonl): a source seen only through a session
/// record with a client (no attempts) has no events, so it is not counted among
/// the sources, but it takes part in campaigns by its client fingerprint.
#[test]
fn trawl_session_records_fingerprint_their_sources() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("events.jsonl");
    let aux = |hassh: &str| format!(r#"{{"client_version":"{GO}","hassh":"{hassh}"}}"#);
    let mut lines = Vec::new();
    for (i, src) in ["198.51.100.20", "198.51.100.21", "198.51.100.22"]
        .iter()
        .enumerate()
    {
        let id = format!("s{i}");
        let second = u32::try_from(i).expect("small") * 3;
        lines.push(trawl_attempt(src, &id, second, "root"));
        lines.push(trawl_session(src, &id, second + 1, &aux(HASSH_A)));
    }
    // Connect-only scanners: session records without attempts.
    for (i, src) in ["203.0.113.40", "203.0.113.41"].iter().enumerate() {
        let id = format!("q{i}");
        lines.push(trawl_session(src, &id, 30, &aux(HASSH_B)));
    }
    std::fs::write(&path, lines.join("\n")).expect("write");
    for threads in [1, 3] {
        let opts = Options {
            threads,
            block_size: 400,
            ..Options::default()
        };
        let r = run_with(&[path.display().to_string()], &opts);
        assert_eq!(r.totals.bad_rows, 0, "{:?}", r.bad_rows);
        assert_eq!(r.totals.sources, 3, "client-only sources are not counted");
        assert_eq!(r.top_sources.len(), 3);
        assert_eq!(
            rows(&r.campaigns),
            [
                (
                    3,
                    vec!["198.51.100.20", "198.51.100.21", "198.51.100.22"],
                    vec![(GO, 3)],
                    vec![(HASSH_A, 3)],
                    1
                ),
                (
                    2,
                    vec!["203.0.113.40", "203.0.113.41"],
                    vec![(GO, 2)],
                    vec![(HASSH_B, 2)],
                    0
                ),
            ],
            "{threads} threads"
        );
        assert_eq!(r.campaigns[1].events, 0);
        assert_eq!(r.top_source_clients.len(), 3);
    }
}

/// The same in a trawl.db `sessions` table (the sensor's columns).
#[test]
fn trawl_db_sessions_fingerprint_their_sources() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("trawl.db");
    let db = common::trawl_db(&path);
    for i in 0..4u32 {
        let (client, hassh) = if i < 2 {
            (GO, HASSH_A)
        } else {
            (LIBSSH, HASSH_B)
        };
        let id = format!("s{i}");
        let src = format!("198.51.100.{}", 50 + i);
        db.execute(
            "INSERT INTO sessions VALUES (?1, '2024-05-01T10:00:00Z', ?2, 1.5, 'ssh', \
             ?3, 40000, '192.0.2.1', 2222, 1, 'client_closed', ?4)",
            rusqlite::params![
                id,
                format!("2024-05-01T10:00:0{i}Z"),
                src,
                format!(r#"{{"client_version":"{client}","hassh":"{hassh}"}}"#)
            ],
        )
        .expect("insert session");
        db.execute(
            "INSERT INTO auth_attempts VALUES (?1, ?2, ?3, 'ssh', ?4, 40000, '192.0.2.1', \
             2222, 'root', 'admin')",
            rusqlite::params![format!("a{i}"), id, format!("2024-05-01T10:00:0{i}Z"), src],
        )
        .expect("insert attempt");
    }
    drop(db);
    for threads in [1, 3] {
        let r = read_cleanly(&path, threads);
        assert_eq!(r.totals.sources, 4);
        assert_eq!(
            rows(&r.campaigns),
            [
                (
                    2,
                    vec!["198.51.100.50", "198.51.100.51"],
                    vec![(GO, 2)],
                    vec![(HASSH_A, 2)],
                    1
                ),
                (
                    2,
                    vec!["198.51.100.52", "198.51.100.53"],
                    vec![(LIBSSH, 2)],
                    vec![(HASSH_B, 2)],
                    1
                ),
            ],
            "{threads} threads"
        );
    }
}
