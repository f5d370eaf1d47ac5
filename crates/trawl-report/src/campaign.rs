//! Campaigns: source addresses whose behaviour fingerprints are identical or close.
//!
//! A fingerprint is the set of credential pairs a source tried, the command
//! verbs it typed, and the payload file names and hosts it pushed. Sources with
//! identical sets are grouped first (cheap, by hash); groups are then joined when
//! the Jaccard index of their sets reaches the threshold (single linkage, union-
//! find). Candidates come from an inverted index that ignores features shared by
//! very many groups (a `root/admin` attempt says little), and each group compares
//! against a bounded number of candidates, so the step stays near-linear.

use std::net::IpAddr;

use crate::agg::{Map, SourceState};

/// Features shared by more groups than this are not used to find candidates.
const MAX_POSTING: usize = 64;
/// At most this many candidate groups are compared per group.
const MAX_CANDIDATES: usize = 256;

/// One group of sources with the same fingerprint.
pub(crate) struct Group {
    pub features: Vec<u64>,
    pub members: Vec<IpAddr>,
}

/// The sorted feature set of a source.
pub(crate) fn fingerprint(state: &SourceState) -> Vec<u64> {
    let mut f: Vec<u64> = state
        .creds
        .iter()
        .map(|(id, _)| *id)
        .chain(state.features.iter().copied())
        .collect();
    f.sort_unstable();
    f.dedup();
    f
}

/// Size of the intersection over the size of the union of two sorted sets.
pub fn jaccard(a: &[u64], b: &[u64]) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let (mut i, mut j, mut common) = (0, 0, 0usize);
    while let (Some(x), Some(y)) = (a.get(i), b.get(j)) {
        match x.cmp(y) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                common += 1;
                i += 1;
                j += 1;
            }
        }
    }
    common as f64 / (a.len() + b.len() - common) as f64
}

struct UnionFind(Vec<usize>);

impl UnionFind {
    fn find(&mut self, mut x: usize) -> usize {
        while let Some(&parent) = self.0.get(x) {
            if parent == x {
                break;
            }
            let grand = self.0.get(parent).copied().unwrap_or(parent);
            if let Some(slot) = self.0.get_mut(x) {
                *slot = grand;
            }
            x = parent;
        }
        x
    }
    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb
            && let Some(slot) = self.0.get_mut(ra.max(rb))
        {
            *slot = ra.min(rb);
        }
    }
}

/// Groups sources into campaigns; returns the member lists, largest first.
pub(crate) fn cluster(sources: &Map<IpAddr, SourceState>, threshold: f64) -> Vec<Vec<IpAddr>> {
    let mut index: Map<Vec<u64>, usize> = Map::default();
    let mut groups: Vec<Group> = Vec::new();
    for (ip, state) in sources {
        let features = fingerprint(state);
        if features.is_empty() {
            continue;
        }
        match index.get(&features) {
            Some(&g) => {
                if let Some(group) = groups.get_mut(g) {
                    group.members.push(*ip);
                }
            }
            None => {
                index.insert(features.clone(), groups.len());
                groups.push(Group {
                    features,
                    members: vec![*ip],
                });
            }
        }
    }
    drop(index);
    let mut uf = UnionFind((0..groups.len()).collect());
    if threshold < 1.0 {
        join_similar(&groups, threshold, &mut uf);
    }
    let mut components: Map<usize, Vec<IpAddr>> = Map::default();
    for (g, group) in groups.iter().enumerate() {
        components
            .entry(uf.find(g))
            .or_default()
            .extend(group.members.iter().copied());
    }
    let mut out: Vec<Vec<IpAddr>> = components.into_values().collect();
    for members in &mut out {
        members.sort_unstable();
    }
    out.sort_by(|a, b| {
        b.len()
            .cmp(&a.len())
            .then_with(|| a.first().cmp(&b.first()))
    });
    out
}

fn join_similar(groups: &[Group], threshold: f64, uf: &mut UnionFind) {
    let mut postings: Map<u64, Vec<usize>> = Map::default();
    for (g, group) in groups.iter().enumerate() {
        for f in &group.features {
            let list = postings.entry(*f).or_default();
            if list.len() <= MAX_POSTING {
                list.push(g);
            }
        }
    }
    let mut seen: Map<usize, ()> = Map::default();
    for (g, group) in groups.iter().enumerate() {
        seen.clear();
        for f in &group.features {
            let Some(list) = postings.get(f).filter(|l| l.len() <= MAX_POSTING) else {
                continue;
            };
            for &other in list.iter().take_while(|&&o| o < g) {
                if seen.len() >= MAX_CANDIDATES {
                    break;
                }
                if seen.insert(other, ()).is_some() {
                    continue;
                }
                if let Some(o) = groups.get(other)
                    && jaccard(&group.features, &o.features) >= threshold
                {
                    uf.union(g, other);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jaccard_basics() {
        assert_eq!(jaccard(&[1, 2, 3], &[1, 2, 3]), 1.0);
        assert_eq!(jaccard(&[1, 2], &[3]), 0.0);
        assert!((jaccard(&[1, 2, 3, 4], &[2, 3, 4, 5]) - 0.6).abs() < 1e-9);
    }
}
