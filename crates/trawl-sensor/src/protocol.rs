//! The one small trait every protocol implements.

pub use futures::future::BoxFuture;

use crate::conn::{Conn, ConnError};
use crate::session::SessionCtx;

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
    /// Talks to one client until it leaves, the attempts run out, or an error.
    /// Return `Ok(())` when the conversation ended normally (QUIT, EOF, max attempts:
    /// call [`SessionCtx::set_end_reason`] for anything but a client close).
    fn serve<'a>(
        &'a self,
        conn: &'a mut Conn,
        ctx: &'a mut SessionCtx,
    ) -> BoxFuture<'a, Result<(), ConnError>>;
}
