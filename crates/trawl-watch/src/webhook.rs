//! The webhook: new alerts POSTed as generic JSON, batched, with bounded retries and back-off.
//!
//! Delivery goes through the state store's outbox ([`crate::store::Store::queue`]): a run
//! queues its new alerts, [`deliver_pending`] posts everything queued (oldest first, at most
//! `batch` alerts a POST) and removes a batch only once the receiver answered 2xx. A failed
//! delivery leaves the rest queued, so the next run sends it again even though the alerts are
//! no longer new. HTTP is `ureq` (blocking, rustls with the ring provider); it honours
//! `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY`.

use std::time::Duration;

use serde_json::{Value, json};

use crate::store::Store;

/// Most alerts in one POST.
pub const DEFAULT_BATCH: usize = 100;
/// Tries per POST (the first one included).
pub const DEFAULT_ATTEMPTS: u32 = 5;
/// Wait before the second try; doubled before each further one (0.5 + 1 + 2 + 4 s).
pub const FIRST_DELAY: Duration = Duration::from_millis(500);
/// Whole-request timeout (connect, send, answer) of one try.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a delivery failed.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// Not an `http://` or `https://` URL.
    #[error("webhook URL {0:?}: want http://... or https://...")]
    BadUrl(String),
    /// Connection errors, timeouts or 5xx/429 answers on every try.
    #[error("webhook {url}: {reason} (gave up after {attempts} attempts)")]
    GaveUp {
        /// The URL.
        url: String,
        /// The last failure.
        reason: String,
        /// Tries made.
        attempts: u32,
    },
    /// An answer that retrying will not change (4xx other than 408/429, redirects).
    #[error("webhook {url}: HTTP {status} {reason} (not retried)")]
    Rejected {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
        /// The status text.
        reason: String,
    },
    /// The outbox could not be read or updated.
    #[error("webhook outbox: {0}")]
    Store(String),
}

/// A configured webhook.
pub struct Webhook {
    url: String,
    agent: ureq::Agent,
    attempts: u32,
    first_delay: Duration,
    batch: usize,
}

/// The outcome of one try.
enum Try {
    Delivered,
    Retry(String),
    Reject(u16, String),
}

impl Webhook {
    /// A webhook posting to `url` with `attempts` tries per POST and `batch` alerts per POST.
    pub fn new(url: &str, attempts: u32, batch: usize) -> Result<Webhook, WebhookError> {
        let lower = url.to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
            return Err(WebhookError::BadUrl(url.to_string()));
        }
        let mut config = ureq::Agent::config_builder();
        if is_loopback(&lower) {
            config = config.proxy(None); // never send loopback traffic through a proxy
        }
        let config = config
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(REQUEST_TIMEOUT))
            .user_agent(concat!("trawl-watch/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Webhook {
            url: url.to_string(),
            agent: ureq::Agent::new_with_config(config),
            attempts: attempts.max(1),
            first_delay: FIRST_DELAY,
            batch: batch.max(1),
        })
    }

    /// Changes the first back-off delay (tests use a short one).
    pub fn with_first_delay(mut self, delay: Duration) -> Webhook {
        self.first_delay = delay;
        self
    }

    /// POSTs one batch, retrying connection errors, timeouts, 408, 429 and 5xx.
    pub fn post(&self, alerts: &[Value]) -> Result<(), WebhookError> {
        let body = payload(alerts).to_string();
        let mut delay = self.first_delay;
        let mut last = String::new();
        for attempt in 1..=self.attempts {
            if attempt > 1 {
                std::thread::sleep(delay);
                delay = delay.saturating_mul(2);
            }
            match self.try_once(&body) {
                Try::Delivered => return Ok(()),
                Try::Reject(status, reason) => {
                    return Err(WebhookError::Rejected {
                        url: self.url.clone(),
                        status,
                        reason,
                    });
                }
                Try::Retry(reason) => last = reason,
            }
        }
        Err(WebhookError::GaveUp {
            url: self.url.clone(),
            reason: last,
            attempts: self.attempts,
        })
    }

    fn try_once(&self, body: &str) -> Try {
        let answer = self
            .agent
            .post(&self.url)
            .header("content-type", "application/json")
            .send(body);
        match answer {
            Err(e) => Try::Retry(e.to_string()),
            Ok(response) => {
                let status = response.status();
                let reason = status.canonical_reason().unwrap_or_default().to_string();
                if status.is_success() {
                    Try::Delivered
                } else if status.is_server_error() || matches!(status.as_u16(), 408 | 429) {
                    Try::Retry(format!("HTTP {} {reason}", status.as_u16()))
                } else {
                    Try::Reject(status.as_u16(), reason)
                }
            }
        }
    }
}

/// True for `http(s)://127.x`, `[::1]` and `localhost` URLs.
fn is_loopback(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.split(':').next().unwrap_or_default(),
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The JSON body of one POST: `{"source": "trawl watch", "version", "count", "alerts": [...]}`,
/// each alert as in `--format jsonl`.
pub fn payload(alerts: &[Value]) -> Value {
    json!({
        "source": "trawl watch",
        "version": env!("CARGO_PKG_VERSION"),
        "count": alerts.len(),
        "alerts": alerts,
    })
}

/// Posts everything in the outbox, a batch at a time; returns how many alerts were delivered.
/// On failure, what was not delivered stays queued for the next run.
pub fn deliver_pending(store: &mut Store, hook: &Webhook) -> Result<usize, WebhookError> {
    let mut delivered = 0;
    loop {
        let batch = store
            .pending(hook.batch)
            .map_err(|e| WebhookError::Store(e.to_string()))?;
        if batch.is_empty() {
            return Ok(delivered);
        }
        let ids: Vec<i64> = batch.iter().map(|(id, _)| *id).collect();
        let alerts: Vec<Value> = batch
            .iter()
            .map(|(_, body)| serde_json::from_str(body).unwrap_or(Value::String(body.clone())))
            .collect();
        hook.post(&alerts)?;
        store
            .delivered(&ids)
            .map_err(|e| WebhookError::Store(e.to_string()))?;
        delivered += ids.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};

    /// A loopback HTTP/1.1 server answering the given statuses in turn (then 200), recording
    /// every request body.
    fn server(statuses: Vec<u16>) -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&bodies);
        std::thread::spawn(move || {
            let mut statuses = statuses.into_iter();
            for stream in listener.incoming().take(20) {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    let lower = line.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0u8; length];
                reader.read_exact(&mut body).unwrap();
                seen.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&body).into_owned());
                let status = statuses.next().unwrap_or(200);
                let answer = format!(
                    "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
                stream.write_all(answer.as_bytes()).unwrap();
            }
        });
        (url, bodies)
    }

    #[test]
    fn retries_5xx_then_delivers() {
        let (url, bodies) = server(vec![500, 503]);
        let hook = Webhook::new(&url, 5, 10)
            .unwrap()
            .with_first_delay(Duration::from_millis(10));
        hook.post(&[json!({"subject": "a"})]).unwrap();
        let bodies = bodies.lock().unwrap();
        assert_eq!(bodies.len(), 3);
        let v: Value = serde_json::from_str(&bodies[2]).unwrap();
        assert_eq!(v["count"], 1);
        assert_eq!(v["alerts"][0]["subject"], "a");
    }

    #[test]
    fn gives_up_after_the_attempts_and_does_not_retry_4xx() {
        let (url, bodies) = server(vec![500, 500, 500]);
        let hook = Webhook::new(&url, 3, 10)
            .unwrap()
            .with_first_delay(Duration::from_millis(10));
        let err = hook.post(&[json!({})]).unwrap_err().to_string();
        assert!(
            err.contains("HTTP 500") && err.contains("after 3 attempts"),
            "{err}"
        );
        assert_eq!(bodies.lock().unwrap().len(), 3);
        let (url, bodies) = server(vec![404]);
        let hook = Webhook::new(&url, 3, 10).unwrap();
        let err = hook.post(&[json!({})]).unwrap_err().to_string();
        assert!(
            err.contains("HTTP 404") && err.contains("not retried"),
            "{err}"
        );
        assert_eq!(bodies.lock().unwrap().len(), 1);
    }

    fn alert(subject: &str) -> crate::alert::Alert {
        use crate::alert::{Alert, Category, Evidence, Severity};
        Alert {
            entity: "Acme".into(),
            category: Category::ExposedService,
            severity: Severity::High,
            subject: subject.into(),
            detail: String::new(),
            evidence: Evidence {
                source: "s".into(),
                line: 1,
                snippet: String::new(),
            },
            count: 1,
            first_seen: 0,
            last_seen: 0,
            new: true,
        }
    }

    #[test]
    fn outbox_is_sent_in_batches_and_kept_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let (a, b, c) = (alert("a"), alert("b"), alert("c"));
        store.queue(&[&a, &b, &c, &a], 1).unwrap();
        assert_eq!(store.pending_count().unwrap(), 3);
        let (url, bodies) = server(vec![200, 500]);
        let hook = Webhook::new(&url, 1, 2).unwrap();
        let err = deliver_pending(&mut store, &hook).unwrap_err();
        assert!(err.to_string().contains("HTTP 500"), "{err}");
        assert_eq!(store.pending_count().unwrap(), 1);
        assert_eq!(deliver_pending(&mut store, &hook).unwrap(), 1);
        assert_eq!(store.pending_count().unwrap(), 0);
        let bodies = bodies.lock().unwrap();
        let subjects: Vec<Vec<String>> = bodies
            .iter()
            .map(|b| {
                let v: Value = serde_json::from_str(b).unwrap();
                v["alerts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a["subject"].as_str().unwrap().to_string())
                    .collect()
            })
            .collect();
        assert_eq!(subjects, [vec!["a", "b"], vec!["c"], vec!["c"]]);
    }

    #[test]
    fn connection_refused_is_retried_then_reported() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let hook = Webhook::new(&format!("http://127.0.0.1:{port}/"), 2, 10)
            .unwrap()
            .with_first_delay(Duration::from_millis(10));
        let err = hook.post(&[]).unwrap_err().to_string();
        assert!(err.contains("after 2 attempts"), "{err}");
        assert!(Webhook::new("ftp://x", 1, 1).is_err());
        assert!(is_loopback("http://[::1]:8080/x") && is_loopback("https://localhost/"));
        assert!(!is_loopback("https://hooks.example.com/127.0.0.1"));
    }
}
