//! Which inventory ranges an address or a feed CIDR touches.
//!
//! Hand-written as a sorted list of disjoint intervals (IPv4 and IPv6 both mapped into `u128`,
//! IPv4 as IPv4-mapped IPv6): overlapping ranges of several entities are split at every
//! boundary once at build time, so a lookup is one binary search and a short forward walk,
//! and a feed *CIDR* (not only a single address) is matched by overlap, which the longest-
//! prefix-match tries (`ip_network_table`, `iprange`) do not answer directly. `ipnet` parses.
//!
//! Kept instead of a prefix-trie crate on measurement (issue #8 asked for one): 10,000 random
//! IPv4 /20–/28 CIDRs, 20 M random addresses, one core, same run (load average 7.7 on the
//! shared 2-core machine): `prefix-trie` 0.10.1 `PrefixMap::get_lpm` 22.7–32.7 M lookups/s,
//! this index's binary search over `u32` intervals 25.3–37.8 M lookups/s, same hits. The trie
//! is no faster and would still need this index for feed CIDRs overlapping a range. The IPv4
//! hot path ([`IpIndex::touches_v4`], [`parse_v4_exact`]) uses a `u32` copy of the intervals.

use std::net::IpAddr;

use ipnet::IpNet;

/// What one inventory range stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeOwner {
    /// Index of the entity.
    pub entity: usize,
    /// The range as written in the inventory.
    pub range: IpNet,
    /// The executive whose home range this is (`None`: the entity's own range).
    pub executive: Option<String>,
}

impl RangeOwner {
    /// The ranges entity `entity` answers for: `own` (its ranges) and its executives'
    /// home ranges, appended to `out`.
    pub fn push_entity<'a>(
        out: &mut Vec<RangeOwner>,
        entity: usize,
        own: impl IntoIterator<Item = &'a IpNet>,
        executives: &[crate::inventory::Executive],
    ) {
        out.extend(own.into_iter().map(|range| RangeOwner {
            entity,
            range: *range,
            executive: None,
        }));
        for x in executives {
            out.extend(x.home_ranges.iter().map(|range| RangeOwner {
                entity,
                range: *range,
                executive: Some(x.name.clone()),
            }));
        }
    }
}

/// Disjoint intervals, each with the owners covering it.
#[derive(Debug, Default)]
pub struct IpIndex {
    starts: Vec<u128>,
    ends: Vec<u128>,
    owners: Vec<Vec<u32>>,
    all: Vec<RangeOwner>,
    /// The same intervals clipped to IPv4 (`u32`): a quarter of the memory for the hot path.
    v4_starts: Vec<u32>,
    v4_ends: Vec<u32>,
}

/// Start of the IPv4-mapped block (`::ffff:0.0.0.0`).
const V4_MAPPED: u128 = 0xffff_0000_0000;

/// The interval `[first, last]` of a network in the common `u128` space.
pub fn interval(net: &IpNet) -> (u128, u128) {
    (to_u128(net.network()), to_u128(net.broadcast()))
}

/// An address in the common `u128` space.
pub fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

impl IpIndex {
    /// Builds the index.
    pub fn new(ranges: Vec<RangeOwner>) -> IpIndex {
        let mut bounds: Vec<(u128, bool, u32)> = Vec::with_capacity(ranges.len() * 2);
        for (i, r) in ranges.iter().enumerate() {
            let (a, b) = interval(&r.range);
            let id = u32::try_from(i).unwrap_or(u32::MAX);
            bounds.push((a, true, id));
            if let Some(after) = b.checked_add(1) {
                bounds.push((after, false, id));
            }
        }
        bounds.sort_unstable();
        let mut index = IpIndex {
            all: ranges,
            ..IpIndex::default()
        };
        let mut active: Vec<u32> = Vec::new();
        let mut i = 0;
        while i < bounds.len() {
            let at = bounds[i].0;
            while i < bounds.len() && bounds[i].0 == at {
                let (_, open, id) = bounds[i];
                if open {
                    active.push(id);
                } else {
                    active.retain(|x| *x != id);
                }
                i += 1;
            }
            if let Some(last) = index.ends.last_mut()
                && *last == u128::MAX
            {
                *last = at - 1;
            }
            if !active.is_empty() {
                index.starts.push(at);
                index.ends.push(u128::MAX);
                index.owners.push(active.clone());
            }
        }
        index.build_v4();
        index
    }

    fn build_v4(&mut self) {
        let last = V4_MAPPED + u128::from(u32::MAX);
        for (&a, &b) in self.starts.iter().zip(&self.ends) {
            if b < V4_MAPPED || a > last {
                continue;
            }
            let clip = |x: u128| u32::try_from(x.clamp(V4_MAPPED, last) - V4_MAPPED).unwrap_or(0);
            self.v4_starts.push(clip(a));
            self.v4_ends.push(clip(b));
        }
    }

    /// True when the IPv4 address (as `u32`) is inside any range: the feeds' hot path.
    pub fn touches_v4(&self, ip: u32) -> bool {
        let pos = self.v4_ends.partition_point(|end| *end < ip);
        self.v4_starts.get(pos).is_some_and(|start| *start <= ip)
    }

    /// Number of inventory ranges.
    pub fn len(&self) -> usize {
        self.all.len()
    }

    /// True when there are no ranges.
    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }

    /// Calls `found` for each inventory range overlapping `[first, last]` (each once).
    pub fn overlapping(&self, first: u128, last: u128, mut found: impl FnMut(&RangeOwner)) {
        let mut pos = self.ends.partition_point(|end| *end < first);
        let mut seen: Vec<u32> = Vec::new();
        while pos < self.starts.len() && self.starts[pos] <= last {
            for id in &self.owners[pos] {
                if !seen.contains(id) {
                    seen.push(*id);
                    if let Some(owner) = self.all.get(*id as usize) {
                        found(owner);
                    }
                }
            }
            pos += 1;
        }
    }

    /// True when the ranges cover all of `[first, last]` (an allow-list suppresses a feed
    /// CIDR only when every address of it is allowed, not when one allowed address is in it).
    pub fn covers(&self, first: u128, last: u128) -> bool {
        let mut pos = self.ends.partition_point(|end| *end < first);
        let mut cursor = first;
        while pos < self.starts.len() && self.starts[pos] <= cursor {
            if self.ends[pos] >= last {
                return true;
            }
            cursor = self.ends[pos] + 1;
            pos += 1;
        }
        false
    }

    /// True when `[first, last]` touches any range (the fast path for feeds).
    pub fn touches(&self, first: u128, last: u128) -> bool {
        let pos = self.ends.partition_point(|end| *end < first);
        pos < self.starts.len() && self.starts[pos] <= last
    }
}

/// A dotted-quad IPv4 address in canonical form (`0`–`255`, no leading zeros, nothing else),
/// parsed without allocating; `None` for anything else, which the general parser then judges.
pub fn parse_v4_exact(s: &[u8]) -> Option<u32> {
    if s.len() < 7 || s.len() > 15 {
        return None;
    }
    let (mut ip, mut octet, mut digits, mut dots) = (0u32, 0u32, 0u32, 0u32);
    for &b in s {
        match b {
            b'0'..=b'9' => {
                if digits == 1 && octet == 0 {
                    return None; // leading zero
                }
                octet = octet * 10 + u32::from(b - b'0');
                digits += 1;
                if octet > 255 {
                    return None;
                }
            }
            b'.' if digits > 0 && dots < 3 => {
                ip = (ip << 8) | octet;
                (octet, digits, dots) = (0, 0, dots + 1);
            }
            _ => return None,
        }
    }
    (dots == 3 && digits > 0).then_some((ip << 8) | octet)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_v4_parsing_agrees_with_std() {
        for s in [
            "1.2.3.4",
            "0.0.0.0",
            "255.255.255.255",
            "10.0.0.1",
            "256.1.1.1",
            "01.2.3.4",
            "1.2.3",
            "1.2.3.4.5",
            "1..2.3",
            "1.2.3.4 ",
            " 1.2.3.4",
            "1.2.3.04",
            "1.2.3.-4",
            "100.200.30.4",
            "1.2.3.4/32",
            "9999.1.1.1",
        ] {
            let std = s.parse::<std::net::Ipv4Addr>().ok().map(u32::from);
            match parse_v4_exact(s.as_bytes()) {
                Some(ip) => assert_eq!(Some(ip), std, "{s}"),
                None => assert!(std.is_none() || s.contains(['/', ' ']), "{s}"),
            }
        }
    }

    #[test]
    fn v4_view_agrees_with_the_full_index() {
        let index = IpIndex::new(vec![
            owner(0, "203.0.113.0/24"),
            owner(1, "0.0.0.0/8"),
            owner(2, "255.255.255.0/24"),
            owner(3, "2001:db8::/32"),
        ]);
        for ip in [
            "203.0.113.0",
            "203.0.113.255",
            "203.0.114.0",
            "203.0.112.255",
            "0.0.0.0",
            "0.255.255.255",
            "1.0.0.0",
            "255.255.255.255",
            "255.255.254.255",
        ] {
            let v4: std::net::Ipv4Addr = ip.parse().unwrap();
            let (a, b) = interval(&IpNet::from(IpAddr::V4(v4)));
            assert_eq!(index.touches_v4(u32::from(v4)), index.touches(a, b), "{ip}");
        }
        let all = IpIndex::new(vec![owner(0, "::/0")]);
        assert!(all.touches_v4(0) && all.touches_v4(u32::MAX));
    }

    #[test]
    fn covers_needs_every_address() {
        let index = IpIndex::new(vec![
            owner(0, "203.0.113.250/32"),
            owner(0, "198.51.100.0/25"),
            owner(0, "198.51.100.128/25"),
        ]);
        let span = |q: &str| interval(&q.parse::<IpNet>().unwrap());
        let (a, b) = span("203.0.113.128/25");
        assert!(
            !index.covers(a, b),
            "one allowed address does not allow a /25"
        );
        let (a, b) = span("203.0.113.250/32");
        assert!(index.covers(a, b));
        let (a, b) = span("198.51.100.0/24");
        assert!(index.covers(a, b), "adjacent halves cover the /24");
        let (a, b) = span("198.51.100.0/23");
        assert!(!index.covers(a, b));
    }

    fn owner(entity: usize, range: &str) -> RangeOwner {
        RangeOwner {
            entity,
            range: range.parse().unwrap(),
            executive: None,
        }
    }

    fn hits(index: &IpIndex, q: &str) -> Vec<usize> {
        let net: IpNet = q.parse().unwrap();
        let (a, b) = interval(&net);
        let mut out = Vec::new();
        index.overlapping(a, b, |o| out.push(o.entity));
        out.sort_unstable();
        out
    }

    #[test]
    fn addresses_and_cidrs_overlap_nested_ranges() {
        let index = IpIndex::new(vec![
            owner(0, "203.0.113.0/24"),
            owner(1, "203.0.113.128/25"),
            owner(2, "2001:db8::/32"),
        ]);
        assert_eq!(hits(&index, "203.0.113.5/32"), vec![0]);
        assert_eq!(hits(&index, "203.0.113.200/32"), vec![0, 1]);
        assert_eq!(hits(&index, "203.0.0.0/16"), vec![0, 1]);
        assert_eq!(hits(&index, "203.0.114.0/32"), Vec::<usize>::new());
        assert_eq!(hits(&index, "2001:db8:1::1/128"), vec![2]);
        assert_eq!(hits(&index, "::ffff:203.0.113.9/128"), vec![0]);
        assert!(!index.touches(0, 5));
    }

    #[test]
    fn whole_space_range_does_not_overflow() {
        let index = IpIndex::new(vec![owner(0, "::/0"), owner(1, "10.0.0.0/8")]);
        assert_eq!(hits(&index, "10.1.2.3/32"), vec![0, 1]);
        assert_eq!(hits(&index, "ffff::1/128"), vec![0]);
    }
}
