//! `cargo bench --bench audit`: a full cluster audit over 100,000 objects in the webhook's cache.
//!
//! The objects come in through the watch's conversion (`cache::to_object` on `DynamicObject`s as
//! the apiserver serves them: managedFields, status, last-applied annotation, all stripped on the
//! way in) into a `Store`, as `rollgate serve`'s watches and `rollgate audit`'s LISTs fill it.
//! Per application (6 objects): a Deployment, a Service, a Flagger Canary with a MetricTemplate
//! reference, a ServiceMonitor, a VirtualService and a DestinationRule; 20 applications per
//! namespace; one namespace in five also has an Argo Rollout with an AnalysisTemplate instead of a
//! Canary; one Prometheus per 100 namespaces. One object in ten is broken (weights, missing
//! targets, a monitor selecting nothing) so the pass also builds rows.
//!
//! Prints: objects, fill time, the audit's process CPU time and wall time, rows, read locks and
//! the longest one, the peak RSS of the whole process (cache included). Targets (issue 23): full
//! audit ≤ 10 s CPU, ≤ 256 MB RSS. `ROLLGATE_BENCH_OBJECTS` (default 100000) changes the size.
//! `ROLLGATE_BENCH_ROWS=FILE` writes the rows. Figures are printed, never asserted.

#[path = "support/mod.rs"]
mod support;

use std::alloc::{GlobalAlloc, Layout};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use kube::api::DynamicObject;
use kube::core::{ApiResource, GroupVersionKind};
use rollgate::engine::{Config, Engine, Settings};
use rollgate::webhook::audit::{AuditOptions, audit};
use rollgate::webhook::cache::{Availability, ClusterCache, Store, WATCHED, to_object};
use rollgate::webhook::metrics::Metrics;
use serde_json::{Value, json};
use support::{cpu_time, env_usize, ms};

/// The allocator of the `rollgate` binary (src/main.rs), which runs the audit, counting the
/// bytes live and their peak: the RSS figures say how much, these say what (cache, snapshot,
/// parsed objects).
#[global_allocator]
static GLOBAL: Counting = Counting;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to mimalloc unchanged; the counters only observe sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as the caller promised for `layout`.
        let p = unsafe { mimalloc::MiMalloc.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Relaxed);
        // SAFETY: as the caller promised for `ptr` and `layout`.
        unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as the caller promised for `ptr`, `layout` and `new_size`.
        let p = unsafe { mimalloc::MiMalloc.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Relaxed);
            grew(new_size);
        }
        p
    }
}

fn grew(n: usize) {
    let live = LIVE.fetch_add(n, Relaxed) + n;
    PEAK.fetch_max(live, Relaxed);
}

fn mb(bytes: usize) -> f64 {
    bytes as f64 / 1e6
}

/// Bytes allocated by one parse of each watched kind's first object (`Store::object`, the
/// view's parse), and how many objects of the kind the cache holds.
fn parsed_sizes(store: &Store) -> Vec<(&'static str, usize, usize)> {
    let mut out = Vec::new();
    for (group, kind) in WATCHED {
        let count = store.count(group, kind);
        let Some(k) = store
            .keys(|g, k| g == *group && k == *kind)
            .into_iter()
            .next()
        else {
            continue;
        };
        let before = LIVE.load(Relaxed);
        let o = store.object(group, kind, &k.namespace, &k.name);
        let size = LIVE.load(Relaxed).saturating_sub(before);
        drop(o);
        out.push((*kind, count, size));
    }
    out
}

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

fn ar(group: &str, version: &str, kind: &str) -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind))
}

/// Server-side metadata every object carries, as the apiserver serves it.
fn meta(kind: &str, name: &str, ns: &str, i: usize, labels: Value, spec: &Value) -> Value {
    json!({
        "name": name, "namespace": ns,
        "uid": format!("8c6b7a0e-0000-4000-8000-{i:012}"),
        "resourceVersion": format!("{}", 100000 + i),
        "generation": 2, "creationTimestamp": "2026-11-01T10:00:00Z",
        "labels": labels,
        "annotations": {"kubectl.kubernetes.io/last-applied-configuration":
            serde_json::to_string(&json!({"kind": kind, "metadata": {"name": name, "namespace": ns}, "spec": spec})).unwrap_or_default()},
        "managedFields": [{"manager": "kubectl-client-side-apply", "operation": "Update",
            "time": "2026-11-01T10:00:00Z", "fieldsType": "FieldsV1",
            "fieldsV1": {"f:metadata": {"f:labels": {".": {}}}, "f:spec": {".": {}}}}]
    })
}

fn object(kind: &str, name: &str, ns: &str, i: usize, labels: Value, spec: Value) -> Value {
    json!({"metadata": meta(kind, name, ns, i, labels, &spec), "spec": spec, "status": {"observedGeneration": 2}})
}

struct Gen {
    store: Store,
    n: usize,
    raw: usize,
}

impl Gen {
    fn add(&mut self, ar: &ApiResource, v: Value) {
        self.raw += serde_json::to_vec(&v).map_or(0, |b| b.len());
        let d: DynamicObject = serde_json::from_value(v).expect("object");
        self.store.insert(to_object(ar, d).expect("converted"));
        self.n += 1;
    }
}

fn generate(target: usize) -> Gen {
    let deploy = ar("apps", "v1", "Deployment");
    let svc = ar("", "v1", "Service");
    let canary = ar("flagger.app", "v1beta1", "Canary");
    let mt = ar("flagger.app", "v1beta1", "MetricTemplate");
    let sm = ar("monitoring.coreos.com", "v1", "ServiceMonitor");
    let prom = ar("monitoring.coreos.com", "v1", "Prometheus");
    let vs = ar("networking.istio.io", "v1beta1", "VirtualService");
    let dr = ar("networking.istio.io", "v1beta1", "DestinationRule");
    let rollout = ar("argoproj.io", "v1alpha1", "Rollout");
    let at = ar("argoproj.io", "v1alpha1", "AnalysisTemplate");
    let mut g = Gen {
        store: Store::default(),
        n: 0,
        raw: 0,
    };
    let mut app = 0usize;
    let mut ns_i = 0usize;
    while g.n < target {
        let ns = format!("team-{ns_i}");
        let argo = ns_i % 5 == 4;
        if ns_i % 100 == 0 {
            g.add(
                &prom,
                object(
                    "Prometheus",
                    "k8s",
                    &ns,
                    g.n,
                    json!({}),
                    json!({
                "serviceMonitorSelector": {}, "serviceMonitorNamespaceSelector": {},
                "scrapeInterval": "30s"}),
                ),
            );
        }
        if argo {
            g.add(&at, object("AnalysisTemplate", "success-rate", &ns, g.n, json!({}), json!({
                "args": [{"name": "service"}],
                "metrics": [{"name": "success-rate", "interval": "1m", "successCondition": "result[0] >= 0.99",
                    "provider": {"prometheus": {"address": "http://prometheus.monitoring:9090",
                        "query": "sum(rate(http_requests_total{service=\"{{args.service}}\",code!~\"5..\"}[2m])) / sum(rate(http_requests_total{service=\"{{args.service}}\"}[2m]))"}}}]})));
        } else {
            g.add(&mt, object("MetricTemplate", "error-rate", &ns, g.n, json!({}), json!({
                "provider": {"type": "prometheus", "address": "http://prometheus.monitoring:9090"},
                "query": "100 - sum(rate(http_requests_total{namespace=\"{{ namespace }}\",service=\"{{ target }}\",code!~\"5..\"}[{{ interval }}])) / sum(rate(http_requests_total{namespace=\"{{ namespace }}\",service=\"{{ target }}\"}[{{ interval }}])) * 100"})));
        }
        for _ in 0..20 {
            let name = format!("app-{app}");
            let broken = app % 10 == 7;
            let labels = json!({"app": name, "team": "payments"});
            let template = json!({
                "metadata": {"labels": {"app": name, "version": "v1"}},
                "spec": {"containers": [{"name": "app", "image": format!("registry.example.com/{name}:1.0"),
                    "ports": [{"name": "http", "containerPort": 8080}, {"name": "metrics", "containerPort": 9090}],
                    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]}});
            if argo {
                g.add(&rollout, object("Rollout", &name, &ns, g.n, labels.clone(), json!({
                    "selector": {"matchLabels": {"app": name}}, "template": template,
                    "strategy": {"canary": {"canaryService": format!("{name}-canary"), "stableService": name,
                        "analysis": {"templates": [{"templateName": "success-rate"}],
                                     "args": [{"name": "service", "value": name}]},
                        "steps": [{"setWeight": if broken { 120 } else { 20 }}, {"pause": {"duration": "5m"}}, {"setWeight": 50}]}}})));
                g.add(&svc, object("Service", &format!("{name}-canary"), &ns, g.n, labels.clone(), json!({
                    "selector": {"app": name}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]})));
            } else {
                g.add(&deploy, object("Deployment", &name, &ns, g.n, labels.clone(), json!({
                    "replicas": 3, "selector": {"matchLabels": {"app": name}}, "template": template})));
                let target = if broken {
                    format!("{name}-gone")
                } else {
                    name.clone()
                };
                g.add(&canary, object("Canary", &name, &ns, g.n, labels.clone(), json!({
                    "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
                    "service": {"port": 80, "targetPort": 8080},
                    "analysis": {"interval": "1m", "threshold": 5, "maxWeight": 50, "stepWeight": 10,
                        "metrics": [{"name": "error-rate", "templateRef": {"name": "error-rate"},
                                     "thresholdRange": {"max": 1}, "interval": "1m"}]}})));
            }
            g.add(&svc, object("Service", &name, &ns, g.n, labels.clone(), json!({
                "selector": {"app": name},
                "ports": [{"name": "http", "port": 80, "targetPort": 8080}, {"name": "metrics", "port": 9090, "targetPort": "metrics"}]})));
            let sel = if broken {
                format!("{name}-x")
            } else {
                name.clone()
            };
            g.add(
                &sm,
                object(
                    "ServiceMonitor",
                    &name,
                    &ns,
                    g.n,
                    labels.clone(),
                    json!({
                "selector": {"matchLabels": {"app": sel}},
                "endpoints": [{"port": "metrics", "interval": "30s"}]}),
                ),
            );
            let w = if broken { 80 } else { 90 };
            g.add(
                &vs,
                object(
                    "VirtualService",
                    &name,
                    &ns,
                    g.n,
                    labels.clone(),
                    json!({
                "hosts": [name], "http": [{"route": [
                    {"destination": {"host": name, "subset": "stable"}, "weight": w},
                    {"destination": {"host": name, "subset": "canary"}, "weight": 10}]}]}),
                ),
            );
            g.add(
                &dr,
                object(
                    "DestinationRule",
                    &name,
                    &ns,
                    g.n,
                    labels.clone(),
                    json!({
                "host": name, "subsets": [{"name": "stable", "labels": {"version": "v1"}},
                                          {"name": "canary", "labels": {"version": "v1"}}]}),
                ),
            );
            app += 1;
            if g.n >= target {
                break;
            }
        }
        ns_i += 1;
    }
    g
}

fn main() {
    let target = env_usize("ROLLGATE_BENCH_OBJECTS", 100_000);
    let rss0 = status_kib("VmRSS:");
    let t = Instant::now();
    let g = generate(target);
    let fill = t.elapsed();
    let (n, raw) = (g.n, g.raw);
    let cache = ClusterCache::from_store(g.store, Arc::new(Metrics::new()));
    for (grp, k) in WATCHED {
        cache.mark(grp, k, Availability::Synced);
    }
    let json_mb = cache.read(|s| s.json_bytes()) as f64 / 1e6;
    let sizes = cache.read(parsed_sizes);
    let rss_filled = status_kib("VmRSS:");
    let live_filled = LIVE.load(Relaxed);
    let engine = Engine::new(rollgate::rules::REGISTRY, &Config::default(), None);
    let settings = Settings::default();
    let options = AuditOptions {
        max_objects_per_view: env_usize(
            "ROLLGATE_BENCH_CHUNK",
            rollgate::webhook::audit::DEFAULT_MAX_OBJECTS_PER_VIEW,
        ),
        ..AuditOptions::default()
    };
    PEAK.store(LIVE.load(Relaxed), Relaxed);
    let (c0, w0) = (cpu_time(), Instant::now());
    let a = audit(&cache, &engine, &settings, &options);
    let (cpu, wall) = (cpu_time() - c0, w0.elapsed());
    let peak = status_kib("VmHWM:");
    let live_peak = PEAK.load(Relaxed);
    let live_after = LIVE.load(Relaxed);
    let rows: usize = a.rows.values().map(Vec::len).sum();
    println!(
        "audit: {n} objects ({:.0} MB as served, {json_mb:.0} MB in the cache; filled through the watch conversion in {:.1} s)",
        raw as f64 / 1e6,
        fill.as_secs_f64()
    );
    println!(
        "audit: full pass {:.2} s CPU, {:.2} s wall; {} objects checked in {} chunks, {rows} rows in {} namespaces, {} notes; {} read locks of the cache, longest {:.2} ms",
        cpu.as_secs_f64(),
        wall.as_secs_f64(),
        a.objects,
        a.chunks,
        a.rows.len(),
        a.notes.len(),
        a.reads,
        ms(a.longest_read)
    );
    println!(
        "audit: RSS {:.0} MB before filling, {:.0} MB with the cache filled, peak {:.0} MB (targets: <= 10 s CPU, <= 256 MB)",
        rss0 as f64 / 1024.0,
        rss_filled as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    let parsed: usize = sizes.iter().map(|(_, n, b)| n * b).sum();
    println!(
        "audit: heap {:.0} MB with the cache filled, peak {:.0} MB during the pass (+{:.0} MB); every object parsed once would take {:.0} MB",
        mb(live_filled),
        mb(live_peak),
        mb(live_peak.saturating_sub(live_filled)),
        mb(parsed)
    );
    println!(
        "audit: heap after the pass {:.0} MB (+{:.0} MB: the result's rows and counts)",
        mb(live_after),
        mb(live_after.saturating_sub(live_filled)),
    );
    let per_kind: Vec<String> = sizes
        .iter()
        .map(|(k, n, b)| format!("{k} {n} x {b} B"))
        .collect();
    println!("audit: one parsed object per kind: {}", per_kind.join(", "));
    let mut by_rule: std::collections::BTreeMap<&str, usize> = Default::default();
    for r in a.all_rows() {
        *by_rule.entry(r.rule).or_default() += 1;
    }
    println!("audit: rows by rule: {by_rule:?}");
    // `ROLLGATE_BENCH_ROWS=FILE`: every row as a JSON line (with its related places), to compare
    // two builds' findings.
    if let Ok(path) = std::env::var("ROLLGATE_BENCH_ROWS") {
        let mut text = String::new();
        for r in a.all_rows() {
            let related: Vec<String> = r
                .related
                .iter()
                .map(|x| format!("{:?} {} {}", x.object, x.pointer, x.message))
                .collect();
            text.push_str(&serde_json::to_string(&(r, related)).unwrap_or_default());
            text.push('\n');
        }
        std::fs::write(&path, text).expect("rows file");
        println!("audit: rows written to {path}");
    }
}
