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

/// Bit `b` set when ASCII byte `b` is its own skeleton.
static ASCII_OWN: LazyLock<u128> = LazyLock::new(|| {
    ASCII_SKELETON
        .iter()
        .enumerate()
        .filter(|(b, t)| t.len() == 1 && usize::from(t.as_bytes()[0]) == *b)
        .fold(0u128, |mask, (b, _)| mask | (1u128 << b))
});

/// True when `s` is its own skeleton (checked without allocating for ASCII input).
pub fn is_own_skeleton(s: &str) -> bool {
    let own = *ASCII_OWN;
    // Non-ASCII bytes are >= 128: never in the mask.
    s.bytes().all(|b| b < 128 && own & (1u128 << b) != 0)
}

/// The skeletons of the ASCII characters as fixed 8-byte slots and lengths (`None` if one
/// were longer: then [`skeleton_ascii`] always declines).
struct AsciiSlots {
    bytes: [[u8; 8]; 128],
    lens: [u8; 128],
}

static ASCII_SLOTS: LazyLock<Option<AsciiSlots>> = LazyLock::new(|| {
    let mut slots = AsciiSlots {
        bytes: [[0; 8]; 128],
        lens: [0; 128],
    };
    for (b, skel) in ASCII_SKELETON.iter().enumerate() {
        let src = skel.as_bytes();
        slots.bytes[b].get_mut(..src.len())?.copy_from_slice(src);
        slots.lens[b] = u8::try_from(src.len()).ok()?;
    }
    Some(slots)
});

/// Size of the buffer [`skeleton_ascii`] writes into.
pub const ASCII_SKELETON_BUF: usize = 512;

/// The skeleton of an ASCII label of at most 63 bytes, built in `buf` (fixed-size copies, no
/// allocation); `None` for other input (use [`skeleton_into`]).
pub fn skeleton_ascii<'b>(s: &str, buf: &'b mut [u8; ASCII_SKELETON_BUF]) -> Option<&'b str> {
    let slots = ASCII_SLOTS.as_ref()?;
    if s.len() * 8 + 8 > buf.len() || !s.is_ascii() {
        return None;
    }
    let mut len = 0;
    for b in s.bytes() {
        let b = usize::from(b);
        buf.get_mut(len..len + 8)?.copy_from_slice(&slots.bytes[b]);
        len += usize::from(slots.lens[b]);
    }
    std::str::from_utf8(buf.get(..len)?).ok()
}

/// [`skeleton`] into `out` (cleared first), reusing its allocation for ASCII input.
pub fn skeleton_into(s: &str, out: &mut String) {
    out.clear();
    if s.is_ascii() {
        let table = &*ASCII_SKELETON;
        let own = *ASCII_OWN;
        out.reserve(s.len() * 2);
        for b in s.bytes() {
            if own & (1u128 << b) != 0 {
                out.push(char::from(b));
            } else {
                out.push_str(&table[usize::from(b)]);
            }
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
    use super::{ASCII_SKELETON_BUF, is_own_skeleton, skeleton, skeleton_ascii, skeleton_into};

    #[test]
    fn ascii_skeletons_agree() {
        let mut buf = [0u8; ASCII_SKELETON_BUF];
        let all: String = (0u8..128).map(char::from).collect();
        for s in [
            "paypa1",
            "rnicrosoft",
            "g00gle",
            "m-m_1l|",
            &all[..63],
            &all[64..127],
        ] {
            assert_eq!(
                skeleton_ascii(s, &mut buf),
                Some(skeleton(s).as_str()),
                "{s:?}"
            );
        }
        assert_eq!(skeleton_ascii("gооgle", &mut buf), None, "not ASCII");
        assert_eq!(skeleton_ascii(&"a".repeat(64), &mut buf), None, "too long");
    }

    #[test]
    fn own_skeleton_agrees_with_the_skeleton() {
        for b in 0u8..128 {
            let s = char::from(b).to_string();
            assert_eq!(is_own_skeleton(&s), skeleton(&s) == s, "{b}");
        }
        // Non-ASCII labels always take the full skeleton path.
        assert!(!is_own_skeleton("é"));
        for s in ["paypal", "paypa1", "rnicrosoft", "apple-store", ""] {
            assert_eq!(is_own_skeleton(s), skeleton(s) == s, "{s}");
        }
    }

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
