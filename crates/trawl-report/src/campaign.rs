//! Campaigns: source addresses whose behaviour fingerprints are identical or close.
//!
//! A fingerprint is the set of credential pairs a source tried, the command
//! verbs it typed, and the payload file names and hosts it pushed. Sources with
//! identical sets are grouped first (cheap, by hash); groups are then joined when
//! the Jaccard index of their sets reaches the threshold (single linkage, union-
//! find). Candidates come from an inverted index that ignores features shared by
//! very many groups (a `root/admin` attempt says little), and each group compares
//! against a bounded number of candidates, so the step stays near-linear.

use std::hash::BuildHasher;
use std::net::IpAddr;

use crate::agg::{Map, SourceState};

/// Features shared by more groups than this are not used to find candidates.
const MAX_POSTING: usize = 64;
/// At most this many candidate groups are compared per group.
const MAX_CANDIDATES: usize = 256;

/// One group of sources with the same fingerprint.
pub(crate) struct Group {
    pub features: Vec<u64>,
}

fn features_hash(features: &[u64]) -> u64 {
    foldhash::fast::FixedState::with_seed(0x6361_6d70).hash_one(features)
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

/// Jaccard of sets sized `a` and `b` is at most `min / max`: skips pairs that cannot
/// reach the threshold without comparing them.
fn could_reach(a: usize, b: usize, threshold: f64) -> bool {
    let (lo, hi) = (a.min(b), a.max(b));
    hi == 0 || lo as f64 / hi as f64 >= threshold
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
///
/// Groups are numbered in order of first appearance; each distinct fingerprint is
/// stored once (the index holds group numbers, not copies of the sets) and sources
/// are kept as `(group, address)` pairs rather than one list per group.
pub(crate) fn cluster(sources: &Map<IpAddr, Box<SourceState>>, threshold: f64) -> Vec<Vec<IpAddr>> {
    let mut index: hashbrown::HashTable<usize> = hashbrown::HashTable::new();
    let mut groups: Vec<Group> = Vec::new();
    let mut memberships: Vec<(usize, IpAddr)> = Vec::with_capacity(sources.len());
    for (ip, state) in sources {
        let features = fingerprint(state);
        if features.is_empty() {
            continue;
        }
        let hash = features_hash(&features);
        let found = index
            .find(hash, |&g| {
                groups.get(g).is_some_and(|o| o.features == features)
            })
            .copied();
        let g = match found {
            Some(g) => g,
            None => {
                let g = groups.len();
                groups.push(Group { features });
                index.insert_unique(hash, g, |&o| {
                    groups.get(o).map_or(0, |x| features_hash(&x.features))
                });
                g
            }
        };
        memberships.push((g, *ip));
    }
    drop(index);
    let mut uf = UnionFind((0..groups.len()).collect());
    if threshold < 1.0 {
        join_similar(&groups, threshold, &mut uf);
    }
    drop(groups);
    let mut components: Map<usize, Vec<IpAddr>> = Map::default();
    for (g, ip) in memberships {
        components.entry(uf.find(g)).or_default().push(ip);
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
    // `stamp[o] == g` marks group `o` as already compared with group `g`.
    let mut stamp: Vec<usize> = vec![usize::MAX; groups.len()];
    for (g, group) in groups.iter().enumerate() {
        let mut compared = 0usize;
        for f in &group.features {
            let Some(list) = postings.get(f).filter(|l| l.len() <= MAX_POSTING) else {
                continue;
            };
            for &other in list.iter().take_while(|&&o| o < g) {
                if compared >= MAX_CANDIDATES {
                    break;
                }
                match stamp.get_mut(other) {
                    Some(s) if *s != g => *s = g,
                    _ => continue,
                }
                compared += 1;
                if let Some(o) = groups.get(other)
                    && could_reach(group.features.len(), o.features.len(), threshold)
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

    #[test]
    fn size_bound_never_skips_a_pair_that_reaches_the_threshold() {
        let sets: Vec<Vec<u64>> = (1..8u64).map(|n| (0..n).collect()).collect();
        for a in &sets {
            for b in &sets {
                for t in [0.3, 0.5, 0.6, 0.75, 1.0] {
                    if jaccard(a, b) >= t {
                        assert!(could_reach(a.len(), b.len(), t), "{a:?} {b:?} {t}");
                    }
                }
            }
        }
        assert!(!could_reach(1, 4, 0.6));
    }
}
