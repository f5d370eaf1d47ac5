//! The RFC 3912 client: connect to TCP port 43, send the query and CRLF,
//! read until the server closes, with a connect timeout, an idle read
//! timeout, an overall deadline and a size cap.
//!
//! A lookup asks IANA (`whois.iana.org`, overridable for tests and mirrors)
//! for the TLD's server (`refer:`), asks that registry for the domain, and
//! then follows `Registrar WHOIS Server:` / `WHOIS Server:` to the registrar
//! (at most [`ClientConfig::max_referrals`] hops). The registrar's fields
//! win over the registry's where both are present.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::cache::{Cache, CacheError};
use crate::parse::{self, ParseError};
use crate::record::{Contact, WhoisRecord};

/// Default IANA root whois server.
pub const IANA: &str = "whois.iana.org:43";

/// Client settings.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// IANA server, `host[:port]`.
    pub iana: String,
    /// Skip IANA and ask this server first (`host[:port]`).
    pub server: Option<String>,
    /// Follow registry → registrar referrals.
    pub follow: bool,
    /// Most servers asked after the first one.
    pub max_referrals: usize,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// Longest silence while reading.
    pub read_timeout: Duration,
    /// Longest time for one whole answer.
    pub total_timeout: Duration,
    /// Largest answer accepted, in bytes.
    pub max_bytes: usize,
    /// Answer cache.
    pub cache: Option<Cache>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            iana: IANA.to_owned(),
            server: None,
            follow: true,
            max_referrals: 3,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(10),
            total_timeout: Duration::from_secs(30),
            max_bytes: 1024 * 1024,
            cache: None,
        }
    }
}

/// Lookup failures.
#[derive(Debug, thiserror::Error)]
pub enum WhoisError {
    /// The argument is not a domain name.
    #[error("{0:?} is not a domain name")]
    InvalidDomain(String),
    /// Name resolution or connection failed.
    #[error("whois {server}: cannot connect: {source}")]
    Connect {
        /// Server.
        server: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// Sending the query failed.
    #[error("whois {server}: sending the query failed: {source}")]
    Send {
        /// Server.
        server: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// No data within the read timeout or the overall deadline.
    #[error("whois {server}: timed out after {bytes} bytes ({after:?})")]
    Timeout {
        /// Server.
        server: String,
        /// Bytes received before the timeout.
        bytes: usize,
        /// How long it waited.
        after: Duration,
    },
    /// The answer exceeded the size cap.
    #[error("whois {server}: answer larger than {limit} bytes; refused")]
    TooLarge {
        /// Server.
        server: String,
        /// The cap.
        limit: usize,
    },
    /// The connection broke, or closed in the middle of a line.
    #[error("whois {server}: truncated answer after {bytes} bytes ({reason})")]
    Truncated {
        /// Server.
        server: String,
        /// Bytes received.
        bytes: usize,
        /// What happened.
        reason: String,
    },
    /// The server closed without answering.
    #[error("whois {server}: empty answer")]
    Empty {
        /// Server.
        server: String,
    },
    /// The answer is not a usable whois record.
    #[error("whois {server}: {source}")]
    Parse {
        /// Server.
        server: String,
        /// Why.
        #[source]
        source: ParseError,
    },
    /// IANA knows no whois server for the TLD.
    #[error("whois {server}: no whois server (refer:) for TLD .{tld}")]
    NoServer {
        /// IANA server asked.
        server: String,
        /// The TLD.
        tld: String,
    },
    /// The cache could not be written.
    #[error(transparent)]
    Cache(#[from] CacheError),
}

/// One question and answer of a lookup.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Hop {
    /// Server asked (`host:port`).
    pub server: String,
    /// Query sent.
    pub query: String,
    /// Whether the answer came from the cache (no connection made).
    pub from_cache: bool,
    /// The raw answer.
    pub text: String,
}

/// A finished lookup.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Lookup {
    /// The domain asked for.
    pub domain: String,
    /// Every server asked, in order.
    pub hops: Vec<Hop>,
    /// The merged record.
    pub record: WhoisRecord,
    /// A referral that failed (the record is then the registry's alone).
    pub referral_error: Option<String>,
}

/// The whois client.
#[derive(Debug, Clone, Default)]
pub struct Client {
    config: ClientConfig,
}

/// `host[:port]` with port 43 added when missing; `whois://`/`rwhois://`
/// prefixes and a trailing `/` are dropped. `None` for values that cannot
/// be a server name.
pub fn server_address(value: &str) -> Option<String> {
    let v = value.trim();
    let v = v
        .strip_prefix("rwhois://")
        .or_else(|| v.strip_prefix("whois://"))
        .unwrap_or(v);
    let v = v.trim_end_matches('/');
    let ok = !v.is_empty()
        && v.len() <= 255
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b));
    if !ok {
        return None;
    }
    let has_port = match v.rsplit_once(':') {
        Some((host, port)) => {
            !host.is_empty() && !host.ends_with(':') && port.parse::<u16>().is_ok()
        }
        None => false,
    };
    Some(if has_port {
        v.to_owned()
    } else {
        format!("{v}:43")
    })
}

fn normalise_domain(domain: &str) -> Result<String, WhoisError> {
    let d = domain.trim().trim_end_matches('.').to_lowercase();
    let ok = !d.is_empty()
        && d.len() <= 253
        && !d.starts_with('.')
        && !d.contains("..")
        && d.chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '.');
    if ok {
        Ok(d)
    } else {
        Err(WhoisError::InvalidDomain(domain.to_owned()))
    }
}

impl Client {
    /// A client with these settings.
    pub fn new(config: ClientConfig) -> Self {
        Self { config }
    }

    /// The settings.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Looks a domain up, following referrals.
    pub fn lookup(&self, domain: &str) -> Result<Lookup, WhoisError> {
        let domain = normalise_domain(domain)?;
        let mut hops = Vec::new();
        let first = match &self.config.server {
            Some(server) => {
                server_address(server).ok_or_else(|| WhoisError::InvalidDomain(server.clone()))?
            }
            None => self.registry_for(&domain, &mut hops)?,
        };
        let registry_text = self.ask(&first, &domain, &mut hops)?;
        let mut record = parse::parse_record(&registry_text, Some(&first)).map_err(|source| {
            WhoisError::Parse {
                server: first.clone(),
                source,
            }
        })?;
        let mut referral_error = None;
        let mut current = first;
        let mut referrals = 0;
        while self.config.follow && referrals < self.config.max_referrals {
            let Some(next) = record
                .registrar_whois_server
                .as_deref()
                .and_then(server_address)
            else {
                break;
            };
            if next.eq_ignore_ascii_case(&current)
                || hops
                    .iter()
                    .any(|h: &Hop| h.server.eq_ignore_ascii_case(&next))
            {
                break;
            }
            referrals += 1;
            let answer = self.ask(&next, &domain, &mut hops).and_then(|text| {
                parse::parse_record(&text, Some(&next)).map_err(|source| WhoisError::Parse {
                    server: next.clone(),
                    source,
                })
            });
            match answer {
                Ok(registrar) => record = merge(record, registrar),
                Err(err) => {
                    referral_error = Some(err.to_string());
                    break;
                }
            }
            current = next;
        }
        Ok(Lookup {
            domain,
            hops,
            record,
            referral_error,
        })
    }

    /// Asks IANA which server handles the domain's TLD.
    fn registry_for(&self, domain: &str, hops: &mut Vec<Hop>) -> Result<String, WhoisError> {
        let iana = server_address(&self.config.iana)
            .ok_or_else(|| WhoisError::InvalidDomain(self.config.iana.clone()))?;
        let tld = domain.rsplit('.').next().unwrap_or(domain).to_owned();
        let text = self.ask(&iana, &tld, hops)?;
        let rec = parse::parse_record(&text, Some(&iana)).map_err(|source| WhoisError::Parse {
            server: iana.clone(),
            source,
        })?;
        rec.refer
            .as_deref()
            .or(rec.registrar_whois_server.as_deref())
            .and_then(server_address)
            .ok_or(WhoisError::NoServer { server: iana, tld })
    }

    /// One question, from the cache when possible.
    fn ask(&self, server: &str, query: &str, hops: &mut Vec<Hop>) -> Result<String, WhoisError> {
        if let Some(text) = self
            .config
            .cache
            .as_ref()
            .and_then(|c| c.get(server, query))
        {
            hops.push(Hop {
                server: server.to_owned(),
                query: query.to_owned(),
                from_cache: true,
                text: text.clone(),
            });
            return Ok(text);
        }
        let text = self.query(server, query)?;
        if let Some(cache) = &self.config.cache {
            cache.put(server, query, &text)?;
        }
        hops.push(Hop {
            server: server.to_owned(),
            query: query.to_owned(),
            from_cache: false,
            text: text.clone(),
        });
        Ok(text)
    }

    /// Sends one query over TCP and returns the answer text.
    pub fn query(&self, server: &str, query: &str) -> Result<String, WhoisError> {
        let stream = self.connect(server)?;
        let send_err = |source| WhoisError::Send {
            server: server.to_owned(),
            source,
        };
        (&stream)
            .write_all(format!("{query}\r\n").as_bytes())
            .map_err(send_err)?;
        let bytes = self.read_answer(stream, server)?;
        if bytes.is_empty() {
            return Err(WhoisError::Empty {
                server: server.to_owned(),
            });
        }
        if !bytes.ends_with(b"\n") {
            let tail =
                String::from_utf8_lossy(&bytes[bytes.len().saturating_sub(40)..]).into_owned();
            return Err(WhoisError::Truncated {
                server: server.to_owned(),
                bytes: bytes.len(),
                reason: format!("closed in the middle of a line ending {tail:?}"),
            });
        }
        // Many registries answer in Latin-1; keep what decodes, mark the rest.
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn connect(&self, server: &str) -> Result<TcpStream, WhoisError> {
        let connect_err = |source| WhoisError::Connect {
            server: server.to_owned(),
            source,
        };
        let addrs = server.to_socket_addrs().map_err(connect_err)?;
        let mut last = std::io::Error::new(ErrorKind::NotFound, "no address");
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, self.config.connect_timeout) {
                Ok(stream) => {
                    stream
                        .set_read_timeout(Some(self.config.read_timeout))
                        .map_err(connect_err)?;
                    stream
                        .set_write_timeout(Some(self.config.read_timeout))
                        .map_err(connect_err)?;
                    return Ok(stream);
                }
                Err(e) => last = e,
            }
        }
        Err(connect_err(last))
    }

    fn read_answer(&self, mut stream: TcpStream, server: &str) -> Result<Vec<u8>, WhoisError> {
        let started = Instant::now();
        let mut bytes = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            if started.elapsed() > self.config.total_timeout {
                return Err(WhoisError::Timeout {
                    server: server.to_owned(),
                    bytes: bytes.len(),
                    after: started.elapsed(),
                });
            }
            match stream.read(&mut chunk) {
                Ok(0) => return Ok(bytes),
                Ok(n) => {
                    if bytes.len() + n > self.config.max_bytes {
                        return Err(WhoisError::TooLarge {
                            server: server.to_owned(),
                            limit: self.config.max_bytes,
                        });
                    }
                    bytes.extend_from_slice(&chunk[..n]);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Err(WhoisError::Timeout {
                        server: server.to_owned(),
                        bytes: bytes.len(),
                        after: started.elapsed(),
                    });
                }
                Err(e) => {
                    return Err(WhoisError::Truncated {
                        server: server.to_owned(),
                        bytes: bytes.len(),
                        reason: e.to_string(),
                    });
                }
            }
        }
    }
}

/// Every domain record in a cache: IANA answers are skipped, unparsable
/// entries ignored, and a registry answer is merged with the registrar
/// answer it refers to (when both are cached).
pub fn cached_records(cache: &Cache) -> Result<Vec<WhoisRecord>, CacheError> {
    let mut answers: Vec<(String, WhoisRecord)> = Vec::new();
    for entry in cache.entries()? {
        let Ok(record) = parse::parse_record(&entry.text, Some(&entry.server)) else {
            continue;
        };
        if record.refer.is_none() && entry.query.contains('.') {
            answers.push((entry.server, record));
        }
    }
    let refers_to = |from: &WhoisRecord, server: &str| {
        from.registrar_whois_server
            .as_deref()
            .and_then(server_address)
            .is_some_and(|s| s.eq_ignore_ascii_case(server))
    };
    let mut out: Vec<WhoisRecord> = Vec::new();
    let mut used = vec![false; answers.len()];
    for i in 0..answers.len() {
        if used[i] {
            continue;
        }
        let (_, registry) = &answers[i];
        // A registrar answer is merged into the registry answer that refers to it.
        let is_referred_to = answers
            .iter()
            .any(|(_, r)| r.domain == registry.domain && refers_to(r, &answers[i].0));
        if is_referred_to {
            continue;
        }
        let mut record = registry.clone();
        for (j, (server, registrar)) in answers.iter().enumerate() {
            if j != i && registrar.domain == record.domain && refers_to(registry, server) {
                record = merge(record, registrar.clone());
                used[j] = true;
            }
        }
        used[i] = true;
        out.push(record);
    }
    // Registrar answers whose registry answer is gone are kept alone.
    for (i, (_, record)) in answers.into_iter().enumerate() {
        if !used[i] {
            out.push(record);
        }
    }
    Ok(out)
}

fn prefer(registrar: Option<String>, registry: Option<String>) -> Option<String> {
    registrar.or(registry)
}

fn merge_contact(registrar: Contact, registry: Contact) -> Contact {
    Contact {
        name: prefer(registrar.name, registry.name),
        organization: prefer(registrar.organization, registry.organization),
        email: prefer(registrar.email, registry.email),
        country: prefer(registrar.country, registry.country),
    }
}

/// Registry record + registrar record: the registrar's values win.
pub fn merge(registry: WhoisRecord, registrar: WhoisRecord) -> WhoisRecord {
    let mut statuses = registry.statuses;
    for s in registrar.statuses {
        if !statuses.contains(&s) {
            statuses.push(s);
        }
    }
    let name_servers = if registrar.name_servers.is_empty() {
        registry.name_servers
    } else {
        registrar.name_servers
    };
    WhoisRecord {
        domain: prefer(registry.domain, registrar.domain),
        registrar: prefer(registrar.registrar, registry.registrar),
        registrar_iana_id: prefer(registrar.registrar_iana_id, registry.registrar_iana_id),
        registrar_whois_server: prefer(
            registry.registrar_whois_server,
            registrar.registrar_whois_server,
        ),
        created: prefer(registry.created, registrar.created),
        updated: prefer(registrar.updated, registry.updated),
        expires: prefer(registry.expires, registrar.expires),
        statuses,
        name_servers,
        registrant: merge_contact(registrar.registrant, registry.registrant),
        admin: merge_contact(registrar.admin, registry.admin),
        tech: merge_contact(registrar.tech, registry.tech),
        privacy: registrar.privacy || registry.privacy,
        privacy_service: prefer(registrar.privacy_service, registry.privacy_service),
        dnssec: prefer(registry.dnssec, registrar.dnssec),
        refer: registry.refer,
        source: prefer(registrar.source, registry.source),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses_get_port_43() {
        assert_eq!(
            server_address("whois.nic.tech").as_deref(),
            Some("whois.nic.tech:43")
        );
        assert_eq!(
            server_address("rwhois://rwhois.x.net:4321/").as_deref(),
            Some("rwhois.x.net:4321")
        );
        assert_eq!(
            server_address("127.0.0.1:4343").as_deref(),
            Some("127.0.0.1:4343")
        );
        assert_eq!(server_address("http://x y"), None);
        assert_eq!(server_address(""), None);
    }

    #[test]
    fn domains_are_checked() {
        assert_eq!(
            normalise_domain("HRJLYYMASSQX.TECH.").expect("ok"),
            "hrjlyymassqx.tech"
        );
        assert!(normalise_domain("a b.com").is_err());
        assert!(normalise_domain("x.com\r\nquit").is_err());
        assert!(normalise_domain("").is_err());
    }
}
