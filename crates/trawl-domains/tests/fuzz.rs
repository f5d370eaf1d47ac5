//! Fuzzing the feed reader, the matcher and the domain parser with mutated feeds of every
//! layout `trawl domains match` reads (plain lists with comments, CertStream JSON lines,
//! Zeek `dns.log` TSV and JSON, CSV with a header), full of lookalikes, IDNs and punycode,
//! changed by `trawl-mutate`; and `permute` on mutated domain names (IDN, punycode,
//! multi-label suffixes, long labels). A feed is outside data: no case may panic, errors
//! carry a line that was read, and whatever the reader yields can be checked and parsed.

use std::io::Cursor;
use std::sync::OnceLock;

use proptest::prelude::*;
use trawl_domains::{
    Brand, FeedFormat, FeedReader, MatchOptions, Matcher, Options, parse_domain, permute_domain,
};

const LIST: &str = "# new registrations\npaypa1.com\nxn--pypal-4ve.com 2026-11-27\n\
    paypal-login.net\nexample.co.uk\nEXAMPLE.CO.UK.\nbücher.de\n\n  spaced.example.org  \n";
const CERTSTREAM: &str = concat!(
    r#"{"message_type":"certificate_update","data":{"leaf_cert":{"all_domains":["paypal-secure.com","*.paypa1.com"]}}}"#,
    "\n",
    r#"{"message_type":"heartbeat"}"#,
    "\n",
    r#"{"message_type":"certificate_update","data":{"leaf_cert":{"all_domains":["xn--exmple-cua.co.uk"]}}}"#,
    "\n"
);
const ZEEK_TSV: &str = "#separator \\x09\n#fields\tts\tuid\tid.orig_h\tquery\tqtype_name\n\
    1700000000.1\tC1\t10.0.0.1\tpaypal.com.evil.net\tA\n\
    1700000001.2\tC2\t10.0.0.2\tgoogle.com\tAAAA\n#close\t2026\n";
const ZEEK_JSON: &str = concat!(
    r#"{"ts":1700000000.1,"query":"paypai.com","qtype_name":"A"}"#,
    "\n",
    r#"{"ts":1700000001.1,"query":"examp1e.co.uk"}"#,
    "\n"
);
const CSV: &str = "first_seen,domain,registrar\n2026-11-27,paypal-account.com,X\n\
    2026-11-27,\"exa,mple.co.uk\",Y\n2026-11-27,xn--80ak6aa92e.com,Z\n";

fn seeds() -> Vec<Vec<u8>> {
    [LIST, CERTSTREAM, ZEEK_TSV, ZEEK_JSON, CSV]
        .iter()
        .map(|text| text.as_bytes().to_vec())
        .collect()
}

fn formats() -> Vec<FeedFormat> {
    vec![
        FeedFormat::Auto,
        FeedFormat::List,
        FeedFormat::Certstream,
        FeedFormat::ZeekTsv,
        FeedFormat::ZeekJson,
        FeedFormat::Csv("domain".into()),
        FeedFormat::Csv("2".into()),
    ]
}

fn matcher() -> &'static Matcher {
    static MATCHER: OnceLock<Matcher> = OnceLock::new();
    MATCHER.get_or_init(|| {
        let brands = ["paypal.com", "example.co.uk"]
            .iter()
            .map(|domain| Brand::from_domain(domain))
            .collect::<Vec<_>>();
        Matcher::new(&brands, &MatchOptions::default()).expect("a matcher")
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn mutated_feeds_are_read_checked_and_parsed_without_panics(
        feed in trawl_mutate::mutated(seeds(), 6),
        format in prop::sample::select(formats()),
    ) {
        let lines = feed.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
        let reader = FeedReader::new(Cursor::new(feed), format);
        for item in reader.take(10_000) {
            match item {
                Ok(item) => {
                    prop_assert!(item.line >= 1 && item.line <= lines, "line {}", item.line);
                    let _ = matcher().check(&item.domain);
                    let _ = parse_domain(&item.domain);
                }
                Err(err) => prop_assert!(err.line <= lines, "error line {}", err.line),
            }
        }
    }

    #[test]
    fn noise_domains_are_refused_or_parsed(noise in trawl_mutate::noise(300)) {
        let text = String::from_utf8_lossy(&noise);
        let _ = matcher().check(&text);
        let _ = parse_domain(&text);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn mutated_domains_permute_or_are_refused(
        domain in trawl_mutate::mutated(
            ["paypal.com", "bücher.de", "xn--80ak6aa92e.com", "example.co.uk", "a-b.github.io",
             "WWW.Sub.Example.ORG.", "abcdefghijklmnopqrstuvwxyz0123456789-abcdefghijklmnopqrstuvwxyz.net"]
                .iter()
                .map(|d| d.as_bytes().to_vec())
                .collect(),
            3,
        )
    ) {
        let text = String::from_utf8_lossy(&domain);
        let _ = permute_domain(&text, &Options::default());
    }
}
