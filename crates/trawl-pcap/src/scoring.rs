//! DGA verdicts for the report: a name is flagged when it matches the Mirai
//! pattern or `trawl-dga`'s scorer calls it machine-generated. Queried names
//! are scored once each by the DNS worker (`dns`) as they first appear;
//! HTTP hosts and SNIs that were never queried are scored by the report.

use crate::report::DgaFlag;

/// Scores a name: flagged when it matches the Mirai pattern or the DGA
/// scorer calls it machine-generated.
pub(crate) fn dga_flag(name: &str) -> Option<DgaFlag> {
    let mirai = trawl_dga::mirai::matches_mirai_pattern(name);
    let score = trawl_dga::score::score_domain(name);
    (mirai || score.is_dga).then(|| DgaFlag {
        name: name.to_string(),
        score: (score.score * 1000.0).round() / 1000.0,
        mirai,
        reasons: score.reasons,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirai_name_is_flagged() {
        let flag = dga_flag("hrjlyymassqx.tech").expect("flagged");
        assert!(flag.mirai);
        assert!(dga_flag("inandoutand.in").is_none_or(|f| !f.mirai));
    }
}
