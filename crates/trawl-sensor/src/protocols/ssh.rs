//! SSH (RFC 4251-4254) through russh, answering like Debian 12's OpenSSH 9.2p1: every
//! `password`, `keyboard-interactive` and `publickey` attempt is recorded and rejected,
//! several per connection as OpenSSH allows, and no session, shell, exec or forwarding is
//! ever granted (no handler path returns `Auth::Accept`; `auth_succeeded` aborts the
//! connection should russh ever reach it).
//!
//! Around russh: the socket is wrapped in [`hello::CaptureStream`], which keeps the
//! client's version line and KEXINIT (for the HASSH fingerprint) and ends the spawned
//! russh task when the sensor session ends. The russh handler forwards each attempt over
//! a channel to [`serve`], which records it in the session and enforces `max_attempts`.
//! Host keys come from [`hostkeys`].

mod hello;
mod hostkeys;

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use russh::keys::{Algorithm, HashAlg, PublicKey};
use russh::server::{Auth, Config, Handler, PublicKeyOffer, Response, Session};
use russh::{Disconnect, MethodKind, MethodSet, Preferred, SshId, cipher, compression, kex, mac};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use trawl_event::{Credential, EndReason, Mechanism};

use crate::conn::{Conn, ConnError};
use crate::protocol::{BoxFuture, PrepareEnv, Protocol};
use crate::session::SessionCtx;

pub use hello::{KexInit, parse_kexinit};

/// SSH on 10022.
#[derive(Default)]
pub struct Ssh {
    config: OnceLock<Arc<Config>>,
}

/// `[protocols.ssh.options]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct SshOptions {
    /// Delay before every rejection, counted from the request (russh's constant-time
    /// rejection). OpenSSH without PAM waits 5-9 ms per failure; Debian's pam_unix ~2 s.
    auth_rejection_time_ms: u64,
}

impl Default for SshOptions {
    fn default() -> Self {
        SshOptions {
            auth_rejection_time_ms: 10,
        }
    }
}

impl Protocol for Ssh {
    fn name(&self) -> &'static str {
        "ssh"
    }
    fn default_port(&self) -> u16 {
        10022
    }
    fn default_banner(&self) -> &'static str {
        "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"
    }
    /// OpenSSH's `MaxAuthTries` default.
    fn default_max_attempts(&self) -> u32 {
        6
    }
    fn default_options(&self) -> &'static str {
        "# auth_rejection_time_ms = 10   # delay before each failure reply (OpenSSH: 5-9 ms; with Debian's PAM ~2000)\n"
    }
    fn prepare(&self, env: &PrepareEnv<'_>) -> Result<(), String> {
        let options: SshOptions = env.parse_options()?;
        if !env.settings.banner.starts_with("SSH-2.0-") {
            return Err(format!(
                "banner {:?} must start with \"SSH-2.0-\"",
                env.settings.banner
            ));
        }
        let keys = hostkeys::load_or_generate(&env.data_dir.join("ssh"))?;
        let config = server_config(env, &options, keys);
        let _ = self.config.set(Arc::new(config));
        Ok(())
    }
    fn serve<'a>(
        &'a self,
        conn: &'a mut Conn,
        ctx: &'a mut SessionCtx,
    ) -> BoxFuture<'a, Result<(), ConnError>> {
        Box::pin(async move {
            let config = self
                .config
                .get()
                .cloned()
                .ok_or_else(|| ConnError::Protocol("ssh: prepare() was not run".into()))?;
            serve(config, conn, ctx).await
        })
    }
}

/// Algorithms in OpenSSH 9.2's order, then the legacy ones bots still use.
const KEX: &[kex::Name] = &[
    kex::CURVE25519,
    kex::CURVE25519_PRE_RFC_8731,
    kex::ECDH_SHA2_NISTP256,
    kex::ECDH_SHA2_NISTP384,
    kex::ECDH_SHA2_NISTP521,
    kex::DH_GEX_SHA256,
    kex::DH_G16_SHA512,
    kex::DH_G18_SHA512,
    kex::DH_G14_SHA256,
    kex::DH_G14_SHA1,
    kex::DH_GEX_SHA1,
    kex::DH_G1_SHA1,
    kex::EXTENSION_SUPPORT_AS_CLIENT,
    kex::EXTENSION_SUPPORT_AS_SERVER,
    kex::EXTENSION_OPENSSH_STRICT_KEX_AS_CLIENT,
    kex::EXTENSION_OPENSSH_STRICT_KEX_AS_SERVER,
];
const HOST_KEYS: &[Algorithm] = &[
    Algorithm::Rsa {
        hash: Some(HashAlg::Sha512),
    },
    Algorithm::Rsa {
        hash: Some(HashAlg::Sha256),
    },
    Algorithm::Ed25519,
    Algorithm::Rsa { hash: None },
];
const CIPHERS: &[cipher::Name] = &[
    cipher::CHACHA20_POLY1305,
    cipher::AES_128_CTR,
    cipher::AES_192_CTR,
    cipher::AES_256_CTR,
    cipher::AES_128_GCM,
    cipher::AES_256_GCM,
    cipher::AES_128_CBC,
    cipher::AES_192_CBC,
    cipher::AES_256_CBC,
];
const MACS: &[mac::Name] = &[
    mac::HMAC_SHA256_ETM,
    mac::HMAC_SHA512_ETM,
    mac::HMAC_SHA1_ETM,
    mac::HMAC_SHA256,
    mac::HMAC_SHA512,
    mac::HMAC_SHA1,
];
const COMPRESSION: &[compression::Name] = &[compression::NONE, compression::ZLIB_LEGACY];

/// The methods offered after every failure (OpenSSH keeps offering them too).
fn offered_methods() -> MethodSet {
    MethodSet::from(
        &[
            MethodKind::PublicKey,
            MethodKind::Password,
            MethodKind::KeyboardInteractive,
        ][..],
    )
}

fn server_config(
    env: &PrepareEnv<'_>,
    options: &SshOptions,
    keys: Vec<russh::keys::PrivateKey>,
) -> Config {
    let settings = env.settings;
    Config {
        server_id: SshId::Standard(Cow::Owned(settings.banner.clone())),
        methods: offered_methods(),
        auth_rejection_time: Duration::from_millis(options.auth_rejection_time_ms),
        auth_rejection_time_initial: Some(Duration::ZERO),
        keys,
        preferred: Preferred {
            kex: Cow::Borrowed(KEX),
            key: Cow::Borrowed(HOST_KEYS),
            host_key_certificates: Cow::Borrowed(&[]),
            cipher: Cow::Borrowed(CIPHERS),
            mac: Cow::Borrowed(MACS),
            compression: Cow::Borrowed(COMPRESSION),
        },
        // Backstop only: `serve` disconnects at `max_attempts` recorded attempts (the
        // extra one is OpenSSH's initial `none` probe, which russh counts).
        max_auth_attempts: usize::try_from(settings.max_attempts)
            .unwrap_or(usize::MAX)
            .saturating_add(1),
        inactivity_timeout: Some(settings.idle_timeout),
        nodelay: true,
        ..Config::default()
    }
}

/// What the russh handler hands to [`serve`].
enum Captured {
    Attempt(Credential),
    OfferedKey(Value),
}

/// Why the russh side of a connection ended with an error.
#[derive(Debug, thiserror::Error)]
enum HandlerError {
    #[error(transparent)]
    Russh(#[from] russh::Error),
    #[error("the sensor session is gone")]
    SessionGone,
    #[error("authentication would have succeeded: refused, no session is ever granted")]
    NeverGrant,
}

/// The russh handler: logs every attempt and rejects it.
struct Recorder {
    events: mpsc::Sender<Captured>,
    max_attempts: u32,
    recorded: u32,
}

impl Recorder {
    async fn record(&mut self, captured: Captured) -> Result<(), HandlerError> {
        self.events
            .send(captured)
            .await
            .map_err(|_| HandlerError::SessionGone)
    }

    async fn attempt(&mut self, credential: Credential) -> Result<Auth, HandlerError> {
        if self.recorded < self.max_attempts {
            self.recorded += 1;
            self.record(Captured::Attempt(credential)).await?;
        }
        Ok(self.reject())
    }

    /// A failure that keeps every method on offer until the attempts run out.
    fn reject(&self) -> Auth {
        let methods = if self.recorded < self.max_attempts {
            offered_methods()
        } else {
            MethodSet::empty()
        };
        Auth::Reject {
            proceed_with_methods: Some(methods),
            partial_success: false,
        }
    }
}

/// `SHA256:...` as `ssh-keygen -lf` prints it.
fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

impl Handler for Recorder {
    type Error = HandlerError;

    async fn auth_none(&mut self, _user: &str) -> Result<Auth, Self::Error> {
        Ok(self.reject())
    }

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        self.attempt(Credential::new(user, password, Mechanism::UserPass))
            .await
    }

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        offer: PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        let print = fingerprint(offer.public_key);
        let algorithm = offer.algorithm.to_string();
        if self.recorded < self.max_attempts {
            self.record(Captured::OfferedKey(json!({
                "user": user,
                "algorithm": algorithm,
                "fingerprint": print,
                "key": offer.public_key.to_openssh().unwrap_or_default(),
            })))
            .await?;
        }
        let mut credential = Credential::new(user, Vec::new(), Mechanism::PublicKey);
        credential.password_hash = Some(format!("{algorithm} {print}"));
        self.attempt(credential).await
    }

    async fn auth_keyboard_interactive<'a>(
        &'a mut self,
        user: &str,
        _submethods: &str,
        response: Option<Response<'a>>,
    ) -> Result<Auth, Self::Error> {
        let Some(response) = response else {
            return Ok(Auth::Partial {
                name: Cow::Borrowed(""),
                instructions: Cow::Borrowed(""),
                prompts: Cow::Owned(vec![(Cow::Borrowed("Password: "), false)]),
            });
        };
        let answers: Vec<Vec<u8>> = response.map(|answer| answer.to_vec()).collect();
        if answers.is_empty() {
            return Ok(self.reject());
        }
        let password = answers.join(&b"\n"[..]);
        self.attempt(Credential::new(
            user,
            password,
            Mechanism::KeyboardInteractive,
        ))
        .await
    }

    async fn auth_succeeded(&mut self, _session: &mut Session) -> Result<(), Self::Error> {
        Err(HandlerError::NeverGrant)
    }
}

async fn serve(
    config: Arc<Config>,
    conn: &mut Conn,
    ctx: &mut SessionCtx,
) -> Result<(), ConnError> {
    let (tcp, buffered) = conn
        .take_tcp()
        .ok_or_else(|| ConnError::Protocol("ssh needs a plain TCP connection".into()))?;
    let hello = Arc::new(hello::ClientHello::default());
    let cancel = CancellationToken::new();
    let _end_russh_task = cancel.clone().drop_guard();
    let stream =
        hello::CaptureStream::new(tcp, buffered, Arc::clone(&hello), cancel.cancelled_owned());
    let (sender, mut captured) = mpsc::channel(8);
    let recorder = Recorder {
        events: sender,
        max_attempts: ctx.settings().max_attempts,
        recorded: 0,
    };
    let outcome = match russh::server::run_stream(config, stream, recorder).await {
        Ok(running) => {
            let handle = running.handle();
            tokio::pin!(running);
            let outcome = loop {
                tokio::select! {
                    Some(item) = captured.recv() => {
                        if keep(ctx, item).await {
                            ctx.set_end_reason(EndReason::MaxAttempts);
                            let goodbye = handle.disconnect(
                                Disconnect::NoMoreAuthMethodsAvailable,
                                "Too many authentication failures".into(),
                                String::new(),
                            );
                            let _ = tokio::time::timeout(Duration::from_secs(1), goodbye).await;
                        }
                    }
                    outcome = &mut running => break outcome,
                }
            };
            while let Ok(item) = captured.try_recv() {
                keep(ctx, item).await;
            }
            outcome
        }
        Err(error) => Err(error),
    };
    record_hello(ctx, &hello);
    conn_result(ctx, outcome)
}

/// Records one captured item; true when that used up the attempts.
async fn keep(ctx: &mut SessionCtx, item: Captured) -> bool {
    match item {
        Captured::OfferedKey(key) => {
            ctx.push_aux("publickeys", key);
            false
        }
        Captured::Attempt(credential) => {
            ctx.record_auth(credential).await;
            ctx.attempts_exhausted()
        }
    }
}

fn record_hello(ctx: &mut SessionCtx, hello: &hello::ClientHello) {
    if let Some(version) = hello.version() {
        ctx.set_aux("client_version", Value::from(version));
    }
    if let Some(kexinit) = hello.kexinit() {
        ctx.set_aux("hassh", Value::from(kexinit.hassh()));
        ctx.set_aux("hassh_algorithms", Value::from(kexinit.hassh_algorithms()));
        ctx.set_aux(
            "client_host_key_algorithms",
            Value::from(kexinit.host_keys.clone()),
        );
    }
}

/// Maps how the russh side ended to the sensor's view of it.
fn conn_result(ctx: &mut SessionCtx, outcome: Result<(), HandlerError>) -> Result<(), ConnError> {
    let error = match outcome {
        Ok(()) => return Ok(()),
        Err(HandlerError::Russh(error)) => error,
        Err(other) => return Err(ConnError::Protocol(other.to_string())),
    };
    match error {
        russh::Error::InactivityTimeout => Err(ConnError::Idle),
        russh::Error::Disconnect | russh::Error::HUP => Ok(()),
        _ if ctx.end_reason() == Some(EndReason::MaxAttempts) => Ok(()),
        russh::Error::IO(io) => Err(ConnError::Io(io)),
        other => {
            ctx.set_aux("ssh_error", Value::from(other.to_string()));
            Err(ConnError::Protocol(other.to_string()))
        }
    }
}
