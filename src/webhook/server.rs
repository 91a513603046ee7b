//! The HTTPS server: axum over rustls (ring; TLS 1.3 and 1.2 only), `POST /validate`,
//! `GET /healthz`, `GET /readyz`; `/metrics` on a separate plain-HTTP address.
//!
//! Limits, and why:
//! - Request body: 3 MiB (`MAX_BODY_BYTES`), the apiserver's own limit on a request body
//!   (`MaxRequestBodyBytes`), so nothing the apiserver accepted from a client is refused for its
//!   size alone; larger bodies get 413 (the apiserver then applies the failurePolicy).
//! - Reading a request: `--request-timeout` (default 5 s, the `timeoutSeconds` in deploy/); the
//!   apiserver gives up after its own timeout anyway, so a slower client is a slowloris.
//! - HTTP/1 headers must arrive within the same timeout; the TLS handshake within 5 s.
//! - Connections (idle, non-reading, how many): src/webhook/conn.rs; what one review may cost
//!   (values, thread, deadline): src/webhook/budget.rs; logs: src/webhook/logs.rs; the values
//!   and why: docs/webhook-bounds.md.
//! - `Content-Type` must be `application/json` (415); request bodies share a 64 MiB budget.
//! - Shutdown (SIGTERM/SIGINT): /readyz turns 503, `--shutdown-delay` lets endpoints drop the
//!   pod, then the listener closes and in-flight requests finish (bounded by 25 s, below the
//!   default 30 s termination grace period).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum_server::tls_rustls::RustlsAcceptor;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::background::{self, AuditOptions, Auditor, ReportWriter};
use super::budget::{self, OverBudget, ReviewPool};
use super::cache::ClusterCache;
use super::conn;
use super::lease::{Elector, Leadership, LeaseConfig, LeaseTimes};
use super::logs::{self, RateLimited, cap};
use super::metrics::Metrics;
use super::review::{self, Verdict, review};
use super::tls::{self, CertSource};
use super::world::{NoCluster, World};
use crate::engine::{Config, Engine, Settings};

/// The apiserver's limit on a request body (k8s.io/apiserver `MaxRequestBodyBytes`, 3 MiB).
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest live Prometheus lookup during admission (the rules fall back to other bucket sources
/// and say so when it runs out).
pub const MAX_LIVE_LOOKUP_MS: u64 = 1000;

#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub addr: SocketAddr,
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
    pub metrics_addr: Option<SocketAddr>,
    /// Run with the admitted object as the whole world (no kube client).
    pub no_cluster: bool,
    pub config: Config,
    /// Prometheus base URLs the webhook may query (live lookups); nothing else, whatever an
    /// object says.
    pub prometheus_allow: Vec<String>,
    pub request_timeout: Duration,
    pub cert_poll: Duration,
    pub shutdown_delay: Duration,
    pub shutdown_timeout: Duration,
    pub max_body_bytes: usize,
    pub rediscover: Duration,
    /// Connection bounds of the admission listener (src/webhook/conn.rs).
    pub limits: conn::Limits,
    /// JSON values allowed in one AdmissionReview before it is decoded (src/webhook/budget.rs).
    pub max_review_nodes: usize,
    /// Time allowed for a review, from its first byte to its answer.
    pub review_deadline: Duration,
    pub over_budget: OverBudget,
    /// The background audit (`--audit-interval`); off when `None` or without a cluster.
    pub audit: Option<AuditOptions>,
    /// The Lease that elects the replica writing the audit's reports.
    pub lease: LeaseConfig,
    /// The ValidatingWebhookConfiguration that owns the reports.
    pub report_owner: String,
    /// The config file's bytes (the reports' config label).
    pub config_bytes: Vec<u8>,
}

impl ServeOptions {
    pub fn new(addr: SocketAddr, tls_cert: PathBuf, tls_key: PathBuf) -> ServeOptions {
        ServeOptions {
            addr,
            tls_cert,
            tls_key,
            metrics_addr: None,
            no_cluster: false,
            config: Config::default(),
            prometheus_allow: Vec::new(),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            cert_poll: Duration::from_secs(10),
            shutdown_delay: Duration::ZERO,
            shutdown_timeout: Duration::from_secs(25),
            max_body_bytes: MAX_BODY_BYTES,
            rediscover: Duration::from_secs(60),
            limits: conn::Limits::new(DEFAULT_REQUEST_TIMEOUT),
            max_review_nodes: budget::DEFAULT_MAX_NODES,
            review_deadline: budget::DEFAULT_DEADLINE,
            over_budget: OverBudget::Allow,
            audit: None,
            lease: LeaseConfig {
                namespace: "rollgate".into(),
                name: "rollgate-audit".into(),
                identity: format!("rollgate-{}", std::process::id()),
                times: LeaseTimes::default(),
            },
            report_owner: "rollgate".into(),
            config_bytes: Vec::new(),
        }
    }
}

/// Everything a request handler reads.
pub struct AppState {
    pub engine: Engine,
    pub settings: Settings,
    pub world: Arc<dyn World>,
    pub metrics: Arc<Metrics>,
    pub request_timeout: Duration,
    pub max_body_bytes: usize,
    pub shutting_down: AtomicBool,
    pub max_review_nodes: usize,
    pub review_deadline: Duration,
    pub over_budget: OverBudget,
    pub pool: Arc<ReviewPool>,
    /// Access and refusal lines that any client can cause: at most ~20 a second.
    pub log_limit: RateLimited,
    /// Request bodies being received or reviewed, in KiB ([`BODY_BUDGET_KIB`]).
    pub body_budget: Arc<tokio::sync::Semaphore>,
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/validate", post(validate))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(state)
}

fn metrics_router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(state)
}

async fn readyz(State(st): State<Arc<AppState>>) -> Response {
    // The certificate is loaded before the listener exists; what remains is the cache.
    if st.shutting_down.load(Ordering::SeqCst) {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response()
    } else if !st.world.synced() {
        (StatusCode::SERVICE_UNAVAILABLE, "cluster cache not synced").into_response()
    } else {
        "ok".into_response()
    }
}

async fn metrics(State(st): State<Arc<AppState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        st.metrics.encode(),
    )
        .into_response()
}

fn json(code: StatusCode, body: Vec<u8>) -> Response {
    (code, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Refuse a request whose body could not be read, with a valid AdmissionReview as the body
/// whose `code` is the HTTP status.
fn refuse(st: &AppState, code: StatusCode, reason: String, start: Instant) -> Response {
    if let Some(suppressed) = st.log_limit.allow() {
        tracing::warn!(
            code = code.as_u16(),
            reason = reason.as_str(),
            suppressed,
            "request refused"
        );
    }
    let body =
        serde_json::to_vec(&review::error_review("", &reason, code.as_u16())).unwrap_or_default();
    st.metrics.observe(
        code.as_u16(),
        Verdict::Invalid,
        &[],
        start.elapsed().as_secs_f64(),
    );
    json(code, body)
}

/// Counts a request in `in_flight` for as long as it lives, whichever way the handler returns.
struct InFlight<'a>(&'a Metrics);

impl<'a> InFlight<'a> {
    fn enter(m: &'a Metrics) -> Self {
        m.in_flight.inc();
        InFlight(m)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.dec();
    }
}

/// `response`, with the request body it refuses kept unread until the response is sent.
///
/// HTTP/2: a request body dropped while the response is not yet sent makes h2 reset the
/// stream (RST_STREAM CANCEL), and the client never sees the 413 or 408. Dropped after the
/// response ended, it becomes the RST_STREAM(NO_ERROR) that RFC 9113 §8.1 prescribes for an
/// early response ("stop sending"), and the response arrives.
fn holding<T: Send + Unpin + 'static>(response: Response, request_body: T) -> Response {
    response.map(|inner| {
        Body::new(Holding {
            inner,
            _request: request_body,
        })
    })
}

struct Holding<T> {
    inner: Body,
    _request: T,
}

impl<T: Unpin> axum::body::HttpBody for Holding<T> {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.inner).poll_frame(cx)
    }
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// KiB of request bodies all requests together may hold at a time (`BODY_BUDGET_KIB`).
///
/// Each request may send up to 3 MiB, on up to `--max-streams` streams of up to
/// `--max-connections` connections: without a shared budget, 2 HTTP/2 connections sending 200
/// bodies of 900 KiB held ~180 MB at once. Reading waits for room (HTTP/2 flow control and TCP
/// push back on the senders), within `--request-timeout` (then 408).
pub const BODY_BUDGET_KIB: usize = 64 * 1024;

/// The body, read frame by frame, each frame's size taken from `budget` first (into `held`).
async fn collect_within_budget(
    body: &mut Limited<Body>,
    budget: &Arc<tokio::sync::Semaphore>,
    held: &mut Option<tokio::sync::OwnedSemaphorePermit>,
) -> Result<axum::body::Bytes, axum::BoxError> {
    let mut buf = Vec::new();
    let mut pending_bytes = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        pending_bytes += data.len();
        let kib = pending_bytes / 1024;
        if kib > 0 {
            pending_bytes %= 1024;
            let permit = budget
                .clone()
                .acquire_many_owned(u32::try_from(kib).unwrap_or(u32::MAX))
                .await
                .map_err(|e| -> axum::BoxError { Box::new(e) })?;
            match held {
                Some(h) => h.merge(permit),
                None => *held = Some(permit),
            }
        }
        buf.extend_from_slice(&data);
    }
    Ok(buf.into())
}

/// `application/json`, parameters (`charset=utf-8`) aside: what the apiserver sends.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}

async fn validate(State(st): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    let start = Instant::now();
    let _in_flight = InFlight::enter(&st.metrics);
    if !is_json(&headers) {
        let got = headers
            .get(header::CONTENT_TYPE)
            .map(|v| cap(&String::from_utf8_lossy(v.as_bytes()), 64).into_owned());
        return refuse(
            &st,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "Content-Type must be application/json (got {})",
                got.as_deref().unwrap_or("none")
            ),
            start,
        );
    }
    let limit = st.max_body_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        let r = refuse(
            &st,
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body is larger than the {limit}-byte limit"),
            start,
        );
        return holding(r, body);
    }
    let mut limited = Limited::new(body, limit);
    // Held until the answer is built: the body's bytes count against the buffer budget.
    let mut held = None;
    let bytes = match tokio::time::timeout(
        st.request_timeout,
        collect_within_budget(&mut limited, &st.body_budget, &mut held),
    )
    .await
    {
        Err(_) => {
            let r = refuse(
                &st,
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "request body not received within {} ms",
                    st.request_timeout.as_millis()
                ),
                start,
            );
            return holding(r, limited);
        }
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
            let r = refuse(
                &st,
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body is larger than the {limit}-byte limit"),
                start,
            );
            return holding(r, limited);
        }
        Ok(Err(e)) => {
            return refuse(
                &st,
                StatusCode::BAD_REQUEST,
                format!("cannot read request body: {e}"),
                start,
            );
        }
        Ok(Ok(c)) => c,
    };
    let outcome = match decide(&st, bytes, start).await {
        Ok(o) => o,
        Err(response) => return response,
    };
    drop(held);
    let code = if outcome.malformed {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let body = match serde_json::to_vec(&outcome.review) {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "cannot encode the AdmissionReview response");
            return refuse(
                &st,
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot encode the response".into(),
                start,
            );
        }
    };
    let elapsed = start.elapsed();
    st.metrics.observe(
        code.as_u16(),
        outcome.verdict,
        &outcome.findings,
        elapsed.as_secs_f64(),
    );
    log_outcome(&st, &outcome, elapsed);
    json(code, body)
}

/// The decision for a received body, within the work budget: too many values → the
/// over-budget outcome without decoding; large bodies on the review thread, small ones in
/// place; whatever is not decided by the deadline → the over-budget outcome.
async fn decide(
    st: &Arc<AppState>,
    bytes: axum::body::Bytes,
    start: Instant,
) -> Result<review::Outcome, Response> {
    let deadline = start + st.review_deadline;
    let large = bytes.len() > budget::INLINE_MAX_BYTES;
    if large {
        // O(bytes) (a few ms for 3 MiB): out of the way of the other tasks on this worker.
        let over = off_worker(|| {
            (budget::count_values(&bytes, st.max_review_nodes) > st.max_review_nodes)
                .then(|| super::decode::identity(&bytes).unwrap_or_default())
        });
        if let Some(id) = over {
            let checked = matches!(id.operation.as_str(), "CREATE" | "UPDATE")
                && id.sub_resource.as_deref().is_none_or(str::is_empty)
                && st.engine.wants(&id.kind.group, &id.kind.kind);
            if !checked {
                // Not a request any rule would look at: the answer is the same as decoded.
                let mut o = review::over_budget(&id, "", OverBudget::Allow);
                if let Some(r) = o.review.response.as_mut() {
                    r.warnings = None;
                }
                o.verdict = Verdict::Skipped;
                return Ok(o);
            }
            st.metrics
                .over_budget
                .get_or_create(&super::metrics::ReasonLabels { reason: "nodes" })
                .inc();
            let why = format!(
                "the AdmissionReview holds more than {} JSON values (--max-review-nodes)",
                st.max_review_nodes
            );
            return Ok(review::over_budget(&id, &why, st.over_budget));
        }
    }
    let late = |st: &Arc<AppState>, bytes: &[u8], reason: &'static str| {
        st.metrics
            .over_budget
            .get_or_create(&super::metrics::ReasonLabels { reason })
            .inc();
        let id = off_worker(|| super::decode::identity(bytes).unwrap_or_default());
        let why = match reason {
            "busy" => "another large object is being checked".to_owned(),
            _ => format!(
                "not decided within {} ms (--review-deadline)",
                st.review_deadline.as_millis()
            ),
        };
        review::over_budget(&id, &why, st.over_budget)
    };
    // Live bucket discovery (only with an allow-listed `prometheus.url`) is blocking I/O inside
    // the rules: keep it off the async workers. Only objects that hold gate queries can cause
    // it; the others are decided in place (a thread hand-off each would cost latency, and the
    // blocking pool, grown by every burst, keeps its threads' memory: tests/webhook_faults.rs).
    if st.settings.prometheus_url.is_some() && may_look_up(&bytes) {
        let st2 = st.clone();
        let b2 = bytes.clone();
        let task = tokio::task::spawn_blocking(move || {
            let outcome = review(&b2, &st2.engine, &st2.settings, &*st2.world);
            // The PromQL analyses are memoized per thread (up to 4,096 each): across the
            // blocking pool's threads (dozens after a burst) that memo grew with every new
            // query, ~0.5 MiB/s under tests/webhook_faults.rs. Within a review it still
            // serves every rule; across reviews a pool thread sees too few repeats to matter.
            crate::promql::analysis::clear_memo();
            outcome
        });
        return match tokio::time::timeout_at(deadline.into(), task).await {
            Ok(Ok(o)) => Ok(o),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "admission review task failed");
                Err(refuse(
                    st,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error".into(),
                    start,
                ))
            }
            Err(_) => Ok(late(st, &bytes, "deadline")),
        };
    }
    if !large {
        return Ok(review(&bytes, &st.engine, &st.settings, &*st.world));
    }
    let st2 = st.clone();
    let b2 = bytes.clone();
    let Some(rx) = st.pool.submit(move || {
        let outcome = review(&b2, &st2.engine, &st2.settings, &*st2.world);
        crate::promql::analysis::clear_memo();
        outcome
    }) else {
        return Ok(late(st, &bytes, "busy"));
    };
    match tokio::time::timeout_at(deadline.into(), rx).await {
        Ok(Ok(o)) => Ok(o),
        Ok(Err(_)) => Err(refuse(
            st,
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error: the review thread is gone".into(),
            start,
        )),
        Err(_) => Ok(late(st, &bytes, "deadline")),
    }
}

/// Run `f` (CPU-bound, milliseconds) with the other tasks of this worker moved to the other
/// workers (`block_in_place`); in place on a current-thread runtime.
fn off_worker<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// Whether reviewing `body` may look bucket layouts up on Prometheus: the admitted kind is one
/// that holds or binds gate queries. Reads only `request.kind` (serde skips the rest); a body
/// that does not say is sent the cautious way.
fn may_look_up(body: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Top {
        request: Option<Req>,
    }
    #[derive(serde::Deserialize)]
    struct Req {
        kind: Option<Gk>,
    }
    #[derive(serde::Deserialize)]
    struct Gk {
        #[serde(default)]
        group: String,
        #[serde(default)]
        kind: String,
    }
    match serde_json::from_slice::<Top>(body) {
        Ok(Top {
            request: Some(Req { kind: Some(k) }),
        }) => crate::promql::gates::KINDS
            .iter()
            .any(|(g, kind)| *g == k.group && *kind == k.kind),
        _ => true,
    }
}

/// One line per decision: identity (each field cut to [`logs::MAX_FIELD_CHARS`]), verdict,
/// rule ids; never the object. Denials and warnings at info, at most ~20 lines a second with
/// the number left out since the last one (the metrics count every decision); the rest at
/// debug (at thousands of requests a second, a line each costs real CPU).
fn log_outcome(st: &AppState, outcome: &review::Outcome, elapsed: Duration) {
    let micros = elapsed.as_micros() as u64;
    let verdict = outcome.verdict.as_str();
    let notable = matches!(
        outcome.verdict,
        Verdict::Denied | Verdict::Warned | Verdict::Invalid
    );
    let suppressed = if notable {
        match st.log_limit.allow() {
            Some(n) => n,
            None => return,
        }
    } else if tracing::enabled!(tracing::Level::DEBUG) {
        0
    } else {
        return;
    };
    let f = |s: &str| cap(s, logs::MAX_FIELD_CHARS).into_owned();
    match &outcome.request {
        Some(r) => {
            let rules: Vec<&str> = outcome.findings.iter().map(|(r, _)| *r).collect();
            let rules = cap(&rules.join(","), 1024).into_owned();
            macro_rules! line {
                ($lvl:ident) => {
                    tracing::$lvl!(
                        uid = f(&r.uid),
                        operation = r.operation,
                        group = f(&r.group),
                        kind = f(&r.kind),
                        namespace = f(&r.namespace),
                        name = f(&r.name),
                        dry_run = r.dry_run,
                        verdict,
                        rules = rules.as_str(),
                        suppressed = outcome.suppressed,
                        log_lines_suppressed = suppressed,
                        micros,
                        "admission review"
                    )
                };
            }
            if notable { line!(info) } else { line!(debug) }
        }
        None => {
            let reason = outcome
                .review
                .response
                .as_ref()
                .map(|r| f(&r.result.message))
                .unwrap_or_default();
            tracing::warn!(
                verdict,
                reason,
                log_lines_suppressed = suppressed,
                micros,
                "undecodable admission review"
            );
        }
    }
}

/// Prometheus base URLs as origins (`scheme://host:port`) for the allow-list comparison.
fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let authority = authority.to_ascii_lowercase();
    let with_port = if authority.rsplit_once(':').is_some_and(|(_, p)| {
        !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && !p.contains(']')
    }) {
        authority
    } else if scheme == "https" {
        format!("{authority}:443")
    } else {
        format!("{authority}:80")
    };
    Some(format!("{scheme}://{with_port}"))
}

/// Whether the webhook may send a request to `url`: its origin is on the operator's allow-list.
/// An object's `provider.address` is written by whoever may create Canaries; following it from
/// inside the cluster would be a server-side request forgery.
pub fn prometheus_allowed(url: &str, allow: &[String]) -> bool {
    let Some(o) = origin(url) else {
        return false;
    };
    allow.iter().filter_map(|a| origin(a)).any(|a| a == o)
}

/// A running server: its addresses, and how to stop it.
pub struct Running {
    pub addr: SocketAddr,
    pub metrics_addr: Option<SocketAddr>,
    pub state: Arc<AppState>,
    stop: tokio::sync::watch::Sender<bool>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    metrics_server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    background: Vec<tokio::task::JoinHandle<()>>,
    shutdown_delay: Duration,
    /// The background audit's thread and its stop flag.
    audit: Option<(Arc<AtomicBool>, std::thread::JoinHandle<()>)>,
    /// The Lease elector (released on shutdown).
    elector: Option<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Stop: not ready, wait `shutdown_delay`, stop accepting, finish in-flight requests.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        self.state.shutting_down.store(true, Ordering::SeqCst);
        tracing::info!(
            delay_ms = self.shutdown_delay.as_millis() as u64,
            "shutting down: not ready, then draining"
        );
        tokio::time::sleep(self.shutdown_delay).await;
        // Both listeners close; the admission connections drain for up to shutdown_timeout.
        let _ = self.stop.send(true);
        if let Some((stop, thread)) = self.audit.take() {
            stop.store(true, Ordering::SeqCst);
            // The thread ends after its current check; do not wait for it on a worker.
            drop(thread);
        }
        if let Some(e) = self.elector.take() {
            // Release the Lease so another replica takes over at once.
            let _ = tokio::time::timeout(Duration::from_secs(3), e).await;
        }
        let served = self.server.await;
        if let Some(m) = self.metrics_server.take() {
            let _ = m.await;
        }
        for b in &self.background {
            b.abort();
        }
        tracing::info!("stopped");
        served.context("server task")?.context("server")?;
        Ok(())
    }
}

/// Bind, load the certificate, start the cache (unless `--no-cluster` or `world` is given),
/// and serve in the background.
pub async fn start(opts: ServeOptions, world: Option<Arc<dyn World>>) -> anyhow::Result<Running> {
    tls::install_provider();
    let metrics = Arc::new(Metrics::new());
    let mut config = opts.config.clone();
    if let Some(url) = config.settings.prometheus_url.clone() {
        if !prometheus_allowed(&url, &opts.prometheus_allow) {
            tracing::warn!(
                url = url.as_str(),
                "prometheus.url from the config is not on --prometheus-allow; live lookups are off"
            );
            config.settings.prometheus_url = None;
        }
    }
    // Live lookups must fit well inside the webhook's own timeout (timeoutSeconds: 5).
    if config.settings.prometheus_url.is_some()
        && config.settings.prometheus_timeout_ms > MAX_LIVE_LOOKUP_MS
    {
        tracing::info!(
            configured_ms = config.settings.prometheus_timeout_ms,
            used_ms = MAX_LIVE_LOOKUP_MS,
            "prometheus.timeout capped for admission"
        );
        config.settings.prometheus_timeout_ms = MAX_LIVE_LOOKUP_MS;
    }
    let engine = Engine::new(crate::rules::REGISTRY, &config, None);
    let certs = CertSource::load(&opts.tls_cert, &opts.tls_key)?;
    let tls_config = certs.config.clone();

    let mut background = Vec::new();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut audit = None;
    let mut elector = None;
    let world: Arc<dyn World> = match world {
        Some(w) => w,
        None if opts.no_cluster => {
            if opts.audit.is_some() {
                tracing::warn!(
                    "--audit-interval needs a cluster; no background audit with --no-cluster"
                );
            }
            Arc::new(NoCluster)
        }
        None => {
            let client = kube::Client::try_default().await.context(
                "connecting to the cluster (in-cluster config or KUBECONFIG); \
                 use --no-cluster to run without one",
            )?;
            let cache = ClusterCache::new(metrics.clone());
            cache.keep_facts();
            if let Some(a) = &opts.audit {
                let (thread_stop, thread, e) = start_audit(
                    &opts,
                    a,
                    &config,
                    cache.clone(),
                    client.clone(),
                    metrics.clone(),
                    stopped.clone(),
                )
                .await?;
                audit = Some((thread_stop, thread));
                elector = e;
            }
            background.push(tokio::spawn(cache.clone().run(client, opts.rediscover)));
            cache
        }
    };
    let state = Arc::new(AppState {
        engine,
        settings: config.settings.clone(),
        world,
        metrics: metrics.clone(),
        request_timeout: opts.request_timeout,
        max_body_bytes: opts.max_body_bytes,
        shutting_down: AtomicBool::new(false),
        max_review_nodes: opts.max_review_nodes,
        review_deadline: opts.review_deadline,
        over_budget: opts.over_budget,
        pool: ReviewPool::new(4),
        log_limit: RateLimited::new(20.0, 100),
        body_budget: Arc::new(tokio::sync::Semaphore::new(BODY_BUDGET_KIB)),
    });
    background.push(tokio::spawn(certs.watch(opts.cert_poll, metrics.clone())));

    let listener = std::net::TcpListener::bind(opts.addr)
        .with_context(|| format!("binding the admission address {}", opts.addr))?;
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let addr = listener.local_addr()?;
    let mut limits = opts.limits.clone();
    limits.request_timeout = opts.request_timeout;
    let configured = limits.max_connections;
    limits.max_connections = conn::effective_max_connections(configured, conn::RESERVED_FDS);
    if limits.max_connections < configured {
        tracing::warn!(
            max_connections = limits.max_connections,
            configured,
            open_files_limit = conn::nofile_limit(),
            "--max-connections lowered to fit the open-file limit"
        );
    }
    let app = router(state.clone());
    let server = tokio::spawn(conn::serve(
        "admission",
        listener,
        RustlsAcceptor::new(tls_config).handshake_timeout(TLS_HANDSHAKE_TIMEOUT),
        app,
        limits.clone(),
        metrics.clone(),
        stopped.clone(),
        opts.shutdown_timeout,
    ));

    let (metrics_addr, metrics_server) = match opts.metrics_addr {
        Some(maddr) => {
            let l = tokio::net::TcpListener::bind(maddr)
                .await
                .with_context(|| format!("binding the metrics address {maddr}"))?;
            let bound = l.local_addr()?;
            let app = metrics_router(state.clone());
            let task = tokio::spawn(conn::serve(
                "metrics",
                l,
                axum_server::accept::DefaultAcceptor::new(),
                app,
                conn::Limits::metrics(opts.request_timeout),
                metrics.clone(),
                stopped.clone(),
                Duration::from_secs(1),
            ));
            (Some(bound), Some(task))
        }
        None => (None, None),
    };
    tracing::info!(
        addr = %addr,
        metrics_addr = metrics_addr.map(|a| a.to_string()),
        no_cluster = opts.no_cluster,
        rules = crate::rules::REGISTRY.len(),
        max_body_bytes = opts.max_body_bytes,
        max_connections = limits.max_connections,
        max_streams = limits.max_streams,
        idle_timeout_ms = limits.idle_timeout.as_millis() as u64,
        write_timeout_ms = limits.write_timeout.as_millis() as u64,
        review_deadline_ms = opts.review_deadline.as_millis() as u64,
        max_review_nodes = opts.max_review_nodes,
        "serving admission reviews on POST /validate"
    );
    Ok(Running {
        addr,
        metrics_addr,
        state,
        stop,
        server,
        metrics_server,
        background,
        shutdown_delay: opts.shutdown_delay,
        audit,
        elector,
    })
}

/// Start the background audit: its thread and, when it writes reports, the Lease elector.
async fn start_audit(
    opts: &ServeOptions,
    a: &AuditOptions,
    config: &Config,
    cache: Arc<ClusterCache>,
    client: kube::Client,
    metrics: Arc<Metrics>,
    stopped: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<(
    Arc<AtomicBool>,
    std::thread::JoinHandle<()>,
    Option<tokio::task::JoinHandle<()>>,
)> {
    let engine = Engine::new(crate::rules::REGISTRY, config, None);
    let auditor = Auditor::new(cache, engine, config.settings.clone(), metrics.clone());
    let mut elector = None;
    let writer = if a.reports {
        let e = Elector::new(client.clone(), opts.lease.clone(), metrics.clone());
        let leadership: Leadership = e.leadership();
        elector = Some(tokio::spawn(e.run(stopped)));
        let owner = report_owner(&client, &opts.report_owner).await;
        let meta = super::policyreport::ReportMeta {
            config_hash: super::policyreport::config_hash(crate::cli::VERSION, &opts.config_bytes),
            owner,
        };
        Some(ReportWriter::new(
            client,
            tokio::runtime::Handle::current(),
            leadership,
            meta,
            metrics,
        ))
    } else {
        None
    };
    let stop = Arc::new(AtomicBool::new(false));
    let thread = background::spawn(auditor, a.clone(), writer, stop.clone())
        .context("starting the audit thread")?;
    tracing::info!(
        interval_s = a.interval.as_secs(),
        debounce_ms = a.debounce.as_millis() as u64,
        reports = a.reports,
        lease = format!("{}/{}", opts.lease.namespace, opts.lease.name),
        identity = opts.lease.identity.as_str(),
        "background audit on"
    );
    Ok((stop, thread, elector))
}

/// The owner reference of the reports: the ValidatingWebhookConfiguration `name`
/// (cluster-scoped), so that uninstalling rollgate deletes them; `None` (with a warning) when it
/// cannot be read.
async fn report_owner(client: &kube::Client, name: &str) -> Option<serde_json::Value> {
    use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
    let api: kube::Api<ValidatingWebhookConfiguration> = kube::Api::all(client.clone());
    match api.get_opt(name).await {
        Ok(Some(v)) => v.metadata.uid.map(|uid| {
            serde_json::json!({
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": "ValidatingWebhookConfiguration",
                "name": name,
                "uid": uid,
            })
        }),
        Ok(None) => {
            tracing::warn!(
                name,
                "ValidatingWebhookConfiguration not found; audit reports get no owner"
            );
            None
        }
        Err(e) => {
            tracing::warn!(name, error = %e, "cannot read the ValidatingWebhookConfiguration; audit reports get no owner");
            None
        }
    }
}

/// `rollgate serve`: start, then shut down gracefully on SIGTERM or SIGINT.
pub async fn run(opts: ServeOptions) -> anyhow::Result<()> {
    let running = start(opts, None).await?;
    let signal = shutdown_signal().await;
    tracing::info!(signal, "signal received");
    running.shutdown().await
}

async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut t), Ok(mut i)) => tokio::select! {
            _ = t.recv() => "SIGTERM",
            _ = i.recv() => "SIGINT",
        },
        _ => {
            let _ = tokio::signal::ctrl_c().await;
            "SIGINT"
        }
    }
}

/// JSON logs on stderr, filtered by `RUST_LOG` when it is set (comma-separated `level` and
/// `target=level` directives, as `tracing_subscriber::filter::Targets` reads them), else by
/// `--log-level`. A `RUST_LOG` that does not parse is reported as a warning and ignored.
/// Idempotent.
pub fn init_logging(default_level: tracing::Level) {
    use tracing_subscriber::filter::Targets;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let env = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let (filter, ignored) = match env.as_deref().map(str::parse::<Targets>) {
        Some(Ok(targets)) => (targets, None),
        other => (
            Targets::new().with_default(default_level),
            other.and_then(Result::err),
        ),
    };
    let installed = tracing_subscriber::fmt()
        .json()
        .with_current_span(false)
        .with_span_list(false)
        .with_writer(logs::CappedStderr)
        .finish()
        .with(filter)
        .try_init()
        .is_ok();
    if let (true, Some(e)) = (installed, ignored) {
        tracing::warn!(
            rust_log = env.as_deref().unwrap_or_default(),
            error = %e,
            "RUST_LOG ignored: not a list of level or target=level directives; using --log-level"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_gate_kinds_may_look_up_buckets() {
        let body = |group: &str, kind: &str| {
            serde_json::to_vec(&serde_json::json!({
                "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                "request": {"uid": "u", "kind": {"group": group, "version": "v1", "kind": kind},
                            "object": {"spec": {"big": [1, 2, 3]}}}
            }))
            .expect("json")
        };
        assert!(may_look_up(&body("flagger.app", "Canary")));
        assert!(may_look_up(&body("flagger.app", "MetricTemplate")));
        assert!(may_look_up(&body("argoproj.io", "AnalysisTemplate")));
        assert!(may_look_up(&body("argoproj.io", "Rollout")));
        assert!(!may_look_up(&body("networking.istio.io", "VirtualService")));
        assert!(!may_look_up(&body(
            "monitoring.coreos.com",
            "ServiceMonitor"
        )));
        assert!(may_look_up(b"not json"));
        assert!(may_look_up(br#"{"request": {}}"#));
    }

    #[test]
    fn prometheus_allow_list_compares_origins() {
        let allow = vec!["http://prometheus.monitoring:9090".to_owned()];
        assert!(prometheus_allowed(
            "http://prometheus.monitoring:9090/api/v1/query",
            &allow
        ));
        assert!(prometheus_allowed(
            "HTTP://Prometheus.monitoring:9090",
            &allow
        ));
        assert!(!prometheus_allowed(
            "http://prometheus.monitoring:9091",
            &allow
        ));
        assert!(!prometheus_allowed("http://169.254.169.254/latest", &allow));
        assert!(!prometheus_allowed(
            "http://prometheus.monitoring:9090@evil:80/",
            &allow
        ));
        assert!(!prometheus_allowed("file:///etc/passwd", &allow));
        let allow = vec!["https://prom.example".to_owned()];
        assert!(prometheus_allowed("https://prom.example:443/x", &allow));
    }
}
