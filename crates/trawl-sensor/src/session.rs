//! Per-connection state handed to a protocol: ids, addresses, settings, attempts,
//! auxiliary data, and the event sender.

use std::sync::Arc;

use chrono::Utc;
use serde_json::{Map, Value};
use trawl_event::{AuthAttempt, Credential, EndReason, Endpoints, Event, Session};
use trawl_sinks::EventSender;
use uuid::Uuid;

use crate::config::ProtocolSettings;

/// Most entries kept in one auxiliary-data list (e.g. HTTP requests) per session.
pub const MAX_AUX_LIST: usize = 32;

/// State of one session (see the module docs).
pub struct SessionCtx {
    session_id: Uuid,
    protocol: &'static str,
    endpoints: Endpoints,
    settings: Arc<ProtocolSettings>,
    start: chrono::DateTime<Utc>,
    attempts: Vec<AuthAttempt>,
    aux: Map<String, Value>,
    events: EventSender,
    sent: usize,
    end_reason: Option<EndReason>,
}

impl SessionCtx {
    /// A new session that starts now.
    pub fn new(
        protocol: &'static str,
        endpoints: Endpoints,
        settings: Arc<ProtocolSettings>,
        events: EventSender,
    ) -> Self {
        SessionCtx {
            session_id: trawl_event::new_id(),
            protocol,
            endpoints,
            settings,
            start: Utc::now(),
            attempts: Vec::new(),
            aux: Map::new(),
            events,
            sent: 0,
            end_reason: None,
        }
    }

    /// Records one login attempt: it becomes an `AuthAttempt` event, written by every sink.
    pub async fn record_auth(&mut self, credential: Credential) {
        let attempt = AuthAttempt {
            timestamp: Utc::now(),
            auth_id: trawl_event::new_id(),
            session_id: self.session_id,
            endpoints: self.endpoints,
            protocol: self.protocol.to_owned(),
            credential,
        };
        self.attempts.push(attempt);
        self.send_pending().await;
    }

    /// Hands attempts not yet sent to the sinks. [`EventSender::send`] is cancel-safe,
    /// so when the session is cut short while waiting, the runtime calls this again and
    /// nothing is lost or written twice.
    pub async fn send_pending(&mut self) {
        while let Some(attempt) = self.attempts.get(self.sent) {
            self.events.send(Event::AuthAttempt(attempt.clone())).await;
            self.sent += 1;
        }
    }

    /// Sets an `auxiliary_data` entry on the session.
    pub fn set_aux(&mut self, key: &str, value: Value) {
        self.aux.insert(key.to_owned(), value);
    }

    /// Appends to an `auxiliary_data` list; keeps at most [`MAX_AUX_LIST`] entries and
    /// counts the rest in `<key>_dropped`.
    pub fn push_aux(&mut self, key: &str, value: Value) {
        let entry = self
            .aux
            .entry(key.to_owned())
            .or_insert_with(|| Value::Array(Vec::new()));
        match entry {
            Value::Array(list) if list.len() < MAX_AUX_LIST => list.push(value),
            _ => {
                let counter = format!("{key}_dropped");
                let dropped = self.aux.get(&counter).and_then(Value::as_u64).unwrap_or(0);
                self.aux.insert(counter, Value::from(dropped + 1));
            }
        }
    }

    /// The protocol's settings (banner, limits, hostname).
    pub fn settings(&self) -> &ProtocolSettings {
        &self.settings
    }

    /// Login attempts recorded so far.
    pub fn attempts(&self) -> u32 {
        u32::try_from(self.attempts.len()).unwrap_or(u32::MAX)
    }

    /// True once the per-session attempt limit is reached.
    pub fn attempts_exhausted(&self) -> bool {
        self.attempts() >= self.settings.max_attempts
    }

    /// Server name used in greetings.
    pub fn hostname(&self) -> &str {
        &self.settings.hostname
    }

    /// The session id.
    pub fn session_id(&self) -> Uuid {
        self.session_id
    }

    /// The client and sensor addresses.
    pub fn endpoints(&self) -> Endpoints {
        self.endpoints
    }

    /// Marks why the session ends (e.g. [`EndReason::MaxAttempts`]); the runtime
    /// otherwise derives it from how `serve` returned.
    pub fn set_end_reason(&mut self, reason: EndReason) {
        self.end_reason = Some(reason);
    }

    /// The reason set by the protocol, if any.
    pub fn end_reason(&self) -> Option<EndReason> {
        self.end_reason
    }

    /// Finishes the session (the runtime emits it).
    pub fn into_session(self, fallback_reason: EndReason) -> (Session, EventSender) {
        let session = Session {
            session_id: self.session_id,
            protocol: self.protocol.to_owned(),
            endpoints: self.endpoints,
            start: self.start,
            end: Utc::now(),
            auth_attempts: self.attempts,
            auxiliary_data: self.aux,
            end_reason: self.end_reason.unwrap_or(fallback_reason),
        };
        (session, self.events)
    }
}
