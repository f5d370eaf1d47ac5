//! The parsed whois record.

use serde::{Deserialize, Serialize};

/// One contact (registrant, admin or tech).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// Person name.
    pub name: Option<String>,
    /// Organisation.
    pub organization: Option<String>,
    /// Email address (or the registry's redaction notice).
    pub email: Option<String>,
    /// Country (as given, usually ISO 3166 alpha-2).
    pub country: Option<String>,
}

impl Contact {
    /// True when no field is set.
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.organization.is_none()
            && self.email.is_none()
            && self.country.is_none()
    }
}

/// The fields of a whois answer that matter for pivots.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhoisRecord {
    /// Domain name, lower-case.
    pub domain: Option<String>,
    /// Registrar (or sponsoring registrar) name.
    pub registrar: Option<String>,
    /// Registrar IANA id.
    pub registrar_iana_id: Option<String>,
    /// Registrar whois server named in the record (the referral target).
    pub registrar_whois_server: Option<String>,
    /// Creation date, ISO 8601.
    pub created: Option<String>,
    /// Last update, ISO 8601.
    pub updated: Option<String>,
    /// Expiry, ISO 8601.
    pub expires: Option<String>,
    /// EPP / registry statuses (URLs stripped), in order, deduplicated.
    pub statuses: Vec<String>,
    /// Name servers, lower-case, no trailing dot, empty lines dropped.
    pub name_servers: Vec<String>,
    /// Registrant contact.
    pub registrant: Contact,
    /// Administrative contact.
    pub admin: Contact,
    /// Technical contact.
    pub tech: Contact,
    /// True when a contact is a privacy/proxy service or redacted.
    pub privacy: bool,
    /// Which privacy service or redaction was recognised.
    pub privacy_service: Option<String>,
    /// DNSSEC field as given.
    pub dnssec: Option<String>,
    /// `refer:` (IANA) target, if any.
    pub refer: Option<String>,
    /// Where the text came from (file path or whois server).
    pub source: Option<String>,
}
