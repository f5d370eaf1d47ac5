//! Precision/recall of the scorer on the labelled set built from Debian
//! `wamerican`'s /usr/share/dict/words (scripts/deps/whois-dga.apt installs
//! it; the test fails loudly when it is missing). The thresholds are the
//! values measured when the weights were fitted (docs/dga.md), rounded down.

use trawl_dga::eval::{self, Family};

#[test]
fn scorer_meets_measured_thresholds() {
    let words = std::fs::read_to_string("/usr/share/dict/words")
        .expect("/usr/share/dict/words is missing: install Debian package wamerican");
    let set = eval::labelled_set(&words);
    let report = eval::evaluate(&set);
    eprintln!("{report:#?}");
    assert!(report.precision >= 0.98, "precision {}", report.precision);
    assert!(report.recall >= 0.98, "recall {}", report.recall);
    assert!(
        report.false_positive_rate <= 0.02,
        "FPR {}",
        report.false_positive_rate
    );
    for family in &report.families {
        let rate = family.flagged as f64 / family.total as f64;
        match family.family {
            Family::Benign => assert!(
                family.total >= 2500,
                "benign set too small: {}",
                family.total
            ),
            Family::Mirai => {
                assert_eq!(family.flagged, family.total, "every Mirai name is flagged")
            }
            _ => assert!(rate >= 0.97, "{:?} recall {rate}", family.family),
        }
    }
}
