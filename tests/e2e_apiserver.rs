//! End to end against a real kube-apiserver (1.20, built by `.ci/kube-apiserver.sh`) and etcd on
//! 127.0.0.1, driven with the real kubectl, with `rollgate serve` registered through a
//! ValidatingWebhookConfiguration (`clientConfig.url` + `caBundle`).
//!
//! Skipped, with the reason printed, when the apiserver binary, etcd or kubectl is missing —
//! unless `ROLLGATE_REQUIRE_E2E=1` (as in CI), in which case that is a failure.
//! Binaries: `ROLLGATE_KUBE_APISERVER` (default `$ROLLGATE_CACHE/kube-apiserver`, cache default
//! `~/.cache/rollgate`), `ROLLGATE_ETCD` (default `etcd` on PATH), `ROLLGATE_KUBECTL` (`kubectl`).

#[path = "webhook/support.rs"]
#[macro_use]
mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rollgate::engine::Inventory;
use rollgate::webhook::World;
use rollgate::webhook::cache::ClusterCache;
use rollgate::webhook::metrics::Metrics;
use serde_json::Value;
use support::{Https, Pki, base64, free_port};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const SA_USER: &str = "system:serviceaccount:rollgate:rollgate";

fn step(msg: &str) {
    eprintln!("[e2e] {msg}");
}

type Binaries = support::KubeBinaries;

fn binaries() -> Result<Binaries, String> {
    support::kube_binaries()
}

/// The binaries, or `None` after printing why the test is skipped (a failure instead with
/// `ROLLGATE_REQUIRE_E2E=1`).
fn binaries_or_skip(test: &str) -> Option<Binaries> {
    match binaries() {
        Ok(b) => Some(b),
        Err(reason) => {
            if std::env::var("ROLLGATE_REQUIRE_E2E").is_ok_and(|v| v == "1") {
                panic!("ROLLGATE_REQUIRE_E2E=1 but the e2e test cannot run: {reason}");
            }
            println!("SKIPPED {test}: {reason}");
            None
        }
    }
}

/// Child processes killed on drop (also when the test fails half-way).
struct Proc {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn spawn(name: &'static str, cmd: &mut Command, dir: &Path) -> Proc {
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let child = cmd
            .stdout(file.try_clone().expect("log"))
            .stderr(file)
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc { name, child, log }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited ({status}):\n{}", self.name, self.log_tail());
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Cluster {
    dir: PathBuf,
    kubectl: PathBuf,
    kubeconfig: PathBuf,
    /// Same cluster, impersonating rollgate's ServiceAccount (deploy/rbac.yaml).
    sa_kubeconfig: PathBuf,
    pki: Pki,
    // Dropped last: the apiserver before etcd.
    apiserver: Proc,
    _etcd: Proc,
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

impl Cluster {
    fn start(bins: &Binaries) -> Cluster {
        let dir = std::env::temp_dir().join(format!("rollgate-e2e-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let pki = Pki::new("e2e");
        let (cert, key) = pki.leaf("kube-apiserver", &["127.0.0.1", "localhost"]);
        write(&dir.join("ca.crt"), &pki.ca_pem);
        write(&dir.join("apiserver.crt"), &cert);
        write(&dir.join("apiserver.key"), &key);
        // Service-account signing key: any PEM private key the apiserver can read (PKCS#8 EC).
        let sa_key = rcgen::KeyPair::generate().expect("key");
        write(&dir.join("sa.key"), &sa_key.serialize_pem());
        write(&dir.join("sa.pub"), &sa_key.public_key_pem());
        let token = "e2e-admin-token";
        write(
            &dir.join("tokens.csv"),
            &format!("{token},admin,admin,system:masters\n"),
        );

        let (client, peer) = (free_port(), free_port());
        step(&format!("etcd on 127.0.0.1:{client}"));
        let etcd = Proc::spawn(
            "etcd",
            Command::new(&bins.etcd)
                .arg("--data-dir")
                .arg(dir.join("etcd"))
                .arg(format!("--listen-client-urls=http://127.0.0.1:{client}"))
                .arg(format!("--advertise-client-urls=http://127.0.0.1:{client}"))
                .arg(format!("--listen-peer-urls=http://127.0.0.1:{peer}"))
                .arg(format!(
                    "--initial-advertise-peer-urls=http://127.0.0.1:{peer}"
                ))
                .arg(format!("--initial-cluster=default=http://127.0.0.1:{peer}")),
            &dir,
        );
        let port = free_port();
        step(&format!("kube-apiserver on 127.0.0.1:{port}"));
        let apiserver = Proc::spawn(
            "kube-apiserver",
            Command::new(&bins.apiserver)
                .arg(format!("--etcd-servers=http://127.0.0.1:{client}"))
                .args(["--bind-address=127.0.0.1", "--advertise-address=127.0.0.1"])
                .arg(format!("--secure-port={port}"))
                .arg("--insecure-port=0")
                .arg(format!("--cert-dir={}", dir.join("certs").display()))
                .arg(format!(
                    "--tls-cert-file={}",
                    dir.join("apiserver.crt").display()
                ))
                .arg(format!(
                    "--tls-private-key-file={}",
                    dir.join("apiserver.key").display()
                ))
                .arg(format!(
                    "--token-auth-file={}",
                    dir.join("tokens.csv").display()
                ))
                .arg("--authorization-mode=RBAC")
                .arg("--service-account-issuer=https://kubernetes.default.svc")
                .arg(format!(
                    "--service-account-key-file={}",
                    dir.join("sa.pub").display()
                ))
                .arg(format!(
                    "--service-account-signing-key-file={}",
                    dir.join("sa.key").display()
                ))
                .arg("--disable-admission-plugins=ServiceAccount")
                .arg("--service-cluster-ip-range=10.0.0.0/24"),
            &dir,
        );
        let kubeconfig = dir.join("kubeconfig");
        let sa_kubeconfig = dir.join("kubeconfig-sa");
        let ca = dir.join("ca.crt");
        for (path, extra) in [
            (&kubeconfig, String::new()),
            (&sa_kubeconfig, format!(", as: \"{SA_USER}\"")),
        ] {
            write(
                path,
                &format!(
                    "apiVersion: v1\nkind: Config\n\
                     clusters: [{{name: e2e, cluster: {{server: \"https://127.0.0.1:{port}\", certificate-authority: \"{}\"}}}}]\n\
                     users: [{{name: u, user: {{token: \"{token}\"{extra}}}}}]\n\
                     contexts: [{{name: e2e, context: {{cluster: e2e, user: u}}}}]\n\
                     current-context: e2e\n",
                    ca.display()
                ),
            );
        }
        let mut cluster = Cluster {
            dir,
            kubectl: bins.kubectl.clone(),
            kubeconfig,
            sa_kubeconfig,
            pki,
            apiserver,
            _etcd: etcd,
        };
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            cluster.apiserver.assert_running();
            let out = cluster.kubectl(&["get", "--raw", "/readyz"]);
            if out.status.success() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "kube-apiserver not ready after 90 s:\n{}",
                cluster.apiserver.log_tail()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
        step("kube-apiserver ready");
        cluster
    }

    fn kubectl(&self, args: &[&str]) -> Output {
        Command::new(&self.kubectl)
            .arg(format!("--kubeconfig={}", self.kubeconfig.display()))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("kubectl runs")
    }

    /// kubectl that must succeed; returns (stdout, stderr).
    fn ok(&self, args: &[&str]) -> (String, String) {
        let out = self.kubectl(args);
        let (so, se) = texts(&out);
        assert!(out.status.success(), "kubectl {args:?} failed:\n{so}\n{se}");
        (so, se)
    }

    fn file(&self, name: &str, text: &str) -> String {
        let p = self.dir.join(name);
        write(&p, text);
        p.display().to_string()
    }
}

fn texts(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The CRDs of testdata/crds, without `default: ""` lines, which kube-apiserver 1.20 rejects
/// (see testdata/crds/README.md).
fn install_crds(c: &Cluster) {
    install_crds_from(c, &["testdata/crds"]);
}

/// The CRDs of these folders of the repository (see [`install_crds`]).
fn install_crds_from(c: &Cluster, folders: &[&str]) {
    let dir = c.dir.join("crds");
    std::fs::create_dir_all(&dir).expect("dir");
    for e in folders
        .iter()
        .flat_map(|f| std::fs::read_dir(Path::new(ROOT).join(f)).expect("CRD folder"))
    {
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
    // `create`, not `apply`: no last-applied annotation copy of a 150 KB CRD.
    c.ok(&["create", "-f", &dir.display().to_string()]);
    wait_established(c);
}

fn wait_established(c: &Cluster) {
    c.ok(&[
        "wait",
        "--for=condition=established",
        "--timeout=60s",
        "crd",
        "--all",
    ]);
}

/// What `rollgate lint` says about a file: (error rule ids, warning rule ids).
fn lint(path: &str) -> (Vec<String>, Vec<String>) {
    let out = Command::new(env!("CARGO_BIN_EXE_rollgate"))
        .args(["lint", "--no-config", "--format", "json", path])
        .output()
        .expect("rollgate lint runs");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "lint output is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let diags = v
        .get("diagnostics")
        .or_else(|| v.get("findings"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for d in diags {
        let rule = d["rule"].as_str().unwrap_or("").to_owned();
        match d["severity"].as_str() {
            Some("error") => errors.push(rule),
            Some("warning") => warnings.push(rule),
            _ => {}
        }
    }
    (errors, warnings)
}

struct Serve {
    proc: Proc,
    addr: SocketAddr,
}

fn start_rollgate(c: &Cluster, rt: &tokio::runtime::Runtime) -> Serve {
    let (cert, key) = c.pki.leaf("rollgate", &["127.0.0.1"]);
    let (cert_path, key_path) = (c.dir.join("rollgate.crt"), c.dir.join("rollgate.key"));
    write(&cert_path, &cert);
    write(&key_path, &key);
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    step(&format!(
        "rollgate serve on {addr}, as {SA_USER} (deploy/rbac.yaml)"
    ));
    let mut proc = Proc::spawn(
        "rollgate",
        Command::new(env!("CARGO_BIN_EXE_rollgate"))
            .env("KUBECONFIG", &c.sa_kubeconfig)
            .args(["serve", "--addr", &addr.to_string()])
            .arg("--metrics-addr")
            .arg(format!("127.0.0.1:{}", free_port()))
            .arg("--tls-cert")
            .arg(&cert_path)
            .arg("--tls-key")
            .arg(&key_path)
            .args(["--rediscover-interval", "2s"]),
        &c.dir,
    );
    let ready = rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(mut h) = Https::connect(addr, &c.pki.ca_pem).await {
                if let Ok((200, _)) = h.get("/readyz").await {
                    return true;
                }
            }
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    proc.assert_running();
    assert!(
        ready,
        "rollgate never became ready (cache not synced?):\n{}",
        proc.log_tail()
    );
    step("rollgate ready (cache synced)");
    Serve { proc, addr }
}

/// The deploy/ ValidatingWebhookConfiguration, pointed at the test server by URL + caBundle.
fn register_webhook(c: &Cluster, serve: &Serve) {
    let (json, _) = c.ok(&[
        "create",
        "--dry-run=client",
        "-o",
        "json",
        "-f",
        &format!("{ROOT}/deploy/webhook.yaml"),
    ]);
    let mut v: Value = serde_json::from_str(&json).expect("VWC as JSON");
    v["metadata"]["name"] = Value::from("rollgate-e2e");
    if let Some(a) = v["metadata"].as_object_mut() {
        a.remove("annotations");
    }
    let hooks = v["webhooks"].as_array_mut().expect("webhooks");
    for h in hooks.iter_mut() {
        h["clientConfig"] = serde_json::json!({
            "url": format!("https://{}/validate", serve.addr),
            "caBundle": base64(c.pki.ca_pem.as_bytes()),
        });
        // In the test a webhook that cannot be called must show, not be ignored.
        h["failurePolicy"] = Value::from("Fail");
    }
    let path = c.file("webhook.json", &v.to_string());
    c.ok(&["apply", "-f", &path]);
}

const GOOD: &str = concat!(
    podinfo_workload!(),
    r#"apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: error-rate, namespace: test}
spec:
  provider: {type: prometheus, address: "http://prometheus.monitoring:9090"}
  query: |
    100 - sum(rate(http_requests_total{namespace="{{ namespace }}", app="{{ target }}", status!~"5.*"}[{{ interval }}]))
    / sum(rate(http_requests_total{namespace="{{ namespace }}", app="{{ target }}"}[{{ interval }}])) * 100
---
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: test}
spec:
  provider: istio
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  service: {port: 9898}
  analysis:
    interval: 1m
    threshold: 5
    maxWeight: 50
    stepWeight: 10
    metrics:
    - name: error-rate
      templateRef: {name: error-rate}
      thresholdRange: {max: 1}
      interval: 1m
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: podinfo, namespace: test}
spec:
  selector: {matchLabels: {app: podinfo}}
  endpoints: [{port: http, interval: 15s}]
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: podinfo-split, namespace: test}
spec:
  hosts: [podinfo-split]
  http:
  - route:
    - {destination: {host: podinfo-primary}, weight: 90}
    - {destination: {host: podinfo-canary}, weight: 10}
"#
);

fn bad_vs(name: &str) -> String {
    format!(
        "apiVersion: networking.istio.io/v1beta1\nkind: VirtualService\n\
         metadata: {{name: {name}, namespace: test}}\n\
         spec:\n  hosts: [podinfo]\n  http:\n  - route:\n\
         \x20   - {{destination: {{host: podinfo-primary}}, weight: 95}}\n\
         \x20   - {{destination: {{host: podinfo-canary}}, weight: 10}}\n"
    )
}

/// A MetricTemplate whose query does not parse (an unclosed parenthesis).
const BAD_METRIC_TEMPLATE: &str = r#"apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: broken, namespace: test}
spec:
  provider: {type: prometheus, address: "http://prometheus.monitoring:9090"}
  query: |
    sum(rate(http_requests_total{app="{{ target }}"}[{{ interval }}])
"#;

const DENIED: &str = "admission webhook \"validate.rollgate.dev\" denied the request";

#[test]
fn real_apiserver_end_to_end() {
    let Some(bins) = binaries_or_skip("real_apiserver_end_to_end") else {
        return;
    };
    rollgate::webhook::tls::install_provider();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let c = Cluster::start(&bins);
    install_crds(&c);
    c.ok(&["create", "namespace", "test"]);
    // deploy/ for real, as its README says, on this fresh cluster: `kubectl apply -k` creates
    // the namespace before the objects in it (the server below runs as its ServiceAccount).
    // The ValidatingWebhookConfiguration is left out until the end: it points at a Service
    // with no pods here, and would be called (and ignored) on every admission below.
    step("deploy/: kubectl apply -k, without webhook.yaml");
    let (stdout, _) = c.ok(&["apply", "-k", &deploy_copy(&c, false)]);
    assert!(
        stdout.starts_with("namespace/rollgate created\n"),
        "namespace first: {stdout}"
    );
    for created in [
        "serviceaccount/rollgate created",
        "clusterrole.rbac.authorization.k8s.io/rollgate-reader created",
        "configmap/rollgate-config created",
        "deployment.apps/rollgate created",
        "service/rollgate created",
        "networkpolicy.networking.k8s.io/rollgate created",
    ] {
        assert!(stdout.contains(created), "{created}: {stdout}");
    }
    let (can, _) = c.ok(&[
        "auth",
        "can-i",
        "watch",
        "canaries.flagger.app",
        "--as",
        SA_USER,
    ]);
    assert_eq!(can.trim(), "yes");
    let out = c.kubectl(&["auth", "can-i", "get", "secrets", "--as", SA_USER, "-A"]);
    assert_eq!(texts(&out).0.trim(), "no", "rollgate must not read Secrets");

    let mut serve = start_rollgate(&c, &rt);
    register_webhook(&c, &serve);

    step("waiting for the apiserver to call the webhook");
    let bad = c.file("bad-vs.yaml", &bad_vs("podinfo-bad"));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = c.kubectl(&["apply", "--dry-run=server", "-f", &bad]);
        if !out.status.success() && texts(&out).1.contains(DENIED) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the webhook never denied: {:?}",
            texts(&out)
        );
        std::thread::sleep(Duration::from_millis(300));
    }

    step("a good Canary/MetricTemplate/ServiceMonitor/VirtualService set is admitted");
    let good = c.file("good.yaml", GOOD);
    let (_, stderr) = c.ok(&["apply", "-f", &good]);
    assert!(!stderr.contains("denied"), "{stderr}");

    step("a bad VirtualService (weights 95/10) is denied with rollgate's message");
    let out = c.kubectl(&["apply", "-f", &bad]);
    let (_, stderr) = texts(&out);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!(
            "{DENIED}: istio-weights-not-100 at spec.http[0].route: weights sum to 105"
        )),
        "{stderr}"
    );
    let out = c.kubectl(&["get", "virtualservice", "-n", "test", "podinfo-bad"]);
    assert!(!out.status.success(), "the denied object must not exist");

    step("a bad MetricTemplate: the webhook decides what `rollgate lint` says");
    let bad_mt = c.file("bad-metrictemplate.yaml", BAD_METRIC_TEMPLATE);
    let (lint_errors, _) = lint(&bad_mt);
    let out = c.kubectl(&["apply", "-f", &bad_mt]);
    let (_, stderr) = texts(&out);
    if lint_errors.is_empty() {
        assert!(
            out.status.success(),
            "lint finds no error, so admitted: {stderr}"
        );
        println!(
            "NOTE: no registered rule reports an error on the bad MetricTemplate yet; \
             checked that the webhook agrees (admitted)"
        );
    } else {
        assert!(
            !out.status.success(),
            "lint errors {lint_errors:?} but admitted"
        );
        assert!(stderr.contains(DENIED), "{stderr}");
        for r in &lint_errors {
            assert!(stderr.contains(r.as_str()), "{r} missing from: {stderr}");
        }
    }

    step("a warning-level finding is admitted with `Warning:` printed");
    let warned = c.file(
        "warned.yaml",
        "apiVersion: networking.istio.io/v1beta1\nkind: VirtualService\n\
         metadata:\n  name: podinfo-warned\n  namespace: test\n\
         \x20 annotations: {ignore-check.rollgate.dev/no-such-rule: \"legacy\"}\n\
         spec:\n  hosts: [podinfo]\n  http:\n  - route:\n  \
         \x20 - {destination: {host: podinfo-primary}, weight: 100}\n",
    );
    let (_, stderr) = c.ok(&["apply", "-f", &warned]);
    assert!(
        stderr.contains("Warning: invalid-suppression: suppression names unknown rule"),
        "{stderr}"
    );

    step("--dry-run=server is validated and stores nothing");
    let out = c.kubectl(&["apply", "--dry-run=server", "-f", &bad]);
    assert!(!out.status.success() && texts(&out).1.contains(DENIED));
    let dry = c.file(
        "dry.yaml",
        &bad_vs("podinfo-dry").replace("weight: 10}", "weight: 5}"),
    );
    let (stdout, _) = c.ok(&["apply", "--dry-run=server", "-f", &dry]);
    assert!(stdout.contains("(server dry run)"), "{stdout}");
    let out = c.kubectl(&["get", "virtualservice", "-n", "test", "podinfo-dry"]);
    assert!(!out.status.success(), "dry run stored the object");
    // A new object (re-applying an unchanged one sends no request at all).
    let warned_text = std::fs::read_to_string(&warned).expect("read");
    let warned_dry = c.file(
        "warned-dry.yaml",
        &warned_text.replace("name: podinfo-warned", "name: podinfo-warned-dry"),
    );
    let (_, stderr) = c.ok(&["apply", "--dry-run=server", "-f", &warned_dry]);
    assert!(stderr.contains("Warning: invalid-suppression"), "{stderr}");

    step("a ServiceMonitor whose Service is created afterwards is not denied");
    let sm = c.file(
        "late-sm.yaml",
        "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\n\
         metadata: {name: late, namespace: test}\n\
         spec:\n  selector: {matchLabels: {app: late}}\n  endpoints: [{port: http}]\n",
    );
    let (_, stderr) = c.ok(&["apply", "-f", &sm]);
    assert!(!stderr.contains("denied"), "{stderr}");
    c.ok(&[
        "create",
        "service",
        "clusterip",
        "late",
        "-n",
        "test",
        "--tcp=80:8080",
    ]);

    step("a suppression annotation with a reason admits, as in the linter");
    let suppressed = c.file(
        "suppressed.yaml",
        &bad_vs("podinfo-suppressed").replace(
            "namespace: test}",
            "namespace: test, annotations: {ignore-check.rollgate.dev/istio-weights-not-100: \"INC-42: migrating\"}}",
        ),
    );
    c.ok(&["apply", "-f", &suppressed]);
    step("an UPDATE that breaks a stored object is denied");
    let broken_update = c.file(
        "broken-update.yaml",
        &GOOD
            .split("---")
            .last()
            .unwrap_or("")
            .replace("weight: 10}", "weight: 30}"),
    );
    let out = c.kubectl(&["apply", "-f", &broken_update]);
    assert!(!out.status.success() && texts(&out).1.contains(DENIED));

    step("deploy/: rollgate lint");
    let out = Command::new(env!("CARGO_BIN_EXE_rollgate"))
        .args(["lint", &format!("{ROOT}/deploy")])
        .output()
        .expect("lint");
    assert!(
        out.status.success(),
        "rollgate lint deploy/: {:?}",
        texts(&out)
    );
    step("the kube-rs cache against this apiserver (as rollgate's ServiceAccount)");
    rt.block_on(cache_sees_the_cluster(&c));

    // The whole base, webhook included: unchanged objects stay, the configuration is created
    // (cert-manager's component is not applied: its CRDs are not installed here; the tests in
    // tests/webhook_deploy.rs render it).
    step("deploy/: kubectl apply -k, the whole base");
    let (stdout, _) = c.ok(&["apply", "-k", &deploy_copy(&c, true)]);
    assert!(
        stdout.contains(
            "validatingwebhookconfiguration.admissionregistration.k8s.io/rollgate created"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("namespace/rollgate unchanged"), "{stdout}");
    let (image, _) = c.ok(&[
        "get",
        "deployment",
        "rollgate",
        "-n",
        "rollgate",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    ]);
    assert_eq!(
        image, "ghcr.io/rollgate/rollgate:0.1.0",
        "kustomization images:"
    );
    // TLS without cert-manager, with deploy/README.md's two commands.
    let (cert, key) = c.pki.leaf("rollgate", &["rollgate.rollgate.svc"]);
    let (cert_path, key_path) = (c.file("svc.crt", &cert), c.file("svc.key", &key));
    c.ok(&[
        "-n",
        "rollgate",
        "create",
        "secret",
        "tls",
        "rollgate-tls",
        &format!("--cert={cert_path}"),
        &format!("--key={key_path}"),
    ]);
    let ca = base64(c.pki.ca_pem.as_bytes());
    c.ok(&[
        "patch",
        "validatingwebhookconfiguration",
        "rollgate",
        "--type=json",
        "-p",
        &format!(r#"[{{"op":"add","path":"/webhooks/0/clientConfig/caBundle","value":"{ca}"}}]"#),
    ]);
    let (bundle, _) = c.ok(&[
        "get",
        "validatingwebhookconfiguration",
        "rollgate",
        "-o",
        "jsonpath={.webhooks[0].clientConfig.caBundle}",
    ]);
    assert_eq!(bundle, ca);

    step("SIGTERM: rollgate stops cleanly");
    serve.proc.assert_running();
    // SAFETY: signalling our own child.
    unsafe {
        libc::kill(serve.proc.child.id() as libc::pid_t, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Ok(Some(s)) = serve.proc.child.try_wait() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "rollgate did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let log = std::fs::read_to_string(&serve.proc.log).unwrap_or_default();
    assert!(status.success(), "exit {status}:\n{log}");
    // Decisions were logged as JSON with the rule, never with object contents.
    assert!(
        log.lines()
            .all(|l| serde_json::from_str::<Value>(l).is_ok()),
        "{log}"
    );
    assert!(log.contains("\"verdict\":\"denied\""), "{log}");
    assert!(
        !log.contains("podinfo-primary"),
        "object contents logged: {log}"
    );
    drop(serve);
    let dir = c.dir.clone();
    drop(c);
    let _ = std::fs::remove_dir_all(dir);
    step("done");
}

/// A copy of deploy/ for `kubectl apply -k`: the PodDisruptionBudget as `policy/v1beta1`, the
/// version this 1.20 apiserver serves (deploy/ needs Kubernetes 1.21; same fields), and without
/// webhook.yaml unless `webhook`. Everything else as shipped, kustomization.yaml included.
fn deploy_copy(c: &Cluster, webhook: bool) -> String {
    let dir = c
        .dir
        .join(if webhook { "deploy-all" } else { "deploy-base" });
    std::fs::create_dir_all(&dir).expect("dir");
    for e in std::fs::read_dir(format!("{ROOT}/deploy")).expect("deploy/") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "yaml") {
            let mut text = std::fs::read_to_string(&p).expect("read");
            text = text.replace("apiVersion: policy/v1\n", "apiVersion: policy/v1beta1\n");
            if !webhook && p.ends_with("kustomization.yaml") {
                assert!(text.contains("  - webhook.yaml\n"), "{text}");
                text = text.replace("  - webhook.yaml\n", "");
            }
            write(&dir.join(p.file_name().expect("name")), &text);
        }
    }
    dir.display().to_string()
}

async fn wait_for(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "cache: {what} not seen in 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn cache_sees_the_cluster(c: &Cluster) {
    let kc = kube::config::Kubeconfig::read_from(&c.sa_kubeconfig).expect("kubeconfig");
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .expect("config");
    let client = kube::Client::try_from(cfg).expect("client");
    let cache = ClusterCache::new(Arc::new(Metrics::new()));
    cache.keep_facts();
    let task = tokio::spawn(cache.clone().run(client, Duration::from_secs(1)));
    wait_for("synced", || cache.synced()).await;
    // The admission path's kept facets follow the watches: the initial lists, then events.
    let facet = |f: &'static rollgate::engine::Facet, key: &str| -> Vec<String> {
        cache.read(|s| {
            s.view()
                .facet(f, key)
                .expect("kept")
                .iter()
                .map(|o| format!("{}/{}", o.ns(), o.name))
                .collect()
        })
    };
    assert_eq!(
        facet(
            &rollgate::promql::gates::CANARY_TEMPLATES,
            "test/error-rate"
        ),
        ["test/podinfo"]
    );
    let host = "facet-probe.test.svc.cluster.local";
    let mesh = &rollgate::engine::rule::MESH_VIRTUALSERVICE_HOSTS;
    let probe = c.file(
        "facet-probe.yaml",
        "apiVersion: networking.istio.io/v1beta1\nkind: VirtualService\n\
         metadata: {name: facet-probe, namespace: test}\n\
         spec:\n  hosts: [facet-probe]\n  http:\n  - route:\n    - destination: {host: podinfo}\n",
    );
    c.ok(&["apply", "-f", &probe]);
    wait_for("a VirtualService in the kept mesh-host facet", || {
        facet(mesh, host) == ["test/facet-probe"]
    })
    .await;
    c.ok(&["delete", "-f", &probe]);
    wait_for("a deleted VirtualService out of the facet", || {
        facet(mesh, host).is_empty()
    })
    .await;
    let (synced, missing) = cache.status();
    assert!(synced.contains(&"Service".to_owned()), "{synced:?}");
    assert!(
        synced.contains(&"Canary.flagger.app".to_owned()),
        "{synced:?}"
    );
    assert!(
        missing.contains(&"Rollout.argoproj.io".to_owned()),
        "{missing:?}"
    );
    assert!(cache.read(|s| {
        s.object("flagger.app", "Canary", "test", "podinfo")
            .is_some()
    }));
    let stripped = cache.read(|s| {
        let o = s.object("", "Service", "test", "podinfo");
        o.map(|o| {
            (
                o.at("/metadata/managedFields").is_none(),
                o.at("/status").is_none(),
                o.annotations().is_none_or(|a| {
                    !a.contains_key("kubectl.kubernetes.io/last-applied-configuration")
                }),
            )
        })
    });
    assert_eq!(stripped, Some((true, true, true)));

    c.ok(&[
        "create",
        "service",
        "clusterip",
        "cache-probe",
        "-n",
        "test",
        "--tcp=80:80",
    ]);
    wait_for("a created Service", || {
        cache.read(|s| s.object("", "Service", "test", "cache-probe").is_some())
    })
    .await;
    c.ok(&["delete", "service", "cache-probe", "-n", "test"]);
    wait_for("a deleted Service", || {
        cache.read(|s| s.object("", "Service", "test", "cache-probe").is_none())
    })
    .await;

    // A CRD installed after start is picked up (the rediscovery loop).
    let dr_crd = c.file(
        "dr-crd.yaml",
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n\
         metadata: {name: destinationrules.networking.istio.io}\n\
         spec:\n  group: networking.istio.io\n  scope: Namespaced\n\
         \x20 names: {plural: destinationrules, singular: destinationrule, kind: DestinationRule, listKind: DestinationRuleList}\n\
         \x20 versions:\n  - name: v1beta1\n    served: true\n    storage: true\n\
         \x20   schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}\n",
    );
    c.ok(&["create", "-f", &dr_crd]);
    c.ok(&[
        "wait",
        "--for=condition=established",
        "--timeout=30s",
        "crd/destinationrules.networking.istio.io",
    ]);
    let dr = c.file(
        "dr.yaml",
        "apiVersion: networking.istio.io/v1beta1\nkind: DestinationRule\n\
         metadata: {name: podinfo, namespace: test}\nspec: {host: podinfo}\n",
    );
    c.ok(&["apply", "-f", &dr]);
    wait_for("a DestinationRule after its CRD appeared", || {
        cache.read(|s| {
            s.object("networking.istio.io", "DestinationRule", "test", "podinfo")
                .is_some()
        })
    })
    .await;
    task.abort();
}

/// `rollgate audit` on a kubeconfig: (exit code, JSON output, stderr).
fn audit(kubeconfig: &Path, extra: &[&str]) -> (i32, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rollgate"))
        .arg("audit")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["--no-config", "--format", "json"])
        .args(extra)
        .output()
        .expect("rollgate audit runs");
    let (so, se) = texts(&out);
    let v: Value = serde_json::from_str(&so)
        .unwrap_or_else(|e| panic!("audit output is not JSON ({e}): {so}\n{se}"));
    (out.status.code().unwrap_or(-1), v, se)
}

/// (rule, kind, namespace, name, pointer) of each finding at `severity` in a JSON report.
fn identities(
    v: &Value,
    severity: &str,
) -> std::collections::BTreeSet<(String, String, String, String, String)> {
    let s = |x: &Value| x.as_str().unwrap_or("").to_owned();
    v["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["severity"] == severity)
        .map(|f| {
            (
                s(&f["rule"]),
                s(&f["object"]["kind"]),
                s(&f["object"]["namespace"]),
                s(&f["object"]["name"]),
                s(&f["pointer"]),
            )
        })
        .collect()
}

/// Reports rollgate wrote: namespace → the report (PolicyReports of every namespace).
fn reports(c: &Cluster) -> std::collections::BTreeMap<String, Value> {
    let (json, _) = c.ok(&["get", "policyreports.wgpolicyk8s.io", "-A", "-o", "json"]);
    let v: Value = serde_json::from_str(&json).expect("list");
    v["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["metadata"]["namespace"].as_str().unwrap_or("").to_owned(),
                r.clone(),
            )
        })
        .collect()
}

/// `rollgate audit` against the real apiserver, with no webhook registered: the objects of
/// testdata/audit/cluster.yaml are stored as applied; the audit reports every error `rollgate
/// lint` reports on that file (and more: the cluster is complete, so missing referents are
/// errors), writes nothing without --write-reports, writes PolicyReports the apiserver accepts
/// against the upstream CRD, leaves them alone when nothing changed, and deletes/updates them
/// when objects are fixed. A kind RBAC forbids gets one note and no false "does not exist".
#[test]
fn real_apiserver_audit() {
    let Some(bins) = binaries_or_skip("real_apiserver_audit") else {
        return;
    };
    let c = Cluster::start(&bins);
    install_crds_from(&c, &["testdata/crds", "testdata/crds-audit"]);
    // openreports.io/v1alpha1 Report and ClusterReport: the same result schema under the new
    // group and kinds (kyverno's config/crds/policyreport/openreports.io_*.yaml), made here from
    // the PolicyReport CRD so rollgate's second flavor is written to a real apiserver too.
    for (file, plural, kind, short) in [
        (
            "wgpolicyk8s.io_policyreports.yaml",
            "reports",
            "Report",
            "reps",
        ),
        (
            "wgpolicyk8s.io_clusterpolicyreports.yaml",
            "clusterreports",
            "ClusterReport",
            "creps",
        ),
    ] {
        let text =
            std::fs::read_to_string(format!("{ROOT}/testdata/crds-audit/{file}")).expect("CRD");
        let (old_plural, old_kind) = if kind == "Report" {
            ("policyreports", "PolicyReport")
        } else {
            ("clusterpolicyreports", "ClusterPolicyReport")
        };
        let text = text
            .replace(
                &format!("name: {old_plural}.wgpolicyk8s.io"),
                &format!("name: {plural}.openreports.io"),
            )
            .replace("group: wgpolicyk8s.io", "group: openreports.io")
            .replace(
                &format!("plural: {old_plural}"),
                &format!("plural: {plural}"),
            )
            .replace(
                &format!("singular: {}", old_kind.to_lowercase()),
                &format!("singular: {}", kind.to_lowercase()),
            )
            .replace(&format!("kind: {old_kind}\n"), &format!("kind: {kind}\n"))
            .replace(
                &format!("listKind: {old_kind}List"),
                &format!("listKind: {kind}List"),
            )
            .replace("- polr\n", &format!("- {short}\n"))
            .replace("- cpolr\n", &format!("- {short}\n"))
            .replace("name: v1alpha2", "name: v1alpha1");
        let path = c.file(&format!("openreports-{plural}.yaml"), &text);
        c.ok(&["create", "-f", &path]);
    }
    wait_established(&c);
    let manifest = format!("{ROOT}/testdata/audit/cluster.yaml");
    step("applying testdata/audit/cluster.yaml (no webhook registered)");
    c.ok(&["apply", "-f", &manifest]);

    // What lint says about the same file.
    let out = Command::new(env!("CARGO_BIN_EXE_rollgate"))
        .args(["lint", "--no-config", "--format", "json", &manifest])
        .output()
        .expect("rollgate lint runs");
    let lint: Value = serde_json::from_slice(&out.stdout).expect("lint JSON");
    let lint_errors = identities(&lint, "error");
    assert!(lint_errors.len() >= 3, "{lint_errors:?}");

    step("rollgate audit (read-only)");
    let (code, v, stderr) = audit(&c.kubeconfig, &[]);
    assert_eq!(code, 1, "errors found: exit 1\n{stderr}");
    assert_eq!(v["source"], "cluster");
    let audit_errors = identities(&v, "error");
    let missing: Vec<_> = lint_errors.difference(&audit_errors).collect();
    assert!(
        missing.is_empty(),
        "errors lint reports that the audit does not: {missing:?}\naudit: {audit_errors:?}"
    );
    // The cluster is the whole world: the Canary's missing Deployment is an error there.
    assert!(
        audit_errors
            .iter()
            .any(|(r, k, _, n, _)| r == "target-not-found" && k == "Canary" && n == "api"),
        "{audit_errors:?}"
    );
    for f in v["findings"].as_array().into_iter().flatten() {
        assert!(
            f["line"].is_null(),
            "no file lines for cluster objects: {f}"
        );
        assert!(f["object"]["name"].is_string(), "{f}");
    }
    assert!(
        v["notes"].as_array().is_some_and(Vec::is_empty),
        "{}",
        v["notes"]
    );
    assert!(
        reports(&c).is_empty(),
        "nothing written without --write-reports"
    );
    let (gcc_out, _) = {
        let o = Command::new(env!("CARGO_BIN_EXE_rollgate"))
            .arg("audit")
            .arg("--kubeconfig")
            .arg(&c.kubeconfig)
            .args([
                "--no-config",
                "--format",
                "gcc",
                "-n",
                "shop",
                "-l",
                "app=web",
            ])
            .output()
            .expect("runs");
        texts(&o)
    };
    assert!(
        gcc_out.contains("networking.istio.io/v1")
            && gcc_out.contains("/VirtualService/shop/web:")
            && !gcc_out.contains("payments"),
        "{gcc_out}"
    );

    step("a user RBAC does not allow to list Deployments");
    let limited = c.file(
        "limited-rbac.yaml",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: audit-limited}\n\
         rules:\n- apiGroups: ['', flagger.app, argoproj.io, monitoring.coreos.com, networking.istio.io]\n\
         \x20 resources: ['*']\n  verbs: [get, list]\n---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: audit-limited}\n\
         roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: audit-limited}\n\
         subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: audit-limited}]\n",
    );
    c.ok(&["apply", "-f", &limited]);
    let text = std::fs::read_to_string(&c.kubeconfig).expect("kubeconfig");
    let limited_kc = c.file(
        "kubeconfig-limited",
        &text.replace(
            "token: \"e2e-admin-token\"",
            "token: \"e2e-admin-token\", as: \"audit-limited\"",
        ),
    );
    let (code, v, stderr) = audit(Path::new(&limited_kc), &[]);
    assert_eq!(code, 2, "a kind could not be read: exit 2\n{stderr}");
    let notes = v["notes"].as_array().cloned().unwrap_or_default();
    let deployments: Vec<&Value> = notes.iter().filter(|n| n["kind"] == "Deployment").collect();
    assert_eq!(deployments.len(), 1, "one note for Deployments: {notes:?}");
    assert_eq!(deployments[0]["reason"], "unreadable");
    assert!(
        deployments[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("forbidden")),
        "{notes:?}"
    );
    let errors = identities(&v, "error");
    assert!(
        !errors
            .iter()
            .any(|(r, k, ..)| r == "target-not-found" && k == "Canary"),
        "no false \"does not exist\" for an unreadable kind: {errors:?}"
    );
    assert!(
        errors.iter().any(|(r, ..)| r == "istio-weights-not-100"),
        "the readable kinds are still audited: {errors:?}"
    );

    step("the same user, allowed to list Deployments in namespace shop only, audits -n shop");
    let role = c.file(
        "limited-shop.yaml",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: audit-limited, namespace: shop}\n\
         rules:\n- apiGroups: [apps]\n  resources: [deployments, statefulsets, daemonsets]\n  verbs: [get, list]\n---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: audit-limited, namespace: shop}\n\
         roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: audit-limited}\n\
         subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: audit-limited}]\n",
    );
    c.ok(&["apply", "-f", &role]);
    let (code, v, stderr) = audit(Path::new(&limited_kc), &["-n", "shop"]);
    assert_eq!(
        code, 1,
        "every kind read (Deployments in shop only): exit 1\n{stderr}"
    );
    let notes = v["notes"].as_array().cloned().unwrap_or_default();
    assert!(
        notes
            .iter()
            .any(|n| n["kind"] == "Deployment" && n["reason"] == "partial"),
        "{notes:?}"
    );
    let errors = identities(&v, "error");
    assert!(
        errors.iter().all(|(_, _, ns, ..)| ns == "shop"),
        "only namespace shop is reported: {errors:?}"
    );
    assert!(
        errors.iter().any(|(r, ..)| r == "istio-weights-not-100"),
        "{errors:?}"
    );
    // The DestinationRule's subset check needs the pods of Deployment shop/web: read.
    assert!(
        identities(&v, "warning")
            .iter()
            .any(|(r, ..)| r == "istio-subset-no-pods"),
        "{}",
        v["findings"]
    );

    step("rollgate audit --write-reports");
    let (code, v, stderr) = audit(&c.kubeconfig, &["--write-reports"]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(
        v["reports"]["created"], 4,
        "two namespaces, two flavors: {}",
        v["reports"]
    );
    let written = reports(&c);
    assert_eq!(
        written.keys().cloned().collect::<Vec<_>>(),
        vec!["payments".to_owned(), "shop".to_owned()]
    );
    let shop = &written["shop"];
    assert_eq!(shop["metadata"]["name"], "rollgate");
    assert_eq!(
        shop["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "rollgate"
    );
    let results = shop["results"].as_array().cloned().unwrap_or_default();
    let weights = results
        .iter()
        .find(|r| r["policy"] == "istio-weights-not-100")
        .expect("a result per finding");
    // Kept by the apiserver as written (the CRD's schema prunes unknown fields).
    assert_eq!(weights["result"], "fail");
    assert_eq!(weights["severity"], "high");
    assert_eq!(weights["source"], "rollgate");
    assert_eq!(weights["properties"]["pointer"], "/spec/http/0/route");
    assert_eq!(weights["resources"][0]["kind"], "VirtualService");
    assert_eq!(weights["resources"][0]["name"], "web");
    assert!(weights["resources"][0]["uid"].is_string(), "{weights}");
    let shop_errors = identities(&v, "error")
        .iter()
        .filter(|(_, _, ns, ..)| ns == "shop")
        .count();
    assert_eq!(shop["summary"]["fail"], shop_errors);
    assert_eq!(
        v["reports"]["kinds"],
        serde_json::json!(["PolicyReport.wgpolicyk8s.io", "Report.openreports.io"])
    );
    let (json, _) = c.ok(&[
        "get",
        "reports.openreports.io",
        "-n",
        "shop",
        "rollgate",
        "-o",
        "json",
    ]);
    let open: Value = serde_json::from_str(&json).expect("Report");
    assert_eq!(open["apiVersion"], "openreports.io/v1alpha1");
    assert_eq!(
        open["results"], shop["results"],
        "the same results in both flavors"
    );

    step("a second pass changes nothing");
    let (_, v, _) = audit(&c.kubeconfig, &["--write-reports"]);
    assert_eq!(v["reports"]["unchanged"], 4, "{}", v["reports"]);
    assert_eq!(v["reports"]["updated"], 0, "{}", v["reports"]);
    let rv = |r: &Value| r["metadata"]["resourceVersion"].clone();
    assert_eq!(rv(&reports(&c)["shop"]), rv(shop), "not rewritten");

    step("fixing objects updates and deletes reports");
    let fixed = c.file(
        "fixed-vs.yaml",
        "apiVersion: networking.istio.io/v1beta1\nkind: VirtualService\n\
         metadata: {name: web, namespace: shop}\n\
         spec:\n  hosts: [web]\n  http:\n  - route:\n\
         \x20   - {destination: {host: web}, weight: 90}\n\
         \x20   - {destination: {host: web-canary}, weight: 10}\n",
    );
    c.ok(&["apply", "-f", &fixed]);
    c.ok(&["delete", "canary", "api", "-n", "payments"]);
    c.ok(&["delete", "rollout", "checkout", "-n", "payments"]);
    let (_, v, stderr) = audit(&c.kubeconfig, &["--write-reports"]);
    assert_eq!(v["reports"]["deleted"], 2, "{}\n{stderr}", v["reports"]);
    assert_eq!(v["reports"]["updated"], 2, "{}", v["reports"]);
    let after = reports(&c);
    assert!(
        !after.contains_key("payments"),
        "fixed namespace: report deleted"
    );
    assert!(
        !after["shop"]["results"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|r| r["policy"] == "istio-weights-not-100"),
        "the fixed finding is gone: {}",
        after["shop"]
    );
}

/// GET `path` on the plain-HTTP metrics address.
fn http_get(addr: SocketAddr, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())
}

/// The value of the first sample of `metrics` whose line starts with `name` and holds every
/// one of `labels`.
fn sample(metrics: &str, name: &str, labels: &[&str]) -> Option<f64> {
    metrics
        .lines()
        .filter(|l| l.starts_with(name))
        .find(|l| labels.iter().all(|x| l.contains(x)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "{what}: not within {secs} s");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// One `rollgate serve --audit-interval` replica as deploy/'s ServiceAccount.
fn audit_replica(c: &Cluster, name: &'static str) -> (Proc, SocketAddr) {
    let (cert, key) = c.pki.leaf("rollgate", &["127.0.0.1"]);
    let (cert_path, key_path) = (
        c.dir.join(format!("{name}.crt")),
        c.dir.join(format!("{name}.key")),
    );
    write(&cert_path, &cert);
    write(&key_path, &key);
    let metrics: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let proc = Proc::spawn(
        name,
        Command::new(env!("CARGO_BIN_EXE_rollgate"))
            .env("KUBECONFIG", &c.sa_kubeconfig)
            .env("POD_NAME", name)
            .env("POD_NAMESPACE", "rollgate")
            .args(["serve", "--addr", &format!("127.0.0.1:{}", free_port())])
            .arg("--metrics-addr")
            .arg(metrics.to_string())
            .arg("--tls-cert")
            .arg(&cert_path)
            .arg("--tls-key")
            .arg(&key_path)
            // An hour: whatever happens below within the test comes from watch events.
            .args(["--audit-interval", "60m", "--audit-debounce", "200ms"])
            .args(["--audit-lease-duration", "4s"])
            .args(["--rediscover-interval", "2s"]),
        &c.dir,
    );
    (proc, metrics)
}

/// The background audit of `rollgate serve` against the real apiserver, as deploy/'s
/// ServiceAccount (deploy/rbac.yaml applied with `kubectl apply -k`): two replicas audit the
/// watch cache; exactly one holds the Lease and writes the PolicyReports; deleting a Service
/// under a ServiceMonitor updates both replicas' metrics and the report within seconds (the
/// full-pass interval is an hour); the holder's SIGTERM releases the Lease and the other
/// replica takes over.
#[test]
fn real_apiserver_background_audit() {
    let bins = match binaries() {
        Ok(b) => b,
        Err(reason) => {
            if std::env::var("ROLLGATE_REQUIRE_E2E").is_ok_and(|v| v == "1") {
                panic!("ROLLGATE_REQUIRE_E2E=1 but the e2e test cannot run: {reason}");
            }
            println!("SKIPPED real_apiserver_background_audit: {reason}");
            return;
        }
    };
    let c = Cluster::start(&bins);
    install_crds_from(&c, &["testdata/crds", "testdata/crds-audit"]);
    step("deploy/: kubectl apply -k, without webhook.yaml");
    c.ok(&["apply", "-k", &deploy_copy(&c, false)]);
    for (verb, what) in [
        ("create", "policyreports.wgpolicyk8s.io"),
        ("update", "leases.coordination.k8s.io/rollgate-audit"),
    ] {
        let (can, _) = c.ok(&[
            "auth", "can-i", verb, what, "-n", "rollgate", "--as", SA_USER,
        ]);
        assert_eq!(can.trim(), "yes", "{verb} {what}");
    }
    let manifest = format!("{ROOT}/testdata/audit/cluster.yaml");
    c.ok(&["apply", "-f", &manifest]);
    let monitored = c.file(
        "monitored.yaml",
        "apiVersion: v1\nkind: Service\nmetadata: {name: cart, namespace: shop, labels: {app.kubernetes.io/name: cart}}\n\
         spec:\n  selector: {app: cart}\n  ports: [{name: metrics, port: 9090}]\n---\n\
         apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: cart, namespace: shop}\n\
         spec:\n  selector: {matchLabels: {app.kubernetes.io/name: cart}}\n  endpoints: [{port: metrics, interval: 30s}]\n",
    );
    c.ok(&["apply", "-f", &monitored]);

    step("two replicas with --audit-interval");
    let (mut a, a_metrics) = audit_replica(&c, "replica-a");
    let (mut b, b_metrics) = audit_replica(&c, "replica-b");
    let rule = "rule=\"servicemonitor-no-matching-service\"";
    let last_run = |m: SocketAddr| {
        http_get(m, "/metrics")
            .and_then(|t| sample(&t, "rollgate_audit_last_run_timestamp_seconds", &[]))
            .unwrap_or(0.0)
    };
    wait_until("a first audit pass on both replicas", 60, || {
        a.assert_running();
        b.assert_running();
        last_run(a_metrics) > 0.0 && last_run(b_metrics) > 0.0
    });
    let holder = || -> String {
        let (json, _) = c.ok(&[
            "get",
            "lease",
            "rollgate-audit",
            "-n",
            "rollgate",
            "-o",
            "json",
        ]);
        let v: Value = serde_json::from_str(&json).expect("lease");
        v["spec"]["holderIdentity"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    };
    let leader_gauge = |m: SocketAddr| {
        http_get(m, "/metrics").and_then(|t| sample(&t, "rollgate_audit_leader", &[]))
    };
    wait_until("one replica holds the Lease", 30, || {
        !holder().is_empty()
            && leader_gauge(a_metrics).unwrap_or(0.0) + leader_gauge(b_metrics).unwrap_or(0.0)
                == 1.0
    });
    let first = holder();
    let (leader_m, follower_m) = if first == "replica-a" {
        (a_metrics, b_metrics)
    } else {
        (b_metrics, a_metrics)
    };
    assert_eq!(leader_gauge(leader_m), Some(1.0), "holder {first}");
    wait_until("the holder writes the reports", 30, || {
        reports(&c).contains_key("shop")
    });
    let writes = |m: SocketAddr| {
        let t = http_get(m, "/metrics").unwrap_or_default();
        t.lines()
            .filter(|l| l.starts_with("rollgate_audit_report_writes_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    assert!(writes(leader_m) >= 1.0);
    assert_eq!(writes(follower_m), 0.0, "only the Lease holder writes");
    let before = http_get(a_metrics, "/metrics").unwrap_or_default();
    assert!(
        sample(
            &before,
            "rollgate_audit_findings{",
            &[rule, "namespace=\"shop\"", "kind=\"ServiceMonitor\""]
        )
        .is_some_and(|n| n == 1.0),
        "the testdata monitor `web` selects nothing: one finding\n{before}"
    );

    step("deleting the Service under ServiceMonitor shop/cart");
    let t = Instant::now();
    c.ok(&["delete", "service", "cart", "-n", "shop"]);
    for m in [a_metrics, b_metrics] {
        wait_until("the metric counts the new finding", 20, || {
            let text = http_get(m, "/metrics").unwrap_or_default();
            sample(
                &text,
                "rollgate_audit_findings{",
                &[rule, "namespace=\"shop\""],
            ) == Some(2.0)
        });
    }
    let metrics_after = t.elapsed();
    wait_until("the report gains the finding", 20, || {
        reports(&c)["shop"]["results"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|r| {
                r["policy"] == "servicemonitor-no-matching-service"
                    && r["resources"][0]["name"] == "cart"
            })
    });
    println!(
        "Service deleted → metrics on both replicas after {:.1} s, report after {:.1} s (audit interval 60 m)",
        metrics_after.as_secs_f64(),
        t.elapsed().as_secs_f64()
    );
    assert_eq!(writes(follower_m), 0.0, "only the Lease holder writes");

    step("the holder stops: the other replica takes the Lease over");
    let (mut leader_proc, mut follower_proc) = if first == "replica-a" { (a, b) } else { (b, a) };
    let _ = Command::new("kill")
        .args(["-TERM", &leader_proc.child.id().to_string()])
        .status();
    let t = Instant::now();
    wait_until("the other replica holds the Lease", 30, || {
        follower_proc.assert_running();
        let h = holder();
        !h.is_empty() && h != first
    });
    println!(
        "Lease taken over {:.1} s after SIGTERM to the holder",
        t.elapsed().as_secs_f64()
    );
    let _ = leader_proc.child.wait();
    wait_until("the new holder reports being the leader", 15, || {
        leader_gauge(follower_m) == Some(1.0)
    });
    // It reconciles every report on winning: nothing to change, so no write.
    c.ok(&["apply", "-f", &monitored]);
    wait_until(
        "the new holder removes the fixed finding from the report",
        20,
        || {
            !reports(&c)["shop"]["results"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|r| {
                    r["policy"] == "servicemonitor-no-matching-service"
                        && r["resources"][0]["name"] == "cart"
                })
        },
    );
    follower_proc.assert_running();
}
