//! Timestamps as microseconds since the Unix epoch (UTC).
//!
//! Honeypot logs use a handful of fixed layouts (`2016-12-14 21:50:14.344387`,
//! `2024-05-01T10:00:00.123456Z`, RFC 3339 with offsets). They are parsed here
//! by hand because this runs once per row on tens of millions of rows and a
//! fixed-layout parser is several times faster than chrono's format-driven one;
//! chrono is still used for formatting and for the `--since/--until` flags.

/// Microseconds since 1970-01-01T00:00:00Z.
pub type Micros = i64;

/// Parses `YYYY-MM-DD[ T]HH:MM[:SS[.fraction]][Z|±HH[:]MM]`, or a plain number of
/// epoch seconds (fractional allowed). Returns `None` for anything else.
pub fn parse_timestamp(text: &str) -> Option<Micros> {
    parse_heralding(text.as_bytes()).or_else(|| parse_other(text))
}

/// [`parse_timestamp`] for text that is not in the fixed Heralding layout.
fn parse_other(text: &str) -> Option<Micros> {
    let s = text.trim().as_bytes();
    if s.len() >= 16 && s.get(4) == Some(&b'-') {
        return parse_iso(s);
    }
    parse_epoch(text.trim())
}

/// The layout of Heralding's and trawl's CSV logs, `YYYY-MM-DD HH:MM:SS.ffffff`
/// (26 bytes, `T` allowed for the space, one trailing `Z` allowed), read at fixed
/// offsets with one digit check for all 20 digits; `None` sends anything else,
/// invalid values included, to the general parser. The same value as
/// [`parse_iso`] (the general parse was 8 % of all instructions on the benchmark
/// log).
fn parse_heralding(s: &[u8]) -> Option<Micros> {
    let s: &[u8; 26] = match s {
        [head @ .., b'Z'] => head.try_into().ok()?,
        _ => s.try_into().ok()?,
    };
    let separators_ok = s[4] == b'-'
        && s[7] == b'-'
        && matches!(s[10], b' ' | b'T')
        && s[13] == b':'
        && s[16] == b':'
        && s[19] == b'.';
    const DIGITS: [usize; 20] = [
        0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 22, 23, 24, 25,
    ];
    let mut not_digit = 0u8;
    for i in DIGITS {
        not_digit |= u8::from(s[i].wrapping_sub(b'0') > 9);
    }
    if !separators_ok || not_digit != 0 {
        return None;
    }
    let num = |range: std::ops::Range<usize>| {
        s[range]
            .iter()
            .fold(0i64, |acc, &b| acc * 10 + i64::from(b - b'0'))
    };
    let (year, month, day) = (num(0..4), num(5..7), num(8..10));
    let (hour, minute, second) = (num(11..13), num(14..16), num(17..19));
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second;
    Some(secs * 1_000_000 + num(20..26))
}

/// The date and hour of the last Heralding-layout timestamp read (rows come in
/// time order, so thousands of rows share them), for [`parse_timestamp_cached`].
#[derive(Debug, Default, Clone, Copy)]
pub struct HourCache {
    /// `YYYY-MM-DD HH` as written.
    prefix: [u8; 13],
    /// Microseconds at the start of that hour.
    base: Option<Micros>,
    /// `YYYY-MM-DD HH:MM:SS` of the last timestamp read, as written (a busy log
    /// writes several rows a second).
    second: [u8; 19],
    /// Microseconds at the start of that second.
    second_base: Option<Micros>,
}

/// [`parse_timestamp`], reading only minutes, seconds and fraction when the date
/// and hour are those of the previous Heralding-layout timestamp (they were
/// checked then): 250 instructions a row down to a few dozen.
pub fn parse_timestamp_cached(text: &str, cache: &mut HourCache) -> Option<Micros> {
    let s = text.as_bytes();
    let body = match s {
        [head @ .., b'Z'] => head,
        _ => s,
    };
    if let Ok(b) = <&[u8; 26]>::try_from(body) {
        let second = b.first_chunk::<19>();
        if let (Some(base), Some(second)) = (cache.second_base, second)
            && *second == cache.second
            && b[19] == b'.'
            && let Some(fraction) = fraction(b)
        {
            return Some(base + fraction);
        }
        let within = within_hour(b);
        let ts = match (cache.base, within, b.first_chunk::<13>()) {
            (Some(base), Some(within), Some(hour)) if *hour == cache.prefix => base + within,
            _ => {
                let Some(ts) = parse_heralding(s) else {
                    return parse_other(text);
                };
                if let Some(within) = within {
                    cache.prefix.copy_from_slice(&b[..13]);
                    cache.base = Some(ts - within);
                }
                ts
            }
        };
        // `within` checked the separators and digits after the hour, so the date,
        // hour, minute and second of `ts` are those written in its first 19 bytes;
        // its microseconds below the second are the fraction.
        if let (Some(within), Some(second)) = (within, second) {
            cache.second = *second;
            cache.second_base = Some(ts - within % 1_000_000);
        }
        return Some(ts);
    }
    parse_timestamp(text)
}

/// The six digits `ffffff` at offsets 20..26 of a Heralding-layout timestamp.
fn fraction(b: &[u8; 26]) -> Option<Micros> {
    let (mut value, mut not_digit) = (0i64, 0u8);
    for &d in &b[20..26] {
        let digit = d.wrapping_sub(b'0');
        not_digit |= u8::from(digit > 9);
        value = value * 10 + i64::from(digit);
    }
    (not_digit == 0).then_some(value)
}

/// `MM:SS.ffffff` at offsets 13..26 of a Heralding-layout timestamp, as
/// microseconds into the hour, checked as [`parse_heralding`] checks them.
fn within_hour(b: &[u8; 26]) -> Option<Micros> {
    if b[13] != b':' || b[16] != b':' || b[19] != b'.' {
        return None;
    }
    let mut not_digit = 0u8;
    for i in [14, 15, 17, 18, 20, 21, 22, 23, 24, 25] {
        not_digit |= u8::from(b[i].wrapping_sub(b'0') > 9);
    }
    if not_digit != 0 {
        return None;
    }
    let num = |range: std::ops::Range<usize>| {
        b[range]
            .iter()
            .fold(0i64, |acc, &d| acc * 10 + i64::from(d - b'0'))
    };
    let (minute, second) = (num(14..16), num(17..19));
    if minute > 59 || second > 60 {
        return None;
    }
    Some((minute * 60 + second) * 1_000_000 + num(20..26))
}

fn parse_epoch(text: &str) -> Option<Micros> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let secs: f64 = text.parse().ok()?;
    if !(0.0..1e11).contains(&secs) {
        return None;
    }
    Some((secs * 1_000_000.0).round() as Micros)
}

fn digits(s: &[u8], start: usize, len: usize) -> Option<i64> {
    let part = s.get(start..start + len)?;
    part.iter().try_fold(0i64, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + i64::from(b - b'0'))
    })
}

fn parse_iso(s: &[u8]) -> Option<Micros> {
    let year = digits(s, 0, 4)?;
    let month = digits(s, 5, 2)?;
    let day = digits(s, 8, 2)?;
    if s.get(7) != Some(&b'-') || !matches!(s.get(10), Some(b' ' | b'T' | b't')) {
        return None;
    }
    let hour = digits(s, 11, 2)?;
    let minute = digits(s, 14, 2)?;
    let mut pos = 16;
    let mut second = 0;
    if s.get(pos) == Some(&b':') {
        second = digits(s, pos + 1, 2)?;
        pos += 3;
    }
    let mut micros = 0i64;
    if matches!(s.get(pos), Some(b'.' | b',')) {
        pos += 1;
        let mut scale = 100_000i64;
        while let Some(b) = s.get(pos).filter(|b| b.is_ascii_digit()) {
            micros += i64::from(b - b'0') * scale;
            scale /= 10;
            pos += 1;
        }
    }
    let offset_secs = parse_offset(s.get(pos..)?)?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    if second > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3_600 + minute * 60 + second - offset_secs;
    Some(secs * 1_000_000 + micros)
}

fn parse_offset(rest: &[u8]) -> Option<i64> {
    match rest {
        [] | [b'Z' | b'z'] => Some(0),
        [sign @ (b'+' | b'-'), tail @ ..] => {
            let hours = digits(tail, 0, 2)?;
            let minutes = match tail.len() {
                2 => 0,
                4 => digits(tail, 2, 2)?,
                5 if tail.get(2) == Some(&b':') => digits(tail, 3, 2)?,
                _ => return None,
            };
            let total = hours * 3_600 + minutes * 60;
            Some(if *sign == b'-' { -total } else { total })
        }
        _ => None,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Formats as `YYYY-MM-DD HH:MM:SS` (UTC), the layout of Heralding's logs.
pub fn format_timestamp(ts: Micros) -> String {
    chrono::DateTime::from_timestamp_micros(ts)
        .map(|dt| dt.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| ts.to_string())
}

/// Formats as RFC 3339 with microseconds, for JSON/CSV output.
pub fn format_rfc3339(ts: Micros) -> String {
    chrono::DateTime::from_timestamp_micros(ts)
        .map(|dt| dt.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
        .unwrap_or_else(|| ts.to_string())
}

/// Parses a `--since/--until` value: a timestamp as above or a date `YYYY-MM-DD`.
pub fn parse_bound(text: &str) -> Option<Micros> {
    let t = text.trim();
    if t.len() == 10 {
        return parse_timestamp(&format!("{t} 00:00:00"));
    }
    parse_timestamp(t)
}

/// The current time (UTC microseconds), which ages count back from.
pub fn now() -> Micros {
    chrono::Utc::now().timestamp_micros()
}

/// Parses a `--since/--until` value that may also be an age before `now`: a whole
/// number and a unit, `s`, `m`, `h`, `d` or `w` (`90m`, `24h`, `7d`), so a daily
/// report is `--since 24h`. Anything else is read by [`parse_bound`].
pub fn parse_bound_at(text: &str, now: Micros) -> Option<Micros> {
    parse_age(text.trim())
        .map(|age| now.checked_sub(age))
        .unwrap_or_else(|| parse_bound(text))
}

/// An age (`24h`) in microseconds; `None` when `text` is not one (or overflows).
fn parse_age(text: &str) -> Option<Micros> {
    let unit = text.chars().last()?;
    let seconds: i64 = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        'w' => 604_800,
        _ => return None,
    };
    let number = text.get(..text.len() - 1)?;
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    number
        .parse::<i64>()
        .ok()?
        .checked_mul(seconds)?
        .checked_mul(1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_count_back_from_now() {
        let now = parse_timestamp("2026-11-27 12:00:00").unwrap_or_default();
        let at = |t: &str| parse_bound_at(t, now).map(format_timestamp);
        assert_eq!(at("24h").as_deref(), Some("2026-11-26 12:00:00"));
        assert_eq!(at(" 7d ").as_deref(), Some("2026-11-20 12:00:00"));
        assert_eq!(at("2w").as_deref(), Some("2026-11-13 12:00:00"));
        assert_eq!(at("90m").as_deref(), Some("2026-11-27 10:30:00"));
        assert_eq!(at("30s").as_deref(), Some("2026-11-27 11:59:30"));
        assert_eq!(at("0h").as_deref(), Some("2026-11-27 12:00:00"));
        // Absolute times still work; what is neither is refused.
        assert_eq!(at("2016-12-14").as_deref(), Some("2016-12-14 00:00:00"));
        for bad in [
            "h",
            "-1h",
            "1.5h",
            "24x",
            "1 h",
            "99999999999999999999d",
            "9223372036854775807w",
        ] {
            assert_eq!(parse_bound_at(bad, now), None, "{bad}");
        }
    }

    #[test]
    fn heralding_layout() {
        let ts = parse_timestamp("2016-12-14 21:50:14.344387").unwrap();
        assert_eq!(ts, 1_481_752_214_344_387);
        assert_eq!(format_timestamp(ts), "2016-12-14 21:50:14");
    }

    #[test]
    fn cowrie_and_offsets() {
        let z = parse_timestamp("2024-05-01T10:00:00.123456Z").unwrap();
        let plus = parse_timestamp("2024-05-01T12:00:00.123456+02:00").unwrap();
        assert_eq!(z, plus);
        assert_eq!(format_rfc3339(z), "2024-05-01T10:00:00.123456Z");
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "x",
            "2016-13-14 21:50:14",
            "2016-12-14 2x:50:14",
            "2016-12-14 21:50:14+9",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
        assert_eq!(parse_timestamp("1481752214.5"), Some(1_481_752_214_500_000));
        assert_eq!(
            parse_bound("2016-12-14"),
            parse_timestamp("2016-12-14 00:00:00")
        );
    }

    proptest::proptest! {
        /// The fixed-layout reader agrees with the general one on every input it
        /// takes, and takes every well-formed Heralding timestamp.
        #[test]
        fn fixed_layout_agrees_with_the_general_parser(
            noise in proptest::collection::vec(
                proptest::sample::select(b"0123456789-: T.Z,x9".to_vec()), 25..=28),
            (y, mo, d, h, mi, sec, frac) in
                (0u32..10_000, 0u32..14, 0u32..33, 0u32..25, 0u32..61, 0u32..62, 0u32..1_000_000),
            tail in proptest::sample::select(vec!["", "Z"]),
        ) {
            if let Some(fast) = parse_heralding(&noise) {
                proptest::prop_assert_eq!(Some(fast), parse_iso(&noise));
            }
            let text = format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{sec:02}.{frac:06}{tail}");
            let general = parse_iso(text.as_bytes());
            proptest::prop_assert_eq!(parse_heralding(text.as_bytes()), general);
            proptest::prop_assert_eq!(parse_timestamp(&text), general);
        }

        /// Through the hour cache, a run of timestamps (valid or not, sharing hours
        /// or not) reads as each does alone.
        #[test]
        fn the_hour_cache_changes_no_value(
            stamps in proptest::collection::vec(
                (0u32..3, 0u32..3, 0u32..62, 0u32..62, 0u32..1_000_000, proptest::bool::ANY,
                 proptest::sample::select(vec!["", "Z", "x", "+01:00"])),
                1..40),
        ) {
            let mut cache = HourCache::default();
            for (day, hour, minute, second, frac, bad_sep, tail) in stamps {
                let sep = if bad_sep { '-' } else { ':' };
                let text = format!(
                    "2016-12-{:02} {:02}{sep}{minute:02}:{second:02}.{frac:06}{tail}",
                    14 + day, 21 + hour
                );
                proptest::prop_assert_eq!(
                    parse_timestamp_cached(&text, &mut cache),
                    parse_timestamp(&text),
                    "{}", text
                );
            }
        }
    }
}
