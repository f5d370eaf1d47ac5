//! Domain generation algorithms: the Mirai DGA (generate a day's names,
//! brute-force which seed and date produced a name) and a generic scorer that
//! says how machine-generated any domain name looks, with reasons.
//!
//! * [`mirai`]: the Mirai/Ranbyus per-character generator, seeds and dates.
//! * [`score`]: [`score::score_domain`], the scorer used by `trawl dga score`,
//!   `trawl pcap` and `trawl watch`.

pub mod eval;
pub mod families;
pub mod mirai;
pub mod ngram;
pub mod score;
