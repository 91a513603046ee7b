//! `cargo bench --bench wiring`: do cross-resource rules stay linear in the number of objects?
//!
//! Generates synthetic applications, each a Service, a Deployment, a ServiceMonitor and a Flagger
//! Canary (4 objects), 25 applications per namespace, in files of 200 objects, plus one
//! MetricTemplate per namespace that every Canary of the namespace references (the gate-query
//! rules bind each template to its referrers through a per-run index); one monitor in
//! ten selects the pods' labels instead of the Service's (servicemonitor-selects-workload-labels),
//! one in ten uses `matchExpressions`, one in twenty covers its namespace through `matchNames`,
//! and a fixed handful use `namespaceSelector.any`. Lints 10k and 100k objects through
//! `rollgate::engine::lint::lint` (parse + world + rules + placing findings), with every rule and
//! with the wiring rules only, and prints both times and the 100k/10k ratio (target ≤ 10).
//!
//! `ROLLGATE_BENCH_ROUNDS` (default 3): rounds per size; the median (of process CPU time, less
//! noisy than wall time on a shared machine) is reported. `ROLLGATE_BENCH_RULES_ONLY=1`: only
//! the rules-alone measurement (for profiling). Figures are printed, never asserted.

#[path = "support/mod.rs"]
mod support;

use std::fmt::Write as _;
use std::time::Duration;

use rollgate::engine::lint::{lint_with_threads, objects_of};
use rollgate::engine::{Config, Context, Engine, MemoryInventory, Settings};
use rollgate::manifest::input::{Input, from_bytes};
use rollgate::manifest::{Limits, load};
use support::{cpu_time, median, ms};

const PER_FILE: usize = 200;
const APPS_PER_NAMESPACE: usize = 25;

const WIRING_RULES: &[&str] = &[
    "servicemonitor-selects-workload-labels",
    "servicemonitor-no-matching-service",
    "servicemonitor-port-not-found",
    "podmonitor-selects-service-labels",
    "monitor-not-selected-by-prometheus",
    "target-not-found",
    "template-not-found",
    "argo-template-not-found",
    "istio-subset-not-found",
    "istio-vs-owned-by-flagger",
    "duplicate-object",
];

fn app(i: usize, out: &mut String) {
    let ns = format!("team-{}", i / APPS_PER_NAMESPACE);
    let _ = write!(
        out,
        "apiVersion: v1
kind: Service
metadata:
  name: app-{i}
  namespace: {ns}
  labels:
    app.kubernetes.io/name: app-{i}
    team: {ns}
spec:
  selector:
    app: app-{i}
  ports:
  - name: http
    port: 80
    targetPort: 8080
  - name: http-metrics
    port: 9797
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-{i}
  namespace: {ns}
  labels:
    team: {ns}
spec:
  selector:
    matchLabels:
      app: app-{i}
  template:
    metadata:
      labels:
        app: app-{i}
    spec:
      containers:
      - name: app
        image: example/app:1.0
        ports:
        - name: http
          containerPort: 8080
        - name: http-metrics
          containerPort: 9797
---
"
    );
    let selector = if i % 10 == 3 {
        // The classic mistake: the pods' labels.
        format!("    matchLabels:\n      app: app-{i}\n")
    } else if i % 10 == 7 {
        format!(
            "    matchExpressions:\n    - {{key: app.kubernetes.io/name, operator: In, values: [app-{i}, app-{i}-old]}}\n    - {{key: team, operator: Exists}}\n"
        )
    } else {
        format!("    matchLabels:\n      app.kubernetes.io/name: app-{i}\n")
    };
    let namespace_selector = if i % 1000 == 11 && i < 5000 {
        "  namespaceSelector:\n    any: true\n".to_owned()
    } else if i % 20 == 9 {
        format!("  namespaceSelector:\n    matchNames: [{ns}]\n")
    } else {
        String::new()
    };
    let _ = write!(
        out,
        "apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: app-{i}
  namespace: {ns}
spec:
{namespace_selector}  selector:
{selector}  endpoints:
  - port: http-metrics
---
apiVersion: flagger.app/v1beta1
kind: Canary
metadata:
  name: app-{i}
  namespace: {ns}
spec:
  targetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: app-{i}
  service:
    port: 80
    targetPort: 8080
  analysis:
    interval: 1m
    threshold: 5
    stepWeight: 10
    maxWeight: 50
    metrics:
    - name: request-success-rate
      thresholdRange:
        min: 99
      interval: 1m
    - name: p99
      templateRef:
        name: latency
      thresholdRange:
        max: 0.5
      interval: 1m
---
"
    );
    if i.is_multiple_of(APPS_PER_NAMESPACE) {
        // One MetricTemplate per namespace, referenced by its 25 Canaries.
        let _ = write!(
            out,
            "apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata:
  name: latency
  namespace: {ns}
spec:
  provider:
    type: prometheus
    address: http://prometheus.monitoring:9090
  query: |
    histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{{
      namespace=\"{{{{ namespace }}}}\", pod=~\"{{{{ target }}}}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)\"
    }}[{{{{ interval }}}}])))
---
"
        );
    }
}

/// Objects in the synthetic input of `apps` applications: 4 each, plus a MetricTemplate per
/// namespace.
fn object_count(objects: usize) -> usize {
    let apps = objects / 4;
    objects + apps.div_ceil(APPS_PER_NAMESPACE)
}

/// Synthetic inputs holding `objects` objects (a multiple of 4), `PER_FILE` per file.
fn inputs(objects: usize) -> Vec<Input> {
    let apps = objects / 4;
    let per_file = PER_FILE / 4;
    let mut out = Vec::new();
    let mut i = 0;
    while i < apps {
        let mut text = String::new();
        for a in i..(i + per_file).min(apps) {
            app(a, &mut text);
        }
        out.push(from_bytes(
            format!("synthetic/apps-{i:06}.yaml"),
            text.into_bytes(),
        ));
        i += per_file;
    }
    out
}

/// Median CPU time of linting `objects` synthetic objects end to end (parse, world, rules,
/// placing findings), and the number of findings.
fn measure_lint(objects: usize, only: Option<&[String]>, rounds: usize) -> (Duration, usize) {
    let engine = Engine::new(rollgate::rules::REGISTRY, &Config::default(), only);
    let settings = Settings::default();
    let mut times = Vec::new();
    let mut findings = 0;
    for _ in 0..rounds {
        let ins = inputs(objects);
        let t = cpu_time();
        let run = lint_with_threads(ins, &engine, &settings, Limits::default(), 1);
        times.push(cpu_time().saturating_sub(t));
        assert_eq!(
            run.summary.objects,
            object_count(objects),
            "every synthetic object is loaded"
        );
        findings = run.diagnostics.len();
        std::hint::black_box(&run);
    }
    (median(&times), findings)
}

/// Median CPU time of the rules alone (`Engine::check` on every object of a world built
/// beforehand): what the cross-resource rules cost, without parsing; and the time to build that
/// world (`MemoryInventory::new`, indexes included).
fn measure_rules(objects: usize, only: &[String], rounds: usize) -> (Duration, usize, Duration) {
    let engine = Engine::new(rollgate::rules::REGISTRY, &Config::default(), Some(only));
    let settings = Settings::default();
    let mut all = Vec::new();
    for (si, input) in inputs(objects).into_iter().enumerate() {
        for doc in load(&input.source.text, Limits::default()).documents {
            if let Ok(objs) = objects_of(doc.value, si, doc.index, "default") {
                all.extend(objs);
            }
        }
    }
    assert_eq!(
        all.len(),
        object_count(objects),
        "every synthetic object is loaded"
    );
    let t = cpu_time();
    let world = MemoryInventory::new(all, "the input files", false);
    let build = cpu_time().saturating_sub(t);
    let cx = Context::new(&world, &settings);
    let mut times = Vec::new();
    let mut findings = 0;
    for _ in 0..rounds {
        let mut out = Vec::new();
        let t = cpu_time();
        for o in world.objects() {
            engine.check(o, &cx, &mut out);
        }
        times.push(cpu_time().saturating_sub(t));
        findings = out.len();
    }
    (median(&times), findings, build)
}

fn main() {
    let rounds = std::env::var("ROLLGATE_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or(3);
    let wiring: Vec<String> = WIRING_RULES.iter().map(|s| (*s).to_owned()).collect();
    println!("CPU time, median of {rounds} rounds; 100k/10k ratio (target <= 10)");
    let (small, f_small, build_small) = measure_rules(10_000, &wiring, rounds);
    let (large, f_large, build_large) = measure_rules(100_000, &wiring, rounds);
    println!(
        "{:>32}: 10k {:>8.1} ms, 100k {:>8.1} ms, ratio {:.2}",
        "world (MemoryInventory::new)",
        ms(build_small),
        ms(build_large),
        build_large.as_secs_f64() / build_small.as_secs_f64()
    );
    println!(
        "{:>32}: 10k {:>8.1} ms ({f_small} findings), 100k {:>8.1} ms ({f_large} findings), ratio {:.2}",
        "wiring rules on a built world",
        ms(small),
        ms(large),
        large.as_secs_f64() / small.as_secs_f64()
    );
    if std::env::var_os("ROLLGATE_BENCH_RULES_ONLY").is_some() {
        return;
    }
    let none: Vec<String> = Vec::new();
    for (label, only) in [
        ("lint, no rule", Some(none.as_slice())),
        ("lint, wiring rules", Some(wiring.as_slice())),
        ("lint, every rule", None),
    ] {
        let (small, f_small) = measure_lint(10_000, only, rounds);
        let (large, f_large) = measure_lint(100_000, only, rounds);
        println!(
            "{label:>32}: 10k {:>8.1} ms ({f_small} findings), 100k {:>8.1} ms ({f_large} findings), ratio {:.2}",
            ms(small),
            ms(large),
            large.as_secs_f64() / small.as_secs_f64()
        );
    }
}
