//! The sensor runtime: binds one listener per enabled protocol, caps concurrent
//! connections, runs each session under its timeouts, and shuts down gracefully
//! (stop accepting, end sessions, flush every accepted event).

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use trawl_event::{EndReason, Endpoints, Event};
use trawl_sinks::{EventSender, SinkHub, SinkOptions, SinkSummary};

use crate::config::{ConfigError, ProtocolSettings, SensorConfig};
use crate::conn::{Conn, ConnError, ConnLimits};
use crate::protocol::{PrepareEnv, Protocol};
use crate::session::SessionCtx;
use crate::tls::TlsError;

/// Why the sensor could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum SensorError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// TLS setup failed.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// An output could not be opened.
    #[error(transparent)]
    Sink(#[from] trawl_sinks::SinkError),
    /// A listener failed to bind in strict mode.
    #[error("{0}")]
    Bind(String),
    /// No listener could be started.
    #[error("no protocol is listening (all disabled or failed to bind)")]
    NoListeners,
    /// Dropping privileges failed.
    #[error("dropping privileges: {0}")]
    Privileges(String),
    /// Starting a thread failed.
    #[error("starting sink threads: {0}")]
    Threads(std::io::Error),
    /// A protocol could not prepare (bad options, unreadable keys in the data dir).
    #[error("{protocol}: {message}")]
    Prepare {
        /// The protocol.
        protocol: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// What a run did, returned after a graceful shutdown.
#[derive(Debug, Clone, Default)]
pub struct RunSummary {
    /// Listeners that were running.
    pub listeners: Vec<(String, SocketAddr)>,
    /// Listeners that failed to bind (`name addr: error`).
    pub bind_failures: Vec<String>,
    /// Sessions served.
    pub sessions: u64,
    /// Connections accepted and closed at once because the cap was reached.
    pub over_cap: u64,
    /// What the sinks wrote.
    pub sinks: SinkSummary,
}

#[derive(Default)]
struct Counters {
    sessions: AtomicU64,
    over_cap: AtomicU64,
}

/// Everything a listener's tasks share.
struct Shared {
    events: EventSender,
    tls: Option<Arc<rustls::ServerConfig>>,
    connections: Arc<Semaphore>,
    counters: Counters,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    max_line: usize,
}

struct Listener {
    protocol: Arc<dyn Protocol>,
    settings: Arc<ProtocolSettings>,
    socket: TcpListener,
}

/// Runs the sensor until `shutdown` completes, then shuts down gracefully.
pub async fn run(
    config: SensorConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<RunSummary, SensorError> {
    let protocols = crate::protocols::all();
    config.validate(&protocols)?;
    raise_open_file_limit();
    let sinks = trawl_sinks::open_all(&SinkOptions {
        data_dir: config.data_dir.clone(),
        neutralise_formulas: config.sinks.neutralise_formulas,
    })?;
    let tls = crate::tls::server_config(&config.tls, &config.data_dir)?;
    let (hub, events) = SinkHub::start(
        sinks,
        config.sinks.channel_capacity,
        config.sinks.batch_size,
    )
    .map_err(SensorError::Threads)?;
    let mut summary = RunSummary::default();
    let listeners = bind_all(&config, protocols, &mut summary).await?;
    if let Some(user) = &config.run_as_user {
        drop_privileges(user, &config.data_dir)?;
    }
    let shared = Arc::new(Shared {
        events,
        tls: Some(tls),
        connections: Arc::new(Semaphore::new(
            config.max_connections.min(Semaphore::MAX_PERMITS),
        )),
        counters: Counters::default(),
        shutdown: CancellationToken::new(),
        tracker: TaskTracker::new(),
        max_line: config.max_line_bytes,
    });
    for listener in listeners {
        shared
            .tracker
            .spawn(accept_loop(listener, Arc::clone(&shared)));
    }
    shutdown.await;
    tracing::info!("shutting down: no new connections, ending sessions, flushing outputs");
    shared.shutdown.cancel();
    shared.tracker.close();
    shared.tracker.wait().await;
    summary.sessions = shared.counters.sessions.load(Ordering::Relaxed);
    summary.over_cap = shared.counters.over_cap.load(Ordering::Relaxed);
    drop(shared);
    summary.sinks = tokio::task::spawn_blocking(move || hub.finish())
        .await
        .unwrap_or_default();
    Ok(summary)
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(err) => {
            tracing::warn!("cannot watch SIGTERM ({err}); only SIGINT stops the sensor");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

async fn bind_all(
    config: &SensorConfig,
    protocols: Vec<Box<dyn Protocol>>,
    summary: &mut RunSummary,
) -> Result<Vec<Listener>, SensorError> {
    let mut listeners = Vec::new();
    for protocol in protocols {
        let settings = config.settings_for(protocol.as_ref());
        if !settings.enabled {
            continue;
        }
        let options = config.options_for(protocol.as_ref());
        let env = PrepareEnv {
            data_dir: &config.data_dir,
            settings: &settings,
            options: &options,
        };
        protocol
            .prepare(&env)
            .map_err(|message| SensorError::Prepare {
                protocol: protocol.name(),
                message,
            })?;
        let address = SocketAddr::new(config.bind, settings.port);
        match bind(address) {
            Ok(socket) => {
                let local = socket.local_addr().unwrap_or(address);
                tracing::info!("{} listening on {local}", protocol.name());
                summary.listeners.push((protocol.name().to_owned(), local));
                listeners.push(Listener {
                    protocol: Arc::from(protocol),
                    settings: Arc::new(settings),
                    socket,
                });
            }
            Err(err) => {
                let message = format!("{} cannot listen on {address}: {err}", protocol.name());
                if config.strict {
                    return Err(SensorError::Bind(message));
                }
                tracing::error!("{message}; the other protocols keep running");
                summary.bind_failures.push(message);
            }
        }
    }
    if listeners.is_empty() {
        return Err(SensorError::NoListeners);
    }
    Ok(listeners)
}

fn bind(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if address.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(4096)
}

async fn accept_loop(listener: Listener, shared: Arc<Shared>) {
    let mut accept_errors: u64 = 0;
    loop {
        let accepted = tokio::select! {
            _ = shared.shutdown.cancelled() => break,
            accepted = listener.socket.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => admit(stream, peer, &listener, &shared),
            Err(err) => {
                accept_errors += 1;
                if accept_errors.is_power_of_two() {
                    tracing::warn!(
                        "{}: accept failed ({err}); {accept_errors} so far",
                        listener.protocol.name()
                    );
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

fn admit(stream: TcpStream, peer: SocketAddr, listener: &Listener, shared: &Arc<Shared>) {
    let Ok(permit) = Arc::clone(&shared.connections).try_acquire_owned() else {
        let over = shared.counters.over_cap.fetch_add(1, Ordering::Relaxed) + 1;
        if over.is_power_of_two() {
            tracing::warn!("connection cap reached: {over} connections accepted and closed so far");
        }
        drop(stream);
        return;
    };
    shared.counters.sessions.fetch_add(1, Ordering::Relaxed);
    let protocol = Arc::clone(&listener.protocol);
    let settings = Arc::clone(&listener.settings);
    let local = stream
        .local_addr()
        .unwrap_or_else(|_| listener.socket.local_addr().unwrap_or(peer));
    shared.tracker.spawn(run_session(
        stream,
        Endpoints {
            source: peer,
            destination: local,
        },
        protocol,
        settings,
        Arc::clone(shared),
        permit,
    ));
}

async fn run_session(
    stream: TcpStream,
    endpoints: Endpoints,
    protocol: Arc<dyn Protocol>,
    settings: Arc<ProtocolSettings>,
    shared: Arc<Shared>,
    _permit: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let limits = ConnLimits {
        max_line: shared.max_line,
        idle_timeout: settings.idle_timeout,
    };
    let mut conn = Conn::new(stream, endpoints.source, limits, shared.tls.clone());
    let mut ctx = SessionCtx::new(
        protocol.name(),
        endpoints,
        Arc::clone(&settings),
        shared.events.clone(),
    );
    let conversation = async {
        if protocol.implicit_tls() {
            conn.start_tls().await?;
        }
        protocol.serve(&mut conn, &mut ctx).await
    };
    let reason = tokio::select! {
        _ = shared.shutdown.cancelled() => EndReason::Shutdown,
        outcome = tokio::time::timeout(settings.session_timeout, conversation) => match outcome {
            Err(_) => EndReason::SessionTimeout,
            Ok(Ok(())) => EndReason::ClientClosed,
            Ok(Err(err)) => end_reason_for(&err),
        },
    };
    ctx.send_pending().await;
    record_connection_facts(&conn, &mut ctx);
    conn.close().await;
    let (session, events) = ctx.into_session(reason);
    events.send(Event::Session(session)).await;
}

fn record_connection_facts(conn: &Conn, ctx: &mut SessionCtx) {
    if let Some(info) = conn.tls_info() {
        ctx.set_aux(
            "tls",
            serde_json::json!({
                "sni": info.sni,
                "alpn_offered": info.alpn_offered,
                "version": info.version,
                "cipher_suite": info.cipher_suite,
            }),
        );
    }
    if conn.truncated_lines() > 0 {
        ctx.set_aux("truncated_lines", Value::from(conn.truncated_lines()));
    }
    ctx.set_aux("bytes_received", Value::from(conn.bytes_read()));
}

fn end_reason_for(err: &ConnError) -> EndReason {
    match err {
        ConnError::Idle => EndReason::IdleTimeout,
        ConnError::Closed => EndReason::ClientClosed,
        ConnError::Io(io) if is_disconnect(io) => EndReason::ClientClosed,
        ConnError::Io(_) => EndReason::NetworkError,
        ConnError::Tls(_) | ConnError::Protocol(_) => EndReason::ProtocolError,
    }
}

fn is_disconnect(err: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        err.kind(),
        ErrorKind::ConnectionReset
            | ErrorKind::BrokenPipe
            | ErrorKind::UnexpectedEof
            | ErrorKind::ConnectionAborted
    )
}

/// Raises the soft open-file limit to the hard limit (each connection is one fd).
fn raise_open_file_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => tracing::info!("open-file limit raised from {soft} to {hard}"),
            Err(err) => tracing::warn!("cannot raise the open-file limit from {soft}: {err}"),
        },
        Ok(_) => {}
        Err(err) => tracing::warn!("cannot read the open-file limit: {err}"),
    }
}

/// Switches to `user` (when running as root) after handing the data dir to it.
fn drop_privileges(user: &str, data_dir: &Path) -> Result<(), SensorError> {
    use nix::unistd::{Uid, User, setgid, setgroups, setuid};
    if !Uid::effective().is_root() {
        tracing::info!("not running as root; run_as_user = {user:?} ignored");
        return Ok(());
    }
    let account = User::from_name(user)
        .map_err(|err| SensorError::Privileges(format!("looking up user {user:?}: {err}")))?
        .ok_or_else(|| SensorError::Privileges(format!("no user named {user:?}")))?;
    for path in walk(data_dir) {
        std::os::unix::fs::chown(
            &path,
            Some(account.uid.as_raw()),
            Some(account.gid.as_raw()),
        )
        .map_err(|err| SensorError::Privileges(format!("chown {}: {err}", path.display())))?;
    }
    setgroups(&[account.gid])
        .and_then(|()| setgid(account.gid))
        .and_then(|()| setuid(account.uid))
        .map_err(|err| SensorError::Privileges(err.to_string()))?;
    tracing::info!(
        "dropped privileges to {user} (uid {}, gid {})",
        account.uid,
        account.gid
    );
    Ok(())
}

/// The data dir and everything in it (two levels: files and `tls/`).
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut paths = vec![dir.to_owned()];
    let mut index = 0;
    while let Some(path) = paths.get(index).cloned() {
        index += 1;
        if index > 64 || !path.is_dir() {
            continue;
        }
        if let Ok(entries) = std::fs::read_dir(&path) {
            paths.extend(entries.flatten().map(|entry| entry.path()));
        }
    }
    paths
}
