//! The one small trait every protocol implements.

pub use futures::future::BoxFuture;

use std::path::Path;

use crate::config::ProtocolSettings;
use crate::conn::{Conn, ConnError};
use crate::session::SessionCtx;

/// What a protocol may need once, before its listener starts (see [`Protocol::prepare`]).
#[derive(Debug, Clone, Copy)]
pub struct PrepareEnv<'a> {
    /// The data directory (host keys and other generated material live here).
    pub data_dir: &'a Path,
    /// The protocol's effective settings.
    pub settings: &'a ProtocolSettings,
    /// The protocol's own keys, from `[protocols.<name>.options]` (empty when absent).
    pub options: &'a toml::Table,
}

impl PrepareEnv<'_> {
    /// The protocol's options as `T` (`#[serde(deny_unknown_fields, default)]` on `T`
    /// rejects unknown keys and fills in defaults).
    pub fn parse_options<T: serde::de::DeserializeOwned>(&self) -> Result<T, String> {
        self.options
            .clone()
            .try_into()
            .map_err(|err: toml::de::Error| format!("options: {err}"))
    }

    /// `Err` naming the first key, for a protocol that has no options.
    pub fn refuse_options(&self) -> Result<(), String> {
        match self.options.keys().next() {
            Some(key) => Err(format!("unknown option {key:?} (this protocol has none)")),
            None => Ok(()),
        }
    }
}

/// A protocol the sensor speaks. Implementations are registered in
/// [`crate::protocols::all`].
pub trait Protocol: Send + Sync + 'static {
    /// Name used in config, logs and outputs (`ftp`, `pop3s`, ...).
    fn name(&self) -> &'static str;
    /// Default port: the standard port + 10000.
    fn default_port(&self) -> u16;
    /// The standard (privileged) port, used by the standard-ports mode.
    fn standard_port(&self) -> u16 {
        self.default_port().saturating_sub(10_000)
    }
    /// True when TLS starts right after accept (pop3s, imaps, smtps, https).
    fn implicit_tls(&self) -> bool {
        false
    }
    /// Realistic greeting / server string (overridable per protocol in the config).
    fn default_banner(&self) -> &'static str;
    /// Default maximum login attempts per session before the sensor hangs up.
    fn default_max_attempts(&self) -> u32 {
        10
    }
    /// Commented TOML lines documenting the protocol's own options with their defaults,
    /// printed under `[protocols.<name>.options]` by `--print-default-config` (empty when
    /// the protocol has none).
    fn default_options(&self) -> &'static str {
        ""
    }
    /// Called once before the listener starts: parse `env.options` (reject unknown keys),
    /// load or generate keys in the data dir, build shared state. An `Err` names what is
    /// wrong and stops the sensor (it is a configuration or data-dir problem).
    fn prepare(&self, env: &PrepareEnv<'_>) -> Result<(), String> {
        env.refuse_options()
    }
    /// Talks to one client until it leaves, the attempts run out, or an error.
    /// Return `Ok(())` when the conversation ended normally (QUIT, EOF, max attempts:
    /// call [`SessionCtx::set_end_reason`] for anything but a client close).
    fn serve<'a>(
        &'a self,
        conn: &'a mut Conn,
        ctx: &'a mut SessionCtx,
    ) -> BoxFuture<'a, Result<(), ConnError>>;
}
