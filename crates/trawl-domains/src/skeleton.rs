//! Unicode TS #39 confusable skeletons for domain labels.
//!
//! `skeleton(x)`: NFD, map every character to its confusables.txt prototype, NFD again, then
//! lowercase and map once more (domains are case-insensitive while TS #39 prototypes are not:
//! `0` maps to `O`, which must meet `o`). Two labels that look alike have equal skeletons
//! (`paypa1` and `paypal`, `аррӏе` and `apple`). ASCII input takes a table-driven fast path.
//! Hand-written because the data is shipped as a file (`data/confusables.txt`), not as a crate.

use std::sync::LazyLock;

use unicode_normalization::UnicodeNormalization;

use crate::data::CONFUSABLES;

fn map_once(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.nfd() {
        match CONFUSABLES.get(&c) {
            Some(proto) => out.push_str(proto),
            None => out.push(c),
        }
    }
    out.nfd().collect()
}

fn slow_skeleton(s: &str) -> String {
    let once = map_once(s).to_lowercase();
    map_once(&once).to_lowercase()
}

static ASCII_SKELETON: LazyLock<Vec<String>> = LazyLock::new(|| {
    (0u8..128)
        .map(|b| slow_skeleton(&char::from(b).to_string()))
        .collect()
});

/// True when `s` is its own skeleton (checked without allocating for ASCII input).
pub fn is_own_skeleton(s: &str) -> bool {
    if !s.is_ascii() {
        return false;
    }
    let table = &*ASCII_SKELETON;
    s.bytes().all(|b| {
        let t = table[usize::from(b)].as_bytes();
        t.len() == 1 && t[0] == b
    })
}

/// [`skeleton`] into `out` (cleared first), reusing its allocation for ASCII input.
pub fn skeleton_into(s: &str, out: &mut String) {
    out.clear();
    if s.is_ascii() {
        let table = &*ASCII_SKELETON;
        for b in s.bytes() {
            out.push_str(&table[usize::from(b)]);
        }
    } else {
        out.push_str(&slow_skeleton(s));
    }
}

/// The confusable skeleton of a label or name.
pub fn skeleton(s: &str) -> String {
    if s.is_ascii() {
        let table = &*ASCII_SKELETON;
        let mut out = String::with_capacity(s.len() + 4);
        for b in s.bytes() {
            out.push_str(&table[usize::from(b)]);
        }
        return out;
    }
    slow_skeleton(s)
}

#[cfg(test)]
mod tests {
    use super::{skeleton, skeleton_into};

    #[test]
    fn skeleton_into_reuses_the_buffer_and_agrees() {
        let mut buf = String::from("leftover");
        for s in ["paypa1", "rnicrosoft", "gооgle", "apple"] {
            skeleton_into(s, &mut buf);
            assert_eq!(buf, skeleton(s));
        }
    }

    #[test]
    fn lookalikes_share_a_skeleton() {
        assert_eq!(skeleton("paypa1"), skeleton("paypal"));
        assert_eq!(skeleton("g00gle"), skeleton("google"));
        assert_eq!(skeleton("rnicrosoft"), skeleton("microsoft"));
        assert_eq!(skeleton("аррӏе"), skeleton("apple"));
        assert_eq!(skeleton("ΡayPal"), skeleton("paypal"));
        assert_ne!(skeleton("paypal"), skeleton("paypals"));
    }
}
