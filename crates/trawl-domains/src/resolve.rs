//! DNS resolution of candidate names (A, AAAA, NS, MX) with bounded concurrency and per-query
//! timeouts, using hickory-resolver on a private tokio runtime. Nameservers are configurable
//! (`IP` or `IP:PORT`); without any, `/etc/resolv.conf` nameservers are used.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::{Resolver, TokioResolver};
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::DomainError;

/// How to resolve.
#[derive(Debug, Clone)]
pub struct ResolveConfig {
    /// Nameservers; empty: the system's (`/etc/resolv.conf`).
    pub nameservers: Vec<SocketAddr>,
    /// Timeout of one query.
    pub timeout: Duration,
    /// Names resolved at the same time.
    pub concurrency: usize,
}

impl Default for ResolveConfig {
    fn default() -> Self {
        ResolveConfig {
            nameservers: Vec::new(),
            timeout: Duration::from_secs(2),
            concurrency: 64,
        }
    }
}

/// Parses `IP` or `IP:PORT` (port 53 by default; IPv6 as `[::1]:53`).
pub fn parse_nameserver(s: &str) -> Option<SocketAddr> {
    s.parse::<SocketAddr>()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 53)))
}

/// Records found for one name.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Resolution {
    /// The name (ASCII).
    pub domain: String,
    /// IPv4 addresses.
    pub a: Vec<IpAddr>,
    /// IPv6 addresses.
    pub aaaa: Vec<IpAddr>,
    /// Nameservers.
    pub ns: Vec<String>,
    /// Mail exchangers.
    pub mx: Vec<String>,
}

impl Resolution {
    /// True when any record exists (the name is registered and delegated).
    pub fn is_registered(&self) -> bool {
        !(self.a.is_empty() && self.aaaa.is_empty() && self.ns.is_empty() && self.mx.is_empty())
    }
}

fn system_nameservers() -> Vec<SocketAddr> {
    std::fs::read_to_string("/etc/resolv.conf")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|ip| ip.trim().parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

fn build_resolver(cfg: &ResolveConfig) -> Result<TokioResolver, DomainError> {
    let servers = if cfg.nameservers.is_empty() {
        system_nameservers()
    } else {
        cfg.nameservers.clone()
    };
    if servers.is_empty() {
        return Err(DomainError::Resolver(
            "no nameserver given and none in /etc/resolv.conf".into(),
        ));
    }
    let name_servers = servers
        .iter()
        .map(|sa| {
            let mut udp = ConnectionConfig::udp();
            udp.port = sa.port();
            let mut tcp = ConnectionConfig::tcp();
            tcp.port = sa.port();
            let mut ns = NameServerConfig::udp_and_tcp(sa.ip());
            ns.connections = vec![udp, tcp];
            ns
        })
        .collect();
    let config = ResolverConfig::from_name_servers(name_servers);
    let mut opts = ResolverOpts::default();
    opts.timeout = cfg.timeout;
    opts.attempts = 1;
    opts.use_hosts_file = ResolveHosts::Never;
    opts.cache_size = 0;
    Resolver::builder_with_config(config, TokioRuntimeProvider::default())
        .with_options(opts)
        .build()
        .map_err(|e| DomainError::Resolver(e.to_string()))
}

async fn lookup(
    resolver: &TokioResolver,
    name: &str,
    rtype: RecordType,
    timeout: Duration,
) -> Vec<RData> {
    let fqdn = format!("{name}.");
    match tokio::time::timeout(
        timeout + Duration::from_millis(500),
        resolver.lookup(fqdn.as_str(), rtype),
    )
    .await
    {
        Ok(Ok(lookup)) => lookup
            .answers()
            .iter()
            .filter(|r| r.record_type() == rtype)
            .map(|r| r.data.clone())
            .collect(),
        _ => Vec::new(),
    }
}

async fn resolve_one(resolver: Arc<TokioResolver>, name: String, timeout: Duration) -> Resolution {
    let (a, aaaa, ns, mx) = tokio::join!(
        lookup(&resolver, &name, RecordType::A, timeout),
        lookup(&resolver, &name, RecordType::AAAA, timeout),
        lookup(&resolver, &name, RecordType::NS, timeout),
        lookup(&resolver, &name, RecordType::MX, timeout),
    );
    let mut r = Resolution {
        domain: name,
        ..Resolution::default()
    };
    for d in a.into_iter().chain(aaaa).chain(ns).chain(mx) {
        match d {
            RData::A(v4) => r.a.push(IpAddr::V4(v4.0)),
            RData::AAAA(v6) => r.aaaa.push(IpAddr::V6(v6.0)),
            RData::NS(n) => r.ns.push(n.0.to_utf8().trim_end_matches('.').to_string()),
            RData::MX(m) => {
                r.mx.push(m.exchange.to_utf8().trim_end_matches('.').to_string())
            }
            _ => {}
        }
    }
    r
}

/// Resolves every name; results in input order. `progress` is called after each name.
pub fn resolve_all(
    names: &[String],
    cfg: &ResolveConfig,
    progress: &(dyn Fn() + Sync),
) -> Result<Vec<Resolution>, DomainError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| DomainError::Resolver(e.to_string()))?;
    runtime.block_on(async {
        let resolver = Arc::new(build_resolver(cfg)?);
        let limit = Arc::new(Semaphore::new(cfg.concurrency.max(1)));
        let mut tasks = Vec::with_capacity(names.len());
        for name in names {
            let permit = Arc::clone(&limit)
                .acquire_owned()
                .await
                .map_err(|e| DomainError::Resolver(e.to_string()))?;
            let resolver = Arc::clone(&resolver);
            let name = name.clone();
            let timeout = cfg.timeout;
            tasks.push(tokio::spawn(async move {
                let r = resolve_one(resolver, name, timeout).await;
                drop(permit);
                r
            }));
        }
        let mut out = Vec::with_capacity(tasks.len());
        for (task, name) in tasks.into_iter().zip(names) {
            let r = task.await.unwrap_or_else(|_| Resolution {
                domain: name.clone(),
                ..Resolution::default()
            });
            progress();
            out.push(r);
        }
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nameserver_syntax() {
        assert_eq!(
            parse_nameserver("127.0.0.1"),
            Some("127.0.0.1:53".parse().unwrap())
        );
        assert_eq!(
            parse_nameserver("127.0.0.1:5353"),
            Some("127.0.0.1:5353".parse().unwrap())
        );
        assert_eq!(
            parse_nameserver("[::1]:53"),
            Some("[::1]:53".parse().unwrap())
        );
        assert_eq!(parse_nameserver("nope"), None);
    }
}
