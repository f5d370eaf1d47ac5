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

use rayon::prelude::*;
use std::net::IpAddr;

use crate::agg::{Map, SourceState, Sources};

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

/// The sorted feature set of a source, written into `out`.
pub(crate) fn fingerprint_into(state: &SourceState, out: &mut Vec<u64>) {
    out.clear();
    out.extend(state.creds.iter().map(|(id, _)| *id));
    out.extend(state.features().iter().copied());
    out.sort_unstable();
    out.dedup();
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

/// `jaccard(a, b) >= threshold`, computed the same way, but the walk stops as soon
/// as too many elements of either set are unmatched for the threshold to be reached
/// (the index grows with the common count, so the answer is the same).
pub fn jaccard_reaches(a: &[u64], b: &[u64], threshold: f64) -> bool {
    if a.is_empty() && b.is_empty() {
        return 1.0 >= threshold;
    }
    let total = a.len() + b.len();
    let index = |common: usize| common as f64 / (total - common) as f64;
    // The smallest common count that reaches the threshold: near t·n/(1+t).
    let most = a.len().min(b.len());
    let estimate = (threshold * total as f64 / (1.0 + threshold)).floor();
    let mut need = if estimate.is_finite() && estimate > 0.0 {
        (estimate as usize).min(most)
    } else {
        0
    };
    while need > 0 && index(need - 1) >= threshold {
        need -= 1;
    }
    while need <= most && index(need) < threshold {
        need += 1;
    }
    if need > most {
        return false;
    }
    // Unmatched elements each side may have while `need` common ones stay possible.
    let (slack_a, slack_b) = (a.len() - need, b.len() - need);
    let (mut i, mut j, mut common) = (0, 0, 0usize);
    while let (Some(x), Some(y)) = (a.get(i), b.get(j)) {
        match x.cmp(y) {
            std::cmp::Ordering::Less => {
                i += 1;
                if i - common > slack_a {
                    return false;
                }
            }
            std::cmp::Ordering::Greater => {
                j += 1;
                if j - common > slack_b {
                    return false;
                }
            }
            std::cmp::Ordering::Equal => {
                common += 1;
                i += 1;
                j += 1;
            }
        }
    }
    index(common) >= threshold
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

/// Groups sources into campaigns and returns the member lists (sorted) of the
/// `n` largest campaigns that `keep` accepts, largest first, ties by smallest
/// member. `keep` sees a campaign's size and whether any member is `notable`.
///
/// Groups are numbered in order of first appearance; each distinct fingerprint is
/// stored once (the index holds group numbers, not copies of the sets) and sources
/// are kept as `(group, address)` pairs; only the returned campaigns get member
/// lists (most of ~1 M sources form single-source groups that are never shown).
pub(crate) fn top_campaigns(
    sources: &Sources,
    threshold: f64,
    n: usize,
    notable: impl Fn(&SourceState) -> bool,
    keep: impl Fn(usize, bool) -> bool,
) -> Vec<Vec<IpAddr>> {
    let mut index: hashbrown::HashTable<usize> = hashbrown::HashTable::new();
    let mut groups: Vec<Group> = Vec::new();
    let mut memberships: Vec<(usize, IpAddr, bool)> = Vec::with_capacity(sources.len());
    for prints in fingerprints(sources) {
        let mut start = 0;
        for ((ip, state), &(end, hash)) in prints.sources.iter().zip(&prints.ends) {
            let features = prints.arena.get(start..end).unwrap_or_default();
            start = end;
            if features.is_empty() {
                continue;
            }
            let hash = &hash;
            let found = index
                .find(*hash, |&g| {
                    groups.get(g).is_some_and(|o| o.features == features)
                })
                .copied();
            let g = match found {
                Some(g) => g,
                None => {
                    let g = groups.len();
                    groups.push(Group {
                        features: features.to_vec(),
                    });
                    index.insert_unique(*hash, g, |&o| {
                        groups.get(o).map_or(0, |x| features_hash(&x.features))
                    });
                    g
                }
            };
            memberships.push((g, **ip, notable(state)));
        }
    }
    drop(index);
    let mut uf = UnionFind((0..groups.len()).collect());
    if threshold < 1.0 {
        join_similar(&groups, threshold, &mut uf);
    }
    // Per component root: (members, smallest member, any notable member).
    let mut roots: Vec<Option<(usize, IpAddr, bool)>> = vec![None; groups.len()];
    drop(groups);
    for (g, ip, is_notable) in &mut memberships {
        *g = uf.find(*g);
        if let Some(slot) = roots.get_mut(*g) {
            let entry = slot.get_or_insert((0, *ip, false));
            entry.0 += 1;
            entry.1 = entry.1.min(*ip);
            entry.2 |= *is_notable;
        }
    }
    let mut ranked: Vec<(usize, IpAddr, usize)> = roots
        .iter()
        .enumerate()
        .filter_map(|(root, r)| r.map(|(len, first, any)| (root, len, first, any)))
        .filter(|&(_, len, _, any)| keep(len, any))
        .map(|(root, len, first, _)| (len, first, root))
        .collect();
    let order = |a: &(usize, IpAddr, usize), b: &(usize, IpAddr, usize)| {
        b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1))
    };
    if ranked.len() > n && n > 0 {
        ranked.select_nth_unstable_by(n - 1, order);
    }
    ranked.truncate(n);
    ranked.sort_unstable_by(order);
    let mut slot_of: Map<usize, usize> = Map::default();
    for (i, (_, _, root)) in ranked.iter().enumerate() {
        slot_of.insert(*root, i);
    }
    let mut out: Vec<Vec<IpAddr>> = ranked
        .iter()
        .map(|(len, _, _)| Vec::with_capacity(*len))
        .collect();
    for (root, ip, _) in memberships {
        if let Some(members) = slot_of.get(&root).and_then(|&i| out.get_mut(i)) {
            members.push(ip);
        }
    }
    for members in &mut out {
        members.sort_unstable();
    }
    out
}

/// Fingerprints of a run of sources: every feature set in one arena.
struct Prints<'a> {
    sources: Vec<(&'a IpAddr, &'a SourceState)>,
    /// `(end in arena, hash)` per source; a set starts where the previous one ends.
    ends: Vec<(usize, u64)>,
    arena: Vec<u64>,
}

/// Sources (in [`Sources::iter`] order, in chunks) with their fingerprints and
/// fingerprint hashes, computed in parallel.
fn fingerprints(sources: &Sources) -> Vec<Prints<'_>> {
    let entries: Vec<(&IpAddr, &SourceState)> = sources.iter().collect();
    entries
        .par_chunks(16_384)
        .map(|part| {
            let mut features = Vec::new();
            let mut arena = Vec::with_capacity(part.len() * 4);
            let ends = part
                .iter()
                .map(|(_, state)| {
                    fingerprint_into(state, &mut features);
                    let hash = if features.is_empty() {
                        0
                    } else {
                        features_hash(&features)
                    };
                    arena.extend_from_slice(&features);
                    (arena.len(), hash)
                })
                .collect();
            Prints {
                sources: part.to_vec(),
                ends,
                arena,
            }
        })
        .collect()
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
    // Each group's candidates and comparisons depend only on the groups, so ranges
    // of groups are compared in parallel and the links joined afterwards: the
    // components do not depend on the order of the unions.
    let chunk = groups
        .len()
        .div_ceil(4 * rayon::current_num_threads())
        .max(1024);
    let starts: Vec<usize> = (0..groups.len()).step_by(chunk).collect();
    let links: Vec<Vec<(usize, usize)>> = starts
        .par_iter()
        .map(|&start| {
            let end = (start + chunk).min(groups.len());
            similar_links(groups, &postings, start..end, threshold)
        })
        .collect();
    for (g, other) in links.into_iter().flatten() {
        uf.union(g, other);
    }
}

/// Pairs `(g, other)`, `other < g`, of similar groups for the groups `range`.
fn similar_links(
    groups: &[Group],
    postings: &Map<u64, Vec<usize>>,
    range: std::ops::Range<usize>,
    threshold: f64,
) -> Vec<(usize, usize)> {
    let mut links = Vec::new();
    // `stamp[o] == g` marks group `o` as already compared with group `g`.
    let mut stamp: Vec<usize> = vec![usize::MAX; range.end];
    for g in range {
        let Some(group) = groups.get(g) else { break };
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
                    && jaccard_reaches(&group.features, &o.features, threshold)
                {
                    links.push((g, other));
                }
            }
        }
    }
    links
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
    fn early_exit_jaccard_agrees_with_the_full_walk() {
        let sets: Vec<Vec<u64>> = vec![
            vec![],
            vec![1],
            vec![1, 2, 3],
            vec![2, 3, 4, 5],
            vec![1, 3, 5, 7, 9],
            vec![0, 1, 2, 3, 4, 5, 6, 7],
            vec![5, 6, 7, 8, 9, 10],
        ];
        for a in &sets {
            for b in &sets {
                for t in [0.0, 0.2, 0.3, 0.5, 0.6, 0.75, 0.9, 1.0] {
                    assert_eq!(
                        jaccard_reaches(a, b, t),
                        jaccard(a, b) >= t,
                        "{a:?} {b:?} {t}"
                    );
                }
            }
        }
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
