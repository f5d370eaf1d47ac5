//! A hash map whose lookups can be started before they are made.
//!
//! The aggregator's big tables (credential pairs, the source index: about a
//! million entries each on a 10 M-row log) miss the cache on nearly every lookup,
//! and a lookup that misses waits for memory. [`Table::prefetch`] asks for the
//! slots a key may be in without waiting, so a batch of rows can start all its
//! reads first and then do its lookups while those reads overlap (on the benchmark
//! log, a tenth less time). `hashbrown`'s map does not say where a key's slots are;
//! its `HashTable` does, through the entries it offers to a probe, so this is a
//! thin map over a `HashTable` of `(key, value)` pairs, hashed with the same
//! `foldhash` as [`crate::agg::Map`]. Only the prefetch is hand-written (one CPU
//! hint, asked for one cache line or for every line an item or a slice spans).

use std::hash::{BuildHasher, Hash};

use hashbrown::{Equivalent, HashTable, hash_table};

/// A map of `K` to `V` with [`Table::prefetch`].
#[derive(Debug, Clone)]
pub struct Table<K, V> {
    inner: HashTable<(K, V)>,
}

impl<K, V> Default for Table<K, V> {
    fn default() -> Self {
        Self {
            inner: HashTable::new(),
        }
    }
}

/// The hash a [`Table`] files `key` under (any `Q` that hashes like the key).
pub fn hash_of<Q: Hash + ?Sized>(key: &Q) -> u64 {
    foldhash::fast::FixedState::default().hash_one(key)
}

impl<K: Hash + Eq, V> Table<K, V> {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Entries that can be added without growing the table.
    pub fn room(&self) -> usize {
        self.inner.capacity().saturating_sub(self.inner.len())
    }

    /// True if there is no entry.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// Every entry.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.into_iter()
    }

    /// Every key.
    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.inner.iter().map(|(k, _)| k)
    }

    /// The value of `key`.
    pub fn get<Q: Hash + Equivalent<K> + ?Sized>(&self, key: &Q) -> Option<&V> {
        self.get_hashed(hash_of(key), key)
    }

    /// The value of `key`, whose [`hash_of`] is `hash`.
    pub fn get_hashed<Q: Equivalent<K> + ?Sized>(&self, hash: u64, key: &Q) -> Option<&V> {
        self.inner
            .find(hash, |(k, _)| key.equivalent(k))
            .map(|(_, v)| v)
    }

    /// The value of `key`, whose [`hash_of`] is `hash`, to change.
    pub fn get_mut_hashed<Q: Equivalent<K> + ?Sized>(
        &mut self,
        hash: u64,
        key: &Q,
    ) -> Option<&mut V> {
        self.inner
            .find_mut(hash, |(k, _)| key.equivalent(k))
            .map(|(_, v)| v)
    }

    /// Adds `key`, whose [`hash_of`] is `hash` and which is not in the table yet.
    pub fn insert_new_hashed(&mut self, hash: u64, key: K, value: V) {
        self.inner
            .insert_unique(hash, (key, value), |(k, _)| hash_of(k));
    }

    /// The entry of `key`, to read, change or fill.
    pub fn entry(&mut self, key: K) -> Entry<'_, K, V> {
        let hash = hash_of(&key);
        match self
            .inner
            .entry(hash, |(k, _)| *k == key, |(k, _)| hash_of(k))
        {
            hash_table::Entry::Occupied(slot) => Entry::Occupied(slot),
            hash_table::Entry::Vacant(slot) => Entry::Vacant(slot, key),
        }
    }

    /// Makes room for `additional` more entries.
    pub fn reserve(&mut self, additional: usize) {
        self.inner.reserve(additional, |(k, _)| hash_of(k));
    }

    /// Starts reading the slots a key of hash `hash` may be in (the control bytes,
    /// and each entry whose tag matches) without waiting for them.
    pub fn prefetch(&self, hash: u64) {
        let _ = self.inner.find(hash, |entry| {
            prefetch_read(entry);
            false
        });
    }
}

/// An entry of [`Table::entry`].
pub enum Entry<'a, K, V> {
    /// The key is there.
    Occupied(hash_table::OccupiedEntry<'a, (K, V)>),
    /// The key is not there (given back to insert it).
    Vacant(hash_table::VacantEntry<'a, (K, V)>, K),
}

impl<'a, K, V> Entry<'a, K, V> {
    /// The value, inserted with `make` if the key was not there.
    pub fn or_insert_with(self, make: impl FnOnce() -> V) -> &'a mut V {
        match self {
            Entry::Occupied(slot) => &mut slot.into_mut().1,
            Entry::Vacant(slot, key) => &mut slot.insert((key, make())).into_mut().1,
        }
    }
}

impl<K, V> IntoIterator for Table<K, V> {
    type Item = (K, V);
    type IntoIter = hash_table::IntoIter<(K, V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.inner.into_iter()
    }
}

impl<'a, K, V> IntoIterator for &'a Table<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = std::iter::Map<hash_table::Iter<'a, (K, V)>, fn(&'a (K, V)) -> (&'a K, &'a V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.inner.iter().map(|(k, v)| (k, v))
    }
}

/// A hint to the CPU to bring `item`'s cache line in: no read, no other effect.
#[inline]
pub fn prefetch_read<T>(item: &T) {
    prefetch_address(std::ptr::from_ref(item).cast::<u8>());
}

/// A hint to the CPU to bring the cache line of `address` in. The address is not
/// read (nor dereferenced by this program), so it need not point at anything.
#[inline]
fn prefetch_address(address: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE is part of every x86_64 CPU, and a prefetch is only a hint: it
    // reads nothing the program sees and cannot fault, whatever the address.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
            address.cast::<i8>(),
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}

/// [`prefetch_read`] of every cache line `item` spans.
pub fn prefetch_span<T>(item: &T) {
    prefetch_slice(std::slice::from_ref(item));
}

/// [`prefetch_read`] of every cache line `items` spans.
pub fn prefetch_slice<T>(items: &[T]) {
    let start = items.as_ptr().cast::<u8>();
    for offset in line_offsets(start as usize, std::mem::size_of_val(items)) {
        prefetch_address(start.wrapping_add(offset));
    }
}

/// Cache line size assumed by [`prefetch_slice`] (x86-64's).
const LINE: usize = 64;

/// One offset below `size` in each cache line that the `size` bytes at address
/// `addr` touch: 0, then the start of every later line.
fn line_offsets(addr: usize, size: usize) -> impl Iterator<Item = usize> {
    let next_line = (addr | (LINE - 1)).wrapping_add(1);
    let later = (next_line.wrapping_sub(addr)..size).step_by(LINE);
    (size > 0).then_some(0).into_iter().chain(later)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_offsets_touch_every_line_of_the_bytes_once() {
        for addr in [0usize, 1, 63, 64, 65, 100, 4095, 4096 + 17] {
            for size in [0usize, 1, 2, 63, 64, 65, 127, 128, 129, 160, 1024] {
                let offsets: Vec<usize> = line_offsets(addr, size).collect();
                assert!(
                    offsets.iter().all(|&o| o < size),
                    "{addr} {size} {offsets:?}"
                );
                assert!(offsets.windows(2).all(|w| w[0] < w[1]), "{offsets:?}");
                let lines: Vec<usize> = offsets.iter().map(|o| (addr + o) / LINE).collect();
                let wanted: Vec<usize> = if size == 0 {
                    Vec::new()
                } else {
                    (addr / LINE..=(addr + size - 1) / LINE).collect()
                };
                assert_eq!(lines, wanted, "{addr} {size}");
            }
        }
    }

    #[test]
    fn a_table_is_a_map() {
        let mut t: Table<String, u64> = Table::default();
        let mut naive = std::collections::HashMap::new();
        for i in 0..5000u64 {
            let key = format!("k{}", i % 1700);
            t.prefetch(hash_of(key.as_str()));
            *t.entry(key.clone()).or_insert_with(|| 0) += i;
            *naive.entry(key).or_insert(0) += i;
        }
        assert_eq!(t.len(), naive.len());
        for (k, v) in &naive {
            assert_eq!(t.get(k.as_str()), Some(v));
            let h = hash_of(k.as_str());
            assert_eq!(t.get_hashed(h, k.as_str()), Some(v));
            if let Some(x) = t.get_mut_hashed(h, k.as_str()) {
                *x += 1;
            }
        }
        assert_eq!(t.get("missing"), None);
        t.insert_new_hashed(hash_of("new"), "new".into(), 7);
        t.reserve(10_000);
        assert_eq!(t.get("new"), Some(&7));

        let mut all: Vec<(String, u64)> = t.into_iter().collect();
        all.sort();
        let mut want: Vec<(String, u64)> = naive.into_iter().map(|(k, v)| (k, v + 1)).collect();
        want.push(("new".into(), 7));
        want.sort();
        assert_eq!(all, want);
    }
}
