//! The seed's two whois records and a GDPR-redacted one, parsed field by field.

use trawl_whois::parse_record;

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn tech_record_gtld_format_with_whoisguard() {
    let r =
        parse_record(&fixture("hrjlyymassqx.tech.txt"), Some("whois.nic.tech")).expect("parses");
    assert_eq!(r.domain.as_deref(), Some("hrjlyymassqx.tech"));
    assert_eq!(r.registrar.as_deref(), Some("Namecheap"));
    assert_eq!(r.registrar_iana_id.as_deref(), Some("1068"));
    assert_eq!(
        r.registrar_whois_server.as_deref(),
        Some("whois.namecheap.com")
    );
    assert_eq!(r.created.as_deref(), Some("2016-12-09T17:01:50Z"));
    assert_eq!(r.updated.as_deref(), Some("2016-12-14T17:02:14Z"));
    assert_eq!(r.expires.as_deref(), Some("2017-12-09T23:59:59Z"));
    assert_eq!(
        r.statuses,
        vec!["serverTransferProhibited", "clientTransferProhibited"]
    );
    assert_eq!(
        r.name_servers,
        vec!["dns1.registrar-servers.com", "dns2.registrar-servers.com"]
    );
    assert_eq!(r.registrant.name.as_deref(), Some("WhoisGuard Protected"));
    assert_eq!(
        r.registrant.organization.as_deref(),
        Some("WhoisGuard, Inc.")
    );
    assert_eq!(
        r.registrant.email.as_deref(),
        Some("4a75182b38b841e486e7e74993fb0bce.protect@whoisguard.com")
    );
    assert_eq!(r.registrant.country.as_deref(), Some("PA"));
    assert_eq!(r.admin.name.as_deref(), Some("WhoisGuard Protected"));
    assert_eq!(
        r.admin.email.as_deref(),
        Some("4a75182b38b841e486e7e74993fb0bce.protect@whoisguard.com")
    );
    assert_eq!(r.tech.organization.as_deref(), Some("WhoisGuard, Inc."));
    assert_eq!(r.tech.country.as_deref(), Some("PA"));
    assert!(r.privacy);
    assert_eq!(r.privacy_service.as_deref(), Some("WhoisGuard"));
    assert_eq!(r.dnssec.as_deref(), Some("unsigned"));
    assert_eq!(r.source.as_deref(), Some("whois.nic.tech"));
}

#[test]
fn in_record_old_registry_format() {
    let r = parse_record(&fixture("inandoutand.in.txt"), None).expect("parses");
    assert_eq!(r.domain.as_deref(), Some("inandoutand.in"));
    assert_eq!(
        r.registrar.as_deref(),
        Some("Endurance Domains Technology Pvt. Ltd. (R173-AFIN)")
    );
    assert_eq!(r.registrar_iana_id, None);
    assert_eq!(r.registrar_whois_server, None);
    assert_eq!(r.created.as_deref(), Some("2016-12-15T14:41:33Z"));
    assert_eq!(r.updated.as_deref(), Some("2016-12-15T14:41:36Z"));
    assert_eq!(r.expires.as_deref(), Some("2017-12-15T14:41:33Z"));
    assert_eq!(
        r.statuses,
        vec!["CLIENT TRANSFER PROHIBITED", "TRANSFER PROHIBITED"]
    );
    assert_eq!(
        r.name_servers,
        vec!["ns3.cnmsn.com", "ns4.cnmsn.com"],
        "11 empty Name Server lines dropped"
    );
    assert_eq!(r.registrant.name.as_deref(), Some("Kravitz Dlinch"));
    assert_eq!(r.registrant.organization.as_deref(), Some("Dlinch Kravitz"));
    assert_eq!(
        r.registrant.email.as_deref(),
        Some("dlinchkravitz@gmail.com")
    );
    assert_eq!(r.registrant.country.as_deref(), Some("CG"));
    assert_eq!(r.admin.email.as_deref(), Some("dlinchkravitz@gmail.com"));
    assert_eq!(r.tech.name.as_deref(), Some("Kravitz Dlinch"));
    assert!(!r.privacy);
    assert_eq!(r.privacy_service, None);
    assert_eq!(r.dnssec.as_deref(), Some("Unsigned"));
}

#[test]
fn gdpr_redacted_record() {
    let r = parse_record(&fixture("redacted.example.txt"), None).expect("parses");
    assert_eq!(r.domain.as_deref(), Some("example-redacted.com"));
    assert_eq!(r.registrar.as_deref(), Some("Example Registrar, LLC"));
    assert_eq!(r.registrar_iana_id.as_deref(), Some("9999"));
    assert_eq!(r.expires.as_deref(), Some("2025-08-13T04:00:00Z"));
    assert_eq!(r.registrant.name.as_deref(), Some("REDACTED FOR PRIVACY"));
    assert_eq!(r.registrant.country.as_deref(), Some("IS"));
    assert!(r.privacy);
    assert_eq!(r.privacy_service.as_deref(), Some("REDACTED FOR PRIVACY"));
    assert_eq!(
        r.statuses,
        vec!["clientTransferProhibited", "clientUpdateProhibited"]
    );
}

#[test]
fn iana_answer_gives_the_referral() {
    let r = parse_record(&fixture("iana-tech.txt"), None).expect("parses");
    assert_eq!(r.refer.as_deref(), Some("whois.nic.tech"));
}

#[test]
fn crlf_line_endings_parse_the_same() {
    let lf = fixture("inandoutand.in.txt");
    let crlf = lf.replace('\n', "\r\n");
    assert_eq!(
        parse_record(&lf, None).expect("lf"),
        parse_record(&crlf, None).expect("crlf")
    );
}

#[test]
fn indented_block_layout() {
    let r = parse_record(&fixture("nominet-style.example.txt"), None).expect("parses");
    assert_eq!(r.domain.as_deref(), Some("example-nominet.co.uk"));
    assert_eq!(
        r.registrar.as_deref(),
        Some("Example Registrar Ltd [Tag = EXAMPLE]")
    );
    assert_eq!(r.created.as_deref(), Some("1999-08-17"));
    assert_eq!(r.expires.as_deref(), Some("2030-08-17"));
    assert_eq!(r.updated.as_deref(), Some("2024-06-05"));
    assert_eq!(
        r.name_servers,
        vec!["ns1.example-dns.test", "ns2.example-dns.test"]
    );
    assert!(!r.privacy);
}

/// Every prefix of every fixture (a whois answer cut anywhere) and byte-flipped
/// copies either parse or give an error; none panics.
#[test]
fn cut_and_mangled_answers_never_panic() {
    let mut state: u64 = 0x5EED;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for name in [
        "hrjlyymassqx.tech.txt",
        "inandoutand.in.txt",
        "redacted.example.txt",
        "nominet-style.example.txt",
        "jprs-style.example.txt",
    ] {
        let bytes = fixture(name).into_bytes();
        assert!(
            parse_record(&String::from_utf8_lossy(&bytes), None).is_ok(),
            "{name}"
        );
        assert!(parse_record(&String::from_utf8_lossy(&bytes[..0]), None).is_err());
        for cut in 0..=bytes.len() {
            let _ = parse_record(&String::from_utf8_lossy(&bytes[..cut]), None);
        }
        for _ in 0..500 {
            let mut mangled = bytes.clone();
            for _ in 0..8 {
                let i = (next() % mangled.len() as u64) as usize;
                mangled[i] = (next() % 256) as u8;
            }
            let _ = parse_record(&String::from_utf8_lossy(&mangled), None);
        }
    }
}

#[test]
fn bracketed_key_layout() {
    let r = parse_record(&fixture("jprs-style.example.txt"), None).expect("parses");
    assert_eq!(r.domain.as_deref(), Some("example-jprs.jp"));
    assert_eq!(
        r.registrant.name.as_deref(),
        Some("Example Kabushiki Kaisha")
    );
    assert_eq!(
        r.name_servers,
        vec!["ns1.example-dns.test", "ns2.example-dns.test"]
    );
    assert_eq!(r.created.as_deref(), Some("2001-02-03"));
    assert_eq!(r.expires.as_deref(), Some("2030-02-28"));
    assert_eq!(r.statuses, vec!["Active"]);
}
