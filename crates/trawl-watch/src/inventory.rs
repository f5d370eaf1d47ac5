//! The inventory: the organisation and its suppliers, read from TOML.

use std::path::Path;

use ipnet::IpNet;
use serde::Deserialize;

use crate::WatchError;

/// The whole inventory file: `[[entity]]` tables.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    /// The organisation and its suppliers.
    #[serde(default, rename = "entity")]
    pub entities: Vec<Entity>,
}

/// Whether an entity is us or a supplier.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntityKind {
    /// The organisation itself.
    #[default]
    Organisation,
    /// A supply-chain partner.
    Supplier,
}

/// One organisation or supplier.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entity {
    /// Display name.
    pub name: String,
    /// Organisation or supplier.
    #[serde(default)]
    pub kind: EntityKind,
    /// Registrable domains (lookalikes of these are alerted).
    #[serde(default)]
    pub domains: Vec<String>,
    /// Domains of the entity's mail addresses (credential dumps).
    #[serde(default)]
    pub email_domains: Vec<String>,
    /// Brand names and keywords.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Address ranges (IPv4/IPv6 CIDR).
    #[serde(default)]
    pub ip_ranges: Vec<IpNet>,
    /// Services expected open, per range.
    #[serde(default)]
    pub services: Vec<ExpectedServices>,
    /// Key people.
    #[serde(default, rename = "executive")]
    pub executives: Vec<Executive>,
    /// Never alerted.
    #[serde(default)]
    pub allow: Allow,
}

/// Services an entity expects to be reachable on a range (for scan results).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedServices {
    /// The range.
    pub range: IpNet,
    /// `PORT/PROTO` entries, e.g. `443/tcp`.
    pub expected: Vec<Service>,
}

/// A port and transport protocol, written `443/tcp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Service {
    /// Port number.
    pub port: u16,
    /// `true` for UDP, `false` for TCP.
    pub udp: bool,
}

impl TryFrom<String> for Service {
    type Error = String;
    fn try_from(s: String) -> Result<Service, String> {
        let (port, proto) = s.split_once('/').unwrap_or((s.as_str(), "tcp"));
        let port = port
            .parse()
            .map_err(|_| format!("bad port in service {s:?} (want PORT/tcp or PORT/udp)"))?;
        let udp = match proto {
            "tcp" => false,
            "udp" => true,
            _ => return Err(format!("bad protocol in service {s:?} (tcp or udp)")),
        };
        Ok(Service { port, udp })
    }
}

/// A person whose private exposure matters to the organisation.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Executive {
    /// Full name.
    pub name: String,
    /// Personal (non-corporate) mail addresses.
    #[serde(default)]
    pub emails: Vec<String>,
    /// Home address ranges.
    #[serde(default)]
    pub home_ranges: Vec<IpNet>,
}

/// Allow-lists: findings about these are never alerted.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allow {
    /// Domains (e.g. defensive registrations the entity owns).
    #[serde(default)]
    pub domains: Vec<String>,
    /// Addresses or ranges (e.g. the entity's own scanners).
    #[serde(default)]
    pub ips: Vec<IpNet>,
    /// Mail addresses (e.g. test accounts).
    #[serde(default)]
    pub emails: Vec<String>,
}

impl Inventory {
    /// Reads and checks an inventory file.
    pub fn load(path: &Path) -> Result<Inventory, WatchError> {
        let text = std::fs::read_to_string(path).map_err(|source| WatchError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Inventory::parse(&text).map_err(|reason| WatchError::Inventory {
            path: path.display().to_string(),
            reason,
        })
    }

    /// Parses inventory TOML; errors say `line L, column C: ...`.
    pub fn parse(text: &str) -> Result<Inventory, String> {
        let inv: Inventory = toml::from_str(text).map_err(|e| {
            let msg = e.message().trim().to_string();
            match e.span() {
                Some(span) => {
                    let (line, col) = line_column(text, span.start);
                    format!("line {line}, column {col}: {msg}")
                }
                None => msg,
            }
        })?;
        inv.check()?;
        Ok(inv)
    }

    fn check(&self) -> Result<(), String> {
        if self.entities.is_empty() {
            return Err("no [[entity]] tables".into());
        }
        for e in &self.entities {
            if e.name.trim().is_empty() {
                return Err("an [[entity]] has an empty name".into());
            }
            let addresses = e.executives.iter().flat_map(|x| &x.emails);
            for a in addresses {
                if !a.contains('@') {
                    return Err(format!("entity {:?}: {a:?} is not a mail address", e.name));
                }
            }
        }
        Ok(())
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[[entity]]
name = "Acme"
domains = ["acme.com"]
email_domains = ["acme.com"]
keywords = ["acme"]
ip_ranges = ["203.0.113.0/24", "2001:db8:ac::/48"]
allow = { domains = ["acme-corp.com"], ips = ["203.0.113.250/32"] }

[[entity.services]]
range = "203.0.113.0/28"
expected = ["443/tcp", "53/udp"]

[[entity.executive]]
name = "Jane Roe"
emails = ["jane.roe@example.net"]
home_ranges = ["198.51.100.7/32"]

[[entity]]
name = "Parts Ltd"
kind = "supplier"
domains = ["partsltd.co.uk"]
"#;

    #[test]
    fn parses_a_full_inventory() {
        let inv = Inventory::parse(GOOD).unwrap();
        assert_eq!(inv.entities.len(), 2);
        let acme = &inv.entities[0];
        assert_eq!(acme.ip_ranges.len(), 2);
        assert_eq!(
            acme.services[0].expected[1],
            Service {
                port: 53,
                udp: true
            }
        );
        assert_eq!(
            acme.executives[0].home_ranges[0].to_string(),
            "198.51.100.7/32"
        );
        assert_eq!(inv.entities[1].kind, EntityKind::Supplier);
    }

    #[test]
    fn bad_cidr_names_line_and_column() {
        let text = "[[entity]]\nname = \"A\"\nip_ranges = [\"10.0.0.0/33\"]\n";
        let err = Inventory::parse(text).unwrap_err();
        assert!(err.starts_with("line 3, column 14:"), "{err}");
    }

    #[test]
    fn unknown_key_and_bad_service_are_errors_with_position() {
        let err = Inventory::parse("[[entity]]\nname = \"A\"\ndomian = []\n").unwrap_err();
        assert!(err.starts_with("line 3, column 1:"), "{err}");
        let text = "[[entity]]\nname = \"A\"\n[[entity.services]]\nrange = \"10.0.0.0/8\"\nexpected = [\"http\"]\n";
        let err = Inventory::parse(text).unwrap_err();
        assert!(
            err.starts_with("line 5,") && err.contains("bad port"),
            "{err}"
        );
    }
}
