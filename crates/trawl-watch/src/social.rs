//! Social and forum text turned into `targeting-mention` alerts: an entity's brand, domain or
//! executive name within [`WINDOW`] words of a threat word (ddos, leak, phishing, ...).
//!
//! The names are found with one ASCII-case-insensitive Aho-Corasick automaton (leftmost-longest,
//! whole words only); the threat words come from `data/threat_words.txt` and are looked up per
//! word only when a name was found, so text that names no entity costs one automaton pass.

use std::collections::HashMap;
use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, MatchKind};

use crate::alert::{Alert, Category, Evidence, Severity, shorten};
use crate::inventory::Entity;
use crate::{Run, Watcher};

/// Most words between a name and a threat word for a mention.
pub const WINDOW: usize = 12;
/// Shortest brand keyword or domain label used as a name (shorter ones are too noisy).
const MIN_NAME: usize = 3;

/// Who a name stands for.
#[derive(Debug, Clone)]
struct Name {
    entity: usize,
    executive: Option<String>,
}

/// One targeting mention in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mention {
    /// Index of the entity.
    pub entity: usize,
    /// The name as written in the text.
    pub name: String,
    /// The executive named, if the name is one.
    pub executive: Option<String>,
    /// The threat word as written in the text.
    pub threat: String,
    /// Words between the name and the threat word (1: adjacent).
    pub distance: usize,
    /// High for an executive or a high threat word, else medium.
    pub severity: Severity,
    /// The words around the mention.
    pub snippet: String,
}

fn threat_words() -> &'static HashMap<String, Severity> {
    static WORDS: OnceLock<HashMap<String, Severity>> = OnceLock::new();
    WORDS.get_or_init(|| {
        include_str!("data/threat_words.txt")
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                let word = w.next()?.to_lowercase();
                let severity = match w.next() {
                    Some("high") => Severity::High,
                    _ => Severity::Medium,
                };
                Some((word, severity))
            })
            .collect()
    })
}

/// The names of every entity, compiled.
pub struct Mentions {
    names: AhoCorasick,
    owners: Vec<Vec<Name>>,
}

impl Mentions {
    /// Entity names, brand keywords, domains (and their first label), executives' names;
    /// `None` when the inventory names nothing.
    pub fn new(entities: &[Entity]) -> Option<Mentions> {
        let mut patterns: Vec<String> = Vec::new();
        let mut owners: Vec<Vec<Name>> = Vec::new();
        let mut add = |pattern: &str, name: Name| {
            let p = pattern.trim().to_lowercase();
            if p.chars().count() < MIN_NAME {
                return;
            }
            match patterns.iter().position(|q| *q == p) {
                Some(i) => {
                    if let Some(o) = owners.get_mut(i) {
                        o.push(name);
                    }
                }
                None => {
                    patterns.push(p);
                    owners.push(vec![name]);
                }
            }
        };
        for (i, e) in entities.iter().enumerate() {
            let own = || Name {
                entity: i,
                executive: None,
            };
            add(&e.name, own());
            for k in &e.keywords {
                add(k, own());
            }
            for d in &e.domains {
                add(d, own());
                if let Some(label) = d.split('.').next().filter(|l| l.len() > MIN_NAME) {
                    add(label, own());
                }
            }
            for x in &e.executives {
                add(
                    &x.name,
                    Name {
                        entity: i,
                        executive: Some(x.name.clone()),
                    },
                );
            }
        }
        if patterns.is_empty() {
            return None;
        }
        let names = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostLongest)
            .build(&patterns)
            .ok()?;
        Some(Mentions { names, owners })
    }

    /// The mentions in a text: per entity, the name closest to a threat word.
    pub fn find(&self, text: &str) -> Vec<Mention> {
        let mut found: Vec<Mention> = Vec::new();
        let mut words: Option<Vec<(usize, usize)>> = None;
        let mut threats: Vec<(usize, Severity)> = Vec::new();
        for m in self.names.find_iter(text) {
            if !whole_word(text, m.start(), m.end()) {
                continue;
            }
            let spans = words.get_or_insert_with(|| {
                let spans = word_spans(text);
                threats = threat_positions(text, &spans);
                spans
            });
            if threats.is_empty() {
                return found;
            }
            let first = spans.partition_point(|w| w.1 <= m.start());
            let last = spans.partition_point(|w| w.0 < m.end()).saturating_sub(1);
            let Some((j, distance, severity)) = closest_threat(&threats, first, last) else {
                continue;
            };
            let Some(owners) = self.owners.get(m.pattern().as_usize()) else {
                continue;
            };
            for owner in owners {
                let severity = if owner.executive.is_some() {
                    Severity::High
                } else {
                    severity
                };
                let mention = Mention {
                    entity: owner.entity,
                    name: text.get(m.start()..m.end()).unwrap_or_default().to_string(),
                    executive: owner.executive.clone(),
                    threat: word_at(text, spans, j).to_string(),
                    distance,
                    severity,
                    snippet: snippet(text, spans, first.min(j), last.max(j)),
                };
                keep_closest(&mut found, mention);
            }
        }
        found
    }
}

fn keep_closest(found: &mut Vec<Mention>, mention: Mention) {
    match found.iter_mut().find(|f| f.entity == mention.entity) {
        Some(f)
            if (mention.severity, std::cmp::Reverse(mention.distance))
                > (f.severity, std::cmp::Reverse(f.distance)) =>
        {
            *f = mention;
        }
        Some(_) => {}
        None => found.push(mention),
    }
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric()
}

fn whole_word(text: &str, start: usize, end: usize) -> bool {
    let before = text.get(..start).and_then(|t| t.chars().next_back());
    let after = text.get(end..).and_then(|t| t.chars().next());
    !before.is_some_and(is_word_char) && !after.is_some_and(is_word_char)
}

/// Byte spans of the words (runs of letters and digits).
fn word_spans(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start: Option<usize> = None;
    for (i, c) in text.char_indices() {
        match (is_word_char(c), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                spans.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        spans.push((s, text.len()));
    }
    spans
}

fn word_at<'t>(text: &'t str, spans: &[(usize, usize)], i: usize) -> &'t str {
    spans
        .get(i)
        .and_then(|(s, e)| text.get(*s..*e))
        .unwrap_or_default()
}

fn threat_positions(text: &str, spans: &[(usize, usize)]) -> Vec<(usize, Severity)> {
    let table = threat_words();
    (0..spans.len())
        .filter_map(|i| {
            let w = word_at(text, spans, i).to_lowercase();
            table.get(&w).map(|s| (i, *s))
        })
        .collect()
}

/// The threat word nearest to the name's words `first..=last`: (index, distance, severity).
fn closest_threat(
    threats: &[(usize, Severity)],
    first: usize,
    last: usize,
) -> Option<(usize, usize, Severity)> {
    threats
        .iter()
        .filter_map(|&(j, severity)| {
            let distance = if j < first {
                first - j
            } else if j > last {
                j - last
            } else {
                return None; // the threat word is part of the name
            };
            (distance <= WINDOW).then_some((j, distance, severity))
        })
        .min_by_key(|&(_, distance, severity)| (distance, std::cmp::Reverse(severity)))
}

/// The words `from..=to` with four words of context either side, whitespace collapsed.
fn snippet(text: &str, spans: &[(usize, usize)], from: usize, to: usize) -> String {
    let lo = from.saturating_sub(4);
    let hi = (to + 4).min(spans.len().saturating_sub(1));
    let (Some(start), Some(end)) = (spans.get(lo), spans.get(hi)) else {
        return shorten(text.trim(), 160);
    };
    let end = text
        .get(end.1..)
        .and_then(|rest| rest.chars().next())
        .filter(|c| !c.is_whitespace())
        .map_or(end.1, |c| end.1 + c.len_utf8());
    let piece = text.get(start.0..end).unwrap_or_default();
    let collapsed: Vec<&str> = piece.split_whitespace().collect();
    shorten(&collapsed.join(" "), 160)
}

impl Watcher {
    /// Alerts for the targeting mentions in social or forum texts.
    pub(crate) fn check_texts(
        &self,
        source: &str,
        line: u64,
        texts: &[String],
        feed: &str,
        run: &mut Run,
    ) {
        let Some(mentions) = &self.mentions else {
            return;
        };
        for text in texts {
            for m in mentions.find(text) {
                let Some(entity) = self.inventory.entities.get(m.entity) else {
                    continue;
                };
                let who = match &m.executive {
                    Some(x) => format!("executive {x}"),
                    None => format!("{:?}", m.name),
                };
                let apart = if m.distance == 1 {
                    "next to".to_string()
                } else {
                    format!("{} words from", m.distance)
                };
                run.add(Alert {
                    entity: entity.name.clone(),
                    category: Category::TargetingMention,
                    severity: m.severity,
                    subject: m.snippet.clone(),
                    detail: format!("{who} {apart} {:?} in {feed} {source}", m.threat),
                    evidence: Evidence {
                        source: source.to_string(),
                        line,
                        snippet: m.snippet,
                    },
                    count: 1,
                    first_seen: 0,
                    last_seen: 0,
                    new: true,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Inventory;

    fn mentions() -> Mentions {
        let inv = Inventory::parse(
            r#"
[[entity]]
name = "Acme Bank"
domains = ["acmebank.com"]
keywords = ["AcmeBank"]
[[entity.executive]]
name = "Jane Roe"
[[entity]]
name = "Parts"
domains = ["partsupplier.net"]
"#,
        )
        .unwrap();
        Mentions::new(&inv.entities).unwrap()
    }

    #[test]
    fn name_near_threat_word_is_a_mention() {
        let m = mentions();
        let hits = m.find("we will DDoS acmebank.com tomorrow at noon, join us");
        assert_eq!(hits.len(), 1, "{hits:?}");
        assert_eq!(hits[0].name, "acmebank.com");
        assert_eq!(hits[0].threat, "DDoS");
        assert_eq!(hits[0].distance, 1);
        assert_eq!(hits[0].severity, Severity::High);
        assert!(hits[0].snippet.contains("DDoS acmebank.com tomorrow"));
    }

    #[test]
    fn executive_and_supplier_both_found() {
        let m = mentions();
        let hits = m.find("Fresh dox of jane roe posted; partsupplier.net is an easy target too");
        assert_eq!(hits.len(), 2, "{hits:?}");
        assert_eq!(hits[0].executive.as_deref(), Some("Jane Roe"));
        assert_eq!(hits[0].severity, Severity::High);
        assert_eq!(hits[1].entity, 1);
        assert_eq!(hits[1].threat, "target");
    }

    #[test]
    fn no_mention_without_threat_word_or_outside_window_or_inside_a_word() {
        let m = mentions();
        assert!(m.find("acmebank has a nice new mortgage offer").is_empty());
        let far = format!("acmebank {} leak", "word ".repeat(WINDOW));
        assert!(m.find(&far).is_empty());
        assert!(m.find("notacmebank was hacked").is_empty());
        assert!(m.find("acmebanking hacked").is_empty());
        assert!(!m.find("ACMEBANK hacked!").is_empty());
    }

    #[test]
    fn word_spans_are_unicode_aware() {
        let t = "héllo, wörld 0day";
        let spans = word_spans(t);
        assert_eq!(spans.len(), 3);
        assert_eq!(word_at(t, &spans, 1), "wörld");
    }
}
