//! Bucket rules end to end through the engine: layouts from `.rollgate.yaml`, annotations,
//! `--source` code, a (fake, misbehaving) Prometheus and known exporters; bad thresholds and
//! bad bucket declarations; bounded time against a Prometheus that hangs.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use rollgate::buckets::{self, live, source};
use rollgate::engine::lint::lint;
use rollgate::engine::{Config, Engine, Settings};
use rollgate::manifest::Limits;
use rollgate::manifest::input::from_bytes;

const RULES: &[&str] = &[
    "threshold-not-on-bucket-boundary",
    "threshold-unreachable",
    "unit-mismatch",
];

/// (line, rule, severity, message) of every finding, infos included.
fn run(yaml: &str, settings: &Settings) -> Vec<(usize, String, String, String)> {
    let only: Vec<String> = RULES.iter().map(|s| (*s).to_owned()).collect();
    let engine = Engine::new(rollgate::rules::REGISTRY, &Config::default(), Some(&only));
    let input = from_bytes("gate.yaml".to_owned(), yaml.as_bytes().to_vec());
    let r = lint(vec![input], &engine, settings, Limits::default());
    r.diagnostics
        .iter()
        .map(|d| {
            (
                d.span.map_or(0, |s| s.start.line as usize),
                d.finding.rule.to_owned(),
                d.finding.severity.to_string(),
                d.finding.message.clone(),
            )
        })
        .collect()
}

fn canary(max: &str, query: &str, annotations: &str) -> String {
    format!(
        "apiVersion: flagger.app/v1beta1
kind: Canary
metadata:
  name: web
  namespace: shop
{annotations}spec:
  targetRef: {{apiVersion: apps/v1, kind: Deployment, name: web}}
  service: {{port: 80}}
  analysis:
    interval: 1m
    threshold: 5
    metrics:
    - name: p99
      interval: 1m
      thresholdRange: {{max: {max}}}
      query: {query}
"
    )
}

const Q: &str =
    "histogram_quantile(0.99, sum by (le) (rate(app_latency_seconds_bucket{pod=~\"web-.*\"}[1m])))";

fn settings_with(bounds: &[f64]) -> Settings {
    let mut s = Settings::default();
    s.histograms
        .insert("app_latency_seconds".to_owned(), bounds.to_vec());
    s
}

#[test]
fn config_declaration_names_its_source() {
    let f = run(
        &canary("3", Q, ""),
        &settings_with(&[0.5, 1.0, 2.0, 5.0, 10.0]),
    );
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].1, "threshold-not-on-bucket-boundary");
    assert!(f[0].3.contains("(2.0, 5.0]"), "{f:?}");
    assert!(f[0].3.contains(".rollgate.yaml"), "{f:?}");
    // On a bound: nothing. "1" and "1.0" are the same bound.
    assert!(run(&canary("2", Q, ""), &settings_with(&[0.5, 1.0, 2.0, 5.0])).is_empty());
    assert!(run(&canary("2.0", Q, ""), &settings_with(&[2.0, 5.0])).is_empty());
}

#[test]
fn unknown_layout_is_info_only() {
    let f = run(&canary("3", Q, ""), &Settings::default());
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].2, "info");
}

#[test]
fn bad_declarations_are_normalized() {
    // Unsorted, duplicated, +Inf: sorted, merged, dropped; the finding still comes.
    let s = settings_with(&[5.0, 2.0, 2.0, f64::INFINITY, 10.0]);
    let f = run(&canary("3", Q, ""), &s);
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(f[0].3.contains("(2.0, 5.0]"), "{f:?}");
    // Annotation with NaN, garbage and +Inf.
    let ann = "  annotations:\n    rollgate.dev/histogram-buckets: \"app_latency_seconds=5,NaN,2,+Inf; broken; other=1,x\"\n";
    let f = run(&canary("3", Q, ann), &Settings::default());
    let warnings: Vec<_> = f.iter().filter(|x| x.2 == "warning").collect();
    assert_eq!(warnings.len(), 3, "{f:?}");
    assert!(
        f.iter()
            .any(|x| x.2 == "error" && x.3.contains("(2.0, 5.0]") && x.3.contains("annotation")),
        "{f:?}"
    );
}

#[test]
fn bad_thresholds() {
    let s = settings_with(&[0.5, 1.0, 2.0, 5.0]);
    // Not finite: reported as unreachable, no panic.
    for t in [".nan", ".inf", "1e309"] {
        let f = run(&canary(t, Q, ""), &s);
        assert_eq!(f.len(), 1, "{t}: {f:?}");
        assert_eq!(f[0].1, "threshold-unreachable", "{t}: {f:?}");
        assert!(f[0].3.contains("not a finite number"), "{t}: {f:?}");
    }
    // Negative: every check fails.
    let f = run(&canary("-1", Q, ""), &s);
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(f[0].3.contains("negative"), "{f:?}");
    // A string: the schema rule's business; nothing here, no panic.
    assert!(run(&canary("\"3\"", Q, ""), &s).is_empty());
    assert!(run(&canary("three", Q, ""), &s).is_empty());
    // At the top bound: unreachable.
    let f = run(&canary("5", Q, ""), &s);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].1, "threshold-unreachable");
    assert!(f[0].3.contains("5.0"), "{f:?}");
}

#[test]
fn scaled_queries_and_units() {
    let s = settings_with(&[0.1, 0.25, 0.5, 1.0]);
    let q = format!("{Q} * 1000");
    // 300 ms = 0.3 s inside (0.25, 0.5].
    let f = run(&canary("300", &q, ""), &s);
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(f[0].3.contains("0.3 in the histogram's units"), "{f:?}");
    assert!(run(&canary("250", &q, ""), &s).is_empty());
    // 500 on a seconds histogram without scaling: unit-mismatch and unreachable.
    let f = run(&canary("500", Q, ""), &s);
    let rules: Vec<&str> = f.iter().map(|x| x.1.as_str()).collect();
    assert!(rules.contains(&"unit-mismatch"), "{f:?}");
    assert!(rules.contains(&"threshold-unreachable"), "{f:?}");
}

#[test]
fn argo_conditions() {
    let t = |cond: &str| {
        format!(
            "apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {{name: lat}}
spec:
  metrics:
  - name: p99
    {cond}
    provider:
      prometheus:
        address: http://prom:9090
        query: histogram_quantile(0.99, sum by (le) (rate(nginx_ingress_controller_request_duration_seconds_bucket[5m])))
"
        )
    };
    let s = Settings::default();
    let cases: &[(&str, &[&str])] = &[
        (
            "successCondition: result[0] < 0.3",
            &["threshold-not-on-bucket-boundary"],
        ),
        ("successCondition: result[0] <= 0.25", &[]),
        (
            "successCondition: result[0] <= 10",
            &["threshold-unreachable"],
        ),
        ("successCondition: result[0] < 10", &[]),
        (
            "failureCondition: result[0] > 10",
            &["threshold-unreachable"],
        ),
        ("failureCondition: result[0] >= 10", &[]),
        ("successCondition: all(result, # < 2.5)", &[]),
        (
            "successCondition: all(result, {# <= 12})",
            &["threshold-unreachable"],
        ),
        ("successCondition: asFloat(result) <= 1", &[]),
        (
            "successCondition: isNaN(result[0]) || result[0] <= 10",
            &["threshold-unreachable"],
        ),
        // Unknown shapes are not analysed.
        ("successCondition: result[0] < foo(1)", &[]),
        ("successCondition: \"result[0] > 'x'\"", &[]),
    ];
    for (cond, want) in cases {
        let f = run(&t(cond), &s);
        let got: Vec<&str> = f.iter().map(|x| x.1.as_str()).collect();
        assert_eq!(&got, want, "{cond}: {f:?}");
    }
}

#[test]
fn istio_pod_annotation_overrides_envoy_defaults() {
    let yaml = "apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web}
      annotations:
        sidecar.istio.io/statsHistogramBuckets: '{\"istiocustom\":[1,5,10,50,100,300,1000]}'
    spec:
      containers: [{name: web, image: web}]
---
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: web, namespace: shop}
spec:
  provider: istio
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  service: {port: 80}
  analysis:
    interval: 1m
    threshold: 5
    metrics:
    - name: request-duration
      interval: 1m
      thresholdRange: {max: 300}
";
    assert!(run(yaml, &Settings::default()).is_empty());
    let without = yaml.replace("sidecar.istio.io/statsHistogramBuckets", "x");
    let f = run(&without, &Settings::default());
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(f[0].3.contains("(250.0, 500.0]"), "{f:?}");
}

#[test]
fn source_scanning_feeds_the_rules() {
    let dir = std::env::temp_dir().join(format!("rollgate-src-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("app")).unwrap();
    std::fs::write(
        dir.join("app/metrics.py"),
        "from prometheus_client import Histogram\nLAT = Histogram('app_latency_seconds', 'x', buckets=[0.1, 0.5, 1, 2, 5])\n",
    )
    .unwrap();
    let (scanned, errors) = source::scan(&[dir.clone(), dir.join("missing")]);
    assert_eq!(errors.len(), 1);
    let s = Settings {
        source_histograms: scanned,
        ..Settings::default()
    };
    let f = run(&canary("3", Q, ""), &s);
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(f[0].3.contains("metrics.py:2"), "{f:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn http(code: u16, body: &str) -> String {
    format!(
        "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// A fake Prometheus answering every connection with `answer` (or hanging when `None`).
fn fake(answer: Option<String>) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let answer = answer.clone();
            std::thread::spawn(move || {
                let mut b = [0u8; 4096];
                let _ = s.read(&mut b);
                match answer {
                    Some(a) => {
                        let _ = s.write_all(a.as_bytes());
                    }
                    None => std::thread::sleep(Duration::from_secs(20)),
                }
            });
        }
    });
    format!("http://127.0.0.1:{port}")
}

#[test]
fn misbehaving_prometheus_falls_back_in_bounded_time() {
    let cases = [
        (None, "within"),
        (Some(http(500, "oops")), "500"),
        (Some(http(200, "not json!")), "not JSON"),
        (Some("garbage garbage\r\n\r\n".to_owned()), "not HTTP"),
        (
            Some(http(200, r#"{"status":"success","data":["1","x","0.5"]}"#)),
            "not a number",
        ),
        (
            Some(http(200, r#"{"status":"error","error":"bad match[]"}"#)),
            "bad match",
        ),
    ];
    for (answer, want) in cases {
        let url = fake(answer);
        let started = Instant::now();
        let r = live::le_values(&url, "x_bucket", Duration::from_millis(700));
        assert!(started.elapsed() < Duration::from_secs(3), "{want}");
        let e = r.expect_err(want);
        assert!(e.contains(want), "{want}: {e}");
        // Through the rules: an info finding saying so, and the known layout still used.
        let s = Settings {
            prometheus_url: Some(url.clone()),
            prometheus_timeout_ms: 500,
            ..Settings::default()
        };
        let f = run(&canary("3", Q, ""), &s);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].2, "info");
    }
}

/// Concurrent lookups on a server that hangs: the first waits for its timeout, the ones that
/// start while it has gone unanswered for 250 ms fall back at once (the webhook's lookups run
/// in parallel; before, each waited its own full timeout: tests/webhook_faults.rs).
#[test]
fn lookups_on_a_hanging_server_do_not_pile_up() {
    let url = fake(None);
    let first = {
        let url = url.clone();
        std::thread::spawn(move || {
            let t = Instant::now();
            let r = live::bounds(&url, "first_seconds_bucket", "first_seconds", 1000);
            (r, t.elapsed())
        })
    };
    std::thread::sleep(Duration::from_millis(400));
    let t = Instant::now();
    let second = live::bounds(&url, "second_seconds_bucket", "second_seconds", 1000);
    let waited = t.elapsed();
    let e = second.expect_err("falls back");
    assert!(e.contains("has waited"), "{e}");
    assert!(waited < Duration::from_millis(200), "{waited:?}");
    let (r, took) = first.join().expect("first lookup");
    assert!(
        r.is_err() && took >= Duration::from_millis(900),
        "{r:?} {took:?}"
    );
    // Then the server is left alone: no more waiting either.
    let t = Instant::now();
    let third = live::bounds(&url, "third_seconds_bucket", "third_seconds", 1000);
    assert!(
        third.is_err() && t.elapsed() < Duration::from_millis(200),
        "{third:?}"
    );
}

#[test]
fn live_values_sort_numerically_and_compare_numerically() {
    let url = fake(Some(http(
        200,
        r#"{"status":"success","data":["+Inf","0.5","1.0","10","2.5"]}"#,
    )));
    let v = live::le_values(&url, "x_bucket", Duration::from_secs(2)).unwrap();
    assert_eq!(v, vec![0.5, 1.0, 2.5, 10.0, f64::INFINITY]);
    assert!(buckets::same(1.0, "1.0".parse().unwrap()));
    assert!(live::parse_url("https://prom:9090").is_err());
}

#[test]
fn cli_source_and_prometheus_flags() {
    let dir = std::env::temp_dir().join(format!("rollgate-cli-src-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("metrics.go"),
        "var h = prometheus.NewHistogram(prometheus.HistogramOpts{Name: \"app_latency_seconds\", Buckets: []float64{0.5, 1, 2, 5}})\n",
    )
    .unwrap();
    let manifest = dir.join("canary.yaml");
    std::fs::write(&manifest, canary("3", Q, "")).unwrap();
    let bin = env!("CARGO_BIN_EXE_rollgate");
    let out = std::process::Command::new(bin)
        .args(["lint", "--no-config", "--format", "gcc", "--source"])
        .arg(&dir)
        .arg(&manifest)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("threshold-not-on-bucket-boundary") && stdout.contains("metrics.go:1"),
        "{stdout}"
    );
    // A missing --source path: reported, the rest still linted, exit 2.
    let out = std::process::Command::new(bin)
        .args(["lint", "--no-config", "--format", "gcc", "--source"])
        .arg(dir.join("missing"))
        .arg(&manifest)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--source"));
    // https is refused up front with a clear message.
    let out = std::process::Command::new(bin)
        .args(["lint", "--no-config", "--prometheus", "https://prom:9090"])
        .arg(&manifest)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("https:// is not supported"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn hanging_prometheus_costs_one_timeout_per_run() {
    let url = fake(None);
    let s = Settings {
        prometheus_url: Some(url),
        prometheus_timeout_ms: 400,
        ..Settings::default()
    };
    let yaml: Vec<String> = (0..8)
        .map(|i| {
            canary(
                "3",
                &Q.replace("app_latency", &format!("app{i}_latency")),
                "",
            )
            .replace(
                "name: web\n  namespace",
                &format!("name: web{i}\n  namespace"),
            )
        })
        .collect();
    let started = Instant::now();
    let f = run(&yaml.join("---\n"), &s);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(f.len(), 8, "{f:?}");
    assert!(f.iter().all(|x| x.2 == "info"), "{f:?}");
}

#[test]
fn version_dependent_layouts_give_warnings() {
    let yaml = "apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: llm}
spec:
  metrics:
  - name: ttft
    successCondition: result[0] < 0.3
    provider:
      prometheus:
        address: http://prom:9090
        query: histogram_quantile(0.99, sum by (le) (rate(vllm:time_to_first_token_seconds_bucket[5m])))
";
    let f = run(yaml, &Settings::default());
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].2, "warning", "{f:?}");
    assert!(f[0].3.contains("version dependent"), "{f:?}");
}

/// Instrumentation next to the manifests is read without flags (issue 19): the linted folder's
/// source files, a named file's folder, a source file named on the command line (read as a
/// source, not YAML), `sources:` globs, and `sources: []` to turn discovery off. Binary and
/// oversized files are skipped.
#[test]
fn cli_discovers_sources_next_to_manifests() {
    let dir = std::env::temp_dir().join(format!("rollgate-cli-disc-{}", std::process::id()));
    let src = dir.join("app");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("metrics.py"),
        "from prometheus_client import Histogram\nh = Histogram('app_latency_seconds', 'latency', buckets=[0.5, 1, 2, 5])\n",
    )
    .unwrap();
    // Skipped: binary, and in node_modules.
    std::fs::write(src.join("blob.py"), b"Histogram(\0\0\0").unwrap();
    std::fs::create_dir_all(dir.join("node_modules/x")).unwrap();
    std::fs::write(
        dir.join("node_modules/x/m.js"),
        "new Histogram({name: 'app_latency_seconds', buckets: [0.3, 3]})\n",
    )
    .unwrap();
    let manifest = dir.join("canary.yaml");
    std::fs::write(&manifest, canary("3", Q, "")).unwrap();
    let bin = env!("CARGO_BIN_EXE_rollgate");
    let lint = |args: &[&std::ffi::OsStr]| {
        let out = std::process::Command::new(bin)
            .args(["lint", "--format", "gcc"])
            .args(args)
            .current_dir(&dir)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let found = |stdout: &str| {
        stdout.contains("threshold-not-on-bucket-boundary") && stdout.contains("metrics.py:2")
    };
    let no_config = std::ffi::OsStr::new("--no-config");
    for target in [dir.as_os_str(), manifest.as_os_str()] {
        let (code, stdout) = lint(&[no_config, target]);
        assert_eq!(code, Some(1), "{stdout}");
        assert!(found(&stdout), "{stdout}");
        assert!(!stdout.contains("0.3"), "{stdout}");
    }
    // A source file named on the command line is read as a source, not parsed as YAML.
    let named = src.join("metrics.py");
    let (code, stdout) = lint(&[no_config, named.as_os_str()]);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(!stdout.contains("parse-error"), "{stdout}");
    // `sources: []` turns discovery off; a glob that names the file turns it back on.
    let cfg = dir.join(".rollgate.yaml");
    std::fs::write(&cfg, "sources: []\n").unwrap();
    let (code, stdout) = lint(&[manifest.as_os_str()]);
    assert!(!found(&stdout), "{code:?} {stdout}");
    std::fs::write(&cfg, "sources: [\"app/*.py\"]\n").unwrap();
    let (code, stdout) = lint(&[manifest.as_os_str()]);
    assert!(found(&stdout), "{code:?} {stdout}");
    std::fs::write(&cfg, "sources: [\"other/**\"]\n").unwrap();
    let (_, stdout) = lint(&[manifest.as_os_str()]);
    assert!(!found(&stdout), "{stdout}");
    std::fs::remove_dir_all(&dir).unwrap();
}
