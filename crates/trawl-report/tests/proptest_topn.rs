//! Property: every top-N table equals a naive recount of the rows written.

use std::collections::HashMap;
use std::io::Write;

use proptest::prelude::*;
use trawl_report::report::Count;
use trawl_report::{Options, analyze};

fn row() -> impl Strategy<Value = (u8, u8, u8)> {
    (0u8..12, 0u8..6, 0u8..8)
}

fn check(table: &[Count], naive: &HashMap<String, u64>, n: usize) {
    assert_eq!(table.len(), n.min(naive.len()));
    for c in table {
        assert_eq!(naive.get(&c.value).copied(), Some(c.count), "{}", c.value);
    }
    let floor = table.last().map_or(0, |c| c.count);
    let shown: Vec<&str> = table.iter().map(|c| c.value.as_str()).collect();
    for (value, count) in naive {
        if !shown.contains(&value.as_str()) {
            assert!(*count <= floor, "{value} ({count}) missing from top {n}");
        }
    }
    assert!(table.windows(2).all(|w| w[0].count >= w[1].count));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn top_n_equals_naive_recount(rows in prop::collection::vec(row(), 1..400), n in 1usize..8) {
        let users = ["root", "admin", "enable", "shell", "Admin", "support"];
        let passes = ["5up", "system", "sh", "xc3511", "", "a,b", "admin", "qu\"ote"];
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let path = dir.path().join("log.csv");
        let mut f = std::fs::File::create(&path).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(["timestamp","auth_id","session_id","source_ip","source_port","destination_ip","destination_port","protocol","username","password"]).ok();
        let (mut srcs, mut us, mut ps): (HashMap<String, u64>, HashMap<String, u64>, HashMap<String, u64>) = Default::default();
        for (i, (s, u, p)) in rows.iter().enumerate() {
            let ip = format!("192.0.2.{s}");
            let (user, pass) = (users[usize::from(*u)], passes[usize::from(*p)]);
            let ts = format!("2016-12-14 21:{:02}:{:02}.000000", (i / 60) % 60, i % 60);
            w.write_record([ts.as_str(), "a", &format!("s{}", i / 3), &ip, "1234", "", "23", "telnet", user, pass]).ok();
            *srcs.entry(ip).or_default() += 1;
            *us.entry(user.to_string()).or_default() += 1;
            *ps.entry(pass.to_string()).or_default() += 1;
        }
        f.write_all(&w.into_inner().map_err(|e| TestCaseError::fail(e.to_string()))?).map_err(|e| TestCaseError::fail(e.to_string()))?;
        drop(f);
        let opts = Options { top: n, threads: 2, ..Options::default() };
        let r = analyze(&[path.display().to_string()], &opts).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(r.totals.events, rows.len() as u64);
        check(&r.top_sources, &srcs, n);
        check(&r.top_usernames, &us, n);
        check(&r.top_passwords, &ps, n);
    }
}
