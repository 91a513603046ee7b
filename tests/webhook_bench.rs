//! Webhook performance figures (see deploy/README.md and docs/performance.md).
//!
//! - `cache_memory_10k_services_2k_deployments` (runs with the tests): process RSS with 10,000
//!   Services and 2,000 Deployments in the cluster cache, fed through the same conversion the
//!   watch uses (realistic objects with managedFields, status and last-applied annotations,
//!   stripped on the way in). Goal ≤ 64 MB.
//! - `tls_load` (ignored; `cargo test --release --test webhook_bench -- --ignored --nocapture`):
//!   `oha` (verifies TLS with `--cacert`) against the release `rollgate serve --no-cluster` with
//!   captured Canary, MetricTemplate and VirtualService reviews over TLS keep-alive, and against a
//!   bare rustls endpoint that allows everything, in the same run. Goal: p99 ≤ 2 ms at
//!   5,000 requests/s, 0 errors; throughput ratio to the bare endpoint ≥ 0.5.

#[path = "webhook/support.rs"]
mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::api::DynamicObject;
use kube::core::ApiResource;
use rollgate::engine::Inventory;
use rollgate::webhook::cache::{ClusterCache, Store, to_object};
use rollgate::webhook::metrics::Metrics;
use serde_json::{Value, json};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

fn managed_fields(spec_keys: &[&str]) -> Value {
    let mut fields = serde_json::Map::new();
    for k in spec_keys {
        fields.insert(format!("f:{k}"), json!({}));
    }
    json!([{
        "manager": "kubectl-client-side-apply", "operation": "Update", "apiVersion": "v1",
        "time": "2026-11-01T10:00:00Z", "fieldsType": "FieldsV1",
        "fieldsV1": {"f:metadata": {"f:annotations": {".": {}, "f:kubectl.kubernetes.io/last-applied-configuration": {}},
                                    "f:labels": {".": {}, "f:app": {}, "f:team": {}}},
                     "f:spec": fields}
    }])
}

fn service(i: usize) -> Value {
    let name = format!("svc-{i}");
    let spec = json!({
        "selector": {"app": format!("app-{}", i % 500)},
        "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"},
                  {"name": "http-metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"}],
        "clusterIP": format!("10.{}.{}.{}", i / 65536 % 256, i / 256 % 256, i % 256),
        "clusterIPs": [format!("10.{}.{}.{}", i / 65536 % 256, i / 256 % 256, i % 256)],
        "type": "ClusterIP", "sessionAffinity": "None",
        "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack", "internalTrafficPolicy": "Cluster"
    });
    json!({
        "metadata": {
            "name": name, "namespace": format!("ns-{}", i % 50),
            "uid": format!("8c6b7a0e-0000-4000-8000-{i:012}"), "resourceVersion": format!("{}", 100000 + i),
            "creationTimestamp": "2026-11-01T10:00:00Z",
            "labels": {"app": format!("app-{}", i % 500), "team": "payments"},
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": serde_json::to_string(&json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec})).unwrap_or_default()},
            "managedFields": managed_fields(&["ports", "selector", "type"])
        },
        "spec": spec,
        "status": {"loadBalancer": {}}
    })
}

fn deployment(i: usize) -> Value {
    let name = format!("app-{i}");
    let spec = json!({
        "replicas": 3, "revisionHistoryLimit": 10,
        "selector": {"matchLabels": {"app": name}},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
        "template": {
            "metadata": {"labels": {"app": name, "version": "v1"}, "annotations": {"prometheus.io/scrape": "true"}},
            "spec": {
                "containers": [{
                    "name": "app", "image": format!("registry.example.com/team/{name}:1.2.{i}"),
                    "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"},
                              {"name": "metrics", "containerPort": 9090, "protocol": "TCP"}],
                    "env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "PORT", "value": "8080"},
                            {"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": "http://otel-collector.observability:4317"}],
                    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
                    "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http", "scheme": "HTTP"}, "periodSeconds": 5},
                    "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP"}, "periodSeconds": 10},
                    "imagePullPolicy": "IfNotPresent", "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"
                }],
                "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
                "securityContext": {}, "schedulerName": "default-scheduler"
            }
        }
    });
    json!({
        "metadata": {
            "name": name, "namespace": format!("ns-{}", i % 50),
            "uid": format!("9d6b7a0e-0000-4000-8000-{i:012}"), "resourceVersion": format!("{}", 200000 + i),
            "generation": 4, "creationTimestamp": "2026-11-01T10:00:00Z",
            "labels": {"app": name, "team": "payments"},
            "annotations": {
                "deployment.kubernetes.io/revision": "4",
                "kubectl.kubernetes.io/last-applied-configuration": serde_json::to_string(&json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name}, "spec": spec})).unwrap_or_default()
            },
            "managedFields": managed_fields(&["replicas", "selector", "strategy", "template"])
        },
        "spec": spec,
        "status": {"observedGeneration": 4, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3, "availableReplicas": 3,
                   "conditions": [{"type": "Available", "status": "True", "lastUpdateTime": "2026-11-01T10:00:00Z", "lastTransitionTime": "2026-11-01T10:00:00Z", "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability."},
                                  {"type": "Progressing", "status": "True", "lastUpdateTime": "2026-11-01T10:00:00Z", "lastTransitionTime": "2026-11-01T10:00:00Z", "reason": "NewReplicaSetAvailable", "message": "ReplicaSet has successfully progressed."}]}
    })
}

#[test]
fn cache_memory_10k_services_2k_deployments() {
    let before = rss_kib();
    let svc_ar = ApiResource::erase::<k8s_openapi::api::core::v1::Service>(&());
    let dep_ar = ApiResource::erase::<k8s_openapi::api::apps::v1::Deployment>(&());
    let mut store = Store::default();
    let mut raw_bytes = 0usize;
    let start = Instant::now();
    for (ar, n, make) in [
        (&svc_ar, 10_000, service as fn(usize) -> Value),
        (&dep_ar, 2_000, deployment as fn(usize) -> Value),
    ] {
        for i in 0..n {
            let v = make(i);
            raw_bytes += serde_json::to_vec(&v).map(|b| b.len()).unwrap_or(0);
            let d: DynamicObject = serde_json::from_value(v).expect("object");
            store.insert(to_object(ar, d).expect("converted"));
        }
    }
    let fill = start.elapsed();
    let cache = ClusterCache::from_store(store, Arc::new(Metrics::new()));
    let after = rss_kib();
    let (services, deployments) =
        cache.read(|s| (s.count("", "Service"), s.count("apps", "Deployment")));
    let json_mb = cache.read(|s| s.json_bytes()) as f64 / 1e6;
    assert_eq!((services, deployments), (10_000, 2_000));
    // A lookup as rules do it, timed.
    let t = Instant::now();
    let mut hits = 0;
    for i in 0..10_000 {
        hits += cache.read(|s| {
            s.view()
                .get(
                    "",
                    "Service",
                    Some(&format!("ns-{}", i % 50)),
                    &format!("svc-{i}"),
                )
                .len()
        });
    }
    let per_get = t.elapsed() / 10_000;
    assert_eq!(hits, 10_000);
    println!(
        "cache memory: {services} Services + {deployments} Deployments ({:.1} MB as served by the \
         apiserver, {json_mb:.1} MB stripped): process RSS {:.1} MB (before {:.1} MB, +{:.1} MB); \
         filled in {:.0} ms; get (parse included) {:?}",
        raw_bytes as f64 / 1e6,
        after as f64 / 1024.0,
        before as f64 / 1024.0,
        (after.saturating_sub(before)) as f64 / 1024.0,
        fill.as_secs_f64() * 1e3,
        per_get,
    );
    assert!(
        after < 64 * 1024,
        "RSS {after} KiB with the cache filled: over the 64 MB goal"
    );
}

/// oha's JSON summary, reduced to what the report needs.
#[derive(Debug)]
struct Load {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    ok: u64,
    errors: u64,
}

fn oha(args: &[String]) -> Option<Load> {
    let out = Command::new("oha")
        .args(args)
        .args(["--no-tui", "--output-format", "json"])
        .stderr(Stdio::inherit())
        .output()
        .ok()?;
    let v: Value = serde_json::from_slice(&out.stdout).ok()?;
    let codes = v["statusCodeDistribution"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let ok = codes.get("200").and_then(Value::as_u64).unwrap_or(0);
    let non200: u64 = codes
        .iter()
        .filter(|(k, _)| *k != "200")
        .filter_map(|(_, n)| n.as_u64())
        .sum();
    // Requests still in flight when `-z` ends are reported as "aborted due to deadline": not
    // failures of the server.
    let errors: u64 = v["errorDistribution"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| !k.contains("deadline"))
                .filter_map(|(_, n)| n.as_u64())
                .sum()
        })
        .unwrap_or(0);
    let pct = |p: &str| v["latencyPercentiles"][p].as_f64().unwrap_or(f64::NAN) * 1e3;
    Some(Load {
        rps: v["summary"]["requestsPerSec"].as_f64().unwrap_or(0.0),
        p50_ms: pct("p50"),
        p99_ms: pct("p99"),
        ok,
        errors: errors + non200,
    })
}

/// A bare rustls endpoint that allows everything: the same TLS stack, runtime and HTTP server
/// as rollgate, reading only the request's uid (a response must echo it) and no object, no rules.
/// (Until this session it answered without reading the body, with an empty uid: not an answer
/// the apiserver accepts, and ~3 µs cheaper per request than the least a webhook must do.)
fn bare_endpoint(cert: &Path, key: &Path) -> (SocketAddr, std::thread::JoinHandle<()>) {
    rollgate::webhook::tls::install_provider();
    let cfg = rollgate::webhook::tls::server_config(
        &std::fs::read(cert).expect("cert"),
        &std::fs::read(key).expect("key"),
    )
    .expect("config");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("addr");
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            // The least a working webhook does: read the review and answer with its uid (the
            // apiserver rejects a response whose uid differs from the request's).
            let app = axum::Router::new().route(
                "/validate",
                axum::routing::post(|body: axum::body::Bytes| async move {
                    #[derive(serde::Deserialize)]
                    struct Review {
                        request: Request,
                    }
                    #[derive(serde::Deserialize)]
                    struct Request {
                        uid: String,
                    }
                    let uid = serde_json::from_slice::<Review>(&body)
                        .map(|r| r.request.uid)
                        .unwrap_or_default();
                    let review = json!({"apiVersion": "admission.k8s.io/v1",
                        "kind": "AdmissionReview", "response": {"uid": uid, "allowed": true}});
                    (
                        [("content-type", "application/json")],
                        serde_json::to_vec(&review).unwrap_or_default(),
                    )
                }),
            );
            let tls = axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(cfg));
            let _ = axum_server::from_tcp_rustls(listener, tls)
                .expect("server")
                .serve(app.into_make_service())
                .await;
        });
    });
    (addr, thread)
}

/// Kills the server when the benchmark ends, also on a failed assertion.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // SAFETY: signalling our own child.
        unsafe {
            libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM);
        }
        let _ = self.0.wait();
    }
}

/// The decision alone (no TLS, no HTTP), per fixture: what the server adds on top of it.
#[test]
#[ignore = "timing figures; run with --release"]
fn decision_time() {
    use rollgate::engine::{Config, Engine, Settings};
    let engine = Engine::new(rollgate::rules::REGISTRY, &Config::default(), None);
    let settings = Settings::default();
    for name in [
        "create-canary.json",
        "create-metrictemplate.json",
        "create-virtualservice-bad-weights.json",
        "create-servicemonitor.json",
    ] {
        // `ROLLGATE_BENCH_FIXTURE=canary`: only the fixtures whose name contains it (profiling).
        if let Ok(only) = std::env::var("ROLLGATE_BENCH_FIXTURE") {
            if !name.contains(&only) {
                continue;
            }
        }
        let path = format!("{}/testdata/admission/{name}", env!("CARGO_MANIFEST_DIR"));
        let body = std::fs::read(path).expect("fixture");
        let n = 2000;
        let t = Instant::now();
        for _ in 0..n {
            let out =
                rollgate::webhook::review(&body, &engine, &settings, &rollgate::webhook::NoCluster);
            std::hint::black_box(serde_json::to_vec(&out.review).expect("json"));
        }
        println!("{name}: {:?} per decision", t.elapsed() / n);
    }
}

fn body_file(dir: &Path, name: &str, edit: impl FnOnce(&mut Value)) -> PathBuf {
    let path = format!("{}/testdata/admission/{name}", env!("CARGO_MANIFEST_DIR"));
    let mut v: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json");
    edit(&mut v);
    let out = dir.join(name);
    std::fs::write(&out, serde_json::to_vec(&v).expect("json")).expect("write");
    out
}

#[test]
#[ignore = "load benchmark: needs oha and a release build; prints figures"]
fn tls_load() {
    let secs: u64 = std::env::var("ROLLGATE_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    if Command::new("oha").arg("--version").output().is_err() {
        println!("SKIPPED tls_load: oha not installed (cargo install oha --locked)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("rollgate-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let pki = support::Pki::new("bench");
    let (cert, key) = pki.leaf("rollgate", &["127.0.0.1"]);
    let (cert_p, key_p, ca_p) = (dir.join("tls.crt"), dir.join("tls.key"), dir.join("ca.crt"));
    std::fs::write(&cert_p, cert).expect("cert");
    std::fs::write(&key_p, key).expect("key");
    std::fs::write(&ca_p, &pki.ca_pem).expect("ca");

    let port = support::free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_rollgate"))
        .args(["serve", "--no-cluster", "--log-level", "warn"])
        .arg(format!("--addr=127.0.0.1:{port}"))
        .arg("--tls-cert")
        .arg(&cert_p)
        .arg("--tls-key")
        .arg(&key_p)
        .stderr(Stdio::null())
        .spawn()
        .expect("rollgate serve");
    let _child = KillOnDrop(child);
    std::thread::sleep(Duration::from_secs(1));
    let (bare, _bare_thread) = bare_endpoint(&cert_p, &key_p);

    let bodies = [
        ("Canary", body_file(&dir, "create-canary.json", |_| {})),
        (
            "MetricTemplate",
            body_file(&dir, "create-metrictemplate.json", |_| {}),
        ),
        (
            "VirtualService",
            body_file(&dir, "create-virtualservice-bad-weights.json", |v| {
                // The good version: 90/10.
                if let Some(w) = v.pointer_mut("/request/object/spec/http/0/route/1/weight") {
                    *w = json!(5);
                }
            }),
        ),
    ];
    let common = |url: String, body: &Path, extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = vec![
            "-z".into(),
            format!("{secs}s"),
            "-m".into(),
            "POST".into(),
            "-H".into(),
            "content-type: application/json".into(),
            "--cacert".into(),
            ca_p.display().to_string(),
            "-D".into(),
            body.display().to_string(),
        ];
        a.extend(extra.iter().map(|s| (*s).to_owned()));
        a.push(url);
        a
    };
    let rollgate_url = format!("https://127.0.0.1:{port}/validate");
    let bare_url = format!("https://{bare}/validate");
    println!(
        "| object | rollgate at 5,000 req/s: p50 / p99 (ms) | errors | rollgate max req/s | bare rustls max req/s | ratio |"
    );
    println!("|---|---|---|---|---|---|");
    for (name, body) in &bodies {
        let fixed = oha(&common(
            rollgate_url.clone(),
            body,
            &["-c", "8", "-q", "5000"],
        ))
        .expect("oha rollgate fixed rate");
        let max = oha(&common(rollgate_url.clone(), body, &["-c", "8"])).expect("oha rollgate");
        let base = oha(&common(bare_url.clone(), body, &["-c", "8"])).expect("oha bare");
        println!(
            "| {name} | {:.2} / {:.2} ({:.0} req/s) | {} | {:.0} | {:.0} | {:.2} |",
            fixed.p50_ms,
            fixed.p99_ms,
            fixed.rps,
            fixed.errors + max.errors,
            max.rps,
            base.rps,
            max.rps / base.rps.max(1.0)
        );
        eprintln!("{name}: fixed {fixed:?} max {max:?} bare {base:?}");
        assert_eq!(fixed.errors + max.errors, 0, "{name}: failed requests");
        assert!(fixed.ok > 0);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
