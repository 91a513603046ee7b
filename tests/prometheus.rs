//! Against a real Prometheus (Debian package `prometheus`, 2.42): live bucket discovery returns
//! exactly the bounds an exporter exposes, and `histogram_quantile` behaves as the bucket rules
//! claim — a threshold between bounds is compared with an interpolated value, and with every
//! observation above the top bound the quantile is that bound.
//!
//! Skipped with a note when `/usr/bin/prometheus` (or `$PROMETHEUS_BIN`) is missing, unless
//! `ROLLGATE_REQUIRE_PROMETHEUS=1`, then it fails (CI sets it).

#[path = "common/skip.rs"]
mod skip;
#[path = "webhook/support.rs"]
mod support;

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rollgate::buckets::live;
use rollgate::engine::lint::lint;
use rollgate::engine::{Config, Engine, Settings};
use rollgate::manifest::Limits;
use rollgate::manifest::input::from_bytes;

fn prometheus_bin() -> Option<PathBuf> {
    let p = std::env::var_os("PROMETHEUS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/prometheus"));
    if p.is_file() {
        return Some(p);
    }
    skip::skip(
        "ROLLGATE_REQUIRE_PROMETHEUS",
        &format!("{} not found (apt-get install -y prometheus)", p.display()),
    );
    None
}

/// Two histograms with known layouts, exposed as cumulative bucket counts:
/// - `demo_latency_seconds` (0.1 0.5 1 2 5 10): scenario "tail" has 988 observations at 1.5 s
///   and 12 at 4.0 s (true p99 = 4.0); scenario "slow" has 1000 at 20 s (all in +Inf);
/// - `demo_latency3_seconds`: the same "tail" data with 3 added as a bound.
const METRICS: &str = "\
# HELP demo_latency_seconds Request latency.
# TYPE demo_latency_seconds histogram
demo_latency_seconds_bucket{scenario=\"tail\",le=\"0.1\"} 0
demo_latency_seconds_bucket{scenario=\"tail\",le=\"0.5\"} 0
demo_latency_seconds_bucket{scenario=\"tail\",le=\"1\"} 0
demo_latency_seconds_bucket{scenario=\"tail\",le=\"2\"} 988
demo_latency_seconds_bucket{scenario=\"tail\",le=\"5\"} 1000
demo_latency_seconds_bucket{scenario=\"tail\",le=\"10\"} 1000
demo_latency_seconds_bucket{scenario=\"tail\",le=\"+Inf\"} 1000
demo_latency_seconds_sum{scenario=\"tail\"} 1530
demo_latency_seconds_count{scenario=\"tail\"} 1000
demo_latency_seconds_bucket{scenario=\"slow\",le=\"0.1\"} 0
demo_latency_seconds_bucket{scenario=\"slow\",le=\"0.5\"} 0
demo_latency_seconds_bucket{scenario=\"slow\",le=\"1\"} 0
demo_latency_seconds_bucket{scenario=\"slow\",le=\"2\"} 0
demo_latency_seconds_bucket{scenario=\"slow\",le=\"5\"} 0
demo_latency_seconds_bucket{scenario=\"slow\",le=\"10\"} 0
demo_latency_seconds_bucket{scenario=\"slow\",le=\"+Inf\"} 1000
demo_latency_seconds_sum{scenario=\"slow\"} 20000
demo_latency_seconds_count{scenario=\"slow\"} 1000
# HELP demo_latency3_seconds Request latency with 3 as a bound.
# TYPE demo_latency3_seconds histogram
demo_latency3_seconds_bucket{scenario=\"tail\",le=\"0.1\"} 0
demo_latency3_seconds_bucket{scenario=\"tail\",le=\"0.5\"} 0
demo_latency3_seconds_bucket{scenario=\"tail\",le=\"1\"} 0
demo_latency3_seconds_bucket{scenario=\"tail\",le=\"2\"} 988
demo_latency3_seconds_bucket{scenario=\"tail\",le=\"3\"} 988
demo_latency3_seconds_bucket{scenario=\"tail\",le=\"5\"} 1000
demo_latency3_seconds_bucket{scenario=\"tail\",le=\"10\"} 1000
demo_latency3_seconds_bucket{scenario=\"tail\",le=\"+Inf\"} 1000
demo_latency3_seconds_sum{scenario=\"tail\"} 1530
demo_latency3_seconds_count{scenario=\"tail\"} 1000
";

/// Serve `/metrics` on a free port; returns the port.
fn exporter() -> u16 {
    support::exporter(METRICS)
}

use support::free_port;

struct Server {
    child: Child,
    dir: PathBuf,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start(bin: &PathBuf, target_port: u16) -> Server {
    let dir = std::env::temp_dir().join(format!(
        "rollgate-prometheus-{}-{}",
        std::process::id(),
        target_port
    ));
    std::fs::create_dir_all(dir.join("data")).expect("tmp dir");
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n- job_name: demo\n  static_configs:\n  - targets: ['127.0.0.1:{target_port}']\n"
    );
    std::fs::write(dir.join("prometheus.yml"), config).expect("config");
    let port = free_port();
    let log = std::fs::File::create(dir.join("log")).expect("log");
    let child = Command::new(bin)
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start prometheus");
    Server {
        child,
        dir,
        url: format!("http://127.0.0.1:{port}"),
    }
}

fn query(url: &str, q: &str) -> Option<f64> {
    let body = live::get(
        url,
        &format!("/api/v1/query?query={}", live::percent_encode(q)),
        Duration::from_secs(5),
    )
    .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&body).ok()?;
    let r = v.pointer("/data/result/0/value/1")?.as_str()?;
    r.parse().ok()
}

fn wait_for<T>(what: &str, server: &Server, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(server.dir.join("log")).unwrap_or_default();
            panic!("timed out waiting for {what}; prometheus log:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn lint_with(url: &str, yaml: &str, rule: &str) -> Vec<(String, String)> {
    let settings = Settings {
        prometheus_url: Some(url.to_owned()),
        ..Settings::default()
    };
    let only = [rule.to_owned()];
    let engine = Engine::new(rollgate::rules::REGISTRY, &Config::default(), Some(&only));
    let input = from_bytes("gate.yaml".to_owned(), yaml.as_bytes().to_vec());
    let run = lint(vec![input], &engine, &settings, Limits::default());
    run.diagnostics
        .iter()
        .map(|d| (d.finding.rule.to_owned(), d.finding.message.clone()))
        .collect()
}

fn template(metric: &str, condition: &str) -> String {
    format!(
        "apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {{name: latency, namespace: default}}
spec:
  metrics:
  - name: p99
    successCondition: {condition}
    provider:
      prometheus:
        address: http://prometheus:9090
        query: histogram_quantile(0.99, sum by (le) ({metric}_bucket{{scenario=\"tail\"}}))
"
    )
}

#[test]
fn real_prometheus_buckets_and_quantiles() {
    let Some(bin) = prometheus_bin() else { return };
    let server = start(&bin, exporter());
    let url = server.url.clone();

    // Scraped at 1 s: wait until both histograms are in.
    wait_for("the exporter's series", &server, || {
        query(&url, "count(demo_latency3_seconds_bucket)").filter(|n| *n >= 8.0)
    });

    // Live discovery returns exactly the exposed bounds, sorted numerically ("10" after "5").
    let timeout = Duration::from_secs(5);
    let got = live::le_values(&url, "demo_latency_seconds_bucket", timeout).expect("le values");
    assert_eq!(got, vec![0.1, 0.5, 1.0, 2.0, 5.0, 10.0, f64::INFINITY]);
    let got = live::le_values(&url, "demo_latency3_seconds_bucket", timeout).expect("le values");
    assert_eq!(got, vec![0.1, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, f64::INFINITY]);
    assert_eq!(
        live::le_values(&url, "no_such_metric_bucket", timeout).expect("empty"),
        Vec::<f64>::new()
    );

    // Between bounds: the true p99 is 4.0 s, the query reports the interpolation 2.5 — a
    // `max: 3` gate passes.
    let p99 = query(
        &url,
        "histogram_quantile(0.99, sum by (le) (demo_latency_seconds_bucket{scenario=\"tail\"}))",
    )
    .expect("p99");
    assert!((p99 - 2.5).abs() < 1e-9, "p99 = {p99}");
    // With 3 as a bound the same data reports 3.33 and the gate fails.
    let p99 = query(
        &url,
        "histogram_quantile(0.99, sum by (le) (demo_latency3_seconds_bucket{scenario=\"tail\"}))",
    )
    .expect("p99 with 3");
    assert!((p99 - (3.0 + 2.0 * 2.0 / 12.0)).abs() < 1e-9, "p99 = {p99}");
    // All observations above the top bound: the quantile is the top bound, 10.
    let p99 = query(
        &url,
        "histogram_quantile(0.99, sum by (le) (demo_latency_seconds_bucket{scenario=\"slow\"}))",
    )
    .expect("p99 slow");
    assert_eq!(p99, 10.0);

    // The rules with buckets discovered on this server.
    let f = lint_with(
        &url,
        &template("demo_latency_seconds", "result[0] <= 3"),
        "threshold-not-on-bucket-boundary",
    );
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(
        f[0].1.contains("(2.0, 5.0]") && f[0].1.contains("discovered on the Prometheus at"),
        "{f:?}"
    );
    let f = lint_with(
        &url,
        &template("demo_latency3_seconds", "result[0] <= 3"),
        "threshold-not-on-bucket-boundary",
    );
    assert!(f.is_empty(), "{f:?}");
    let f = lint_with(
        &url,
        &template("demo_latency_seconds", "result[0] <= 10"),
        "threshold-unreachable",
    );
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(f[0].1.contains("highest finite bucket bound 10.0"), "{f:?}");

    // The same through the command line: `rollgate lint --prometheus URL`.
    let file = server.dir.join("gate.yaml");
    std::fs::write(&file, template("demo_latency_seconds", "result[0] <= 3")).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_rollgate"))
        .args([
            "lint",
            "--no-config",
            "--format",
            "gcc",
            "--select",
            "threshold-not-on-bucket-boundary",
            "--prometheus",
            &url,
        ])
        .arg(&file)
        .output()
        .expect("run rollgate");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("discovered on the Prometheus at"),
        "{stdout}"
    );
}

/// A port where nothing listens: discovery fails fast and the lint falls back.
#[test]
fn unreachable_prometheus_falls_back() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    let r = live::le_values(&url, "x_bucket", Duration::from_secs(2));
    assert!(r.is_err());
    assert!(started.elapsed() < Duration::from_secs(3));
    let _ = TcpStream::connect(("127.0.0.1", port));
}
