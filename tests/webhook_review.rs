//! The admission decision (`rollgate::webhook::review`) on AdmissionReviews captured from a real
//! kube-apiserver (testdata/admission/, see testdata/README.md), plus variants derived from them.

use rollgate::engine::{Config, Engine, MemoryInventory, Object, Origin, Settings};
use rollgate::webhook::cache::{ClusterCache, Store};
use rollgate::webhook::metrics::Metrics;
use rollgate::webhook::{NoCluster, Verdict, World, review};
use serde_json::{Value, json};
use std::sync::Arc;

fn fixture(name: &str) -> Value {
    let path = format!("{}/testdata/admission/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).expect("fixture is JSON")
}

fn engine() -> Engine {
    Engine::new(rollgate::rules::REGISTRY, &Config::default(), None)
}

fn decide(v: &Value, world: &dyn World) -> (Verdict, Value) {
    let body = serde_json::to_vec(v).expect("json");
    let out = review(&body, &engine(), &Settings::default(), world);
    let r = serde_json::to_value(&out.review).expect("serializable");
    assert_eq!(r["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(r["kind"], "AdmissionReview");
    assert!(r.get("request").is_none());
    let resp = r["response"].clone();
    if let Some(uid) = v.pointer("/request/uid") {
        assert_eq!(&resp["uid"], uid, "the uid is echoed");
    }
    (out.verdict, resp)
}

#[test]
fn captured_reviews() {
    // (fixture, verdict, allowed)
    let cases = [
        ("create-virtualservice-bad-weights.json", Verdict::Denied),
        (
            "create-virtualservice-bad-weights-dryrun.json",
            Verdict::Denied,
        ),
        (
            "update-virtualservice-bad-weights-dryrun.json",
            Verdict::Denied,
        ),
        ("update-virtualservice-suppressed.json", Verdict::Allowed),
        ("delete-virtualservice.json", Verdict::Skipped),
    ];
    for (name, want) in cases {
        let (got, r) = decide(&fixture(name), &NoCluster);
        assert_eq!(got, want, "{name}: {r}");
        assert_eq!(r["allowed"], want != Verdict::Denied, "{name}: {r}");
        if want == Verdict::Denied {
            let msg = r["status"]["message"].as_str().unwrap_or("");
            assert!(
                msg.starts_with("istio-weights-not-100 at spec.http[0].route: weights sum to 105"),
                "{name}: {msg}"
            );
            assert_eq!(r["status"]["code"], 403);
        }
    }
    // The good Canary/MetricTemplate/ServiceMonitor set is admitted (whatever warnings the
    // rules of the day have about it, nothing denies it).
    for name in [
        "create-canary.json",
        "create-metrictemplate.json",
        "create-servicemonitor.json",
        "update-servicemonitor-label.json",
    ] {
        let (got, r) = decide(&fixture(name), &NoCluster);
        assert_ne!(got, Verdict::Denied, "{name}: {r}");
        assert_ne!(got, Verdict::Invalid, "{name}: {r}");
        assert_eq!(r["allowed"], true, "{name}: {r}");
    }
}

#[test]
fn update_leaving_spec_unchanged_is_not_denied() {
    // A controller adding a finalizer to a VirtualService admitted before rollgate was installed.
    let mut v = fixture("update-virtualservice-bad-weights-dryrun.json");
    let spec = v["request"]["object"]["spec"].clone();
    v["request"]["oldObject"]["spec"] = spec;
    v["request"]["object"]["metadata"]["finalizers"] = json!(["example.com/cleanup"]);
    let (got, r) = decide(&v, &NoCluster);
    assert_eq!(got, Verdict::Warned, "{r}");
    let w = r["warnings"][0].as_str().unwrap_or("");
    assert!(
        w.starts_with("istio-weights-not-100: [not enforced: spec unchanged] weights sum to 105"),
        "{w}"
    );
    // Deleting (finalizers pending) is never blocked either.
    let mut v = fixture("create-virtualservice-bad-weights.json");
    v["request"]["object"]["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    assert_eq!(decide(&v, &NoCluster).0, Verdict::Warned);
}

#[test]
fn warnings_are_short_and_prefixed_with_the_rule() {
    let mut v = fixture("create-virtualservice-bad-weights.json");
    v["request"]["object"]["metadata"]["annotations"] = json!({
        "ignore-check.rollgate.dev/istio-weights-not-10": "typo in the rule id",
    });
    let (got, r) = decide(&v, &NoCluster);
    // The misspelt suppression does not suppress: still denied, and warned about.
    assert_eq!(got, Verdict::Denied, "{r}");
    let w = r["warnings"][0].as_str().unwrap_or("");
    assert!(w.starts_with("invalid-suppression: "), "{w}");
    assert!(w.contains("did you mean \"istio-weights-not-100\""), "{w}");
    assert!(w.chars().count() <= rollgate::webhook::review::MAX_WARNING_CHARS);
}

#[test]
fn subresources_and_missing_objects_are_skipped() {
    let mut v = fixture("create-virtualservice-bad-weights.json");
    v["request"]["subResource"] = json!("status");
    assert_eq!(decide(&v, &NoCluster).0, Verdict::Skipped);
    let mut v = fixture("create-virtualservice-bad-weights.json");
    v["request"]["object"] = Value::Null;
    assert_eq!(decide(&v, &NoCluster).0, Verdict::Skipped);
}

#[test]
fn undecodable_requests_never_panic() {
    let base = fixture("create-virtualservice-bad-weights.json");
    let mut cases: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"null".to_vec(),
        b"\xff\xfe".to_vec(),
        b"{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":7}"
            .to_vec(),
    ];
    // Every field of the request replaced by something of the wrong type.
    if let Some(req) = base["request"].as_object() {
        for key in req.keys() {
            for bad in [
                json!(null),
                json!(7),
                json!("x"),
                json!([1]),
                json!({"a": 1}),
            ] {
                let mut v = base.clone();
                v["request"][key] = bad;
                cases.push(serde_json::to_vec(&v).expect("json"));
            }
        }
    }
    for body in cases {
        let out = review(&body, &engine(), &Settings::default(), &NoCluster);
        let r = serde_json::to_value(&out.review).expect("serializable");
        assert_eq!(r["apiVersion"], "admission.k8s.io/v1");
        assert!(r["response"]["uid"].is_string());
    }
}

/// The cluster world: the object under admission replaces its cached version.
#[test]
fn cluster_cache_world_overlays_the_admitted_object() {
    let cached = Object::from_value(
        json!({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
               "metadata": {"name": "podinfo", "namespace": "test"},
               "spec": {"hosts": ["old"]}}),
        Origin::Cluster,
        "",
    )
    .expect("object");
    let mut store = Store::default();
    store.insert(cached);
    let cache = ClusterCache::from_store(store, Arc::new(Metrics::new()));
    assert!(cache.synced());
    let v = fixture("create-virtualservice-bad-weights.json");
    let admitted = Object::from_value(v["request"]["object"].clone(), Origin::Admission, "test")
        .expect("object");
    let mut hosts = Vec::new();
    cache.with_world(&admitted, &mut |w| {
        for o in w.list("networking.istio.io", "VirtualService", Some("test")) {
            hosts.push(o.at("/spec/hosts/0").cloned());
        }
        assert!(!w.complete(), "the admission world is never complete");
        assert_eq!(w.describe(), "the cluster");
    });
    assert_eq!(hosts, vec![Some(json!("podinfo"))]);
    let (got, _) = decide(&v, &*cache);
    assert_eq!(got, Verdict::Denied);
    // MemoryInventory is the same trait: nothing webhook-specific leaks into rules.
    let _ = MemoryInventory::default();
}

/// The fixture's request with another object under admission.
fn admitting(object: Value) -> Value {
    let mut v = fixture("create-virtualservice-bad-weights.json");
    let (group, version) = {
        let av = object["apiVersion"].as_str().unwrap_or("v1");
        av.rsplit_once('/').map_or(("", av), |(g, v)| (g, v))
    };
    let kind = object["kind"].clone();
    v["request"]["kind"] = json!({"group": group, "version": version, "kind": kind});
    v["request"]["resource"] = json!({"group": group, "version": version, "resource": "objects"});
    v["request"]["name"] = object["metadata"]["name"].clone();
    v["request"]["object"] = object;
    v
}

/// Issue 20: a MetricTemplate created before any Canary is decided for every target name, and a
/// matcher that also selects the primary's pods for any target is denied, as `rollgate lint`
/// reports it (one engine).
#[test]
fn metrictemplate_alone_is_decided_for_every_target() {
    let bad = json!({
        "apiVersion": "flagger.app/v1beta1", "kind": "MetricTemplate",
        "metadata": {"name": "pod-cpu", "namespace": "test"},
        "spec": {"provider": {"type": "prometheus", "address": "http://prometheus:9090"},
                 "query": "sum(rate(container_cpu_usage_seconds_total{pod=~\"{{ target }}-.+\"}[{{ interval }}]))"}
    });
    let (got, r) = decide(&admitting(bad.clone()), &NoCluster);
    assert_eq!(got, Verdict::Denied, "{r}");
    let msg = r["status"]["message"].as_str().unwrap_or("");
    assert!(msg.starts_with("canary-query-includes-primary"), "{msg}");
    assert!(msg.contains("every Deployment target T"), "{msg}");
    let mut good = bad;
    good["spec"]["query"] = json!(
        "sum(rate(container_cpu_usage_seconds_total{pod=~\"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)\"}[{{ interval }}]))"
    );
    let (got, r) = decide(&admitting(good), &NoCluster);
    assert_eq!(got, Verdict::Allowed, "{r}");
}

/// Issue 20: Argo's own spec validation (argo-invalid-spec) denies at admission what the
/// controller would mark InvalidSpec.
#[test]
fn rollout_argo_rejects_is_denied() {
    let rollout = json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "web", "namespace": "test"},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "web:1"}]}},
                 "strategy": {"canary": {"steps": [{"setWeight": 20, "pause": {}}]}}}
    });
    let (got, r) = decide(&admitting(rollout), &NoCluster);
    assert_eq!(got, Verdict::Denied, "{r}");
    let msg = r["status"]["message"].as_str().unwrap_or("");
    assert!(
        msg.starts_with("argo-invalid-spec at spec.strategy.canary.steps[0]"),
        "{msg}"
    );
}

/// The Flagger parity rules decide the same way in the webhook as in the linter (one engine):
/// a Canary whose metric can never run is denied with the lint finding's message, a provider
/// spelt in the wrong case is a warning, and a thousand such metrics are decided without
/// trouble.
#[test]
fn flagger_parity_rules_decide_as_lint() {
    use rollgate::engine::lint::lint;
    use rollgate::manifest::Limits;
    use rollgate::manifest::input::from_bytes;

    let mut v = fixture("create-canary.json");
    let obj = &mut v["request"]["object"];
    obj["spec"]["provider"] = json!("NGINX");
    obj["spec"]["ingressRef"] =
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "podinfo"});
    let metrics = obj["spec"]["analysis"]["metrics"].as_array_mut().unwrap();
    metrics.push(
        json!({"name": "http_requests_total", "interval": "1m", "thresholdRange": {"max": 1}}),
    );
    let index = metrics.len() - 1;
    let object = obj.clone();
    let (got, r) = decide(&v, &NoCluster);
    assert_eq!(got, Verdict::Denied, "{r}");
    let msg = r["status"]["message"].as_str().unwrap_or("");
    let prefix = format!("flagger-metric-never-runs at spec.analysis.metrics[{index}].name: ");
    assert!(msg.starts_with(&prefix), "{msg}");
    let warnings: Vec<&str> = r["warnings"]
        .as_array()
        .map(|w| w.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("flagger-router-refs: ") && w.contains("\"NGINX\"")),
        "{warnings:?}"
    );

    // The linter reports the same finding, with the same message, on the same object.
    let yaml = serde_json::to_string(&object).unwrap();
    let run = lint(
        vec![from_bytes("canary.yaml".into(), yaml.into_bytes())],
        &engine(),
        &Settings::default(),
        Limits::default(),
    );
    let linted = run
        .diagnostics
        .iter()
        .find(|d| d.finding.rule == "flagger-metric-never-runs")
        .expect("lint finds it too");
    assert!(
        msg.ends_with(&linted.finding.message),
        "{msg}\n{}",
        linted.finding.message
    );

    // Thousands of metrics: decided, one finding per unusable metric, no panic.
    let mut v = fixture("create-canary.json");
    let many: Vec<Value> = (0..3000)
        .map(|i| json!({"name": format!("m{i}"), "threshold": i, "interval": "1m"}))
        .collect();
    v["request"]["object"]["spec"]["analysis"]["metrics"] = Value::Array(many);
    v["request"]["object"]["spec"]["analysis"]["threshold"] = json!(i64::MAX);
    v["request"]["object"]["spec"]["analysis"]["interval"] = json!("2562047h");
    let (got, r) = decide(&v, &NoCluster);
    assert_eq!(got, Verdict::Denied, "{r}");
    assert!(
        r["status"]["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("flagger-metric-never-runs"),
        "{r}"
    );
}
