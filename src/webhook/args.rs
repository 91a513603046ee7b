//! `rollgate serve` arguments and entry point (called from `cli.rs`).

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::background::AuditOptions;
use super::budget::{self, OverBudget};
use super::conn;
use super::lease::{LeaseConfig, LeaseTimes};
use super::server::{self, MAX_BODY_BYTES, ServeOptions};
use crate::engine::config::{Config, parse_duration_ms};

fn duration(s: &str) -> Result<Duration, String> {
    parse_duration_ms(s)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("invalid duration {s:?} (expected e.g. 500ms, 5s, 1m)"))
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address of the HTTPS admission endpoint (POST /validate, GET /healthz, /readyz).
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub addr: SocketAddr,
    /// PEM certificate chain (reloaded when the file changes).
    #[arg(long)]
    pub tls_cert: PathBuf,
    /// PEM private key (reloaded with the certificate).
    #[arg(long)]
    pub tls_key: PathBuf,
    /// Plain-HTTP address for GET /metrics (Prometheus text format). Off when not given.
    #[arg(long)]
    pub metrics_addr: Option<SocketAddr>,
    /// Do not connect to a cluster: the admitted object is the whole world.
    #[arg(long)]
    pub no_cluster: bool,
    /// Configuration file (.rollgate.yaml format: severities, settings).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Prometheus base URL the webhook may query for live lookups (repeatable). Addresses in
    /// admitted objects are never queried unless listed here.
    #[arg(long = "prometheus-allow", value_name = "URL")]
    pub prometheus_allow: Vec<String>,
    /// Time allowed to receive a request (headers and body).
    #[arg(long, default_value = "5s", value_parser = duration)]
    pub request_timeout: Duration,
    /// How often the certificate files are checked for changes.
    #[arg(long, default_value = "10s", value_parser = duration)]
    pub cert_poll_interval: Duration,
    /// After SIGTERM, report not-ready for this long before closing the listener (lets the
    /// Service's endpoints drop the pod first).
    #[arg(long, default_value = "0s", value_parser = duration)]
    pub shutdown_delay: Duration,
    /// Longest wait for in-flight requests after the listener closes.
    #[arg(long, default_value = "25s", value_parser = duration)]
    pub shutdown_timeout: Duration,
    /// How often kinds that are not installed (CRDs) are looked up again.
    #[arg(long, default_value = "60s", value_parser = duration)]
    pub rediscover_interval: Duration,
    /// Largest accepted request body in bytes (default: the apiserver's own 3 MiB limit).
    #[arg(long, default_value_t = MAX_BODY_BYTES)]
    pub max_body_bytes: usize,
    /// Most open admission connections. At the limit a new connection closes the one idle for
    /// the longest time, or is refused when none is idle. Lowered at start-up to fit the
    /// open-file limit (less 128 descriptors kept for the rest).
    #[arg(long, default_value_t = conn::DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,
    /// Most concurrent HTTP/2 streams per connection.
    #[arg(long, default_value_t = conn::DEFAULT_MAX_STREAMS)]
    pub max_streams: u32,
    /// A connection without a request in flight is closed after this long (HTTP/2: GOAWAY).
    /// Keep it above the apiserver's own idle timeout (90 s) so the apiserver closes first.
    #[arg(long, default_value = "120s", value_parser = duration)]
    pub idle_timeout: Duration,
    /// A connection whose writes make no progress, or whose responses are not read, for this
    /// long is closed.
    #[arg(long, default_value = "10s", value_parser = duration)]
    pub write_timeout: Duration,
    /// Longest time from a request's arrival to its answer; a review not decided by then gets
    /// the --over-budget answer. Keep it well under the webhook's timeoutSeconds.
    #[arg(long, default_value = "2s", value_parser = duration)]
    pub review_deadline: Duration,
    /// Most JSON values in one AdmissionReview; a larger one is not decoded and gets the
    /// --over-budget answer.
    #[arg(long, default_value_t = budget::DEFAULT_MAX_NODES)]
    pub max_review_nodes: usize,
    /// Answer for a review over budget (too many values, not decided by --review-deadline):
    /// admit with a warning, or deny as too large to check.
    #[arg(long, value_enum, default_value = "allow")]
    pub over_budget: OverBudget,
    /// Audit the objects in the cluster cache in the background: a full pass this often, and
    /// event-driven re-checks of the objects a watch event touches in between (metrics
    /// `rollgate_audit_*`, PolicyReports; docs/audit.md). Off when not given.
    #[arg(long, value_parser = duration, value_name = "DURATION")]
    pub audit_interval: Option<Duration>,
    /// Quiet time after a watch event before the objects it touched are re-checked (a burst is
    /// checked once, at most ten periods after it began).
    #[arg(long, default_value = "500ms", value_parser = duration)]
    pub audit_debounce: Duration,
    /// Write PolicyReports from the background audit (one replica: the holder of the Lease
    /// --audit-lease-name). With false, the audit only feeds the metrics.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub audit_reports: bool,
    /// Name of the coordination.k8s.io Lease that elects the replica writing the reports.
    #[arg(long, default_value = "rollgate-audit")]
    pub audit_lease_name: String,
    /// Namespace of that Lease (default: $POD_NAMESPACE, else "rollgate").
    #[arg(long)]
    pub audit_lease_namespace: Option<String>,
    /// This replica's holderIdentity in the Lease (default: $POD_NAME, else the host name).
    #[arg(long)]
    pub audit_identity: Option<String>,
    /// How long a Lease not renewed stays held (renewed every 2/15 of it; a holder that could
    /// not renew for 2/3 of it stops writing).
    #[arg(long, default_value = "15s", value_parser = duration)]
    pub audit_lease_duration: Duration,
    /// The cluster-scoped ValidatingWebhookConfiguration that owns the reports (deleted with
    /// it); none when it cannot be read.
    #[arg(long, default_value = "rollgate")]
    pub audit_report_owner: String,
    /// Log level when RUST_LOG is not set (error, warn, info, debug, trace).
    #[arg(long, default_value = "info")]
    pub log_level: tracing::Level,
}

pub fn run(args: ServeArgs) -> io::Result<u8> {
    server::init_logging(args.log_level);
    // Idle connections held by clients must not starve the process of descriptors: take what
    // the hard limit allows (the connection cap is then fitted to it).
    match conn::raise_nofile_limit() {
        Ok((before, now, hard)) => tracing::info!(
            soft_before = before,
            soft = now,
            hard,
            "open-file limit (RLIMIT_NOFILE)"
        ),
        Err(e) => tracing::warn!(error = %e, "cannot raise the open-file limit"),
    }
    let config = match &args.config {
        Some(p) => match Config::from_file(p, &crate::engine::all_metas()) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("rollgate: error: {e}");
                return Ok(2);
            }
        },
        None => Config::default(),
    };
    // The reports' config label: a hash of the version and the config file's bytes.
    let config_bytes = match &args.config {
        Some(p) => std::fs::read(p).unwrap_or_default(),
        None => Vec::new(),
    };
    let mut opts = ServeOptions::new(args.addr, args.tls_cert, args.tls_key);
    opts.metrics_addr = args.metrics_addr;
    opts.no_cluster = args.no_cluster;
    opts.config = config;
    opts.prometheus_allow = args.prometheus_allow;
    opts.request_timeout = args.request_timeout;
    opts.cert_poll = args.cert_poll_interval;
    opts.shutdown_delay = args.shutdown_delay;
    opts.shutdown_timeout = args.shutdown_timeout;
    opts.rediscover = args.rediscover_interval;
    opts.max_body_bytes = args.max_body_bytes;
    opts.limits.max_connections = args.max_connections;
    opts.limits.max_streams = args.max_streams;
    opts.limits.idle_timeout = args.idle_timeout;
    opts.limits.write_timeout = args.write_timeout;
    opts.review_deadline = args.review_deadline;
    opts.max_review_nodes = args.max_review_nodes;
    opts.over_budget = args.over_budget;
    if let Some(interval) = args.audit_interval {
        if interval.is_zero() {
            eprintln!("rollgate: error: --audit-interval must be more than 0");
            return Ok(2);
        }
        let mut audit = AuditOptions::new(interval);
        audit.debounce = args.audit_debounce;
        audit.reports = args.audit_reports;
        opts.audit = Some(audit);
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let d = args.audit_lease_duration.max(Duration::from_secs(3));
        opts.lease = LeaseConfig {
            namespace: args
                .audit_lease_namespace
                .or_else(|| env("POD_NAMESPACE"))
                .unwrap_or_else(|| "rollgate".into()),
            name: args.audit_lease_name,
            identity: args
                .audit_identity
                .or_else(|| env("POD_NAME"))
                .or_else(|| env("HOSTNAME"))
                .unwrap_or_else(|| format!("rollgate-{}", std::process::id())),
            times: LeaseTimes {
                lease_duration: d,
                renew_deadline: d * 2 / 3,
                retry: d * 2 / 15,
            },
        };
        opts.report_owner = args.audit_report_owner;
    }
    opts.config_bytes = config_bytes;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match rt.block_on(server::run(opts)) {
        Ok(()) => Ok(0),
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "rollgate serve failed");
            eprintln!("rollgate: error: {e:#}");
            Ok(2)
        }
    }
}
