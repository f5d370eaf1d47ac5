//! `--since/--until/--protocol/--source` filters.

pub use ipnet::IpNet;

use crate::event::Event;
use crate::time::Micros;

/// Which events to keep.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    /// Keep events at or after this time.
    pub since: Option<Micros>,
    /// Keep events before this time.
    pub until: Option<Micros>,
    /// Keep these protocols (lower case); empty keeps all.
    pub protocols: Vec<String>,
    /// Keep sources in any of these networks; empty keeps all.
    pub sources: Vec<IpNet>,
}

impl Filters {
    /// True if no filter is set (every event passes).
    pub fn keeps_all(&self) -> bool {
        self.since.is_none()
            && self.until.is_none()
            && self.protocols.is_empty()
            && self.sources.is_empty()
    }

    /// True if the event passes every filter.
    pub fn accepts(&self, ev: &Event<'_>) -> bool {
        if self.since.is_some() || self.until.is_some() {
            let Some(ts) = ev.ts else { return false };
            if self.since.is_some_and(|s| ts < s) || self.until.is_some_and(|u| ts >= u) {
                return false;
            }
        }
        if !self.protocols.is_empty()
            && !self
                .protocols
                .iter()
                .any(|p| p.eq_ignore_ascii_case(&ev.protocol))
        {
            return false;
        }
        if !self.sources.is_empty() {
            let Some(src) = ev.src else { return false };
            if !self.sources.iter().any(|net| net.contains(&src)) {
                return false;
            }
        }
        true
    }
}
