//! `rollgate serve` over real TLS on 127.0.0.1, in process (the decision, the limits, the
//! certificate reload, graceful shutdown) and as the real binary (SIGTERM).

#[path = "webhook/support.rs"]
mod support;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rollgate::webhook::server::{self, Running, ServeOptions};
use serde_json::{Value, json};
use support::{Https, Pki, admission_review, response_of, virtual_service};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn temp_dir(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "rollgate-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// A Secret volume the way the kubelet writes it: `..<timestamp>/` folders, a `..data`
/// symlink to the current one, and `tls.crt`/`tls.key` symlinks through `..data`.
struct SecretVolume {
    dir: PathBuf,
    generation: usize,
}

impl SecretVolume {
    fn new(dir: &Path, cert: &str, key: &str) -> SecretVolume {
        let mut v = SecretVolume {
            dir: dir.to_owned(),
            generation: 0,
        };
        v.swap(cert, key);
        for f in ["tls.crt", "tls.key"] {
            std::os::unix::fs::symlink(Path::new("..data").join(f), dir.join(f)).expect("link");
        }
        v
    }

    /// Write a new generation and swap `..data` atomically (rename over the old link).
    fn swap(&mut self, cert: &str, key: &str) {
        self.generation += 1;
        let gen_name = format!("..gen_{}", self.generation);
        let g = self.dir.join(&gen_name);
        std::fs::create_dir_all(&g).expect("gen dir");
        std::fs::write(g.join("tls.crt"), cert).expect("cert");
        std::fs::write(g.join("tls.key"), key).expect("key");
        let tmp = self.dir.join("..data_tmp");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&gen_name, &tmp).expect("link");
        std::fs::rename(&tmp, self.dir.join("..data")).expect("swap");
    }

    fn cert(&self) -> PathBuf {
        self.dir.join("tls.crt")
    }

    fn key(&self) -> PathBuf {
        self.dir.join("tls.key")
    }
}

impl Drop for SecretVolume {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

struct Fixture {
    pki: Pki,
    running: Running,
    volume: SecretVolume,
}

async fn start_with(tweak: impl FnOnce(&mut ServeOptions)) -> Fixture {
    let pki = Pki::new("webhook");
    let (cert, key) = pki.leaf("rollgate", &["127.0.0.1", "localhost"]);
    let dir = temp_dir("tls");
    let volume = SecretVolume::new(&dir, &cert, &key);
    let mut opts = ServeOptions::new(
        "127.0.0.1:0".parse().expect("addr"),
        volume.cert(),
        volume.key(),
    );
    opts.no_cluster = true;
    opts.metrics_addr = Some("127.0.0.1:0".parse().expect("addr"));
    opts.cert_poll = Duration::from_millis(100);
    opts.request_timeout = Duration::from_secs(2);
    tweak(&mut opts);
    let running = server::start(opts, None).await.expect("server starts");
    Fixture {
        pki,
        running,
        volume,
    }
}

async fn start() -> Fixture {
    start_with(|_| {}).await
}

impl Fixture {
    fn addr(&self) -> SocketAddr {
        self.running.addr
    }

    async fn client(&self) -> Https {
        Https::connect(self.addr(), &self.pki.ca_pem)
            .await
            .expect("TLS connection")
    }

    async fn review(&self, body: &Value) -> (u16, Value) {
        let mut c = self.client().await;
        let (code, body) = c
            .post("/validate", serde_json::to_vec(body).expect("json"))
            .await
            .expect("response");
        (code, response_of(&body))
    }

    async fn metrics(&self) -> String {
        let addr = self.running.metrics_addr.expect("metrics addr");
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        s.write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).await.expect("read");
        out
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_denied_and_warned_over_tls() {
    let f = start().await;
    let (code, r) = f
        .review(&admission_review(
            "u-ok",
            "CREATE",
            &virtual_service("ok", &[90, 10]),
        ))
        .await;
    assert_eq!(code, 200);
    assert_eq!(r["uid"], "u-ok");
    assert_eq!(r["allowed"], true, "{r}");
    assert!(r.get("warnings").is_none(), "{r}");

    let (code, r) = f
        .review(&admission_review(
            "u-bad",
            "CREATE",
            &virtual_service("bad", &[95, 10]),
        ))
        .await;
    assert_eq!(code, 200);
    assert_eq!(r["uid"], "u-bad");
    assert_eq!(r["allowed"], false, "{r}");
    let msg = r["status"]["message"].as_str().expect("message");
    assert!(
        msg.starts_with("istio-weights-not-100 at spec.http[0].route"),
        "{msg}"
    );
    assert_eq!(r["status"]["code"], 403);
    assert_eq!(
        r["status"]["details"]["causes"][0]["field"],
        "spec.http[0].route"
    );

    // A warning-level finding (a suppression naming no rule) admits with a warning.
    let mut vs = virtual_service("warned", &[50, 50]);
    vs["metadata"]["annotations"] = json!({"ignore-check.rollgate.dev/no-such-rule": "legacy"});
    let (_, r) = f.review(&admission_review("u-warn", "CREATE", &vs)).await;
    assert_eq!(r["allowed"], true, "{r}");
    let w = r["warnings"][0].as_str().expect("warning");
    assert!(w.starts_with("invalid-suppression: "), "{w}");

    // A suppression with a reason admits the bad object, exactly as the linter does.
    let mut vs = virtual_service("suppressed", &[95, 10]);
    vs["metadata"]["annotations"] =
        json!({"ignore-check.rollgate.dev/istio-weights-not-100": "migrating, INC-42"});
    let (_, r) = f.review(&admission_review("u-sup", "CREATE", &vs)).await;
    assert_eq!(r["allowed"], true, "{r}");

    // DELETE and kinds no rule looks at are allowed without a check.
    let (_, r) = f
        .review(&admission_review(
            "u-del",
            "DELETE",
            &virtual_service("bad", &[95, 10]),
        ))
        .await;
    assert_eq!(r["allowed"], true, "{r}");
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
    let (_, r) = f.review(&admission_review("u-cm", "CREATE", &cm)).await;
    assert_eq!(r["allowed"], true, "{r}");

    let m = f.metrics().await;
    assert!(
        m.contains("rollgate_admission_reviews_total{verdict=\"denied\"} 1"),
        "{m}"
    );
    assert!(
        m.contains(
            "rollgate_admission_findings_total{rule=\"istio-weights-not-100\",verdict=\"deny\"} 1"
        ),
        "{m}"
    );
    assert!(
        m.contains("rollgate_admission_duration_seconds_bucket{le=\"10.0\"}"),
        "{m}"
    );
    f.running.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_a_valid_admission_review() {
    let f = start().await;
    let mut c = f.client().await;
    for (body, expect) in [
        (b"{not json".to_vec(), "not JSON"),
        (
            br#"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"x"}}"#.to_vec(),
            "unsupported AdmissionReview apiVersion",
        ),
        (
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#.to_vec(),
            "has no request",
        ),
        (
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u-7","operation":"EXPLODE"}}"#.to_vec(),
            "cannot decode",
        ),
        (b"[]".to_vec(), "must be a JSON object"),
    ] {
        // The same keep-alive connection keeps working after each bad request.
        let (code, body) = c.post("/validate", body).await.expect("response");
        assert_eq!(code, 400);
        let r = response_of(&body);
        assert_eq!(r["allowed"], false);
        let msg = r["status"]["message"].as_str().unwrap_or("");
        assert!(msg.contains(expect), "{msg}");
    }
    // The uid is echoed when it can be read, so the apiserver can match the answer.
    let (_, body) = c
        .post(
            "/validate",
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u-7","operation":"EXPLODE"}}"#.to_vec(),
        )
        .await
        .expect("response");
    assert_eq!(response_of(&body)["uid"], "u-7");
    let (code, _) = c.get("/validate").await.expect("response");
    assert_eq!(code, 405);
    f.running.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_limit_are_refused_with_413() {
    let f = start().await;
    let addr = f.addr();
    let tls = support::connector(&f.pki.ca_pem, tokio_rustls::rustls::ALL_VERSIONS);
    let name = tokio_rustls::rustls::pki_types::ServerName::IpAddress(addr.ip().into());
    // With a Content-Length of 10 MB, the answer comes before the body is read; a client that
    // keeps writing may see the connection close under it, so write what goes through and
    // then read.
    for chunked in [false, true] {
        let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let mut s = tls.connect(name.clone(), tcp).await.expect("tls");
        let head = if chunked {
            "POST /validate HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n".to_owned()
        } else {
            format!(
                "POST /validate HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                10 * 1024 * 1024
            )
        };
        s.write_all(head.as_bytes()).await.expect("write");
        let chunk = vec![b' '; 1024 * 1024];
        for _ in 0..if chunked { 4 } else { 10 } {
            let framed = async {
                if chunked {
                    s.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                        .await?;
                    s.write_all(&chunk).await?;
                    s.write_all(b"\r\n").await
                } else {
                    s.write_all(&chunk).await
                }
            };
            match tokio::time::timeout(Duration::from_millis(500), framed).await {
                Ok(Ok(())) => {}
                _ => break,
            }
        }
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
        let text = String::from_utf8_lossy(&out);
        assert!(
            text.starts_with("HTTP/1.1 413"),
            "chunked={chunked}: {text}"
        );
        assert!(text.contains("3145728-byte limit"), "{text}");
        // The AdmissionReview in the body says the same status as the response.
        assert!(text.contains("\"code\":413"), "{text}");
        assert!(
            text.contains("\"apiVersion\":\"admission.k8s.io/v1\""),
            "{text}"
        );
    }
    // The server keeps serving others.
    let (code, _) = f
        .review(&admission_review(
            "u",
            "CREATE",
            &virtual_service("ok", &[100]),
        ))
        .await;
    assert_eq!(code, 200);
    f.running.shutdown().await.expect("shutdown");
}

/// A hand-made TLS 1.1 ClientHello (rustls clients cannot speak 1.1): the server must answer
/// with an alert or close, never a ServerHello.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_1_1_and_1_0_handshakes_are_refused() {
    let f = start().await;
    for version in [[3u8, 2u8], [3, 1]] {
        let mut hello = Vec::new();
        hello.extend_from_slice(&version); // client_version
        hello.extend_from_slice(&[7u8; 32]); // random
        hello.push(0); // session id
        hello.extend_from_slice(&[0, 4, 0x00, 0x2f, 0x00, 0x35]); // AES128-SHA, AES256-SHA
        hello.extend_from_slice(&[1, 0]); // compression: null
        let mut hs = vec![1u8, 0, 0, hello.len() as u8];
        hs.extend_from_slice(&hello);
        let mut record = vec![0x16, version[0], version[1], 0, hs.len() as u8];
        record.extend_from_slice(&hs);
        let addr = f.addr();
        let answer = tokio::task::spawn_blocking(move || {
            let mut s = std::net::TcpStream::connect(addr).expect("connect");
            s.set_read_timeout(Some(Duration::from_secs(5))).ok();
            s.write_all(&record).expect("write");
            let mut buf = [0u8; 64];
            let n = s.read(&mut buf).unwrap_or(0);
            buf[..n].to_vec()
        })
        .await
        .expect("join");
        assert!(
            answer.is_empty() || answer[0] == 0x15,
            "expected an alert or a close, got {answer:?}"
        );
    }
    // TLS 1.2 and 1.3 both work.
    for v in [
        &tokio_rustls::rustls::version::TLS12,
        &tokio_rustls::rustls::version::TLS13,
    ] {
        let tls = support::connector(&f.pki.ca_pem, &[v]);
        let mut c = Https::connect_with(f.addr(), tls).await.expect("handshake");
        assert_eq!(c.protocol, Some(v.version));
        assert_eq!(c.get("/healthz").await.expect("healthz").0, 200);
    }
    f.running.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_rotation_loses_no_request_and_keeps_the_old_cert_when_invalid() {
    let mut f = start().await;
    let first = f.client().await.peer_cert;
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicUsize::new(0));
    let successes = Arc::new(AtomicUsize::new(0));
    let mut load = Vec::new();
    for i in 0..2 {
        let (stop, failures, successes) = (stop.clone(), failures.clone(), successes.clone());
        let (addr, ca) = (f.addr(), f.pki.ca_pem.clone());
        load.push(tokio::spawn(async move {
            let body = serde_json::to_vec(&admission_review(
                "u",
                "CREATE",
                &virtual_service("ok", &[50, 50]),
            ))
            .expect("json");
            while !stop.load(Ordering::SeqCst) {
                // New connections (new handshakes) on one task, keep-alive on the other.
                let res = async {
                    let mut c = Https::connect(addr, &ca).await?;
                    for _ in 0..if i == 0 { 1 } else { 20 } {
                        let (code, _) = c.post("/validate", body.clone()).await?;
                        if code != 200 {
                            return Err(format!("status {code}"));
                        }
                    }
                    Ok::<(), String>(())
                }
                .await;
                match res {
                    Ok(()) => successes.fetch_add(1, Ordering::SeqCst),
                    Err(e) => {
                        eprintln!("failed request during rotation: {e}");
                        failures.fetch_add(1, Ordering::SeqCst)
                    }
                };
            }
        }));
    }
    let (cert2, key2) = f.pki.leaf("rollgate-2", &["127.0.0.1"]);
    f.volume.swap(&cert2, &key2);
    let deadline = Instant::now() + Duration::from_secs(10);
    let second = loop {
        let c = f.client().await.peer_cert;
        if c != first {
            break c;
        }
        assert!(Instant::now() < deadline, "new certificate never served");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // A pair whose key does not match: ignored, the second certificate keeps serving.
    let (cert3, _) = f.pki.leaf("rollgate-3", &["127.0.0.1"]);
    f.volume.swap(&cert3, &key2);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(f.client().await.peer_cert, second);
    // Garbage too.
    f.volume.swap("not a certificate", "nor a key");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(f.client().await.peer_cert, second);
    stop.store(true, Ordering::SeqCst);
    for l in load {
        l.await.expect("load task");
    }
    assert_eq!(failures.load(Ordering::SeqCst), 0);
    assert!(successes.load(Ordering::SeqCst) > 10);
    let m = f.metrics().await;
    assert!(
        m.contains("rollgate_certificate_reloads_total{result=\"ok\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("rollgate_certificate_reloads_total{result=\"error\"} 1"),
        "{m}"
    );
    f.running.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_is_cut_off_and_others_are_served() {
    let f = start_with(|o| o.request_timeout = Duration::from_millis(800)).await;
    let addr = f.addr();
    let tls = support::connector(&f.pki.ca_pem, tokio_rustls::rustls::ALL_VERSIONS);
    let name = tokio_rustls::rustls::pki_types::ServerName::IpAddress(addr.ip().into());
    // Headers that never finish.
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut slow_headers = tls.connect(name.clone(), tcp).await.expect("tls");
    slow_headers
        .write_all(b"POST /validate HTTP/1.1\r\nhost: x\r\n")
        .await
        .expect("write");
    // A body that never finishes.
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut slow_body = tls.connect(name, tcp).await.expect("tls");
    slow_body
        .write_all(b"POST /validate HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{")
        .await
        .expect("write");
    // Meanwhile others are served.
    let (code, _) = f
        .review(&admission_review(
            "u",
            "CREATE",
            &virtual_service("ok", &[100]),
        ))
        .await;
    assert_eq!(code, 200);
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), slow_body.read(&mut buf))
        .await
        .expect("the slow body is answered")
        .unwrap_or(0);
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    let n = tokio::time::timeout(Duration::from_secs(5), slow_headers.read(&mut buf))
        .await
        .expect("the slow headers are cut off")
        .unwrap_or(0);
    // hyper answers 408 or closes the connection.
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(n == 0 || text.starts_with("HTTP/1.1 408"), "{text}");
    f.running.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_in_flight_requests() {
    let f = start().await;
    let addr = f.addr();
    assert_eq!(
        f.client().await.get("/readyz").await.expect("readyz").0,
        200
    );
    // A request whose body is still arriving when shutdown starts.
    let tls = support::connector(&f.pki.ca_pem, tokio_rustls::rustls::ALL_VERSIONS);
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut s = tls
        .connect(
            tokio_rustls::rustls::pki_types::ServerName::IpAddress(addr.ip().into()),
            tcp,
        )
        .await
        .expect("tls");
    let body = serde_json::to_vec(&admission_review(
        "in-flight",
        "CREATE",
        &virtual_service("bad", &[95, 10]),
    ))
    .expect("json");
    let head = format!(
        "POST /validate HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.expect("write");
    s.write_all(&body[..10]).await.expect("write");
    s.flush().await.expect("flush");
    // Shutdown must start while the server is serving this request (headers read, body not
    // complete); before the headers arrive the connection is idle and may be closed.
    let metrics = f.running.state.metrics.clone();
    let deadline = Instant::now() + Duration::from_secs(5);
    while metrics.in_flight.get() < 1 {
        assert!(
            Instant::now() < deadline,
            "request never reached the handler"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let shutdown = tokio::spawn(f.running.shutdown());
    tokio::time::sleep(Duration::from_millis(300)).await;
    // New connections are refused once draining started.
    assert!(Https::connect(addr, &f.pki.ca_pem).await.is_err());
    s.write_all(&body[10..]).await.expect("write rest");
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .expect("answered")
        .ok();
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("\"uid\":\"in-flight\""), "{text}");
    shutdown.await.expect("join").expect("shutdown");
}

/// The real binary: JSON logs, ready, then SIGTERM → exit 0.
#[test]
fn binary_serves_and_stops_on_sigterm() {
    let pki = Pki::new("bin");
    let (cert, key) = pki.leaf("rollgate", &["127.0.0.1"]);
    let dir = temp_dir("bin");
    std::fs::write(dir.join("tls.crt"), cert).expect("cert");
    std::fs::write(dir.join("tls.key"), key).expect("key");
    let port = support::free_port();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_rollgate"))
        .args(["serve", "--no-cluster", "--addr"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--tls-cert")
        .arg(dir.join("tls.crt"))
        .arg("--tls-key")
        .arg(dir.join("tls.key"))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn rollgate serve");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let answered = rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(mut c) = Https::connect(addr, &pki.ca_pem).await {
                let body = serde_json::to_vec(&admission_review(
                    "bin",
                    "CREATE",
                    &virtual_service("bad", &[95, 10]),
                ))
                .expect("json");
                break c.post("/validate", body).await.expect("response");
            }
            assert!(Instant::now() < deadline, "rollgate serve did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    assert_eq!(answered.0, 200);
    assert_eq!(response_of(&answered.1)["allowed"], false);
    // SAFETY: sending a signal to our own child process.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let denied = lines
        .iter()
        .find(|l| l["fields"]["verdict"] == "denied")
        .expect("a log line for the denial");
    assert_eq!(denied["fields"]["rules"], "istio-weights-not-100");
    assert!(
        !stderr.contains("podinfo-0"),
        "object contents must not be logged at info: {stderr}"
    );
    assert!(lines.iter().any(|l| l["fields"]["signal"] == "SIGTERM"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// SSRF guard: the config's Prometheus URL is used only when it is on `--prometheus-allow`,
/// and a live lookup is bounded well under the webhook timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_url_needs_the_allow_list_and_is_time_bounded() {
    let refused = start_with(|o| {
        o.config.settings.prometheus_url = Some("http://169.254.169.254:80".into());
        o.prometheus_allow = vec!["http://127.0.0.1:1".into()];
    })
    .await;
    assert_eq!(refused.running.state.settings.prometheus_url, None);
    refused.running.shutdown().await.expect("shutdown");

    // Allowed, but nothing listens there: reviews still answer (the rules fall back).
    let allowed = start_with(|o| {
        o.config.settings.prometheus_url = Some("http://127.0.0.1:1".into());
        o.config.settings.prometheus_timeout_ms = 30_000;
        o.prometheus_allow = vec!["http://127.0.0.1:1/".into()];
    })
    .await;
    let s = &allowed.running.state.settings;
    assert_eq!(s.prometheus_url.as_deref(), Some("http://127.0.0.1:1"));
    assert_eq!(s.prometheus_timeout_ms, server::MAX_LIVE_LOOKUP_MS);
    let path = format!(
        "{}/testdata/admission/create-canary.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let body: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json");
    let t = Instant::now();
    let (code, r) = allowed.review(&body).await;
    assert_eq!(code, 200);
    assert_eq!(r["uid"], body["request"]["uid"]);
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    allowed.running.shutdown().await.expect("shutdown");
}
