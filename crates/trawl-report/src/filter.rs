//! `--since/--until/--protocol/--source/--exclude-source` filters.
//!
//! Source networks are kept as sorted, disjoint address ranges ([`Networks`]): a
//! list of thousands of networks (a feed of research scanners to leave out, read
//! with [`read_networks`]) costs one binary search per event, not one test per
//! network. `ipnet` parses and merges them; the range list is hand-written because
//! a prefix-trie crate would answer the same question no faster (measured for
//! `trawl watch`'s index, see `trawl-watch/src/ipindex.rs`).

use std::io::{BufRead, BufReader, Read};
use std::net::IpAddr;
use std::path::Path;

pub use ipnet::IpNet;
use serde::Serialize;

use crate::error::ReportError;
use crate::event::Event;
use crate::time::{Micros, format_timestamp};

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
    pub sources: Networks,
    /// Drop sources in any of these networks (your own scanners, research
    /// scanners); events without a source address are kept.
    pub exclude_sources: Networks,
}

impl Filters {
    /// True if no filter is set (every event passes).
    pub fn keeps_all(&self) -> bool {
        self.since.is_none()
            && self.until.is_none()
            && self.protocols.is_empty()
            && self.sources.is_empty()
            && self.exclude_sources.is_empty()
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
        if !self.sources.is_empty() && !ev.src.is_some_and(|src| self.sources.contains(src)) {
            return false;
        }
        !ev.src.is_some_and(|src| self.exclude_sources.contains(src))
    }

    /// The filters as the report states them, or `None` when none is set.
    pub fn applied(&self) -> Option<AppliedFilters> {
        (!self.keeps_all()).then(|| AppliedFilters {
            since: self.since.map(format_timestamp),
            until: self.until.map(format_timestamp),
            protocols: self.protocols.clone(),
            sources: self.sources.given().iter().map(IpNet::to_string).collect(),
            exclude_sources: (self.exclude_sources.given().iter())
                .map(IpNet::to_string)
                .collect(),
        })
    }
}

/// The filters a report was made with (see [`Filters::applied`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AppliedFilters {
    /// Events at or after this time (UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Events before this time (UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// Only these protocols.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub protocols: Vec<String>,
    /// Only sources in these networks, as given.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    /// Sources in these networks left out, as given.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exclude_sources: Vec<String>,
}

/// A set of networks: the list as given, and its addresses as sorted, disjoint,
/// inclusive ranges for lookups. An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`)
/// is looked up as the IPv4 address it stands for.
#[derive(Debug, Clone, Default)]
pub struct Networks {
    given: Vec<IpNet>,
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

impl Networks {
    /// The set of `nets` (overlapping or adjacent ones are merged for lookups).
    pub fn new(nets: Vec<IpNet>) -> Self {
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for net in IpNet::aggregate(&nets) {
            match net {
                IpNet::V4(n) => v4.push((u32::from(n.network()), u32::from(n.broadcast()))),
                IpNet::V6(n) => v6.push((u128::from(n.network()), u128::from(n.broadcast()))),
            }
        }
        v4.sort_unstable();
        v6.sort_unstable();
        Self {
            given: nets,
            v4,
            v6,
        }
    }

    /// True if no network is in the set.
    pub fn is_empty(&self) -> bool {
        self.given.is_empty()
    }

    /// The networks as given.
    pub fn given(&self) -> &[IpNet] {
        &self.given
    }

    /// True if `ip` is in one of the networks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip.to_canonical() {
            IpAddr::V4(a) => in_ranges(&self.v4, u32::from(a)),
            IpAddr::V6(a) => in_ranges(&self.v6, u128::from(a)),
        }
    }
}

impl From<Vec<IpNet>> for Networks {
    fn from(nets: Vec<IpNet>) -> Self {
        Self::new(nets)
    }
}

impl FromIterator<IpNet> for Networks {
    fn from_iter<I: IntoIterator<Item = IpNet>>(nets: I) -> Self {
        Self::new(nets.into_iter().collect())
    }
}

/// True if `x` is in one of the sorted, disjoint inclusive `ranges`.
fn in_ranges<T: Ord + Copy>(ranges: &[(T, T)], x: T) -> bool {
    let after = ranges.partition_point(|&(start, _)| start <= x);
    after
        .checked_sub(1)
        .and_then(|i| ranges.get(i))
        .is_some_and(|&(_, end)| x <= end)
}

/// A network written as a CIDR (`198.51.100.0/24`, host bits allowed) or a single
/// address.
pub fn parse_network(text: &str) -> Option<IpNet> {
    let t = text.trim();
    t.parse::<IpNet>()
        .ok()
        .map(|net| net.trunc())
        .or_else(|| t.parse::<IpAddr>().ok().map(IpNet::from))
}

/// Longest line of a network list read (a CIDR is at most 43 bytes; comments may
/// be longer, a line past this is no list).
pub const MAX_NETWORK_LINE: usize = 4096;

/// Reads a list of networks, one CIDR or address per line; blank lines and `#`
/// comments (whole lines or after a network) are skipped. A line that is no
/// network is an error naming the file and line.
pub fn read_networks(path: &Path) -> Result<Vec<IpNet>, ReportError> {
    let io = |source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut reader = BufReader::new(file);
    let (mut nets, mut line, mut buf) = (Vec::new(), 0u64, Vec::new());
    let bad = |line, reason: String| ReportError::BadRow {
        file: path.display().to_string(),
        line,
        reason,
    };
    // One byte past the longest line, to tell a line that is too long.
    let limit = u64::try_from(MAX_NETWORK_LINE + 1).unwrap_or(u64::MAX);
    loop {
        buf.clear();
        let n = (&mut reader)
            .take(limit)
            .read_until(b'\n', &mut buf)
            .map_err(io)?;
        if n == 0 {
            return Ok(nets);
        }
        line += 1;
        if buf.len() > MAX_NETWORK_LINE {
            return Err(bad(line, format!("longer than {MAX_NETWORK_LINE} bytes")));
        }
        let text = String::from_utf8_lossy(&buf);
        let entry = text.split('#').next().unwrap_or_default().trim();
        if entry.is_empty() {
            continue;
        }
        let net = parse_network(entry).ok_or_else(|| {
            bad(
                line,
                format!(
                    "{:?} is not a CIDR or an address",
                    crate::input::csvlog::clip(entry)
                ),
            )
        })?;
        nets.push(net);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Networks {
        Networks::new(list.iter().filter_map(|t| parse_network(t)).collect())
    }

    #[test]
    fn lookups_equal_a_test_of_every_network() {
        let list = [
            "10.0.0.0/8",
            "10.1.0.0/16",
            "192.0.2.7",
            "192.0.2.8/31",
            "198.51.100.0/25",
            "198.51.100.128/25",
            "2001:db8::/32",
            "2001:db8:1::/48",
            "::1",
        ];
        let set = nets(&list);
        let parsed: Vec<IpNet> = list.iter().filter_map(|t| parse_network(t)).collect();
        assert_eq!(parsed.len(), list.len());
        let probes = [
            "9.255.255.255",
            "10.0.0.0",
            "10.255.255.255",
            "11.0.0.0",
            "192.0.2.6",
            "192.0.2.7",
            "192.0.2.8",
            "192.0.2.9",
            "192.0.2.10",
            "198.51.100.0",
            "198.51.100.255",
            "198.51.101.0",
            "2001:db8:ffff::1",
            "2001:db9::",
            "::1",
            "::2",
            "0.0.0.0",
            "255.255.255.255",
        ];
        for p in probes {
            let ip: IpAddr = p.parse().expect("probe");
            let naive = parsed.iter().any(|n| n.contains(&ip));
            assert_eq!(set.contains(ip), naive, "{p}");
        }
        assert!(set.contains("::ffff:10.9.8.7".parse().expect("mapped")));
        assert!(!Networks::default().contains("10.0.0.1".parse().expect("ip")));
    }

    #[test]
    fn networks_parse_with_host_bits_and_single_addresses() {
        assert_eq!(
            parse_network(" 198.51.100.77/24 ").map(|n| n.to_string()),
            Some("198.51.100.0/24".into())
        );
        assert_eq!(
            parse_network("2001:db8::1").map(|n| n.to_string()),
            Some("2001:db8::1/128".into())
        );
        assert_eq!(parse_network("10.0.0.0/33"), None);
        assert_eq!(parse_network("example.com"), None);
    }

    #[test]
    fn a_network_list_skips_comments_and_names_a_bad_line() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("scanners.txt");
        std::fs::write(
            &path,
            "# research scanners\n\n198.51.100.0/24 # one\r\n2001:db8::/32\n192.0.2.1\n",
        )
        .expect("write");
        let got: Vec<String> = (read_networks(&path).expect("list").iter())
            .map(IpNet::to_string)
            .collect();
        assert_eq!(got, ["198.51.100.0/24", "2001:db8::/32", "192.0.2.1/32"]);

        std::fs::write(&path, "10.0.0.0/8\nscanner.example\n").expect("write");
        let err = read_networks(&path).expect_err("bad line").to_string();
        assert!(
            err.ends_with("scanners.txt:2: \"scanner.example\" is not a CIDR or an address"),
            "{err}"
        );

        std::fs::write(
            &path,
            format!("10.0.0.0/8\n{}\n", "#".repeat(MAX_NETWORK_LINE + 1)),
        )
        .expect("write");
        let err = read_networks(&path).expect_err("long line").to_string();
        assert!(err.ends_with(":2: longer than 4096 bytes"), "{err}");
        assert!(read_networks(&dir.path().join("missing")).is_err());
    }
}
