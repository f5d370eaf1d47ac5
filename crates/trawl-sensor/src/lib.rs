//! trawl's honeypot sensor: listens on many protocols, speaks each well enough that real
//! clients complete their login, and turns every attempt into events for the sinks.
//!
//! Layout: [`protocol::Protocol`] is the one trait a protocol implements, registered in
//! [`protocols::all`]; [`conn::Conn`] is the bounded, timed connection it talks through;
//! [`session::SessionCtx`] records attempts; [`server`] runs listeners, caps and shutdown;
//! [`config`] is the TOML configuration; [`tls`] loads or generates the certificate.

pub mod config;
pub mod conn;
pub mod keyfile;
pub mod ntlm;
pub mod protocol;
pub mod protocols;
pub mod server;
pub mod session;
pub mod tls;

pub use config::{ConfigError, ProtocolSettings, SensorConfig};
pub use conn::{Conn, ConnError, ConnLimits, TlsInfo};
pub use protocol::{BoxFuture, PrepareEnv, Protocol};
pub use server::{RunSummary, SensorError, run};
pub use session::SessionCtx;
pub use trawl_event::{Credential, EndReason, Mechanism};
