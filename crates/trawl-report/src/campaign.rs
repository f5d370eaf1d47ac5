//! Campaigns: source addresses whose behaviour fingerprints are identical or close.
//!
//! A fingerprint is the set of credential pairs a source tried, the command
//! verbs it typed, the payload file names and hosts it pushed, and the client
//! software it announced (SSH client versions and HASSHes, one feature each;
//! see docs/report.md). Sources with
//! identical sets are grouped first (cheap, by hash); groups are then joined when
//! the Jaccard index of their sets reaches the threshold (single linkage, union-
//! find). Candidates come from an inverted index that ignores features shared by
//! very many groups (a `root/admin` attempt says little), and each group compares
//! against a bounded number of candidates, so the step stays near-linear.
//!
//! Everything is kept in flat arrays (no allocation per source, group or feature):
//! fingerprints are computed in parallel chunks into arenas (each source's two
//! sorted lists merged), the distinct sets are stored once in one arena, numbered
//! by placing them at their smallest source position (no sort), and the inverted
//! index is built by sorting `(feature, position)` entries (in parallel) into one
//! slice of groups per feature, written over the sorted entries themselves.

use std::hash::BuildHasher;

use rayon::prelude::*;

use crate::agg::SourceState;

/// Features shared by more groups than this are not used to find candidates.
const MAX_POSTING: usize = 64;
/// At most this many candidate groups are compared per group.
const MAX_CANDIDATES: usize = 256;

fn features_hash(features: &[u64]) -> u64 {
    foldhash::fast::FixedState::with_seed(0x6361_6d70).hash_one(features)
}

/// Appends the sorted feature set of a source to `out`. The aggregator keeps both
/// lists sorted (credential ids and features), so they are merged; lists that are
/// not strictly ascending, or a source with client ids (a third and fourth list,
/// of at most [`crate::agg::MAX_SOURCE_CLIENTS`] ids each), are sorted instead.
fn append_fingerprint(state: &SourceState, out: &mut Vec<u64>) {
    let creds = &state.creds;
    let features = state.features();
    let (versions, hassh) = (state.client_versions(), state.client_hassh());
    let ascending = creds.windows(2).all(|w| w[0].0 < w[1].0)
        && features.is_sorted_by(|a, b| a < b)
        && versions.is_empty()
        && hassh.is_empty();
    let start = out.len();
    if !ascending {
        out.extend(creds.iter().map(|(id, _)| *id));
        out.extend(features.iter().copied());
        out.extend(versions.iter().chain(hassh).copied());
        if let Some(set) = out.get_mut(start..) {
            set.sort_unstable();
        }
        let mut set = out.split_off(start);
        set.dedup();
        out.append(&mut set);
        return;
    }
    out.reserve(creds.len() + features.len());
    let (mut i, mut j) = (0, 0);
    while let (Some(&(c, _)), Some(&f)) = (creds.get(i), features.get(j)) {
        match c.cmp(&f) {
            std::cmp::Ordering::Less => {
                out.push(c);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push(f);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                out.push(c);
                i += 1;
                j += 1;
            }
        }
    }
    out.extend(creds.get(i..).unwrap_or_default().iter().map(|(id, _)| *id));
    out.extend_from_slice(features.get(j..).unwrap_or_default());
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
pub fn jaccard_reaches<T: Ord>(a: &[T], b: &[T], threshold: f64) -> bool {
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

struct UnionFind(Vec<u32>);

impl UnionFind {
    fn find(&mut self, mut x: u32) -> u32 {
        while let Some(&parent) = self.0.get(x as usize) {
            if parent == x {
                break;
            }
            let grand = self.0.get(parent as usize).copied().unwrap_or(parent);
            if let Some(slot) = self.0.get_mut(x as usize) {
                *slot = grand;
            }
            x = parent;
        }
        x
    }
    fn union(&mut self, a: u32, b: u32) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb
            && let Some(slot) = self.0.get_mut(ra.max(rb) as usize)
        {
            *slot = ra.min(rb);
        }
    }
}

/// Sources per [`Prints`] chunk: every chunk but the last holds exactly this many.
pub(crate) const PRINT_CHUNK: usize = 16_384;

/// Fingerprints of [`PRINT_CHUNK`] consecutive sources, every set in one arena.
#[derive(Default)]
pub(crate) struct Prints {
    /// End of each source's set in `arena` (a set starts where the previous ends).
    ends: Vec<u32>,
    /// Hash of each source's set (0 for an empty set).
    hashes: Vec<u64>,
    /// Whether each source is notable (see [`top_campaigns`]).
    notable: Vec<bool>,
    /// Each source's position in the order that numbers the groups.
    positions: Vec<u32>,
    arena: Vec<u64>,
}

/// Arena room reserved per source of a [`Prints`] chunk (the benchmark logs average
/// 4.5 features a source; room never touched costs no memory).
const ARENA_PER_SOURCE: usize = 8;

impl Prints {
    /// Room for `sources` sources.
    pub fn with_capacity(sources: usize) -> Self {
        Prints {
            ends: Vec::with_capacity(sources),
            hashes: Vec::with_capacity(sources),
            notable: Vec::with_capacity(sources),
            positions: Vec::with_capacity(sources),
            arena: Vec::with_capacity(sources * ARENA_PER_SOURCE),
        }
    }

    /// Appends the fingerprint of the next source; `position` orders the groups
    /// (a group is numbered by the smallest position among its sources).
    pub fn push(&mut self, state: &SourceState, notable: bool, position: u32) {
        let start = self.arena.len();
        append_fingerprint(state, &mut self.arena);
        let features = self.arena.get(start..).unwrap_or_default();
        // 0 marks an empty set.
        self.hashes.push(if features.is_empty() {
            0
        } else {
            features_hash(features).max(1)
        });
        self.ends
            .push(u32::try_from(self.arena.len()).unwrap_or(u32::MAX));
        self.notable.push(notable);
        self.positions.push(position);
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    /// The set of the `i`-th source of this chunk.
    fn features(&self, i: usize) -> &[u64] {
        let start = match i.checked_sub(1) {
            Some(p) => self.ends.get(p).map_or(0, |&e| e as usize),
            None => 0,
        };
        let end = self.ends.get(i).map_or(start, |&e| e as usize);
        self.arena.get(start..end).unwrap_or_default()
    }
}

/// Every source's fingerprint by source number, over the chunks.
struct AllPrints<'a>(&'a [Prints]);

impl AllPrints<'_> {
    fn len(&self) -> usize {
        self.0.iter().map(Prints::len).sum()
    }

    fn features(&self, source: u32) -> &[u64] {
        let s = source as usize;
        self.0
            .get(s / PRINT_CHUNK)
            .map_or(&[], |p| p.features(s % PRINT_CHUNK))
    }

    /// `(source, hash, position, notable)` of every source with a non-empty
    /// fingerprint.
    fn hashes(&self) -> impl Iterator<Item = (u32, u64, u32, bool)> + '_ {
        self.0
            .iter()
            .flat_map(|p| {
                (p.hashes.iter().copied())
                    .zip(p.positions.iter().copied())
                    .zip(p.notable.iter().copied())
            })
            .enumerate()
            .filter(|&(_, ((h, _), _))| h != 0)
            .map(|(s, ((h, pos), notable))| (u32::try_from(s).unwrap_or(u32::MAX), h, pos, notable))
    }
}

/// The distinct fingerprints, numbered in order of first appearance, in one arena.
struct Groups {
    /// `ends[g]` is where group `g`'s set ends in `arena`; it starts at `ends[g - 1]`.
    ends: Vec<u32>,
    arena: Vec<u64>,
}

impl Groups {
    fn len(&self) -> usize {
        self.ends.len()
    }

    fn range(&self, g: usize) -> std::ops::Range<usize> {
        let start = match g.checked_sub(1) {
            Some(p) => self.ends.get(p).map_or(0, |&e| e as usize),
            None => 0,
        };
        let end = self.ends.get(g).map_or(start, |&e| e as usize);
        start..end.max(start)
    }
}

/// Groups sources into campaigns and returns the member lists of the `n` largest
/// campaigns that `keep` accepts, largest first, ties by smallest member `key` (the
/// address). Sources are numbered in the order of `prints` (chunk after chunk); a
/// member list holds source numbers, ascending. `keep` sees a campaign's size and
/// whether any member is notable.
///
/// Groups are numbered by the smallest position of their sources (as if sources
/// were read in position order); each distinct fingerprint is stored once and
/// sources are kept as their group numbers; only the returned campaigns get member
/// lists (most of ~1 M sources form single-source groups that are never shown).
pub(crate) fn top_campaigns<K: Ord + Copy>(
    prints: &[Prints],
    threshold: f64,
    n: usize,
    key: impl Fn(u32) -> K,
    keep: impl Fn(usize, bool) -> bool,
) -> Vec<Vec<u32>> {
    let all = AllPrints(prints);
    let (groups, group_of, tally) = group_identical(&all);
    let mut uf = UnionFind((0..u32::try_from(groups.len()).unwrap_or(u32::MAX)).collect());
    if threshold < 1.0 {
        join_similar(&groups, threshold, &mut uf);
    }
    let group_count = groups.len();
    drop(groups);
    let root_of: Vec<u32> = (0..u32::try_from(group_count).unwrap_or(u32::MAX))
        .map(|g| uf.find(g))
        .collect();
    drop(uf);
    // Per component root: members, any notable member (summed over its groups, a
    // pass over the groups rather than over every source).
    let mut sizes = vec![0usize; group_count];
    let mut notable = vec![false; group_count];
    for ((&root, &size), &any_notable) in root_of.iter().zip(&tally.sizes).zip(&tally.notable) {
        let root = root as usize;
        if let (Some(total), Some(any)) = (sizes.get_mut(root), notable.get_mut(root)) {
            *total += size as usize;
            *any |= any_notable;
        }
    }
    drop(tally);
    let mut kept: Vec<(usize, usize)> = sizes
        .iter()
        .zip(&notable)
        .enumerate()
        .filter(|&(_, (&len, &any))| len > 0 && keep(len, any))
        .map(|(root, (&len, _))| (len, root))
        .collect();
    drop((sizes, notable));
    // Only campaigns at least as large as the n-th largest can be listed: the smallest
    // member key (which breaks ties of size) is needed of those only.
    let floor = match n.checked_sub(1) {
        Some(last) if kept.len() > n => {
            kept.select_nth_unstable_by(last, |a, b| b.0.cmp(&a.0));
            kept.get(last).map_or(0, |&(len, _)| len)
        }
        _ => 0,
    };
    kept.retain(|&(len, _)| len >= floor);
    let mut contender_of = vec![u32::MAX; group_count];
    for (i, &(_, root)) in kept.iter().enumerate() {
        if let Some(slot) = contender_of.get_mut(root) {
            *slot = u32::try_from(i).unwrap_or(u32::MAX);
        }
    }
    // `table`'s entry for each group's root (u32::MAX: none), by group: the passes
    // over every source then look up one table, not two.
    let by_group = |table: &[u32]| -> Vec<u32> {
        (root_of.iter())
            .map(|&r| table.get(r as usize).copied().unwrap_or(u32::MAX))
            .collect()
    };
    let entry_of = |table: &[u32], g: u32| table.get(g as usize).copied().unwrap_or(u32::MAX);
    let contender_of = by_group(&contender_of);
    let mut keys: Vec<Option<K>> = vec![None; kept.len()];
    for (source, &g) in group_of.iter().enumerate() {
        if let Some(slot) = keys.get_mut(entry_of(&contender_of, g) as usize) {
            let k = key(u32::try_from(source).unwrap_or(u32::MAX));
            *slot = Some(slot.map_or(k, |first| first.min(k)));
        }
    }
    let mut ranked: Vec<(usize, K, usize)> = kept
        .iter()
        .zip(keys)
        .filter_map(|(&(len, root), first)| first.map(|k| (len, k, root)))
        .collect();
    let order =
        |a: &(usize, K, usize), b: &(usize, K, usize)| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1));
    if ranked.len() > n && n > 0 {
        ranked.select_nth_unstable_by(n - 1, order);
    }
    ranked.truncate(n);
    ranked.sort_unstable_by(order);
    // Listed slot of each root (u32::MAX: not listed).
    let mut slot_of = vec![u32::MAX; group_count];
    for (i, (_, _, root)) in ranked.iter().enumerate() {
        if let Some(s) = slot_of.get_mut(*root) {
            *s = u32::try_from(i).unwrap_or(u32::MAX);
        }
    }
    let slot_of = by_group(&slot_of);
    let mut out: Vec<Vec<u32>> = ranked
        .iter()
        .map(|(len, _, _)| Vec::with_capacity(*len))
        .collect();
    for (source, &g) in group_of.iter().enumerate() {
        if let Some(members) = out.get_mut(entry_of(&slot_of, g) as usize) {
            members.push(u32::try_from(source).unwrap_or(u32::MAX));
        }
    }
    out
}

/// What one thread's share of the grouping saw of one of its groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    /// The smallest position of its sources.
    pos: u32,
    /// Its first source.
    member: u32,
    /// Features in its set.
    len: u32,
    /// Its sources.
    size: u32,
    /// Whether any of its sources is notable.
    notable: bool,
}

/// One thread's share of the grouping: its groups; per source of the share,
/// `(source, local group)`.
type Share = (Vec<Seen>, Vec<(u32, u32)>);

/// Per group (by global number): its sources, whether any is notable.
struct Tally {
    sizes: Vec<u32>,
    notable: Vec<bool>,
}

/// Numbers the distinct non-empty fingerprints by their smallest source position;
/// returns them, each source's group (`u32::MAX` for an empty fingerprint) and
/// each group's [`Tally`].
///
/// The sources are split between threads by fingerprint hash (each thread reads
/// every hash and groups its share); the groups of all shares are numbered
/// afterwards.
fn group_identical(all: &AllPrints<'_>) -> (Groups, Vec<u32>, Tally) {
    let total = all.len();
    let shares = rayon::current_num_threads().clamp(1, 16);
    let parts: Vec<Share> = (0..shares)
        .into_par_iter()
        .map(|share| {
            let mine = |h: u64| (h >> 32) as usize % shares == share;
            let expected = total / shares + 1;
            let mut index: hashbrown::HashTable<(u64, u32)> =
                hashbrown::HashTable::with_capacity(expected / 2);
            let mut groups: Vec<Seen> = Vec::new();
            let mut members: Vec<(u32, u32)> = Vec::with_capacity(expected);
            for (source, hash, pos, notable) in all.hashes().filter(|&(_, h, _, _)| mine(h)) {
                let features = all.features(source);
                let found = index
                    .find(hash, |&(h, g)| {
                        h == hash
                            && groups
                                .get(g as usize)
                                .is_some_and(|seen| all.features(seen.member) == features)
                    })
                    .map(|&(_, g)| g);
                let g = match found {
                    Some(g) => {
                        if let Some(group) = groups.get_mut(g as usize) {
                            group.pos = group.pos.min(pos);
                            group.size = group.size.saturating_add(1);
                            group.notable |= notable;
                        }
                        g
                    }
                    None => {
                        let g = u32::try_from(groups.len()).unwrap_or(u32::MAX);
                        groups.push(Seen {
                            pos,
                            member: source,
                            len: u32::try_from(features.len()).unwrap_or(u32::MAX),
                            size: 1,
                            notable,
                        });
                        index.insert_unique(hash, (hash, g), |&(h, _)| h);
                        g
                    }
                };
                members.push((source, g));
            }
            (groups, members)
        })
        .collect();
    // Global numbers: groups in order of their smallest position.
    let order = by_smallest_position(&parts, total);
    let mut numbers: Vec<Vec<u32>> = parts
        .iter()
        .map(|(groups, _)| vec![u32::MAX; groups.len()])
        .collect();
    // One pass in global order: numbers, where each set ends, the tallies.
    let seen_of = |share: u32, local: u32| parts.get(share as usize)?.0.get(local as usize);
    let mut ends: Vec<u32> = Vec::with_capacity(order.len());
    let mut tally = Tally {
        sizes: Vec::with_capacity(order.len()),
        notable: Vec::with_capacity(order.len()),
    };
    let mut end = 0u32;
    for (g, &(share, local)) in order.iter().enumerate() {
        if let Some(slot) = numbers
            .get_mut(share as usize)
            .and_then(|v| v.get_mut(local as usize))
        {
            *slot = u32::try_from(g).unwrap_or(u32::MAX);
        }
        let seen = seen_of(share, local);
        end = end.saturating_add(seen.map_or(0, |s| s.len));
        ends.push(end);
        tally.sizes.push(seen.map_or(0, |s| s.size));
        tally.notable.push(seen.is_some_and(|s| s.notable));
    }
    // The set of the group numbered `g` (that of its first member).
    let set_of = |g: usize| {
        order
            .get(g)
            .and_then(|&(share, local)| seen_of(share, local))
            .map_or(&[][..], |seen| all.features(seen.member))
    };
    let groups = Groups {
        arena: concat_sets(&ends, set_of),
        ends,
    };
    let mut group_of = vec![u32::MAX; total];
    for ((_, members), numbers) in parts.iter().zip(&numbers) {
        for &(source, local) in members {
            if let (Some(slot), Some(&g)) = (
                group_of.get_mut(source as usize),
                numbers.get(local as usize),
            ) {
                *slot = g;
            }
        }
    }
    (groups, group_of, tally)
}

/// `(share, local group)` of every group of the shares, in order of the groups'
/// smallest positions. Positions are distinct (one per source) and below the
/// number of sources when they number the sources, as [`top_campaigns`]' callers'
/// do: the groups are then placed by position, in one pass; otherwise sorted.
fn by_smallest_position(parts: &[Share], total: usize) -> Vec<(u32, u32)> {
    let mut slots = vec![u64::MAX; total];
    let mut placed = true;
    'place: for (share, (groups, _)) in parts.iter().enumerate() {
        for (local, seen) in groups.iter().enumerate() {
            match slots.get_mut(seen.pos as usize) {
                Some(slot) if *slot == u64::MAX => {
                    *slot = ((share as u64) << 32) | local as u64;
                }
                _ => {
                    placed = false;
                    break 'place;
                }
            }
        }
    }
    if placed {
        return slots
            .into_iter()
            .filter(|&s| s != u64::MAX)
            .map(|s| ((s >> 32) as u32, s as u32))
            .collect();
    }
    let mut order: Vec<(u32, u32, u32, u32)> = parts
        .iter()
        .zip(0u32..)
        .flat_map(|((groups, _), share)| {
            groups
                .iter()
                .zip(0u32..)
                .map(move |(seen, local)| (seen.pos, seen.member, share, local))
        })
        .collect();
    order.par_sort_unstable();
    order
        .into_iter()
        .map(|(_, _, share, local)| (share, local))
        .collect()
}

/// The sets `set_of(0)`, `set_of(1)`... one after another (`ends`: where each
/// ends), copied in two halves side by side.
fn concat_sets<'a>(ends: &[u32], set_of: impl Fn(usize) -> &'a [u64] + Sync) -> Vec<u64> {
    let total = ends.last().map_or(0, |&e| e as usize);
    let mut arena = vec![0u64; total];
    let half = ends.len() / 2;
    let split = half
        .checked_sub(1)
        .and_then(|i| ends.get(i))
        .map_or(0, |&e| e as usize);
    let (low, high) = arena.split_at_mut(split.min(total));
    let copy = |out: &mut [u64], sets: std::ops::Range<usize>| {
        let mut at = 0;
        for set in sets.map(&set_of) {
            if let Some(slot) = out.get_mut(at..at + set.len()) {
                slot.copy_from_slice(set);
            }
            at += set.len();
        }
    };
    rayon::join(|| copy(low, 0..half), || copy(high, half..ends.len()));
    arena
}

/// A group in a posting, with its set size and how many of its features have
/// postings longer than [`MAX_POSTING`] (so comparing needs no other lookup).
///
/// Laid out like a sorted entry (`(u64, u32, u32)`: same size and alignment), so the
/// postings are written over the entries they are made from, in place, instead of
/// into fresh memory.
#[derive(Clone, Copy, Default)]
#[repr(align(8))]
struct Posting {
    group: u32,
    len: u32,
    wide: u32,
}

/// Where a feature's posting is, its length and its first (smallest) group.
#[derive(Clone, Copy, Default)]
struct Head {
    start: u32,
    len: u32,
    first: u32,
}

/// A [`Head`] as stored: `(start, len, first)`. A vector of tuples of integers is
/// allocated zeroed by the system (fresh pages, filled on first write by the
/// threads of [`fill_heads`]), where one of a struct was written element by
/// element, on one thread, before the fill.
type HeadRow = (u32, u32, u32);

impl From<HeadRow> for Head {
    fn from((start, len, first): HeadRow) -> Self {
        Head { start, len, first }
    }
}

/// Per feature, the groups that have it (ascending).
struct Inverted {
    /// At the same positions, the feature's posting (read in order with the set,
    /// so a posting with no earlier group, or too long to use, is skipped without
    /// being fetched).
    heads: Vec<HeadRow>,
    /// Every posting, feature after feature.
    postings: Vec<Posting>,
}

impl Inverted {
    fn new(groups: &Groups) -> Self {
        let entries = Self::sorted_entries(groups);
        let mut heads: Vec<HeadRow> = vec![(0, 0, 0); groups.arena.len()];
        // Two threads each walk every posting and write the heads of their half of
        // the positions (the writes land all over the array: they are the cost).
        let middle = heads.len() / 2;
        let (low, high) = heads.split_at_mut(middle);
        let sorted = &entries;
        rayon::join(
            || fill_heads(sorted, low, 0),
            || fill_heads(sorted, high, middle),
        );
        // Per group: set size and features with long postings (in order).
        let shapes: Vec<(u32, u32)> = (0..groups.len())
            .map(|g| {
                let mine = heads.get(groups.range(g)).unwrap_or_default();
                let wide = mine.iter().filter(|h| h.1 as usize > MAX_POSTING).count();
                (
                    u32::try_from(mine.len()).unwrap_or(u32::MAX),
                    u32::try_from(wide).unwrap_or(u32::MAX),
                )
            })
            .collect();
        let postings = entries
            .into_iter()
            .map(|(_, _, g)| {
                let (len, wide) = shapes.get(g as usize).copied().unwrap_or_default();
                Posting {
                    group: g,
                    len,
                    wide,
                }
            })
            .collect();
        Inverted { heads, postings }
    }

    /// `(feature, position in the arena, group)` of every set element, sorted by
    /// feature then position (which orders each feature's groups too: positions
    /// grow with the group). Features are hashes, spread evenly: a counting sort
    /// on their top bits (positions stay in order within a bucket) leaves buckets
    /// of a few entries to sort; the two halves of the buckets are filled and
    /// sorted side by side.
    fn sorted_entries(groups: &Groups) -> Vec<(u64, u32, u32)> {
        const BITS: u32 = 16;
        const HALF: usize = 1 << (BITS - 1);
        let bucket = |f: u64| (f >> (64 - BITS)) as usize;
        let mut starts = vec![0u32; (1 << BITS) + 1];
        for &f in &groups.arena {
            if let Some(c) = starts.get_mut(bucket(f) + 1) {
                *c += 1;
            }
        }
        for i in 1..starts.len() {
            let before = starts.get(i - 1).copied().unwrap_or(0);
            if let Some(c) = starts.get_mut(i) {
                *c += before;
            }
        }
        let mut entries = vec![(0u64, 0u32, 0u32); groups.arena.len()];
        let middle = starts.get(HALF).map_or(0, |&m| m as usize);
        let (low, high) = entries.split_at_mut(middle.min(groups.arena.len()));
        let (low_starts, high_starts) = starts.split_at(HALF);
        rayon::join(
            || fill_buckets(groups, low, low_starts, 0, &bucket),
            || fill_buckets(groups, high, high_starts, HALF, &bucket),
        );
        entries
    }

    fn posting(&self, head: Head) -> &[Posting] {
        let start = head.start as usize;
        self.postings
            .get(start..start + head.len as usize)
            .unwrap_or_default()
    }
}

/// Writes into `out` (the heads of the positions `offset..offset + out.len()`) the
/// head of each entry's posting; `entries` sorted by feature, as
/// [`Inverted::sorted_entries`] returns them.
fn fill_heads(entries: &[(u64, u32, u32)], out: &mut [HeadRow], offset: usize) {
    let mut run = 0;
    while let Some(&(f, _, first)) = entries.get(run) {
        let members = entries.get(run..).unwrap_or_default();
        let len = members.iter().take_while(|e| e.0 == f).count();
        let head = Head {
            start: u32::try_from(run).unwrap_or(u32::MAX),
            len: u32::try_from(len).unwrap_or(u32::MAX),
            first,
        };
        for &(_, pos, _) in members.get(..len).unwrap_or_default() {
            if let Some(slot) = (pos as usize)
                .checked_sub(offset)
                .and_then(|i| out.get_mut(i))
            {
                *slot = (head.start, head.len, head.first);
            }
        }
        run += len;
    }
}

/// Fills `out` with the entries of the buckets `first..first + starts.len()`
/// (`starts`: where each bucket begins in the whole array, `out` beginning at the
/// first one), in arena order within a bucket, then sorts each bucket.
fn fill_buckets(
    groups: &Groups,
    out: &mut [(u64, u32, u32)],
    starts: &[u32],
    first: usize,
    bucket: &(impl Fn(u64) -> usize + Sync),
) {
    let base = starts.first().copied().unwrap_or(0);
    let mut next: Vec<u32> = starts.iter().map(|&s| s - base).collect();
    let mut pos = 0u32;
    for (g, &end) in groups.ends.iter().enumerate() {
        let g = u32::try_from(g).unwrap_or(u32::MAX);
        while pos < end {
            let f = groups.arena.get(pos as usize).copied().unwrap_or(0);
            if let Some(at) = bucket(f).checked_sub(first).and_then(|b| next.get_mut(b)) {
                if let Some(slot) = out.get_mut(*at as usize) {
                    *slot = (f, pos, g);
                }
                *at += 1;
            }
            pos += 1;
        }
    }
    let mut begin = 0usize;
    for (i, &end) in next.iter().enumerate() {
        let end = end as usize;
        if end > begin + 1
            && let Some(run) = out.get_mut(begin..end)
        {
            run.sort_unstable_by_key(|&(f, pos, _)| (f, pos));
        }
        // A bucket ends where the next one starts.
        begin = starts.get(i + 1).map_or(end, |&s| (s - base) as usize);
    }
}

fn join_similar(groups: &Groups, threshold: f64, uf: &mut UnionFind) {
    let inverted = Inverted::new(groups);
    // Each group's candidates and comparisons depend only on the groups, so ranges
    // of groups are compared in parallel and the links joined afterwards: the
    // components do not depend on the order of the unions.
    let chunk = groups
        .len()
        .div_ceil(4 * rayon::current_num_threads())
        .max(1024);
    let starts: Vec<usize> = (0..groups.len()).step_by(chunk).collect();
    let links: Vec<Vec<(u32, u32)>> = starts
        .par_iter()
        .map(|&start| {
            let end = (start + chunk).min(groups.len());
            similar_links(groups, &inverted, start..end, threshold)
        })
        .collect();
    for (g, other) in links.into_iter().flatten() {
        uf.union(g, other);
    }
}

/// Slots of [`Candidates`]' table: a power of two, at least twice [`MAX_CANDIDATES`].
const CANDIDATE_SLOTS: usize = 1024;

/// One group's candidates, found by group number in a small open-addressing table
/// (it stays in the first-level cache, where a mark per group would not).
struct Candidates {
    /// `(owner, candidate, index in list)`: a slot whose owner is not the current
    /// group is free, so the table is never cleared.
    slots: Vec<(u32, u32, u32)>,
    /// (candidate, features shared in short postings)
    list: Vec<(Posting, u32)>,
    owner: u32,
}

impl Candidates {
    fn new() -> Self {
        Candidates {
            slots: vec![(u32::MAX, 0, 0); CANDIDATE_SLOTS],
            list: Vec::with_capacity(MAX_CANDIDATES),
            owner: u32::MAX,
        }
    }

    fn start(&mut self, owner: u32) {
        self.owner = owner;
        self.list.clear();
    }

    /// Counts a shared feature with `p`, taking `p` as a new candidate while
    /// fewer than [`MAX_CANDIDATES`] are held.
    fn meet(&mut self, p: Posting) {
        let mut i = (p.group.wrapping_mul(0x9E37_79B1) >> 22) as usize;
        loop {
            i &= CANDIDATE_SLOTS - 1;
            let Some(slot) = self.slots.get_mut(i) else {
                return;
            };
            if slot.0 != self.owner {
                if self.list.len() < MAX_CANDIDATES {
                    *slot = (
                        self.owner,
                        p.group,
                        u32::try_from(self.list.len()).unwrap_or(0),
                    );
                    self.list.push((p, 1));
                }
                return;
            }
            if slot.1 == p.group {
                if let Some(c) = self.list.get_mut(slot.2 as usize) {
                    c.1 += 1;
                }
                return;
            }
            i += 1;
        }
    }
}

/// Pairs `(g, other)`, `other < g`, of similar groups for the groups `range`.
///
/// A group's candidates are the first [`MAX_CANDIDATES`] distinct earlier groups
/// met in the postings of its features (in feature order, each posting in group
/// order; postings longer than [`MAX_POSTING`] are skipped). Walking the postings
/// also counts, per candidate, the features they share among those postings: the
/// exact intersection when neither set has a feature with a longer posting, and
/// otherwise bounds on it (plus at most the fewer of such features): only a
/// candidate whose bounds straddle the threshold has its sets walked.
fn similar_links(
    groups: &Groups,
    inverted: &Inverted,
    range: std::ops::Range<usize>,
    threshold: f64,
) -> Vec<(u32, u32)> {
    let mut links = Vec::new();
    let mut candidates = Candidates::new();
    let mut block_start = range.start;
    while block_start < range.end {
        let block = block_start..(block_start + WARM_GROUPS).min(range.end);
        block_start = block.end;
        warm_postings(groups, inverted, block.clone());
        for g in block {
            similar_to(groups, inverted, g, threshold, &mut candidates, &mut links);
        }
    }
    links
}

/// Groups whose postings [`warm_postings`] loads ahead of the comparisons.
const WARM_GROUPS: usize = 32;

/// Loads the first entry of every posting the groups `block` will walk, in one
/// tight loop, so those cache misses overlap.
fn warm_postings(groups: &Groups, inverted: &Inverted, block: std::ops::Range<usize>) {
    let mut x = 0u32;
    for g in block {
        let g32 = u32::try_from(g).unwrap_or(u32::MAX);
        for &row in inverted.heads.get(groups.range(g)).unwrap_or_default() {
            let head = Head::from(row);
            if head.len as usize <= MAX_POSTING && head.first < g32 {
                x ^= inverted.posting(head).first().map_or(0, |p| p.group);
            }
        }
    }
    std::hint::black_box(x);
}

/// Adds to `links` the pairs `(g, other)` of [`similar_links`] for one group.
fn similar_to(
    groups: &Groups,
    inverted: &Inverted,
    g: usize,
    threshold: f64,
    candidates: &mut Candidates,
    links: &mut Vec<(u32, u32)>,
) {
    let set = |g: usize| groups.arena.get(groups.range(g)).unwrap_or_default();
    let mine = set(g);
    let heads = inverted.heads.get(groups.range(g)).unwrap_or_default();
    let g32 = u32::try_from(g).unwrap_or(u32::MAX);
    candidates.start(g32);
    let mut wide = 0u32;
    for head in heads.iter().map(|&row| Head::from(row)) {
        if head.len as usize > MAX_POSTING {
            wide += 1;
            continue;
        }
        if head.first >= g32 {
            continue;
        }
        for &other in inverted.posting(head).iter().take_while(|o| o.group < g32) {
            candidates.meet(other);
        }
    }
    for &(other, shared) in &candidates.list {
        let (a, b) = (mine.len(), other.len as usize);
        if !could_reach(a, b, threshold) {
            continue;
        }
        // Computed as `jaccard_reaches` computes it, so the answer is the same.
        let total = a + b;
        let index = |common: usize| common as f64 / (total - common) as f64;
        let least = shared as usize;
        let most = least + wide.min(other.wide) as usize;
        let similar = if index(least) >= threshold {
            true
        } else if most == least || index(most) < threshold {
            false
        } else {
            jaccard_reaches(mine, set(other.group as usize), threshold)
        };
        if similar {
            links.push((g32, other.group));
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

    /// A small deterministic generator (tests only).
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            self.0 >> 33
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// Feature sets with repeats (identical fingerprints), features shared by
    /// more than `MAX_POSTING` groups, and groups with more than
    /// `MAX_CANDIDATES` candidates; ids spread like hashes.
    fn sample_sets(seed: u64, sources: usize) -> Vec<Vec<u64>> {
        let mut rng = Lcg(seed);
        let id = |x: u64| x.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut sets: Vec<Vec<u64>> = Vec::new();
        for _ in 0..sources {
            let roll = rng.below(10);
            let set: Vec<u64> = if roll < 3 && !sets.is_empty() {
                // An identical fingerprint (a campaign of copies).
                let i = rng.below(sets.len() as u64) as usize;
                sets[i].clone()
            } else if roll < 4 {
                Vec::new()
            } else {
                // Medium features land in ~50 groups each: under MAX_POSTING,
                // but a set of several has hundreds of candidates.
                let medium = (sources as u64 / 25).max(1);
                let len = 1 + rng.below(12);
                (0..len)
                    .map(|_| match rng.below(20) {
                        0..3 => id(rng.below(3)),
                        3..14 => id(10 + rng.below(medium)),
                        _ => id(1_000_000 + rng.below(sources as u64 * 2)),
                    })
                    .collect()
            };
            sets.push(set);
        }
        sets
    }

    fn prints_of(sets: &[Vec<u64>], positions: &[u32]) -> Vec<Prints> {
        sets.chunks(PRINT_CHUNK)
            .zip(positions.chunks(PRINT_CHUNK))
            .map(|(part, pos)| {
                let mut prints = Prints::with_capacity(part.len());
                for (set, &p) in part.iter().zip(pos) {
                    let state = SourceState {
                        creds: set.iter().map(|&f| (f, 1)).collect(),
                        ..SourceState::default()
                    };
                    prints.push(&state, set.len().is_multiple_of(3), p);
                }
                prints
            })
            .collect()
    }

    /// What [`reference`] found.
    struct Reference {
        campaigns: Vec<Vec<u32>>,
        links: Vec<(u32, u32)>,
        /// Postings longer than `MAX_POSTING`.
        long: usize,
        /// The most candidates a group had.
        most_candidates: usize,
    }

    /// The grouping as first written: sources read in position order, groups
    /// numbered as they first appear, postings in a map of vectors, each candidate
    /// compared by walking both sets.
    fn reference(sets: &[Vec<u64>], positions: &[u32], threshold: f64, n: usize) -> Reference {
        let mut order: Vec<usize> = (0..sets.len()).collect();
        order.sort_by_key(|&s| positions[s]);
        let mut number: std::collections::HashMap<Vec<u64>, usize> = Default::default();
        let mut groups: Vec<Vec<u64>> = Vec::new();
        let mut group_of = vec![usize::MAX; sets.len()];
        for &s in &order {
            let mut set = sets[s].clone();
            set.sort_unstable();
            set.dedup();
            if set.is_empty() {
                continue;
            }
            let g = *number.entry(set.clone()).or_insert_with(|| {
                groups.push(set);
                groups.len() - 1
            });
            group_of[s] = g;
        }
        let mut uf = UnionFind((0..groups.len() as u32).collect());
        let mut postings: std::collections::HashMap<u64, Vec<usize>> = Default::default();
        for (g, set) in groups.iter().enumerate() {
            for f in set {
                let list = postings.entry(*f).or_default();
                if list.len() <= MAX_POSTING {
                    list.push(g);
                }
            }
        }
        let mut stamp = vec![usize::MAX; groups.len()];
        let long = postings.values().filter(|l| l.len() > MAX_POSTING).count();
        let mut links = Vec::new();
        let mut most_candidates = 0;
        for (g, set) in groups.iter().enumerate() {
            let mut met: std::collections::HashSet<usize> = Default::default();
            for f in set {
                if let Some(list) = postings.get(f).filter(|l| l.len() <= MAX_POSTING) {
                    met.extend(list.iter().copied().take_while(|&o| o < g));
                }
            }
            most_candidates = most_candidates.max(met.len());
            let mut compared = 0;
            for f in set {
                let Some(list) = postings.get(f).filter(|l| l.len() <= MAX_POSTING) else {
                    continue;
                };
                for &other in list.iter().take_while(|&&o| o < g) {
                    if compared >= MAX_CANDIDATES {
                        break;
                    }
                    if stamp[other] == g {
                        continue;
                    }
                    stamp[other] = g;
                    compared += 1;
                    if jaccard(set, &groups[other]) >= threshold {
                        uf.union(g as u32, other as u32);
                        links.push((g as u32, other as u32));
                    }
                }
            }
        }
        let mut members: std::collections::HashMap<u32, Vec<u32>> = Default::default();
        for (s, &g) in group_of.iter().enumerate() {
            if g != usize::MAX {
                members.entry(uf.find(g as u32)).or_default().push(s as u32);
            }
        }
        let mut ranked: Vec<Vec<u32>> = members
            .into_values()
            .filter(|m| m.len() >= 2 || m.iter().any(|&s| sets[s as usize].len().is_multiple_of(3)))
            .collect();
        ranked.sort_by_key(|m| (std::cmp::Reverse(m.len()), m.iter().min().copied()));
        ranked.truncate(n);
        links.sort_unstable();
        Reference {
            campaigns: ranked,
            links,
            long,
            most_candidates,
        }
    }

    #[test]
    fn grouping_and_joining_match_the_straightforward_algorithm() {
        for (seed, sources) in [(1, 300), (2, 3_000), (3, 20_000)] {
            let sets = sample_sets(seed, sources);
            // Positions (the order that numbers groups) differ from the source order.
            let mut rng = Lcg(seed + 100);
            let mut positions: Vec<u32> = (0..sources as u32).collect();
            for i in (1..positions.len()).rev() {
                positions.swap(i, rng.below(i as u64 + 1) as usize);
            }
            let prints = prints_of(&sets, &positions);
            for threshold in [0.1, 0.3, 0.5, 0.6, 1.0] {
                let got = top_campaigns(
                    &prints,
                    threshold,
                    40,
                    |s| s,
                    |len, notable| len >= 2 || notable,
                );
                let want = reference(&sets, &positions, threshold, 40);
                let (groups, _, _) = group_identical(&AllPrints(&prints));
                let inverted = Inverted::new(&groups);
                let mut links = similar_links(&groups, &inverted, 0..groups.len(), threshold);
                links.sort_unstable();
                assert_eq!(
                    links, want.links,
                    "links: seed {seed}, threshold {threshold}"
                );
                assert_eq!(
                    got, want.campaigns,
                    "seed {seed}, {sources} sources, threshold {threshold}"
                );
                if sources >= 3_000 {
                    assert!(want.long > 0, "no posting over MAX_POSTING");
                    assert!(
                        want.most_candidates > MAX_CANDIDATES,
                        "no group over MAX_CANDIDATES ({})",
                        want.most_candidates
                    );
                    assert!(want.campaigns.iter().any(|m| m.len() > 1), "nothing joined");
                }
            }
        }
    }

    #[test]
    fn groups_are_ordered_by_smallest_position_placed_or_sorted() {
        // (smallest position, first member) per local group, per share.
        let seen = |pos, member| Seen {
            pos,
            member,
            len: 1,
            size: 1,
            notable: false,
        };
        let parts: Vec<Share> = vec![
            (vec![seen(5, 0), seen(2, 1)], Vec::new()),
            (vec![seen(7, 2), seen(0, 3)], Vec::new()),
        ];
        let want = vec![(1, 1), (0, 1), (0, 0), (1, 0)];
        // Positions below the total: placed.
        assert_eq!(by_smallest_position(&parts, 8), want);
        // Positions out of range: sorted, same order.
        assert_eq!(by_smallest_position(&parts, 4), want);
        // A position shared: sorted by position, then first member.
        let tied: Vec<Share> = vec![
            (vec![seen(3, 9), seen(3, 4)], Vec::new()),
            (vec![seen(1, 5)], Vec::new()),
        ];
        assert_eq!(by_smallest_position(&tied, 8), vec![(1, 0), (0, 1), (0, 0)]);
    }

    #[test]
    fn fingerprints_merge_sorted_lists_and_sort_others() {
        let state = |creds: &[u64], features: &[u64]| SourceState {
            creds: creds.iter().map(|&c| (c, 1)).collect(),
            cmds: Some(Box::new(crate::agg::CommandLists {
                features: features.to_vec(),
                lines: Vec::new(),
                clients: None,
            })),
            ..SourceState::default()
        };
        for (creds, features, want) in [
            (
                &[1u64, 4, 9][..],
                &[2u64, 4, 10][..],
                &[1u64, 2, 4, 9, 10][..],
            ),
            (&[], &[3, 5], &[3, 5]),
            (&[7], &[], &[7]),
            (&[9, 1, 4], &[4, 2], &[1, 2, 4, 9]),
        ] {
            let mut out = vec![42];
            append_fingerprint(&state(creds, features), &mut out);
            assert_eq!(out.first(), Some(&42));
            assert_eq!(&out[1..], want, "{creds:?} {features:?}");
        }
    }

    #[test]
    fn tallies_count_each_group_s_sources_and_notable_ones() {
        let sets = sample_sets(11, 20_000);
        let positions: Vec<u32> = (0..sets.len() as u32).rev().collect();
        let prints = prints_of(&sets, &positions);
        let (groups, group_of, tally) = group_identical(&AllPrints(&prints));
        let mut sizes = vec![0u32; groups.len()];
        let mut notable = vec![false; groups.len()];
        for (source, &g) in group_of.iter().enumerate() {
            if g == u32::MAX {
                assert!(sets[source].is_empty(), "source {source} left out");
                continue;
            }
            sizes[g as usize] += 1;
            // As `prints_of` marks them.
            notable[g as usize] |= sets[source].len().is_multiple_of(3);
        }
        assert!(sizes.iter().any(|&n| n > 1), "no group of several sources");
        assert_eq!(tally.sizes, sizes);
        assert_eq!(tally.notable, notable);
    }

    #[test]
    fn the_inverted_index_lists_each_feature_once_in_group_order() {
        let sets = sample_sets(7, 5_000);
        let positions: Vec<u32> = (0..sets.len() as u32).collect();
        let prints = prints_of(&sets, &positions);
        let (groups, _, _) = group_identical(&AllPrints(&prints));
        let inverted = Inverted::new(&groups);
        let mut naive: std::collections::BTreeMap<u64, Vec<u32>> = Default::default();
        for g in 0..groups.len() {
            for &f in &groups.arena[groups.range(g)] {
                naive.entry(f).or_default().push(g as u32);
            }
        }
        for g in 0..groups.len() {
            let range = groups.range(g);
            let set = &groups.arena[range.clone()];
            assert!(set.windows(2).all(|w| w[0] < w[1]), "set of {g} unsorted");
            for pos in range {
                let f = groups.arena[pos];
                let head = Head::from(inverted.heads[pos]);
                let posting: Vec<u32> = inverted.posting(head).iter().map(|p| p.group).collect();
                assert_eq!(&posting, &naive[&f]);
                assert_eq!(head.first, naive[&f][0]);
            }
        }
    }
}
