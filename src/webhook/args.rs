//! `rollgate serve` arguments and entry point (called from `cli.rs`).

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

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
    /// Log level when RUST_LOG is not set (error, warn, info, debug, trace).
    #[arg(long, default_value = "info")]
    pub log_level: tracing::Level,
}

pub fn run(args: ServeArgs) -> io::Result<u8> {
    server::init_logging(args.log_level);
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
