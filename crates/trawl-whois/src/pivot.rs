//! Pivots: group domains by what their records share, so one registrant
//! email leads to every domain it registered.
//!
//! Values that name a privacy service or a redaction ("WhoisGuard
//! Protected", "REDACTED FOR PRIVACY", RDDS notices) are skipped: they link
//! unrelated customers, not one actor.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::parse::is_masked;
use crate::record::WhoisRecord;

/// What a group shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PivotKind {
    /// Registrant email (lower-cased).
    RegistrantEmail,
    /// Registrant name (case-insensitive).
    RegistrantName,
    /// Registrant organisation (case-insensitive).
    RegistrantOrg,
    /// A name server.
    NameServer,
}

impl PivotKind {
    /// Label used in output.
    pub fn label(self) -> &'static str {
        match self {
            PivotKind::RegistrantEmail => "registrant_email",
            PivotKind::RegistrantName => "registrant_name",
            PivotKind::RegistrantOrg => "registrant_org",
            PivotKind::NameServer => "name_server",
        }
    }
}

/// Domains sharing one value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Group {
    /// What they share.
    pub kind: PivotKind,
    /// The shared value (as first seen; matching ignores case).
    pub value: String,
    /// The domains, sorted and deduplicated.
    pub domains: Vec<String>,
}

fn keys(rec: &WhoisRecord) -> Vec<(PivotKind, String)> {
    let mut out = Vec::new();
    let c = &rec.registrant;
    let mut add = |kind, value: &Option<String>| {
        if let Some(v) = value
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty() && !is_masked(v))
        {
            out.push((kind, v.to_owned()));
        }
    };
    add(PivotKind::RegistrantEmail, &c.email);
    add(PivotKind::RegistrantName, &c.name);
    add(PivotKind::RegistrantOrg, &c.organization);
    for ns in &rec.name_servers {
        out.push((PivotKind::NameServer, ns.clone()));
    }
    out
}

/// Groups records; only groups with at least `min_domains` domains are
/// returned, largest first, then by kind and value.
pub fn pivot(records: &[WhoisRecord], kinds: &[PivotKind], min_domains: usize) -> Vec<Group> {
    let mut groups: BTreeMap<(PivotKind, String), Group> = BTreeMap::new();
    for rec in records {
        let Some(domain) = rec.domain.clone() else {
            continue;
        };
        for (kind, value) in keys(rec) {
            if !kinds.contains(&kind) {
                continue;
            }
            let group = groups
                .entry((kind, value.to_lowercase()))
                .or_insert_with(|| Group {
                    kind,
                    value,
                    domains: Vec::new(),
                });
            if !group.domains.contains(&domain) {
                group.domains.push(domain.clone());
            }
        }
    }
    let mut out: Vec<Group> = groups
        .into_values()
        .filter(|g| g.domains.len() >= min_domains)
        .map(|mut g| {
            g.domains.sort();
            g
        })
        .collect();
    out.sort_by(|a, b| {
        b.domains
            .len()
            .cmp(&a.domains.len())
            .then(a.kind.cmp(&b.kind))
            .then(a.value.cmp(&b.value))
    });
    out
}

/// All pivot kinds.
pub const ALL: [PivotKind; 4] = [
    PivotKind::RegistrantEmail,
    PivotKind::RegistrantName,
    PivotKind::RegistrantOrg,
    PivotKind::NameServer,
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Contact;

    fn rec(domain: &str, email: &str, name: &str, ns: &[&str]) -> WhoisRecord {
        WhoisRecord {
            domain: Some(domain.to_owned()),
            registrant: Contact {
                email: Some(email.to_owned()),
                name: Some(name.to_owned()),
                ..Default::default()
            },
            name_servers: ns.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn one_email_leads_to_all_its_domains() {
        let records = vec![
            rec(
                "a.in",
                "dlinchkravitz@gmail.com",
                "Kravitz Dlinch",
                &["ns3.cnmsn.com"],
            ),
            rec(
                "b.online",
                "DlinchKravitz@gmail.com",
                "kravitz dlinch",
                &["ns1.other.net"],
            ),
            rec(
                "c.tech",
                "x.protect@whoisguard.com",
                "WhoisGuard Protected",
                &["ns3.cnmsn.com"],
            ),
            rec("d.com", "REDACTED FOR PRIVACY", "REDACTED FOR PRIVACY", &[]),
            rec("e.com", "REDACTED FOR PRIVACY", "REDACTED FOR PRIVACY", &[]),
        ];
        let groups = pivot(&records, &ALL, 2);
        let email = groups
            .iter()
            .find(|g| g.kind == PivotKind::RegistrantEmail)
            .expect("email group");
        assert_eq!(email.domains, vec!["a.in", "b.online"]);
        let ns = groups
            .iter()
            .find(|g| g.kind == PivotKind::NameServer)
            .expect("ns group");
        assert_eq!((ns.value.as_str(), ns.domains.len()), ("ns3.cnmsn.com", 2));
        assert!(
            !groups
                .iter()
                .any(|g| g.value.contains("REDACTED") || g.value.contains("WhoisGuard")),
            "{groups:?}"
        );
        assert_eq!(groups.len(), 3, "{groups:?}");
    }
}
