//! Alerts: what was found, about whom, how bad, and the evidence.

use serde::Serialize;

/// Kinds of finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    /// A domain imitating an entity's domain or brand.
    LookalikeDomain,
    /// An entity's address (or an executive's home range) in a threat feed or honeypot data.
    DirtyIp,
    /// A service open that the inventory does not expect.
    ExposedService,
    /// An entity address (or an executive's personal address) in a credential dump.
    CredentialExposure,
    /// An entity named near threat words.
    TargetingMention,
}

impl Category {
    /// The kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::LookalikeDomain => "lookalike-domain",
            Category::DirtyIp => "dirty-ip",
            Category::ExposedService => "exposed-service",
            Category::CredentialExposure => "credential-exposure",
            Category::TargetingMention => "targeting-mention",
        }
    }
}

/// How urgent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth a look.
    Low,
    /// Should be handled.
    Medium,
    /// Handle soon.
    High,
    /// Handle now.
    Critical,
}

impl Severity {
    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// Where a finding was seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    /// The source file (`-` for stdin).
    pub source: String,
    /// 1-based line number.
    pub line: u64,
    /// The line, shortened, with any password masked.
    pub snippet: String,
}

/// One alert.
#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    /// Entity name.
    pub entity: String,
    /// Kind of finding.
    pub category: Category,
    /// Urgency.
    pub severity: Severity,
    /// What was found (the domain, address, mail address...).
    pub subject: String,
    /// One-line explanation.
    pub detail: String,
    /// First place it was seen in this run.
    pub evidence: Evidence,
    /// How many times it was seen in this run.
    pub count: u64,
    /// First time seen by any run (unix seconds).
    pub first_seen: i64,
    /// Last time seen (unix seconds).
    pub last_seen: i64,
    /// True when no earlier run had reported it.
    pub new: bool,
}

impl Alert {
    /// Dedup key: the same finding in a later run (from any source) is not new.
    pub fn key(&self) -> String {
        format!(
            "{}\u{1f}{}\u{1f}{}",
            self.category.as_str(),
            self.entity,
            self.subject
        )
    }
}

/// Shortens a snippet to a readable size on a char boundary.
pub fn shorten(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}
