//! Connections: accepting, bounding and closing them (issue 26).
//!
//! hyper closes nothing by itself: a connection that finished its TLS handshake and then sent
//! nothing, an HTTP/2 connection with no open stream, a client that never reads its responses —
//! each held a file descriptor and its buffers for ever, and ~1,000 of them under the default
//! soft limit of 1,024 open files made the webhook unreachable. Here every connection has a
//! watchdog, and the number of connections is capped:
//!
//! - **Idle** (no request being served): closed after `idle_timeout` (HTTP/1.1 and HTTP/2 alike;
//!   HTTP/2 gets a GOAWAY). The default, 120 s, is longer than the apiserver's own idle timeout
//!   (client-go `IdleConnTimeout`, 90 s), so the apiserver closes its idle connections first and
//!   never sends a request on a connection rollgate is closing.
//! - **A request head that does not arrive** (HTTP/1.1: bytes came, the head is not complete):
//!   closed `request_timeout` after its first byte (the slowloris bound; hyper's own header
//!   timer cannot tell an idle keep-alive connection from a slow head).
//! - **Writes that make no progress** (the client does not read: the socket or the TLS layer
//!   stays blocked) and **responses not drained** (HTTP/2: a zero flow-control window keeps
//!   them queued in the server): the connection is closed `write_timeout` after.
//! - **HTTP/2**: at most `max_streams` concurrent streams per connection; pings every
//!   `keepalive_interval`, a peer that does not answer within `keepalive_timeout` is dropped.
//! - **Too many connections**: at `max_connections` a new connection evicts the connection idle
//!   for the longest time (as nginx reuses its keep-alive connections when short of them); when
//!   none is idle it is refused (closed at once, counted, and logged at a limited rate).
//! - A graceful close (idle, evicted, shutdown) that does not finish within `write_timeout` (a
//!   peer that does not read the GOAWAY or the last response) becomes a hard close.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, HttpBody};
use axum::http::{Request, Response};
use axum_server::accept::Accept;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};

use super::logs::RateLimited;
use super::metrics::Metrics;

/// The bounds of one listener.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_connections: usize,
    pub max_streams: u32,
    pub idle_timeout: Duration,
    pub request_timeout: Duration,
    pub write_timeout: Duration,
    pub keepalive_interval: Duration,
    pub keepalive_timeout: Duration,
}

pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
pub const DEFAULT_MAX_STREAMS: u32 = 100;
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(120);
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
pub const DEFAULT_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// File descriptors kept free for everything but admission connections: the metrics listener
/// and its connections, the kube client, certificate reads, logs.
pub const RESERVED_FDS: u64 = 128;
/// Connections being closed (evicted, idle) may outlive their slot by up to `write_timeout`;
/// at most this many over the cap at a time.
const CLOSING_SLACK: usize = 64;

impl Limits {
    pub fn new(request_timeout: Duration) -> Limits {
        Limits {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_streams: DEFAULT_MAX_STREAMS,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            request_timeout,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            keepalive_interval: DEFAULT_KEEPALIVE_INTERVAL,
            keepalive_timeout: DEFAULT_KEEPALIVE_TIMEOUT,
        }
    }

    /// The metrics listener: a scraper or two, plain HTTP.
    pub fn metrics(request_timeout: Duration) -> Limits {
        Limits {
            max_connections: 32,
            max_streams: 4,
            idle_timeout: Duration::from_secs(90),
            ..Limits::new(request_timeout)
        }
    }
}

/// Raise the soft `RLIMIT_NOFILE` to the hard limit; returns (soft before, soft now, hard).
// `rlim_t` is not `u64` on every platform.
#[allow(clippy::unnecessary_cast)]
pub fn raise_nofile_limit() -> io::Result<(u64, u64, u64)> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let before = lim.rlim_cur as u64;
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            return Err(io::Error::last_os_error());
        }
        lim = raised;
    }
    Ok((before, lim.rlim_cur as u64, lim.rlim_max as u64))
}

/// The soft `RLIMIT_NOFILE` now (`None` when it cannot be read or is unlimited).
#[allow(clippy::unnecessary_cast)]
pub fn nofile_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit with a valid pointer to a local struct.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0
        || lim.rlim_cur == libc::RLIM_INFINITY
    {
        return None;
    }
    Some(lim.rlim_cur as u64)
}

/// `max_connections`, lowered so that connections alone cannot exhaust the open-file limit.
pub fn effective_max_connections(configured: usize, reserved: u64) -> usize {
    match nofile_limit() {
        Some(soft) => configured.min(soft.saturating_sub(reserved).max(16) as usize),
        None => configured,
    }
}

/// Whether an I/O error means the process or the system ran out of file descriptors.
pub fn is_fd_exhaustion(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE))
}

/// Milliseconds since the listener started; 0 means "not set".
fn ms_since(base: Instant) -> u64 {
    base.elapsed().as_millis() as u64 + 1
}

/// What the watchdog of a connection and its request tracking share.
struct Conn {
    id: u64,
    base: Instant,
    in_flight: AtomicUsize,
    /// When the connection last became idle (no request in flight).
    idle_since: AtomicU64,
    /// HTTP/1.1: when the first byte of a request head arrived while idle (0: none).
    head_started: AtomicU64,
    /// When a write last returned Pending without progress since (0: not blocked).
    write_blocked: AtomicU64,
    /// Responses produced and not yet fully handed to the connection (id → when ready).
    responses: Mutex<BTreeMap<u64, u64>>,
    next_response: AtomicU64,
    h2: AtomicBool,
    /// Asked to close (evicted, shutting down).
    close: AtomicBool,
    handshaken: AtomicBool,
    changed: Notify,
}

impl Conn {
    fn now(&self) -> u64 {
        ms_since(self.base)
    }

    fn begin(self: &Arc<Self>) -> RequestGuard {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        self.head_started.store(0, Ordering::SeqCst);
        RequestGuard {
            conn: self.clone(),
            response: None,
        }
    }

    fn is_idle(&self) -> bool {
        self.in_flight.load(Ordering::SeqCst) == 0
    }
}

/// Held from the moment a request reaches the service until its response body is dropped
/// (fully sent, or the stream or connection is gone).
struct RequestGuard {
    conn: Arc<Conn>,
    response: Option<u64>,
}

impl RequestGuard {
    fn responded(&mut self) {
        let id = self.conn.next_response.fetch_add(1, Ordering::SeqCst);
        let now = self.conn.now();
        if let Ok(mut r) = self.conn.responses.lock() {
            r.insert(id, now);
        }
        self.response = Some(id);
        self.conn.changed.notify_one();
    }
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        if let Some(id) = self.response {
            if let Ok(mut r) = self.conn.responses.lock() {
                r.remove(&id);
            }
        }
        if self.conn.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.conn
                .idle_since
                .store(self.conn.now(), Ordering::SeqCst);
            self.conn.changed.notify_one();
        }
    }
}

/// A response body that keeps its request counted until it is dropped.
struct GuardedBody {
    inner: Body,
    _guard: RequestGuard,
}

impl HttpBody for GuardedBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The TCP stream, watched: bytes read while idle (a request head arriving) and writes that
/// make no progress.
pub struct Watched {
    inner: TcpStream,
    conn: Arc<Conn>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            let c = &self.conn;
            if c.handshaken.load(Ordering::Relaxed)
                && !c.h2.load(Ordering::Relaxed)
                && c.is_idle()
                && c.head_started.load(Ordering::Relaxed) == 0
            {
                c.head_started.store(c.now(), Ordering::SeqCst);
                c.changed.notify_one();
            }
        }
        r
    }
}

impl Watched {
    fn wrote<T>(&self, r: &Poll<io::Result<T>>) {
        let c = &self.conn;
        match r {
            Poll::Pending => {
                if c.write_blocked.load(Ordering::Relaxed) == 0 {
                    c.write_blocked.store(c.now(), Ordering::SeqCst);
                    c.changed.notify_one();
                }
            }
            Poll::Ready(_) => {
                if c.write_blocked.load(Ordering::Relaxed) != 0 {
                    c.write_blocked.store(0, Ordering::SeqCst);
                }
            }
        }
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.wrote(&r);
        r
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.wrote(&r);
        r
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.inner).poll_flush(cx);
        self.wrote(&r);
        r
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Whether the accepted stream negotiated HTTP/2 (ALPN `h2`).
pub trait Negotiated {
    fn is_h2(&self) -> bool;
}

impl Negotiated for Watched {
    fn is_h2(&self) -> bool {
        false
    }
}

impl<S> Negotiated for tokio_rustls::server::TlsStream<S> {
    fn is_h2(&self) -> bool {
        self.get_ref().1.alpn_protocol() == Some(b"h2")
    }
}

/// The open connections of a listener.
struct Registry {
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
    open: AtomicUsize,
    all_closed: Notify,
}

impl Registry {
    /// Ask the connection idle for the longest time to close; whether one was found.
    fn evict_idlest(&self) -> bool {
        let Ok(conns) = self.conns.lock() else {
            return false;
        };
        let victim = conns
            .values()
            .filter(|c| c.is_idle() && !c.close.load(Ordering::SeqCst))
            .min_by_key(|c| c.idle_since.load(Ordering::SeqCst));
        match victim {
            Some(c) => {
                c.close.store(true, Ordering::SeqCst);
                c.changed.notify_one();
                true
            }
            None => false,
        }
    }

    fn closing(&self) -> usize {
        self.conns
            .lock()
            .map(|c| {
                c.values()
                    .filter(|c| c.close.load(Ordering::SeqCst))
                    .count()
            })
            .unwrap_or(0)
    }
}

/// Removes a connection from the registry when its task ends, however it ends.
struct Registered {
    registry: Arc<Registry>,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        if let Ok(mut c) = self.registry.conns.lock() {
            c.remove(&self.id);
        }
        if self.registry.open.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.registry.all_closed.notify_waiters();
        }
    }
}

/// Serve `app` on `listener` through `acceptor` (TLS or plain) within `limits` until
/// `shutdown` turns true; then stop accepting (the listener is closed), ask every connection to
/// close gracefully and wait for them up to `drain`.
#[allow(clippy::too_many_arguments)]
pub async fn serve<A>(
    name: &'static str,
    listener: TcpListener,
    acceptor: A,
    app: Router,
    limits: Limits,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
    drain: Duration,
) -> io::Result<()>
where
    A: Accept<Watched, ()> + Clone + Send + Sync + 'static,
    A::Stream: AsyncRead + AsyncWrite + Negotiated + Unpin + Send + 'static,
    A::Future: Send + 'static,
{
    let base = Instant::now();
    let registry = Arc::new(Registry {
        conns: Mutex::new(HashMap::new()),
        open: AtomicUsize::new(0),
        all_closed: Notify::new(),
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        // The watchdog bounds heads from their first byte; this is a backstop.
        .header_read_timeout(limits.idle_timeout.max(limits.request_timeout))
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.max_streams)
        .keep_alive_interval(Some(limits.keepalive_interval))
        .keep_alive_timeout(limits.keepalive_timeout)
        .max_pending_accept_reset_streams(Some(20))
        .max_header_list_size(64 * 1024);
    let builder = Arc::new(builder);
    let log = Arc::new(RateLimited::new(1.0, 5));
    let mut next_id = 0u64;
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.wait_for(|s| *s) => break,
        };
        let (tcp, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                if is_fd_exhaustion(&e) {
                    // Free a descriptor for the clients that wait in the backlog.
                    let evicted = registry.evict_idlest();
                    if let Some(suppressed) = log.allow() {
                        tracing::error!(
                            listener = name,
                            error = %e,
                            open = registry.open.load(Ordering::SeqCst),
                            evicted_idle = evicted,
                            suppressed,
                            "cannot accept a connection: the open-file table is full"
                        );
                    }
                    metrics.connections_refused.inc();
                } else {
                    tracing::debug!(listener = name, error = %e, "accept failed");
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let open = registry.open.load(Ordering::SeqCst);
        if open >= limits.max_connections {
            let evicted = open < limits.max_connections + CLOSING_SLACK
                && registry.closing() < CLOSING_SLACK
                && registry.evict_idlest();
            if !evicted {
                metrics.connections_refused.inc();
                if let Some(suppressed) = log.allow() {
                    tracing::warn!(
                        listener = name,
                        peer = %peer,
                        open,
                        max_connections = limits.max_connections,
                        suppressed,
                        "connection refused: the connection limit is reached and none is idle"
                    );
                }
                drop(tcp);
                continue;
            }
            metrics.connections_evicted.inc();
        }
        let _ = tcp.set_nodelay(true);
        next_id += 1;
        let conn = Arc::new(Conn {
            id: next_id,
            base,
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(ms_since(base)),
            head_started: AtomicU64::new(0),
            write_blocked: AtomicU64::new(0),
            responses: Mutex::new(BTreeMap::new()),
            next_response: AtomicU64::new(0),
            h2: AtomicBool::new(false),
            close: AtomicBool::new(false),
            handshaken: AtomicBool::new(false),
            changed: Notify::new(),
        });
        registry.open.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut c) = registry.conns.lock() {
            c.insert(conn.id, conn.clone());
        }
        let registered = Registered {
            registry: registry.clone(),
            id: conn.id,
        };
        let stream = Watched {
            inner: tcp,
            conn: conn.clone(),
        };
        let task = drive(
            stream,
            acceptor.clone(),
            builder.clone(),
            app.clone(),
            conn,
            limits.clone(),
            shutdown.clone(),
            metrics.clone(),
        );
        tokio::spawn(async move {
            task.await;
            drop(registered);
        });
    }
    drop(listener);
    // Ask every connection to finish (idle ones close now); wait for them up to `drain`.
    if let Ok(conns) = registry.conns.lock() {
        for c in conns.values() {
            c.close.store(true, Ordering::SeqCst);
            c.changed.notify_one();
        }
    }
    let deadline = tokio::time::Instant::now() + drain;
    while registry.open.load(Ordering::SeqCst) > 0 {
        let wait = registry.all_closed.notified();
        if registry.open.load(Ordering::SeqCst) == 0 {
            break;
        }
        if tokio::time::timeout_at(deadline, wait).await.is_err() {
            tracing::warn!(
                listener = name,
                open = registry.open.load(Ordering::SeqCst),
                "connections still open after the shutdown timeout"
            );
            break;
        }
    }
    Ok(())
}

/// Why a connection is being closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Close {
    Idle,
    Asked,
    HeadTimeout,
    WriteStalled,
    NotDrained,
    GraceOver,
}

impl Close {
    fn as_str(self) -> &'static str {
        match self {
            Close::Idle => "idle",
            Close::Asked => "evicted or shutting down",
            Close::HeadTimeout => "request head not received in time",
            Close::WriteStalled => "client does not read (writes blocked)",
            Close::NotDrained => "client does not read its responses",
            Close::GraceOver => "graceful close not finished in time",
        }
    }
    fn hard(self) -> bool {
        !matches!(self, Close::Idle | Close::Asked)
    }
}

/// The next thing the watchdog must do for `c`, and when (ms on the listener's clock).
fn next_action(c: &Conn, limits: &Limits, closing_since: Option<u64>) -> Option<(u64, Close)> {
    let ms = |d: Duration| d.as_millis() as u64;
    let mut next: Option<(u64, Close)> = None;
    let mut consider = |at: u64, why: Close| {
        if next.is_none_or(|(t, _)| at < t) {
            next = Some((at, why));
        }
    };
    let blocked = c.write_blocked.load(Ordering::SeqCst);
    if blocked != 0 {
        consider(blocked + ms(limits.write_timeout), Close::WriteStalled);
    }
    if let Some(oldest) = c
        .responses
        .lock()
        .ok()
        .and_then(|r| r.values().next().copied())
    {
        consider(oldest + ms(limits.write_timeout), Close::NotDrained);
    }
    match closing_since {
        Some(t) => consider(t + ms(limits.write_timeout), Close::GraceOver),
        None => {
            if c.close.load(Ordering::SeqCst) {
                consider(0, Close::Asked);
            }
            if c.is_idle() {
                consider(
                    c.idle_since.load(Ordering::SeqCst) + ms(limits.idle_timeout),
                    Close::Idle,
                );
                let head = c.head_started.load(Ordering::SeqCst);
                if head != 0 {
                    consider(head + ms(limits.request_timeout), Close::HeadTimeout);
                }
            }
        }
    }
    next
}

#[allow(clippy::too_many_arguments)]
async fn drive<A>(
    stream: Watched,
    acceptor: A,
    builder: Arc<auto::Builder<TokioExecutor>>,
    app: Router,
    conn: Arc<Conn>,
    limits: Limits,
    shutdown: watch::Receiver<bool>,
    metrics: Arc<Metrics>,
) where
    A: Accept<Watched, ()>,
    A::Stream: AsyncRead + AsyncWrite + Negotiated + Unpin + Send + 'static,
{
    let stream = tokio::select! {
        r = acceptor.accept(stream, ()) => match r {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::debug!(error = %e, "TLS handshake failed");
                return;
            }
        },
        _ = wait_asked(&conn) => return,
    };
    if *shutdown.borrow() {
        return;
    }
    conn.h2.store(stream.is_h2(), Ordering::SeqCst);
    conn.head_started.store(0, Ordering::SeqCst);
    conn.idle_since.store(conn.now(), Ordering::SeqCst);
    conn.handshaken.store(true, Ordering::SeqCst);
    let c2 = conn.clone();
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let mut guard = c2.begin();
        let mut app = app.clone();
        async move {
            let resp = match tower_service::Service::call(&mut app, req.map(Body::new)).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            guard.responded();
            Ok::<Response<Body>, std::convert::Infallible>(resp.map(|b| {
                Body::new(GuardedBody {
                    inner: b,
                    _guard: guard,
                })
            }))
        }
    });
    let served = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(served);
    let mut closing_since: Option<u64> = None;
    let mut shutdown = shutdown;
    loop {
        let changed = conn.changed.notified();
        let action = next_action(&conn, &limits, closing_since);
        let sleep = async {
            match action {
                Some((at, _)) => {
                    let now = conn.now();
                    tokio::time::sleep(Duration::from_millis(at.saturating_sub(now))).await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = served.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            _ = changed => continue,
            _ = shutdown.wait_for(|s| *s), if closing_since.is_none() => {
                conn.close.store(true, Ordering::SeqCst);
                continue;
            }
            _ = sleep => {
                // Re-evaluate: activity may have moved the deadline.
                let Some((at, why)) = next_action(&conn, &limits, closing_since) else { continue };
                if at > conn.now() {
                    continue;
                }
                metrics.connections_closed.get_or_create(&super::metrics::ReasonLabels {
                    reason: why.label(),
                }).inc();
                if why.hard() {
                    tracing::debug!(reason = why.as_str(), "connection closed");
                    return;
                }
                tracing::trace!(reason = why.as_str(), "closing connection");
                served.as_mut().graceful_shutdown();
                closing_since = Some(conn.now());
            }
        }
    }
}

impl Close {
    fn label(self) -> &'static str {
        match self {
            Close::Idle => "idle",
            Close::Asked => "evicted_or_shutdown",
            Close::HeadTimeout => "head_timeout",
            Close::WriteStalled => "write_stalled",
            Close::NotDrained => "not_drained",
            Close::GraceOver => "grace_over",
        }
    }
}

/// Resolves when the connection is asked to close (eviction, shutdown) before its handshake.
async fn wait_asked(conn: &Conn) {
    loop {
        let n = conn.changed.notified();
        if conn.close.load(Ordering::SeqCst) {
            return;
        }
        n.await;
    }
}
