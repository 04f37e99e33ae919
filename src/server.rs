//! Start-up: checks limits, reserves the port (and the optional plain port), starts one pinned
//! glommio executor per shard with its own SO_REUSEPORT listener on each, connects the bus, and
//! prints what it is doing.

use std::net::SocketAddr;
use std::os::fd::{FromRawFd, IntoRawFd};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use glommio::net::TcpListener;
use glommio::{ExecutorJoinHandle, LocalExecutorBuilder, Placement};
use rustls::ServerConfig;
use thiserror::Error;
use tracing::warn;

use crate::bus;
use crate::cluster::{self, ClusterError};
use crate::config::{Config, ConfigError, Settings};
use crate::limits;
use crate::protocol::codes::CloseCode;
use crate::protocol::flavour::Flavour;
use crate::protocol::outbound;
use crate::shard::keepalive::{self, KeepAlive};
use crate::shard::{ConnKind, Globals, Shard};
use crate::transport;
use crate::ws::frame;

/// Why the server could not start.
#[derive(Debug, Error)]
pub enum StartError {
    /// Configuration or limits.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Binding or starting an executor failed.
    #[error("{0}")]
    Io(String),
    /// Cluster mode could not start.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
}

/// A started server.
pub struct Server {
    /// Counters shared by the shards (and the drain switch).
    pub globals: Arc<Globals>,
    /// The address shards listen on (with the real port when 0 was asked).
    pub addr: SocketAddr,
    /// The second, plain (no TLS) address, when `CORECAST_PLAIN_PORT` asks for one.
    pub plain_addr: Option<SocketAddr>,
    /// Shard → core it is pinned to.
    pub cores: Vec<usize>,
    /// Limits in force.
    pub limits: limits::Limits,
    /// How this node reaches others: `local (single node)` or `redis <url> (node <key>)`.
    pub adapter: String,
    handles: Vec<ExecutorJoinHandle<()>>,
    webhooks: Option<crate::webhooks::SenderHandle>,
    leave: Option<cluster::Leave>,
}

impl Server {
    /// Asks every shard to close its connections with 4200 ("reconnect immediately") and to
    /// refuse new ones, then waits up to `grace` for the connections to go; in cluster mode it
    /// then leaves the live-node set (waiting at most 1 s for Redis).
    pub fn drain(&self, grace: Duration) {
        self.globals.draining.store(true, Ordering::Relaxed);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline && self.globals.connections.load(Ordering::Relaxed) > 0 {
            std::thread::sleep(Duration::from_millis(50));
        }
        if let Some(leave) = &self.leave {
            leave.leave(Duration::from_secs(1));
        }
    }

    /// Sends the pending webhooks for at most `limit` (after [`Server::drain`]); returns the
    /// events still undelivered then, which are dropped.
    pub fn flush_webhooks(&mut self, limit: Duration) -> usize {
        self.webhooks.take().map_or(0, |w| w.flush(limit))
    }

    /// Blocks until every shard has stopped.
    pub fn join(self) {
        for h in self.handles {
            let _ = h.join();
        }
    }
}

/// Starts every shard; returns once all of them listen. With `tls`, the main port accepts TLS
/// sessions only (the plain port, if any, never does).
pub fn start(config: Config, tls: Option<Arc<ServerConfig>>) -> Result<Server, StartError> {
    let cores = usable_cores();
    let shards = shard_count(&config.settings, cores.len());
    if shards > cores.len() {
        warn!(
            shards,
            cores = cores.len(),
            "more shards than usable cores: some cores run several shards"
        );
    }
    let io_memory = config.settings.io_memory_kb as usize * 1024;
    let limits = limits::check(
        shards as u64,
        config.settings.max_connections,
        io_memory as u64,
    )?;
    let (reservation, addr) = reserve_port(
        SocketAddr::new(config.settings.host, config.settings.port),
        "CORECAST_PORT",
    )?;
    let plain = match config.settings.plain_port {
        0 => None,
        port => Some(reserve_port(
            SocketAddr::new(config.settings.host, port),
            "CORECAST_PLAIN_PORT",
        )?),
    };
    let plain_addr = plain.as_ref().map(|(_, a)| *a);
    let cluster = cluster::start(&config, shards, &cores)?;
    let adapter = cluster.as_ref().map_or_else(
        || "local (single node)".to_string(),
        |c| c.description.clone(),
    );
    let (mut links, leave) = match cluster {
        Some(c) => (Some(c.ends.into_iter()), Some(c.leave)),
        None => (None, None),
    };
    let config = Arc::new(config);
    let (outbox, webhooks) = match crate::webhooks::start(&config) {
        Ok(Some((outbox, handle))) => (Some(outbox), Some(handle)),
        Ok(None) => (None, None),
        Err(e) => {
            return Err(StartError::Io(format!(
                "cannot start the webhook sender: {e}"
            )))
        }
    };
    let globals = Arc::new(Globals::new(config.apps.len()).with_webhooks(outbox));
    let timers = crate::shard::hooks::needs_timers(&config.apps);
    let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
    let mut handles = Vec::with_capacity(shards);
    let mut pinned = Vec::with_capacity(shards);
    for (id, ends) in bus::build(shards).into_iter().enumerate() {
        let core = cores[id % cores.len()];
        pinned.push(core);
        let (config, globals, ready, tls) = (
            Arc::clone(&config),
            Arc::clone(&globals),
            ready_tx.clone(),
            tls.clone(),
        );
        let link = links.as_mut().and_then(Iterator::next);
        let handle = LocalExecutorBuilder::new(Placement::Fixed(core))
            .name(&format!("corecast-shard-{id}"))
            .io_memory(io_memory)
            .ring_depth(RING_DEPTH)
            .spawn(move || async move {
                let (bus, inbox) = ends.connect().await;
                let mut shard = Shard::new(config, globals, Rc::new(bus));
                let link_inbox = link.map(|ends| {
                    let (link, inbox) = ends.connect();
                    shard.cluster = Some(link);
                    inbox
                });
                let shard = Rc::new(shard);
                let listeners = match (listen(addr), plain_addr.map(listen).transpose()) {
                    (Ok(l), Ok(p)) => (l, p),
                    (Err(e), _) | (_, Err(e)) => {
                        let _ = ready.send(Err(format!(
                            "shard {id}: cannot listen on {addr}{}: {e}",
                            plain_addr.map_or(String::new(), |p| format!(" and {p}"))
                        )));
                        return;
                    }
                };
                let _ = ready.send(Ok(()));
                let s = Rc::clone(&shard);
                glommio::spawn_local(inbox.run(move |m| s.handle_bus(m))).detach();
                if let Some(inbox) = link_inbox {
                    let s = Rc::clone(&shard);
                    let asked = Rc::clone(&shard);
                    let run = inbox.run(move |b| s.on_broadcast(b), move |q| asked.answer_node(q));
                    glommio::spawn_local(run).detach();
                }
                glommio::spawn_local(sweep(Rc::clone(&shard))).detach();
                if timers {
                    glommio::spawn_local(crate::shard::hooks::run_timers(Rc::clone(&shard)))
                        .detach();
                }
                let (listener, plain) = listeners;
                if let Some(plain) = plain {
                    glommio::spawn_local(transport::serve(Rc::clone(&shard), plain, None)).detach();
                }
                transport::serve(shard, listener, tls).await;
            })
            .map_err(|e| {
                StartError::Io(format!(
                    "shard {id}: cannot start executor on core {core}: {e}"
                ))
            })?;
        handles.push(handle);
    }
    for _ in 0..shards {
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(StartError::Io(e)),
            Err(_) => return Err(StartError::Io("a shard did not start within 10 s".into())),
        }
    }
    drop(reservation);
    drop(plain);
    Ok(Server {
        globals,
        addr,
        plain_addr,
        cores: pinned,
        limits,
        adapter,
        handles,
        webhooks,
        leave,
    })
}

/// Cores the shards may be pinned to (the process's CPU affinity; core 0 when unknown).
pub fn usable_cores() -> Vec<usize> {
    core_affinity::get_core_ids()
        .map(|ids| ids.into_iter().map(|c| c.id).collect())
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| vec![0])
}

/// Shards the server starts with these settings: `CORECAST_SHARDS`, or one per usable core.
pub fn shard_count(settings: &Settings, usable_cores: usize) -> usize {
    settings.shards.map_or(usable_cores, usize::from)
}

/// Binds (without listening) a SO_REUSEPORT socket so that port 0 becomes one concrete port
/// that every shard then shares; dropped once the shards listen.
fn reserve_port(addr: SocketAddr, var: &str) -> Result<(socket2::Socket, SocketAddr), StartError> {
    let io = |e: std::io::Error| StartError::Io(format!("cannot bind {addr}: {e}"));
    if addr.port() != 0 {
        // Every shard sets SO_REUSEPORT, so a second server on the same port would silently
        // share its traffic. A bind without it fails while anyone listens there: refuse.
        let probe = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::STREAM,
            None,
        )
        .map_err(io)?;
        probe.set_reuse_address(true).map_err(io)?;
        if let Err(e) = probe.bind(&addr.into()) {
            return Err(StartError::Io(format!(
                "cannot bind {addr}: {e} (is another server already listening there? \
                 pick another {var} or stop it)"
            )));
        }
    }
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )
    .map_err(io)?;
    socket.set_reuse_port(true).map_err(io)?;
    socket.set_reuse_address(true).map_err(io)?;
    socket.bind(&addr.into()).map_err(io)?;
    let bound = socket
        .local_addr()
        .map_err(io)?
        .as_socket()
        .ok_or_else(|| StartError::Io(format!("cannot bind {addr}: not an IP address")))?;
    Ok((socket, bound))
}

/// Longest accept queue asked for; the kernel caps it at `net.core.somaxconn`.
pub const LISTEN_BACKLOG: i32 = 65535;

/// One shard's listener on the shared port. SO_REUSEADDR as well as SO_REUSEPORT: accepted
/// sockets inherit both, so the TIME_WAIT sockets a restarted server leaves behind do not
/// make the start-up probe in [`reserve_port`] mistake them for a running server.
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_reuse_port(true)?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    // SAFETY: the descriptor is a bound, listening TCP socket whose ownership moves here.
    Ok(unsafe { TcpListener::from_raw_fd(socket.into_raw_fd()) })
}

/// Submission-queue depth of each shard's io_uring rings. Every idle connection keeps one poll
/// request in the kernel, and the kernel files those in a table of
/// `clamp(log2(completion entries) - 5, 1, 8)` bits: glommio's default depth of 128 gives
/// 8 buckets, so with 15,000 idle connections each cancellation (glommio cancels its timer
/// requests on every reactor turn) walked ~1,900 entries. 4,096 gives the kernel's maximum of
/// 256 buckets for about 1 MiB more kernel memory per ring.
const RING_DEPTH: usize = 4096;

/// Period of the shard's housekeeping task (drain and authorization deadlines; keep-alive
/// every fourth tick).
const SWEEP_TICK: Duration = Duration::from_millis(250);

/// Housekeeping: every tick, closes connections not authorized in time (4009); once a second,
/// probes silent connections and closes unanswered ones; while draining, closes every
/// connection with 4200.
async fn sweep(shard: Rc<Shard>) {
    let activity = Duration::from_secs(shard.config.settings.activity_timeout.into());
    let pong = Duration::from_secs(shard.config.settings.pong_timeout.into());
    let pusher_ping = frame::text_frame(outbound::ping().as_bytes());
    let raw_ping = frame::ping_frame(b"");
    let mut tick = 0u32;
    loop {
        glommio::timer::sleep(SWEEP_TICK).await;
        if shard.globals.draining.load(Ordering::Relaxed) {
            let keys: Vec<usize> = shard.conns.borrow().iter().map(|(k, _)| k).collect();
            for key in keys {
                shard.close(key, CloseCode::ReconnectNow, "Server is shutting down");
            }
            continue;
        }
        shard.expire_unauthorized(Instant::now());
        tick += 1;
        if !tick.is_multiple_of(4) {
            continue;
        }
        let now = Instant::now();
        let mut probe = Vec::new();
        let mut expire = Vec::new();
        for (key, conn) in shard.conns.borrow_mut().iter_mut() {
            conn.release_idle_memory();
            match keepalive::check(now, conn.last_rx, conn.ping_sent, activity, pong) {
                KeepAlive::Idle => {}
                KeepAlive::Probe => {
                    conn.ping_sent = Some(now);
                    probe.push((key, conn.kind, conn.app));
                }
                KeepAlive::Expire => expire.push(key),
            }
        }
        for (key, kind, app) in probe {
            match (kind, shard.app(app).event_prefix) {
                (ConnKind::Raw, _) => shard.send(key, raw_ping.clone()),
                (ConnKind::Pusher, Flavour::Pusher) => shard.send(key, pusher_ping.clone()),
                (ConnKind::Pusher, _) => shard.send_text(key, outbound::ping()),
            }
        }
        for key in expire {
            shard.close(key, CloseCode::PongTimeout, CloseCode::PongTimeout.reason());
        }
    }
}
