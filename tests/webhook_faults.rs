//! The webhook under load and faults (issue 11, part 3): 60 s of open-loop load at 2,000
//! AdmissionReviews/s over TLS against `rollgate serve` (the real binary) connected to a real
//! kube-apiserver (cluster cache, as rollgate's ServiceAccount under deploy/rbac.yaml) and a real
//! Prometheus on the `--prometheus-allow` list, while
//!
//! - the serving certificate files are rotated twice (the kubelet's `..data` symlink swap);
//! - Prometheus is stopped, then replaced by a listener that accepts and never answers, then
//!   restarted, and later frozen with SIGSTOP and thawed (a hang that the lookups do reach: after
//!   the stop, failed lookups leave Prometheus alone for 30 s, which covers the listener phase);
//! - the kube-apiserver is killed and restarted (every watch connection cut); the cache must
//!   resync: an object created after the restart must reach it, `/readyz` and
//!   `rollgate_cache_synced` must say synced;
//! - SIGTERM arrives at the end with requests in flight (slow uploads that span the moment the
//!   listener closes); none may be lost.
//!
//! Printed: a table per phase (requests, failed admissions, p50/p99/max latency measured from the
//! request's scheduled time, so a stall is not hidden by coordinated omission), RSS sampled from
//! /proc every second (first/max/last), in-flight requests at SIGTERM and lost. Asserted: no
//! failed admission, no lost in-flight request, the cache resynced, both rotations served, p99 per
//! phase under a bound that allows for a shared 2-core machine (`ROLLGATE_FAULTS_P99_MS`,
//! default 50 ms; the goal is 10 ms and the real figures are printed), RSS growth bounded.
//!
//! A failure is a connection error, a non-200 status, a timeout (5 s, the webhook's
//! `timeoutSeconds`), or a body that is not an AdmissionReview answering the request's uid.
//!
//! Skipped with the reason printed unless kube-apiserver, etcd, kubectl and prometheus are
//! present, and in debug builds (figures from `cargo nextest run` are not representative);
//! `ROLLGATE_REQUIRE_FAULTS=1` (.ci/run) makes either a failure. Run it with
//! `cargo test --release --test webhook_faults -- --nocapture`. Everything binds 127.0.0.1; load is bounded in count and time.

#[path = "webhook/support.rs"]
#[macro_use]
mod support;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Https, Pki, free_port};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const SA_USER: &str = "system:serviceaccount:rollgate:rollgate";

/// Offered load and its length.
const RATE: u64 = 2_000;
const LOAD: Duration = Duration::from_secs(60);
/// A request not answered within this is a failure (deploy/webhook.yaml `timeoutSeconds`).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// At most this many requests in flight (the generator is bounded whatever the server does).
const MAX_IN_FLIGHT: usize = 4_000;
/// A connection is replaced after this many requests (new handshakes all along, so certificate
/// rotations are seen by new connections as the apiserver's would).
const REQUESTS_PER_CONNECTION: usize = 1000;
/// `--shutdown-delay` given to rollgate: /readyz is 503 that long before the listener closes.
const SHUTDOWN_DELAY: Duration = Duration::from_secs(2);
/// Slow uploads started after SIGTERM, still sending their body when the listener closes.
const SLOW_REQUESTS: usize = 8;

fn step(msg: &str) {
    eprintln!("[faults] {msg}");
}

struct Binaries {
    apiserver: PathBuf,
    etcd: PathBuf,
    kubectl: PathBuf,
    prometheus: PathBuf,
}

fn binaries() -> Result<Binaries, String> {
    let support::KubeBinaries {
        apiserver,
        etcd,
        kubectl,
    } = support::kube_binaries()?;
    let prometheus = std::env::var_os("PROMETHEUS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/prometheus"));
    if !prometheus.is_file() {
        return Err(format!(
            "no Prometheus at {} (apt-get install prometheus)",
            prometheus.display()
        ));
    }
    Ok(Binaries {
        apiserver,
        etcd,
        kubectl,
        prometheus,
    })
}

// --- child processes ----------------------------------------------------------------------------

/// A child process killed on drop; its output goes to `<dir>/<name>.log`. Can be stopped and
/// started again with the same command line.
struct Proc {
    name: &'static str,
    program: PathBuf,
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
    log: PathBuf,
    child: Option<Child>,
}

impl Proc {
    fn new(name: &'static str, program: &Path, args: Vec<OsString>, dir: &Path) -> Proc {
        Proc {
            name,
            program: program.to_owned(),
            args,
            envs: Vec::new(),
            log: dir.join(format!("{name}.log")),
            child: None,
        }
    }

    fn env(mut self, k: &str, v: impl Into<OsString>) -> Proc {
        self.envs.push((k.into(), v.into()));
        self
    }

    fn start(&mut self) {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let child = Command::new(&self.program)
            .args(&self.args)
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .stdout(file.try_clone().expect("log"))
            .stderr(file)
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.name));
        self.child = Some(child);
    }

    fn pid(&self) -> i32 {
        self.child.as_ref().map_or(0, |c| c.id() as i32)
    }

    fn signal(&self, sig: i32) {
        if let Some(c) = &self.child {
            // SAFETY: kill(2) on our own child's pid.
            unsafe {
                libc::kill(c.id() as i32, sig);
            }
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Wait for the process to exit, at most `limit`.
    fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        let c = self.child.as_mut()?;
        loop {
            if let Ok(Some(s)) = c.try_wait() {
                self.child = None;
                return Some(s);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    fn assert_running(&mut self) {
        if let Some(c) = self.child.as_mut() {
            if let Ok(Some(status)) = c.try_wait() {
                panic!("{} exited ({status}):\n{}", self.name, self.log_tail());
            }
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // A process left stopped would ignore SIGKILL until continued on some kernels' views.
        self.signal(libc::SIGCONT);
        self.kill();
    }
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

fn os(s: impl Into<String>) -> OsString {
    OsString::from(s.into())
}

// --- kube-apiserver + etcd ----------------------------------------------------------------------

struct Cluster {
    dir: PathBuf,
    kubectl: PathBuf,
    kubeconfig: PathBuf,
    sa_kubeconfig: PathBuf,
    // Dropped first: the apiserver before etcd.
    apiserver: Proc,
    _etcd: Proc,
}

impl Cluster {
    fn start(bins: &Binaries, dir: &Path) -> Cluster {
        let pki = Pki::new("faults-apiserver");
        let (cert, key) = pki.leaf("kube-apiserver", &["127.0.0.1", "localhost"]);
        write(&dir.join("ca.crt"), &pki.ca_pem);
        write(&dir.join("apiserver.crt"), &cert);
        write(&dir.join("apiserver.key"), &key);
        let sa_key = rcgen::KeyPair::generate().expect("key");
        write(&dir.join("sa.key"), &sa_key.serialize_pem());
        write(&dir.join("sa.pub"), &sa_key.public_key_pem());
        let token = "faults-admin-token";
        write(
            &dir.join("tokens.csv"),
            &format!("{token},admin,admin,system:masters\n"),
        );
        let (client, peer) = (free_port(), free_port());
        let mut etcd = Proc::new(
            "etcd",
            &bins.etcd,
            vec![
                os(format!("--data-dir={}", dir.join("etcd").display())),
                os(format!("--listen-client-urls=http://127.0.0.1:{client}")),
                os(format!("--advertise-client-urls=http://127.0.0.1:{client}")),
                os(format!("--listen-peer-urls=http://127.0.0.1:{peer}")),
                os(format!(
                    "--initial-advertise-peer-urls=http://127.0.0.1:{peer}"
                )),
                os(format!("--initial-cluster=default=http://127.0.0.1:{peer}")),
            ],
            dir,
        );
        etcd.start();
        let port = free_port();
        let p = |f: &str| dir.join(f).display().to_string();
        let mut apiserver = Proc::new(
            "kube-apiserver",
            &bins.apiserver,
            vec![
                os(format!("--etcd-servers=http://127.0.0.1:{client}")),
                os("--bind-address=127.0.0.1"),
                os("--advertise-address=127.0.0.1"),
                os(format!("--secure-port={port}")),
                os("--insecure-port=0"),
                os(format!("--cert-dir={}", p("certs"))),
                os(format!("--tls-cert-file={}", p("apiserver.crt"))),
                os(format!("--tls-private-key-file={}", p("apiserver.key"))),
                os(format!("--token-auth-file={}", p("tokens.csv"))),
                os("--authorization-mode=RBAC"),
                os("--service-account-issuer=https://kubernetes.default.svc"),
                os(format!("--service-account-key-file={}", p("sa.pub"))),
                os(format!(
                    "--service-account-signing-key-file={}",
                    p("sa.key")
                )),
                os("--disable-admission-plugins=ServiceAccount"),
                os("--service-cluster-ip-range=10.0.0.0/24"),
            ],
            dir,
        );
        apiserver.start();
        let kubeconfig = dir.join("kubeconfig");
        let sa_kubeconfig = dir.join("kubeconfig-sa");
        for (path, extra) in [
            (&kubeconfig, String::new()),
            (&sa_kubeconfig, format!(", as: \"{SA_USER}\"")),
        ] {
            write(
                path,
                &format!(
                    "apiVersion: v1\nkind: Config\n\
                     clusters: [{{name: f, cluster: {{server: \"https://127.0.0.1:{port}\", certificate-authority: \"{}\"}}}}]\n\
                     users: [{{name: u, user: {{token: \"{token}\"{extra}}}}}]\n\
                     contexts: [{{name: f, context: {{cluster: f, user: u}}}}]\n\
                     current-context: f\n",
                    dir.join("ca.crt").display()
                ),
            );
        }
        let mut c = Cluster {
            dir: dir.to_owned(),
            kubectl: bins.kubectl.clone(),
            kubeconfig,
            sa_kubeconfig,
            apiserver,
            _etcd: etcd,
        };
        c.wait_ready(Duration::from_secs(90));
        c
    }

    fn wait_ready(&mut self, limit: Duration) -> Duration {
        let start = Instant::now();
        loop {
            self.apiserver.assert_running();
            if self.kubectl(&["get", "--raw", "/readyz"]).status.success() {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < limit,
                "kube-apiserver not ready after {limit:?}:\n{}",
                self.apiserver.log_tail()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn kubectl(&self, args: &[&str]) -> Output {
        Command::new(&self.kubectl)
            .arg(format!("--kubeconfig={}", self.kubeconfig.display()))
            .args(["--request-timeout=10s"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("kubectl runs")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        let so = String::from_utf8_lossy(&out.stdout).into_owned();
        let se = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "kubectl {args:?} failed:\n{so}\n{se}");
        so
    }

    fn apply(&self, name: &str, text: &str) {
        let p = self.dir.join(name);
        write(&p, text);
        self.ok(&["apply", "-f", &p.display().to_string()]);
    }
}

/// testdata/crds without `default: ""` lines (kube-apiserver 1.20 rejects them).
fn install_crds(c: &Cluster) {
    let dir = c.dir.join("crds");
    std::fs::create_dir_all(&dir).expect("dir");
    for e in std::fs::read_dir(Path::new(ROOT).join("testdata/crds")).expect("testdata/crds") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "yaml") {
            let text = std::fs::read_to_string(&p).expect("read");
            let kept: Vec<&str> = text
                .lines()
                .filter(|l| l.trim() != "default: \"\"")
                .collect();
            write(
                &dir.join(p.file_name().expect("name")),
                &(kept.join("\n") + "\n"),
            );
        }
    }
    c.ok(&["create", "-f", &dir.display().to_string()]);
    c.ok(&[
        "wait",
        "--for=condition=established",
        "--timeout=60s",
        "crd",
        "--all",
    ]);
}

/// What is in the cluster: the referents of the load's objects.
const CLUSTER_OBJECTS: &str = concat!(
    r#"apiVersion: v1
kind: Namespace
metadata: {name: test}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
"#,
    podinfo_workload!(),
    r#"apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: latency, namespace: test}
spec:
  provider: {type: prometheus, address: "http://prometheus.monitoring:9090"}
  query: histogram_quantile(0.99, sum by (le) (rate(demo_latency_seconds_bucket{destination_workload="{{ target }}"}[5m])))
---
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: latency-live, namespace: test}
spec:
  provider: {type: prometheus, address: "http://prometheus.monitoring:9090"}
  query: histogram_quantile(0.99, sum by (le) (rate(demo_latency_seconds_bucket{destination_workload="{{ target }}", variant="{{ variables.variant }}"}[5m])))
"#
);

// --- Prometheus and the exporter it scrapes -----------------------------------------------------

const METRICS: &str = "\
# HELP demo_latency_seconds Request latency.
# TYPE demo_latency_seconds histogram
demo_latency_seconds_bucket{destination_workload=\"podinfo\",le=\"0.1\"} 0
demo_latency_seconds_bucket{destination_workload=\"podinfo\",le=\"0.5\"} 10
demo_latency_seconds_bucket{destination_workload=\"podinfo\",le=\"1\"} 20
demo_latency_seconds_bucket{destination_workload=\"podinfo\",le=\"2\"} 988
demo_latency_seconds_bucket{destination_workload=\"podinfo\",le=\"5\"} 1000
demo_latency_seconds_bucket{destination_workload=\"podinfo\",le=\"10\"} 1000
demo_latency_seconds_bucket{destination_workload=\"podinfo\",le=\"+Inf\"} 1000
demo_latency_seconds_sum{destination_workload=\"podinfo\"} 1530
demo_latency_seconds_count{destination_workload=\"podinfo\"} 1000
";

/// Serve `/metrics` on a free port (thread per connection, 127.0.0.1); returns the port.
fn exporter() -> u16 {
    support::exporter(METRICS)
}

fn prometheus(bins: &Binaries, dir: &Path, port: u16, target: u16) -> Proc {
    let pdir = dir.join("prometheus");
    std::fs::create_dir_all(pdir.join("data")).expect("dir");
    write(
        &pdir.join("prometheus.yml"),
        &format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n- job_name: demo\n  static_configs:\n  - targets: ['127.0.0.1:{target}']\n"
        ),
    );
    Proc::new(
        "prometheus",
        &bins.prometheus,
        vec![
            os(format!(
                "--config.file={}",
                pdir.join("prometheus.yml").display()
            )),
            os(format!("--web.listen-address=127.0.0.1:{port}")),
            os(format!(
                "--storage.tsdb.path={}",
                pdir.join("data").display()
            )),
        ],
        dir,
    )
}

/// Plain HTTP GET on 127.0.0.1 (Prometheus API, rollgate's /metrics): (status, body).
fn http_get(addr: SocketAddr, path: &str, timeout: Duration) -> Option<(u16, String)> {
    let mut s = std::net::TcpStream::connect_timeout(&addr, timeout).ok()?;
    s.set_read_timeout(Some(timeout)).ok()?;
    s.set_write_timeout(Some(timeout)).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let code = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((code, body))
}

/// A listener on Prometheus's port that accepts connections and never answers (a hung server).
struct Hang {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<usize>>,
}

impl Hang {
    fn start(port: u16) -> Hang {
        let deadline = Instant::now() + Duration::from_secs(5);
        let l = loop {
            match TcpListener::bind(("127.0.0.1", port)) {
                Ok(l) => break l,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("cannot bind the hanging listener on {port}: {e}"),
            }
        };
        l.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            while !stop2.load(Ordering::SeqCst) {
                match l.accept() {
                    Ok((s, _)) => held.push(s),
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
            held.len()
        });
        Hang {
            stop,
            thread: Some(thread),
        }
    }

    /// Close the listener and every connection it held; how many it accepted.
    fn stop(mut self) -> usize {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().and_then(|t| t.join().ok()).unwrap_or(0)
    }
}

// --- serving certificate, mounted the way the kubelet mounts a Secret ---------------------------

/// `dir/tls.crt -> ..data/tls.crt`, `..data -> ..<generation>`; a rotation writes a new
/// generation folder and swaps `..data` atomically (rename of a symlink), like the kubelet's
/// atomic writer does for cert-manager's renewals.
struct CertMount {
    dir: PathBuf,
    generation: usize,
}

impl CertMount {
    fn new(dir: &Path, pki: &Pki) -> CertMount {
        std::fs::create_dir_all(dir).expect("cert dir");
        let mut m = CertMount {
            dir: dir.to_owned(),
            generation: 0,
        };
        m.rotate(pki);
        for f in ["tls.crt", "tls.key"] {
            std::os::unix::fs::symlink(format!("..data/{f}"), dir.join(f)).expect("symlink");
        }
        m
    }

    /// A new key pair under the same CA; returns the certificate's DER.
    fn rotate(&mut self, pki: &Pki) -> Vec<u8> {
        self.generation += 1;
        let (cert, key) = pki.leaf(&format!("rollgate-{}", self.generation), &["127.0.0.1"]);
        let gen_dir = self.dir.join(format!("..gen{}", self.generation));
        std::fs::create_dir_all(&gen_dir).expect("generation dir");
        write(&gen_dir.join("tls.crt"), &cert);
        write(&gen_dir.join("tls.key"), &key);
        let tmp = self.dir.join("..data_tmp");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(format!("..gen{}", self.generation), &tmp).expect("symlink");
        std::fs::rename(&tmp, self.dir.join("..data")).expect("swap ..data");
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        CertificateDer::from_pem_slice(cert.as_bytes())
            .expect("pem")
            .to_vec()
    }
}

// --- the request mix ----------------------------------------------------------------------------

/// One kind of request in the mix: the AdmissionReview with `@@UID@@` (and `@@N@@` in the live
/// template's query) to fill in.
struct Template {
    name: &'static str,
    /// How many of every `MIX_TOTAL` requests are of this kind.
    weight: usize,
    parts: Vec<String>,
    /// The verdict seen on the warm-up (with Prometheus up), for the wrong-verdict count.
    expected: Option<&'static str>,
    /// The verdict depends on whether the live bucket lookup answered.
    live: bool,
}

const UID: &str = "@@UID@@";
const SEQ: &str = "@@N@@";

fn review_json(operation: &str, object: &Value) -> Value {
    let mut r = support::admission_review(UID, operation, object);
    let plural = match object["kind"].as_str() {
        Some("VirtualService") => "virtualservices",
        Some("Canary") => "canaries",
        Some("MetricTemplate") => "metrictemplates",
        _ => "",
    };
    r["request"]["resource"]["resource"] = Value::from(plural);
    r["request"]["requestResource"]["resource"] = Value::from(plural);
    r
}

fn template(name: &'static str, weight: usize, object: Value, live: bool) -> Template {
    let text = review_json("CREATE", &object).to_string();
    let mut parts = Vec::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find("@@") {
        parts.push(rest[..i].to_owned());
        let end = rest[i + 2..].find("@@").expect("placeholder end") + i + 4;
        parts.push(rest[i..end].to_owned());
        rest = &rest[end..];
    }
    parts.push(rest.to_owned());
    Template {
        name,
        weight,
        parts,
        expected: None,
        live,
    }
}

impl Template {
    fn body(&self, uid: &str, n: u64) -> Vec<u8> {
        let mut out = String::with_capacity(self.parts.iter().map(String::len).sum::<usize>() + 32);
        for p in &self.parts {
            match p.as_str() {
                UID => out.push_str(uid),
                SEQ => out.push_str(&n.to_string()),
                _ => out.push_str(p),
            }
        }
        out.into_bytes()
    }
}

fn vs(name: &str, weights: [i64; 2]) -> Value {
    json!({
        "apiVersion": "networking.istio.io/v1beta1",
        "kind": "VirtualService",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"hosts": ["reviews"], "http": [{"route": [
            {"destination": {"host": "reviews-primary"}, "weight": weights[0]},
            {"destination": {"host": "reviews-canary"}, "weight": weights[1]}
        ]}]}
    })
}

fn canary(name: &str, target: &str, template: &str, max: f64) -> Value {
    json!({
        "apiVersion": "flagger.app/v1beta1",
        "kind": "Canary",
        "metadata": {"name": name, "namespace": "test"},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "service": {"port": 9898},
            "analysis": {"interval": "1m", "threshold": 5, "maxWeight": 50, "stepWeight": 10,
                "metrics": [{"name": "latency", "templateRef": {"name": template},
                             "thresholdRange": {"max": max}, "interval": "1m"}]}
        }
    })
}

/// A Canary bound to the cluster's MetricTemplate `latency-live`, whose selector takes the
/// Canary's `templateVariables`: a new variant each time, so the buckets of its
/// `histogram_quantile` are looked up on Prometheus (live), never in the lookup cache. `max: 3`
/// is not a bucket bound (0.1 … 10): denied when Prometheus answered, admitted with the fallback
/// note when it did not.
fn live_canary() -> Value {
    let mut c = canary("podinfo", "podinfo", "latency-live", 3.0);
    c["spec"]["analysis"]["metrics"][0]["templateVariables"] =
        json!({"variant": format!("v{SEQ}")});
    c
}

fn metric_template(name: &str) -> Value {
    json!({
        "apiVersion": "flagger.app/v1beta1",
        "kind": "MetricTemplate",
        "metadata": {"name": name, "namespace": "test"},
        "spec": {
            // Never contacted: the webhook queries only the operator's allow-listed URL.
            "provider": {"type": "prometheus", "address": "http://prometheus.monitoring:9090"},
            "query": format!("histogram_quantile(0.99, sum by (le) (rate(demo_latency_seconds_bucket{{destination_workload=\"{{{{ target }}}}\"}}[5m])))")
        }
    })
}

/// The mix, out of 40: mostly small objects, a share of Canaries (the costly decision), and one
/// Canary in 40 whose MetricTemplate selector is new each time, so its bucket lookup goes to
/// Prometheus (50 live lookups/s; the other gates are answered from the 5-minute lookup cache).
fn mix() -> Vec<Template> {
    vec![
        template("VirtualService allowed", 10, vs("reviews", [90, 10]), false),
        template("VirtualService denied", 4, vs("reviews", [95, 10]), false),
        template(
            "Canary allowed",
            6,
            canary("podinfo", "podinfo", "latency", 0.5),
            false,
        ),
        template(
            "Canary warned",
            6,
            canary("ghost", "ghost", "latency", 0.5),
            false,
        ),
        template(
            "Canary denied",
            4,
            canary("podinfo", "podinfo", "latency", 3.0),
            false,
        ),
        template("MetricTemplate", 9, metric_template("latency"), false),
        template("Canary, live bucket lookup", 1, live_canary(), true),
    ]
}

const MIX_TOTAL: usize = 40;

fn pick(mix: &[Template], i: u64) -> usize {
    let mut k = (i % MIX_TOTAL as u64) as usize;
    for (n, t) in mix.iter().enumerate() {
        if k < t.weight {
            return n;
        }
        k -= t.weight;
    }
    0
}

/// `allowed` / `denied` / `warned` from a response, or why it is not a valid answer to `uid`.
fn verdict(status: u16, body: &[u8], uid: &str) -> Result<&'static str, String> {
    if status != 200 {
        return Err(format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        ));
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    if v["apiVersion"] != "admission.k8s.io/v1" || v["kind"] != "AdmissionReview" {
        return Err(format!("not an AdmissionReview: {v}"));
    }
    let r = &v["response"];
    if r["uid"] != uid {
        return Err(format!("uid {} instead of {uid}", r["uid"]));
    }
    match r["allowed"].as_bool() {
        Some(false) => Ok("denied"),
        Some(true) if r["warnings"].as_array().is_some_and(|w| !w.is_empty()) => Ok("warned"),
        Some(true) => Ok("allowed"),
        None => Err(format!("no `allowed` in {r}")),
    }
}

// --- the load generator -------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Sample {
    /// Scheduled send time, from the start of the load.
    at: Duration,
    latency: Duration,
    kind: usize,
    result: Result<&'static str, String>,
}

/// HTTP/2 connections to the webhook, as the kube-apiserver holds them (Go's client speaks h2
/// to a webhook that offers it, as rollgate does): `SLOTS` connections, each multiplexing
/// streams; a connection is replaced after `REQUESTS_PER_CONNECTION` requests, so new
/// handshakes (and certificate rotations) are seen all along.
struct Pool {
    addr: SocketAddr,
    tls: tokio_rustls::TlsConnector,
    slots: Vec<tokio::sync::Mutex<Option<(H2, usize)>>>,
    connects: AtomicUsize,
    /// Streams refused because their connection had just closed (nothing sent): retried.
    retried: AtomicUsize,
    /// (time of connect from load start, certificate DER) of every new connection.
    certs: Mutex<Vec<(Duration, Vec<u8>)>>,
}

const SLOTS: usize = 8;

type H2 = hyper::client::conn::http2::SendRequest<http_body_util::Full<hyper::body::Bytes>>;

impl Pool {
    fn new(addr: SocketAddr, ca: &str) -> Pool {
        use tokio_rustls::rustls;
        use tokio_rustls::rustls::pki_types::CertificateDer;
        use tokio_rustls::rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(ca.as_bytes()) {
            roots.add(c.expect("CA pem")).expect("root");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        cfg.alpn_protocols = vec![b"h2".to_vec()];
        Pool {
            addr,
            tls: tokio_rustls::TlsConnector::from(Arc::new(cfg)),
            slots: (0..SLOTS).map(|_| tokio::sync::Mutex::new(None)).collect(),
            connects: AtomicUsize::new(0),
            retried: AtomicUsize::new(0),
            certs: Mutex::new(Vec::new()),
        }
    }

    async fn connect(&self, start: Instant) -> Result<H2, String> {
        let tcp = tokio::net::TcpStream::connect(self.addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let name = tokio_rustls::rustls::pki_types::ServerName::IpAddress(self.addr.ip().into());
        let stream = self
            .tls
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        let (_, conn) = stream.get_ref();
        if conn.alpn_protocol() != Some(b"h2") {
            return Err("the server did not negotiate h2".into());
        }
        let cert = conn
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.to_vec())
            .unwrap_or_default();
        let (sender, connection) = hyper::client::conn::http2::handshake(
            hyper_util::rt::TokioExecutor::new(),
            hyper_util::rt::TokioIo::new(stream),
        )
        .await
        .map_err(|e| format!("HTTP/2 handshake: {e}"))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        self.connects.fetch_add(1, Ordering::Relaxed);
        self.certs
            .lock()
            .expect("certs")
            .push((start.elapsed(), cert));
        Ok(sender)
    }

    /// A sender on slot `i`'s connection (opened or replaced as needed).
    async fn sender(&self, i: usize, start: Instant) -> Result<H2, String> {
        let mut slot = self.slots[i % SLOTS].lock().await;
        if let Some((s, used)) = slot.as_mut() {
            if !s.is_closed() && *used < REQUESTS_PER_CONNECTION {
                *used += 1;
                return Ok(s.clone());
            }
        }
        let s = self.connect(start).await?;
        *slot = Some((s.clone(), 1));
        Ok(s)
    }
}

async fn one_request(
    pool: &Pool,
    i: usize,
    start: Instant,
    body: Vec<u8>,
) -> Result<(u16, Vec<u8>), String> {
    let uri = format!("https://{}/validate", pool.addr);
    for attempt in 0..3 {
        let mut sender = pool.sender(i, start).await?;
        let req = hyper::Request::post(uri.as_str())
            .header("content-type", "application/json")
            .body(http_body_util::Full::new(hyper::body::Bytes::from(
                body.clone(),
            )))
            .map_err(|e| e.to_string())?;
        let ready = sender.ready().await;
        let resp = match ready {
            Ok(()) => sender.send_request(req).await,
            Err(e) => Err(e),
        };
        match resp {
            Ok(resp) => return support::read_response(resp).await,
            // A stream the server never processed (its connection was closing: GOAWAY, or
            // refused): safe to send again, as Go's HTTP/2 client does.
            Err(e) if attempt < 2 && (e.is_canceled() || e.is_closed() || refused(&e)) => {
                pool.retried.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            Err(e) => return Err(format!("request: {e}")),
        }
    }
    Err("request: retries exhausted".into())
}

/// An HTTP/2 error that says the server did not process the stream (REFUSED_STREAM).
fn refused(e: &hyper::Error) -> bool {
    use std::error::Error as _;
    let mut cur: Option<&dyn std::error::Error> = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        if text.contains("REFUSED_STREAM") || text.contains("refused stream") {
            return true;
        }
        cur = c.source();
    }
    false
}

/// Open-loop load: request i is due at `i / RATE` after start, whatever happened to the earlier
/// ones; it takes an idle keep-alive connection or opens one. Stops issuing when `stop` is set or
/// after `LOAD`.
async fn load(
    mix: Arc<Vec<Template>>,
    start: Instant,
    stop: Arc<AtomicBool>,
    pool: Arc<Pool>,
) -> Vec<Sample> {
    let samples = Arc::new(Mutex::new(Vec::with_capacity(
        (RATE * LOAD.as_secs()) as usize + 16,
    )));
    let in_flight = Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
    let mut tasks = tokio::task::JoinSet::new();
    let total = RATE * LOAD.as_secs();
    let mut i: u64 = 0;
    let seq = Arc::new(AtomicU64::new(0));
    while i < total && !stop.load(Ordering::SeqCst) {
        let now = start.elapsed();
        let due = ((now.as_nanos() * u128::from(RATE)) / 1_000_000_000) as u64;
        while i < due.min(total) {
            let at = Duration::from_nanos(i * 1_000_000_000 / RATE);
            let kind = pick(&mix, i);
            let uid = format!("faults-{i}");
            let n = if mix[kind].live {
                seq.fetch_add(1, Ordering::Relaxed)
            } else {
                0
            };
            let body = mix[kind].body(&uid, n);
            let (pool, samples) = (pool.clone(), samples.clone());
            let Ok(permit) = in_flight.clone().try_acquire_owned() else {
                samples.lock().expect("samples").push(Sample {
                    at,
                    latency: Duration::ZERO,
                    kind,
                    result: Err("load generator: too many requests in flight".into()),
                });
                i += 1;
                continue;
            };
            tasks.spawn(async move {
                let r = tokio::time::timeout(
                    REQUEST_TIMEOUT,
                    one_request(&pool, i as usize, start, body),
                )
                .await;
                let latency = start.elapsed().saturating_sub(at);
                let result = match r {
                    Err(_) => Err(format!("no answer within {REQUEST_TIMEOUT:?}")),
                    Ok(Err(e)) => Err(e),
                    Ok(Ok((status, body))) => verdict(status, &body, &uid),
                };
                samples.lock().expect("samples").push(Sample {
                    at,
                    latency,
                    kind,
                    result,
                });
                drop(permit);
            });
            i += 1;
        }
        // Reap finished tasks so the set stays small.
        while tasks.try_join_next().is_some() {}
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
    while tasks.join_next().await.is_some() {}
    samples.lock().expect("samples").clone()
}

/// A request whose body is sent slowly (over `spread`), on its own TLS connection: it is in
/// flight while the server stops accepting. Returns the verdict.
async fn slow_request(
    addr: SocketAddr,
    ca: &str,
    body: Vec<u8>,
    uid: String,
    spread: Duration,
) -> Result<&'static str, String> {
    let tls = support::connector(ca, tokio_rustls::rustls::ALL_VERSIONS);
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let name = tokio_rustls::rustls::pki_types::ServerName::IpAddress(addr.ip().into());
    let mut s = tls
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS: {e}"))?;
    let head = format!(
        "POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())
        .await
        .map_err(|e| format!("write: {e}"))?;
    let pieces = 10;
    let chunk = body.len().div_ceil(pieces);
    for c in body.chunks(chunk) {
        s.write_all(c).await.map_err(|e| format!("write: {e}"))?;
        s.flush().await.map_err(|e| format!("flush: {e}"))?;
        tokio::time::sleep(spread / pieces as u32).await;
    }
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf))
        .await
        .map_err(|_| "no answer".to_owned())?;
    let text = String::from_utf8_lossy(&buf);
    let status: u16 = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("no HTTP answer ({} bytes)", buf.len()))?;
    let (_, resp_body) = text.split_once("\r\n\r\n").ok_or("no end of headers")?;
    verdict(status, resp_body.as_bytes(), &uid)
}

// --- measurements -------------------------------------------------------------------------------

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

/// (VmRSS in KiB, threads) of a process.
fn proc_status(pid: i32) -> Option<(u64, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    };
    Some((field("VmRSS:")?, field("Threads:")?))
}

/// When, and the latency histogram's buckets then.
type Snapshot = (Duration, Vec<(f64, f64)>);

/// `rollgate_admission_duration_seconds` buckets: (upper bound, cumulative count).
fn histogram(text: &str) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    for l in text.lines() {
        let Some(rest) = l.strip_prefix("rollgate_admission_duration_seconds_bucket{le=\"") else {
            continue;
        };
        let Some((le, tail)) = rest.split_once('"') else {
            continue;
        };
        let le = if le == "+Inf" {
            f64::INFINITY
        } else {
            le.parse().unwrap_or(f64::NAN)
        };
        if let Some(v) = tail.rsplit(' ').next().and_then(|v| v.parse().ok()) {
            out.push((le, v));
        }
    }
    out
}

/// The server-side p99 of the requests observed between two histogram snapshots: the upper
/// bound of the bucket holding it (`None` when nothing was observed).
fn server_p99(from: &[(f64, f64)], to: &[(f64, f64)]) -> Option<f64> {
    let delta: Vec<(f64, f64)> = to
        .iter()
        .map(|(le, c)| {
            let before = from.iter().find(|(l, _)| l == le).map_or(0.0, |(_, c)| *c);
            (*le, c - before)
        })
        .collect();
    let total = delta.last()?.1;
    if total <= 0.0 {
        return None;
    }
    delta
        .iter()
        .find(|(_, c)| *c >= total * 0.99)
        .map(|(le, _)| *le)
}

/// rollgate's /metrics text.
fn scrape(maddr: SocketAddr) -> Option<String> {
    http_get(maddr, "/metrics", Duration::from_secs(2))
        .filter(|(c, _)| *c == 200)
        .map(|(_, b)| b)
}

/// A metric's value from rollgate's /metrics (sum over the series matching every `labels`).
fn metric(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    let mut found = None;
    for l in text.lines() {
        let Some(rest) = l.strip_prefix(name) else {
            continue;
        };
        if !(rest.starts_with('{') || rest.starts_with(' ')) {
            continue;
        }
        if !labels.iter().all(|x| rest.contains(x)) {
            continue;
        }
        if let Some(v) = rest.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) {
            *found.get_or_insert(0.0) += v;
        }
    }
    found
}

/// Phase boundaries (from the start of the load) and names, in order.
struct Phases(Vec<(Duration, String)>);

impl Phases {
    fn of(&self, at: Duration) -> usize {
        self.0.iter().rposition(|(t, _)| *t <= at).unwrap_or(0)
    }
}

#[test]
fn webhook_under_load_and_faults() {
    let required = std::env::var("ROLLGATE_REQUIRE_FAULTS").is_ok_and(|v| v == "1");
    if cfg!(debug_assertions) && !required {
        // `cargo nextest run` builds tests without optimizations and runs them side by side:
        // latency figures from that are noise. .ci/run runs this test on its own, in release.
        println!(
            "SKIPPED webhook_under_load_and_faults: debug build (run `cargo test --release --test webhook_faults -- --nocapture`)"
        );
        return;
    }
    let bins = match binaries() {
        Ok(b) => b,
        Err(reason) => {
            if required {
                panic!("ROLLGATE_REQUIRE_FAULTS=1 but the fault test cannot run: {reason}");
            }
            println!("SKIPPED webhook_under_load_and_faults: {reason}");
            return;
        }
    };
    let dir = std::env::temp_dir().join(format!("rollgate-faults-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&bins, &dir)));
    if result.is_ok() {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        // The logs stay for a look; etcd's data (~130 MB) does not.
        let _ = std::fs::remove_dir_all(dir.join("etcd"));
        eprintln!("[faults] logs kept in {}", dir.display());
    }
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

fn run(bins: &Binaries, dir: &Path) {
    let setup = Instant::now();
    // 1. The cluster: CRDs, rollgate's namespace and RBAC from deploy/, the referents.
    step("etcd + kube-apiserver");
    let mut cluster = Cluster::start(bins, dir);
    install_crds(&cluster);
    for f in ["namespace.yaml", "rbac.yaml"] {
        cluster.ok(&["apply", "-f", &format!("{ROOT}/deploy/{f}")]);
    }
    cluster.apply("objects.yaml", CLUSTER_OBJECTS);

    // 2. Prometheus scraping an exporter of the histogram the gates query.
    let prom_port = free_port();
    let prom_addr: SocketAddr = format!("127.0.0.1:{prom_port}").parse().expect("addr");
    let prom_url = format!("http://{prom_addr}");
    let mut prom = prometheus(bins, dir, prom_port, exporter());
    prom.start();
    let series_in = |limit: Duration| {
        let deadline = Instant::now() + limit;
        loop {
            let q = "/api/v1/label/le/values?match[]=demo_latency_seconds_bucket";
            if let Some((200, body)) = http_get(prom_addr, q, Duration::from_secs(2)) {
                if body.contains("\"10\"") {
                    return true;
                }
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    step(&format!("prometheus on {prom_url}"));
    assert!(
        series_in(Duration::from_secs(60)),
        "Prometheus never scraped the exporter:\n{}",
        prom.log_tail()
    );

    // 3. rollgate serve, the real binary, as rollgate's ServiceAccount.
    let pki = Pki::new("faults-webhook");
    let mut certs = CertMount::new(&dir.join("tls"), &pki);
    let config = dir.join("rollgate.yaml");
    write(
        &config,
        &format!("prometheus:\n  url: {prom_url}\n  timeout: 1s\n"),
    );
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let maddr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let mut serve = Proc::new(
        "rollgate",
        Path::new(env!("CARGO_BIN_EXE_rollgate")),
        vec![
            os("serve"),
            os(format!("--addr={addr}")),
            os(format!("--metrics-addr={maddr}")),
            os(format!("--tls-cert={}", dir.join("tls/tls.crt").display())),
            os(format!("--tls-key={}", dir.join("tls/tls.key").display())),
            os(format!("--config={}", config.display())),
            os(format!("--prometheus-allow={prom_url}")),
            os("--cert-poll-interval=1s"),
            os(format!("--shutdown-delay={}ms", SHUTDOWN_DELAY.as_millis())),
            os("--shutdown-timeout=20s"),
            os("--rediscover-interval=5s"),
        ],
        dir,
    )
    .env("KUBECONFIG", &cluster.sa_kubeconfig)
    .env("RUST_LOG", "info");
    serve.start();
    let metrics_text = || scrape(maddr);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let ca = Arc::new(pki.ca_pem.clone());
    let readyz = |rt: &tokio::runtime::Runtime| {
        rt.block_on(async {
            match tokio::time::timeout(Duration::from_secs(2), async {
                let mut h = Https::connect(addr, &ca).await?;
                h.get("/readyz").await
            })
            .await
            {
                Ok(Ok((code, _))) => code,
                _ => 0,
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while readyz(&rt) != 200 {
        serve.assert_running();
        assert!(
            Instant::now() < deadline,
            "rollgate not ready:\n{}",
            serve.log_tail()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let synced_before: Vec<String> = metrics_text()
        .map(|m| {
            m.lines()
                .filter(|l| l.starts_with("rollgate_cache_synced{") && l.ends_with(" 1"))
                .map(|l| l.trim_end_matches(" 1").to_owned())
                .collect()
        })
        .unwrap_or_default();
    let services_before = metrics_text()
        .and_then(|m| metric(&m, "rollgate_cache_objects", &["kind=\"Service\""]))
        .unwrap_or(-1.0);
    step(&format!(
        "rollgate ready on {addr} (setup {:.1} s); cache holds {services_before} Services",
        setup.elapsed().as_secs_f64()
    ));

    // 4. Warm-up: each request kind once, with every component up; its verdict is the expected
    // one under load (the live template's verdict may change while Prometheus is away).
    let mut mix = mix();
    rt.block_on(async {
        let mut h = Https::connect(addr, &ca).await.expect("connect");
        for (k, t) in mix.iter_mut().enumerate() {
            let uid = format!("warm-{k}");
            let (status, body) = h
                .post("/validate", t.body(&uid, 999_999))
                .await
                .expect("warm-up request");
            let v = verdict(status, &body, &uid).expect("warm-up answer");
            step(&format!("warm-up: {} -> {v}", t.name));
            t.expected = Some(v);
        }
    });
    let live_kind = mix.iter().position(|t| t.live).expect("live template");
    assert_eq!(
        mix[live_kind].expected,
        Some("denied"),
        "with Prometheus up, the live template is denied on the discovered buckets"
    );
    assert_eq!(mix[pick(&mix, 10)].expected, Some("denied"));
    let mix = Arc::new(mix);

    // 5. Load, with the faults on a schedule (seconds from the start of the load).
    let t = |s: f64| Duration::from_secs_f64(s);
    let phases = Phases(vec![
        (t(0.0), "baseline".into()),
        (t(5.0), "certificate rotation 1".into()),
        (t(10.0), "prometheus stopped".into()),
        (t(16.0), "prometheus hanging (listener)".into()),
        (t(22.0), "prometheus restarted".into()),
        (t(27.0), "certificate rotation 2".into()),
        (t(31.0), "apiserver killed".into()),
        (t(38.0), "apiserver restarted, resync".into()),
        (t(46.0), "prometheus frozen (SIGSTOP)".into()),
        (t(52.0), "prometheus thawed".into()),
        (t(59.0), "SIGTERM, draining".into()),
    ]);
    let start = Instant::now() + Duration::from_millis(200);
    let stop = Arc::new(AtomicBool::new(false));
    let pool = Arc::new(Pool::new(addr, &ca));
    // Connections open before the clock starts (the apiserver's are long-lived).
    rt.block_on(async {
        for i in 0..SLOTS {
            pool.sender(i, Instant::now()).await.expect("h2 connection");
        }
    });
    pool.connects.store(0, Ordering::Relaxed);
    pool.certs.lock().expect("certs").clear();
    let load_task = rt.spawn({
        let (mix, stop, pool) = (mix.clone(), stop.clone(), pool.clone());
        async move {
            tokio::time::sleep_until(start.into()).await;
            load(mix, start, stop, pool).await
        }
    });

    // RSS and threads of rollgate every second; its latency histogram every 500 ms (to tell the
    // server's share of a latency from the load generator's and the network's).
    let rss: Arc<Mutex<Vec<(Duration, u64, u64)>>> = Arc::new(Mutex::new(Vec::new()));
    let hist: Arc<Mutex<Vec<Snapshot>>> = Arc::new(Mutex::new(Vec::new()));
    let sampling = Arc::new(AtomicBool::new(true));
    // The machine's own hiccups: how late a 1 ms sleep in this process wakes up. A phase where
    // that reaches 100 ms was disturbed by something else on the (shared) machine; its
    // end-to-end figures are printed, not asserted (the server-side ones still are).
    let stalls: Arc<Mutex<Vec<(Duration, Duration)>>> = Arc::new(Mutex::new(Vec::new()));
    let stall_watch = {
        let (stalls, sampling) = (stalls.clone(), sampling.clone());
        std::thread::spawn(move || {
            while sampling.load(Ordering::SeqCst) {
                let t0 = Instant::now();
                std::thread::sleep(Duration::from_millis(1));
                let late = t0.elapsed().saturating_sub(Duration::from_millis(1));
                if late >= Duration::from_millis(5) {
                    let at = t0.saturating_duration_since(start);
                    stalls.lock().expect("stalls").push((at, late));
                }
            }
        })
    };
    let sampler = {
        let (rss, hist, sampling, pid) = (rss.clone(), hist.clone(), sampling.clone(), serve.pid());
        std::thread::spawn(move || {
            let mut n = 0u64;
            while sampling.load(Ordering::SeqCst) {
                let t = Instant::now().saturating_duration_since(start);
                if n % 2 == 0 {
                    let Some((kib, threads)) = proc_status(pid) else {
                        break;
                    };
                    rss.lock().expect("rss").push((t, kib, threads));
                }
                if let Some(m) = scrape(maddr) {
                    hist.lock().expect("hist").push((t, histogram(&m)));
                }
                n += 1;
                std::thread::sleep(Duration::from_millis(500));
            }
        })
    };

    let at = |s: f64| {
        let when = start + Duration::from_secs_f64(s);
        std::thread::sleep(when.saturating_duration_since(Instant::now()));
    };
    let events: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let note = |events: &Mutex<Vec<String>>, s: String| {
        step(&s);
        events.lock().expect("events").push(format!(
            "{:6.2} s  {s}",
            Instant::now()
                .saturating_duration_since(start)
                .as_secs_f64()
        ));
    };

    at(5.0);
    let cert1 = certs.rotate(&pki);
    note(&events, "certificate files rotated (1)".into());
    at(10.0);
    prom.kill();
    note(&events, "prometheus stopped (SIGKILL)".into());
    at(16.0);
    let hang = Hang::start(prom_port);
    note(
        &events,
        format!("a listener that never answers took {prom_url}"),
    );
    at(22.0);
    let held = hang.stop();
    prom.start();
    note(
        &events,
        format!("hanging listener closed ({held} connections from rollgate); prometheus restarted"),
    );
    at(27.0);
    let cert2 = certs.rotate(&pki);
    note(&events, "certificate files rotated (2)".into());
    // The apiserver's restart and the resync check run beside the rest of the schedule.
    let (resynced, synced_after, readyz_after) = std::thread::scope(|scope| {
        let cluster = &mut cluster;
        let events = &events;
        let readyz = &readyz;
        let rt = &rt;
        let apiserver = scope.spawn(move || {
            at(31.0);
            cluster.apiserver.kill();
            note(
                events,
                "kube-apiserver killed (SIGKILL): every watch cut".into(),
            );
            at(38.0);
            cluster.apiserver.start();
            let took = cluster.wait_ready(Duration::from_secs(60));
            note(
                events,
                format!("kube-apiserver restarted, ready after {took:.1?}"),
            );
            // The cache must resync: an object created now must reach it.
            cluster.ok(&[
                "create",
                "service",
                "clusterip",
                "after-restart",
                "-n",
                "test",
                "--tcp=80:8080",
            ]);
            let created = Instant::now();
            let mut resynced = None;
            while created.elapsed() < Duration::from_secs(20) {
                let n = scrape(maddr)
                    .and_then(|m| metric(&m, "rollgate_cache_objects", &["kind=\"Service\""]))
                    .unwrap_or(-1.0);
                if n >= services_before + 1.0 {
                    resynced = Some(created.elapsed());
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            note(
                events,
                format!(
                    "Service created after the restart reached the cache: {}",
                    resynced.map_or("NO (20 s)".to_owned(), |d| format!("after {d:.1?}"))
                ),
            );
            let synced_after = scrape(maddr).map(|m| {
                m.lines()
                    .filter(|l| l.starts_with("rollgate_cache_synced{"))
                    .map(|l| (l.ends_with(" 1"), l.to_owned()))
                    .collect::<Vec<_>>()
            });
            let readyz_after = readyz(rt);
            note(events, format!("after the resync: /readyz {readyz_after}"));
            (resynced, synced_after, readyz_after)
        });
        at(46.0);
        prom.signal(libc::SIGSTOP);
        note(events, "prometheus frozen (SIGSTOP)".into());
        at(52.0);
        prom.signal(libc::SIGCONT);
        note(events, "prometheus thawed (SIGCONT)".into());
        apiserver.join().expect("apiserver thread")
    });
    // 6. SIGTERM with requests in flight.
    at(59.0);
    let in_flight_before = metrics_text()
        .and_then(|m| metric(&m, "rollgate_admission_in_flight_requests", &[]))
        .unwrap_or(-1.0);
    serve.signal(libc::SIGTERM);
    note(&events, "SIGTERM sent to rollgate".into());
    let sigterm_at = Instant::now();
    // Slow uploads: started during the shutdown delay, still sending when the listener closes.
    let slow = {
        let mix = mix.clone();
        let ca = ca.clone();
        rt.spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let mut set = tokio::task::JoinSet::new();
            for k in 0..SLOW_REQUESTS {
                let uid = format!("slow-{k}");
                let body = mix[pick(&mix, k as u64 * 7)].body(&uid, 0);
                let ca = ca.clone();
                set.spawn(async move {
                    slow_request(
                        addr,
                        &ca,
                        body,
                        uid,
                        SHUTDOWN_DELAY + Duration::from_millis(500),
                    )
                    .await
                });
            }
            let mut out = Vec::new();
            while let Some(r) = set.join_next().await {
                out.push(r.unwrap_or_else(|e| Err(format!("task: {e}"))));
            }
            out
        })
    };
    // The endpoints controller drops the pod from the Service while /readyz is 503: no new
    // requests after half the delay.
    std::thread::sleep(Duration::from_millis(300));
    let readyz_terminating = readyz(&rt);
    std::thread::sleep((SHUTDOWN_DELAY / 2).saturating_sub(Duration::from_millis(300)));
    stop.store(true, Ordering::SeqCst);
    note(
        &events,
        format!("load stopped (endpoint removed); /readyz during the delay: {readyz_terminating}"),
    );
    std::thread::sleep(Duration::from_millis(800));
    let in_flight_at_close = metrics_text()
        .and_then(|m| metric(&m, "rollgate_admission_in_flight_requests", &[]))
        .unwrap_or(-1.0);
    note(
        &events,
        format!("just before the listener closes: {in_flight_at_close} requests in flight"),
    );
    let samples = rt.block_on(load_task).expect("load task");
    let slow_results = rt.block_on(slow).expect("slow requests");
    let exit = serve.wait_exit(Duration::from_secs(30));
    note(
        &events,
        format!(
            "rollgate exited {:?}, {:.1} s after SIGTERM",
            exit.and_then(|s| s.code()),
            sigterm_at.elapsed().as_secs_f64()
        ),
    );
    sampling.store(false, Ordering::SeqCst);
    let _ = sampler.join();
    let _ = stall_watch.join();

    // 7. The figures.
    let mut per_phase: Vec<Vec<&Sample>> = vec![Vec::new(); phases.0.len()];
    for s in &samples {
        per_phase[phases.of(s.at)].push(s);
    }
    println!();
    println!(
        "webhook under faults: {} requests offered at {RATE}/s over {:?} on {SLOTS} HTTP/2 connections \
         (each replaced after {REQUESTS_PER_CONNECTION} requests: {} TLS handshakes during the load); \
         {} streams sent again after their connection closed unprocessed",
        samples.len(),
        LOAD,
        pool.connects.load(Ordering::Relaxed),
        pool.retried.load(Ordering::Relaxed)
    );
    println!("events:");
    for e in events.lock().expect("events").iter() {
        println!("  {e}");
    }
    println!();
    println!(
        "| phase | from (s) | requests | failed | wrong verdict | p50 ms | p99 ms | max ms | server p99 ≤ ms | machine stall ms | live lookups: denied on live buckets / fell back |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let stalls = stalls.lock().expect("stalls").clone();
    let mut disturbed: Vec<String> = Vec::new();
    let mut worst_server: (f64, String) = (0.0, String::new());
    let hist = hist.lock().expect("hist").clone();
    let snapshot = |t: Duration| {
        hist.iter()
            .min_by_key(|(at, _)| at.abs_diff(t))
            .map(|(_, h)| h.clone())
            .unwrap_or_default()
    };
    let mut failures: BTreeMap<String, usize> = BTreeMap::new();
    let mut worst_p99 = (Duration::ZERO, String::new());
    let mut slow_notes: Vec<String> = Vec::new();
    let mut total_failed = 0;
    let mut total_wrong = 0;
    for (i, list) in per_phase.iter().enumerate() {
        let mut lat: Vec<Duration> = list.iter().map(|s| s.latency).collect();
        lat.sort();
        let failed = list.iter().filter(|s| s.result.is_err()).count();
        let wrong = list
            .iter()
            .filter(|s| {
                !mix[s.kind].live
                    && s.result
                        .as_ref()
                        .is_ok_and(|v| Some(*v) != mix[s.kind].expected)
            })
            .count();
        let live_denied = list
            .iter()
            .filter(|s| mix[s.kind].live && s.result == Ok("denied"))
            .count();
        let live_other = list
            .iter()
            .filter(|s| mix[s.kind].live && matches!(s.result, Ok(v) if v != "denied"))
            .count();
        for s in list {
            if let Err(e) = &s.result {
                let key: String = e.chars().take(90).collect();
                *failures.entry(key).or_default() += 1;
            }
        }
        total_failed += failed;
        total_wrong += wrong;
        let p99 = percentile(&lat, 0.99);
        let end = phases
            .0
            .get(i + 1)
            .map_or(LOAD + SHUTDOWN_DELAY, |(t, _)| *t);
        let server_bound = server_p99(&snapshot(phases.0[i].0), &snapshot(end));
        let server = server_bound.map_or("-".to_owned(), |b| format!("{}", b * 1000.0));
        if let Some(b) = server_bound.filter(|b| *b > worst_server.0) {
            worst_server = (b, phases.0[i].1.clone());
        }
        let stall = stalls
            .iter()
            .filter(|(at, _)| *at >= phases.0[i].0 && *at < end)
            .map(|(_, d)| *d)
            .max()
            .unwrap_or_default();
        if stall >= Duration::from_millis(100) {
            disturbed.push(phases.0[i].1.clone());
        } else if p99 > worst_p99.0 {
            worst_p99 = (p99, phases.0[i].1.clone());
        }
        // Which requests were slow, and when: the diagnosis when a phase's p99 is high.
        let slow: Vec<&Sample> = list
            .iter()
            .copied()
            .filter(|s| s.latency >= Duration::from_millis(100))
            .collect();
        if !slow.is_empty() {
            let mut by_kind: BTreeMap<&str, usize> = BTreeMap::new();
            for s in &slow {
                *by_kind.entry(mix[s.kind].name).or_default() += 1;
            }
            let (first, last) = slow
                .iter()
                .fold((Duration::MAX, Duration::ZERO), |(a, b), s| {
                    (a.min(s.at), b.max(s.at))
                });
            slow_notes.push(format!(
                "  {}: {} requests took >= 100 ms, sent between {:.2} s and {:.2} s: {by_kind:?}",
                phases.0[i].1,
                slow.len(),
                first.as_secs_f64(),
                last.as_secs_f64()
            ));
        }
        println!(
            "| {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {:.0} | {} / {} |",
            phases.0[i].1,
            phases.0[i].0.as_secs_f64(),
            list.len(),
            failed,
            wrong,
            ms(percentile(&lat, 0.50)),
            ms(p99),
            ms(lat.last().copied().unwrap_or_default()),
            server,
            stall.as_secs_f64() * 1000.0,
            live_denied,
            live_other
        );
    }
    let mut all: Vec<Duration> = samples.iter().map(|s| s.latency).collect();
    all.sort();
    println!(
        "| all | | {} | {} | {} | {} | {} | {} | | | |",
        samples.len(),
        total_failed,
        total_wrong,
        ms(percentile(&all, 0.50)),
        ms(percentile(&all, 0.99)),
        ms(all.last().copied().unwrap_or_default())
    );
    for (e, n) in &failures {
        println!("  failure x{n}: {e}");
    }
    for line in &slow_notes {
        println!("{line}");
    }
    if !disturbed.is_empty() {
        println!(
            "  disturbed by the machine (this process slept ≥ 100 ms late; p99 not asserted): {disturbed:?}"
        );
    }
    let rss = rss.lock().expect("rss").clone();
    let kib: Vec<u64> = rss.iter().map(|(_, k, _)| *k).collect();
    let max_threads = rss.iter().map(|(_, _, t)| *t).max().unwrap_or(0);
    let (first, max, last) = (
        kib.first().copied().unwrap_or(0),
        kib.iter().copied().max().unwrap_or(0),
        kib.last().copied().unwrap_or(0),
    );
    println!(
        "RSS (VmRSS every 1 s, {} samples): first {:.1} MiB, max {:.1} MiB, last {:.1} MiB; threads at most {max_threads}",
        kib.len(),
        first as f64 / 1024.0,
        max as f64 / 1024.0,
        last as f64 / 1024.0
    );
    println!(
        "  over time (MiB): {}",
        rss.iter()
            .step_by(5)
            .map(|(t, k, n)| format!(
                "{:.0}s {:.1} ({n} threads)",
                t.as_secs_f64(),
                *k as f64 / 1024.0
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let shutdown_samples = &per_phase[phases.0.len() - 1];
    let lost_load = shutdown_samples
        .iter()
        .filter(|s| s.result.is_err())
        .count();
    let lost_slow = slow_results.iter().filter(|r| r.is_err()).count();
    println!(
        "shutdown: {} load requests after SIGTERM and {} slow uploads spanning the listener's close; \
         in flight at SIGTERM: {in_flight_before}, just before the listener closed: \
         {in_flight_at_close}; lost: {} ({} load, {} slow); exit code {:?}",
        shutdown_samples.len(),
        slow_results.len(),
        lost_load + lost_slow,
        lost_load,
        lost_slow,
        exit.and_then(|s| s.code())
    );
    for r in slow_results.iter().filter(|r| r.is_err()) {
        println!("  slow upload failed: {r:?}");
    }
    // Certificates: every connection opened well after a rotation presented the new one.
    let opened = pool.certs.lock().expect("certs").clone();
    let rot1 = phases.0[1].0;
    let rot2 = phases.0[5].0;
    let served = |from: Duration, to: Duration, der: &[u8]| {
        opened
            .iter()
            .filter(|(t, _)| *t >= from && *t < to)
            .all(|(_, c)| c == der)
    };
    let new1 = opened.iter().filter(|(_, c)| *c == cert1).count();
    let new2 = opened.iter().filter(|(_, c)| *c == cert2).count();
    println!(
        "certificates: {} connections presented rotation 1's certificate, {} rotation 2's",
        new1, new2
    );
    println!(
        "cache: Service created after the apiserver restart seen after {}; /readyz then {readyz_after}",
        resynced.map_or("never".to_owned(), |d| format!("{d:.1?}"))
    );
    println!();

    // 8. The goals.
    let p99_bound = Duration::from_millis(
        std::env::var("ROLLGATE_FAULTS_P99_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(50),
    );
    assert!(
        samples.len() as u64 >= RATE * (LOAD.as_secs() - 2),
        "the generator fell behind: {} requests",
        samples.len()
    );
    assert_eq!(
        total_failed,
        0,
        "failed admissions: {failures:?}\nrollgate log:\n{}",
        serve.log_tail()
    );
    assert_eq!(total_wrong, 0, "verdicts changed under faults");
    assert_eq!(
        lost_slow + lost_load,
        0,
        "in-flight requests lost at shutdown"
    );
    assert!(
        in_flight_at_close >= SLOW_REQUESTS as f64,
        "the slow uploads were not in flight when the listener closed ({in_flight_at_close})"
    );
    assert_eq!(exit.and_then(|s| s.code()), Some(0), "rollgate exit");
    assert_eq!(readyz_terminating, 503, "/readyz during the shutdown delay");
    assert!(
        resynced.is_some(),
        "the cache did not resync after the apiserver restart:\n{}",
        serve.log_tail()
    );
    assert_eq!(readyz_after, 200, "/readyz after the resync");
    let synced_after = synced_after.expect("metrics after the resync");
    let resynced_kinds: Vec<&String> = synced_before
        .iter()
        .filter(|k| {
            synced_after
                .iter()
                .any(|(ok, l)| *ok && l.starts_with(k.as_str()))
        })
        .collect();
    assert!(
        synced_before.len() >= 9 && resynced_kinds.len() == synced_before.len(),
        "rollgate_cache_synced: before {synced_before:?}, after the restart {synced_after:?}"
    );
    assert!(new1 > 0 && new2 > 0, "rotated certificates were not served");
    assert!(
        served(rot1 + Duration::from_secs(3), rot2, &cert1)
            && served(rot2 + Duration::from_secs(3), LOAD, &cert2),
        "a connection opened after a rotation presented an old certificate"
    );
    assert!(
        worst_p99.0 <= p99_bound,
        "p99 {} ms in phase {:?} (bound {} ms)",
        ms(worst_p99.0),
        worst_p99.1,
        p99_bound.as_millis()
    );
    // The server's own time (its histogram, bucket resolution), in every phase.
    assert!(
        worst_server.0 <= 0.05,
        "server-side p99 up to {} ms in phase {:?}",
        worst_server.0 * 1000.0,
        worst_server.1
    );
    assert!(
        disturbed.len() <= 3,
        "the machine stalled this process by 100 ms or more in {disturbed:?}: figures not usable"
    );
    // Memory: under the Deployment's limit (deploy/deployment.yaml: 256Mi) with a margin, and
    // no slope (a leak at 2,000 requests/s shows within 25 s; steps come from bursts: the
    // blocking pool keeps its threads while they are used, the allocator their arenas).
    let max_mib = std::env::var("ROLLGATE_FAULTS_MAX_RSS_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(240u64);
    assert!(
        max <= max_mib * 1024,
        "RSS reached {max} KiB (bound {max_mib} MiB)"
    );
    // The slope between 20 s and 45 s (after the first bursts, before the frozen Prometheus
    // holds lookup threads): it was 0.5 MiB/s before the memo fix, ~0.06 MiB/s after.
    let rss_at = |secs: u64| {
        rss.iter()
            .find(|(t, _, _)| *t >= Duration::from_secs(secs))
            .map_or(last, |(_, k, _)| *k)
    };
    let (at_20s, at_45s) = (rss_at(20), rss_at(45));
    assert!(
        at_45s <= at_20s + 8 * 1024,
        "RSS kept growing: {at_20s} KiB at 20 s, {at_45s} KiB at 45 s"
    );
}

/// Regression (found by the test above): while a Prometheus is down, the buckets it answered
/// before are still used. A lookup that failed put the server on the "leave alone for 30 s"
/// list, and that list was checked before the kept answers, so a Prometheus outage flipped
/// the verdict of every gate whose buckets were already known.
#[test]
fn kept_answers_outlive_a_prometheus_outage() {
    use rollgate::buckets::live;
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", l.local_addr().expect("addr"));
    let server = std::thread::spawn(move || {
        // Answer exactly one request, then close the port.
        let (mut s, _) = l.accept().expect("accept");
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf);
        let body = r#"{"status":"success","data":["0.1","0.5","+Inf"]}"#;
        let _ = write!(
            s,
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    });
    let kept = live::bounds(&url, "kept_seconds_bucket{a=\"b\"}", "kept_seconds", 1000);
    assert_eq!(kept, Ok(vec![0.1, 0.5, f64::INFINITY]));
    server.join().expect("server");
    // The port is closed now: a new selector fails and marks the server down...
    let other = live::bounds(&url, "other_seconds_bucket{a=\"b\"}", "other_seconds", 1000);
    assert!(other.is_err(), "{other:?}");
    // ...and the kept answer is still the answer.
    let again = live::bounds(&url, "kept_seconds_bucket{a=\"b\"}", "kept_seconds", 1000);
    assert_eq!(again, Ok(vec![0.1, 0.5, f64::INFINITY]));
}
