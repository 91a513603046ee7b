//! The claims of deploy/README.md "Security review" that are about what the webhook contacts:
//! Prometheus addresses written in admitted objects (`spec.provider.address` of a Flagger
//! MetricTemplate, `provider.prometheus.address` of an Argo AnalysisTemplate) are never
//! contacted, not even on 127.0.0.1; a `prometheus.url` from the config that is not on
//! `--prometheus-allow` is never contacted; the allow-listed one is, with the gate's selector
//! only.

#[path = "webhook/support.rs"]
mod support;

use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rollgate::webhook::server::{self, ServeOptions};
use serde_json::{Value, json};
use support::{Https, Pki, admission_review, response_of};

/// A listener on 127.0.0.1 that records every request line it receives and answers like
/// Prometheus's `label/le/values` API (bounds 0.1, 0.5, 1 and +Inf).
struct Listener {
    url: String,
    connections: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
}

fn listener() -> Listener {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", l.local_addr().expect("addr"));
    let connections = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(Mutex::new(Vec::new()));
    let (c, r) = (connections.clone(), requests.clone());
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            c.fetch_add(1, Ordering::SeqCst);
            let r = r.clone();
            std::thread::spawn(move || {
                let Some(buf) = support::read_request_head(&mut s) else {
                    return;
                };
                let line = String::from_utf8_lossy(&buf)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_owned();
                r.lock().expect("requests").push(line);
                let body = r#"{"status":"success","data":["0.1","0.5","1","+Inf"]}"#;
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    Listener {
        url,
        connections,
        requests,
    }
}

/// Objects whose gates compare `histogram_quantile` with a threshold (so the bucket rules look
/// for the layout), each naming `address` as its Prometheus.
fn objects(address: &str) -> Vec<Value> {
    let query = "histogram_quantile(0.99, sum by (le) (rate(req_seconds_bucket{app=\"web\"}[5m])))";
    vec![
        json!({
            "apiVersion": "flagger.app/v1beta1",
            "kind": "MetricTemplate",
            "metadata": {"name": "latency", "namespace": "prod"},
            "spec": {"provider": {"type": "prometheus", "address": address}, "query": query}
        }),
        json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "AnalysisTemplate",
            "metadata": {"name": "latency", "namespace": "prod"},
            "spec": {"metrics": [{
                "name": "p99",
                "successCondition": "result[0] <= 0.7",
                "provider": {"prometheus": {"address": address, "query": query}}
            }]}
        }),
    ]
}

async fn serve(tweak: impl FnOnce(&mut ServeOptions)) -> (server::Running, Pki, PathBuf) {
    let pki = Pki::new("security");
    let (cert, key) = pki.leaf("rollgate", &["127.0.0.1"]);
    let dir = std::env::temp_dir().join(format!(
        "rollgate-security-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("tls.crt"), cert).expect("cert");
    std::fs::write(dir.join("tls.key"), key).expect("key");
    let mut opts = ServeOptions::new(
        "127.0.0.1:0".parse().expect("addr"),
        dir.join("tls.crt"),
        dir.join("tls.key"),
    );
    opts.no_cluster = true;
    tweak(&mut opts);
    let running = server::start(opts, None).await.expect("server starts");
    (running, pki, dir)
}

fn rand_suffix() -> usize {
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::SeqCst)
}

async fn review_all(running: &server::Running, pki: &Pki, objects: &[Value]) -> Vec<Value> {
    let mut c = Https::connect(running.addr, &pki.ca_pem)
        .await
        .expect("connect");
    let mut out = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        let uid = format!("ssrf-{i}");
        let body = serde_json::to_vec(&admission_review(&uid, "CREATE", o)).expect("json");
        let (code, body) = c.post("/validate", body).await.expect("answer");
        assert_eq!(code, 200);
        let r = response_of(&body);
        assert_eq!(r["uid"], uid.as_str());
        out.push(r);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn addresses_in_objects_and_unlisted_urls_are_never_contacted() {
    // What an attacker would point the webhook at: a listener on the webhook's own loopback.
    let target = listener();
    // The operator's Prometheus, on the allow-list.
    let prometheus = listener();
    // A prometheus.url in the config that the operator did not also allow.
    let unlisted = listener();

    // 1. No live lookups configured at all: the objects' address is not contacted.
    let (running, pki, dir) = serve(|_| {}).await;
    review_all(&running, &pki, &objects(&target.url)).await;
    running.shutdown().await.expect("shutdown");
    let _ = std::fs::remove_dir_all(dir);

    // 2. prometheus.url set but not allow-listed: neither it nor the objects' address.
    let unlisted_url = unlisted.url.clone();
    let prometheus_url = prometheus.url.clone();
    let (running, pki, dir) = serve(|o| {
        o.config.settings.prometheus_url = Some(unlisted_url);
        o.prometheus_allow = vec![prometheus_url];
    })
    .await;
    assert_eq!(running.state.settings.prometheus_url, None);
    review_all(&running, &pki, &objects(&target.url)).await;
    running.shutdown().await.expect("shutdown");
    let _ = std::fs::remove_dir_all(dir);

    // 3. The allow-listed Prometheus: it is asked (so the lookups did happen), with the gate's
    // selector; the objects' address still is not. The object naming the allow-listed URL
    // itself changes nothing: the webhook uses the config's URL whatever the object says.
    let prometheus_url = prometheus.url.clone();
    let (running, pki, dir) = serve(|o| {
        o.config.settings.prometheus_url = Some(prometheus_url.clone());
        o.prometheus_allow = vec![format!("{prometheus_url}/")];
    })
    .await;
    let answers = review_all(&running, &pki, &objects(&target.url)).await;
    running.shutdown().await.expect("shutdown");
    let _ = std::fs::remove_dir_all(dir);

    assert_eq!(
        target.connections.load(Ordering::SeqCst),
        0,
        "the address written in the object was contacted: {:?}",
        target.requests.lock().expect("requests")
    );
    assert_eq!(
        unlisted.connections.load(Ordering::SeqCst),
        0,
        "a prometheus.url missing from --prometheus-allow was contacted"
    );
    let asked = prometheus.requests.lock().expect("requests").clone();
    assert!(
        !asked.is_empty(),
        "the allow-listed Prometheus was not asked"
    );
    for line in &asked {
        assert!(
            line.starts_with("GET /api/v1/label/le/values?match[]=req_seconds_bucket"),
            "{line}"
        );
    }
    // On the discovered layout (0.1, 0.5, 1), the Argo threshold 0.7 is not a bound: denied,
    // which shows the answer came from the allow-listed server.
    let argo = &answers[1];
    assert_eq!(argo["allowed"], false, "{argo}");
    assert!(
        argo["status"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("threshold-not-on-bucket-boundary")),
        "{argo}"
    );
}

/// The TLS settings deploy/README.md lists: ring's AEAD-only suites (TLS 1.3, and TLS 1.2 with
/// ECDHE only: no CBC, no RSA key exchange), X25519/P-256/P-384, ALPN h2 and http/1.1. (No
/// client certificate is requested: every other test connects without one.)
#[test]
fn tls_settings_are_the_documented_ones() {
    let pki = Pki::new("tls-settings");
    let (cert, key) = pki.leaf("rollgate", &["127.0.0.1"]);
    let cfg = rollgate::webhook::tls::server_config(cert.as_bytes(), key.as_bytes())
        .expect("server config");
    let suites: Vec<String> = cfg
        .crypto_provider()
        .cipher_suites
        .iter()
        .map(|s| format!("{:?}", s.suite()))
        .collect();
    assert_eq!(
        suites,
        [
            "TLS13_AES_256_GCM_SHA384",
            "TLS13_AES_128_GCM_SHA256",
            "TLS13_CHACHA20_POLY1305_SHA256",
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        ]
    );
    let groups: Vec<String> = cfg
        .crypto_provider()
        .kx_groups
        .iter()
        .map(|g| format!("{:?}", g.name()))
        .collect();
    assert_eq!(groups, ["X25519", "secp256r1", "secp384r1"]);
    assert_eq!(cfg.alpn_protocols, [b"h2".to_vec(), b"http/1.1".to_vec()]);
}
