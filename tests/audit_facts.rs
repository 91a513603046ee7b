//! The audit's shared indexes ([`rollgate::webhook::facts`]) and namespace-aligned chunks
//! change no finding:
//! - `facts_and_chunks_change_no_finding`: a generated cluster (cross-namespace template
//!   references, monitors watching other or all namespaces, mesh and gateway VirtualServices
//!   claiming one host from several namespaces, a Flagger install, Argo Rollouts with cluster
//!   templates, Flagger-generated Service names, broken objects of each kind) audited with the
//!   facts in chunks of several sizes gives exactly the rows and notes of the pass that builds
//!   the rules' indexes over one view of the whole cluster;
//! - `rechecks_follow_facet_keys`: after changes that make objects gain or lose facet keys (a
//!   Canary naming another template, a monitor watching another namespace, a VirtualService
//!   taking a host, a Flagger install appearing), the background audit's re-checks agree with
//!   a fresh full pass, and a relabelled Deployment re-checks only what looked it up.

use std::sync::Arc;

use rollgate::engine::{Config, Engine, Object, Origin, Settings};
use rollgate::webhook::audit::{Audit, AuditOptions, audit};
use rollgate::webhook::background::Auditor;
use rollgate::webhook::cache::{Availability, ClusterCache, Store, WATCHED};
use rollgate::webhook::metrics::Metrics;
use serde_json::{Value, json};

fn obj(v: Value) -> Object {
    Object::from_value(v, Origin::Cluster, "").expect("object")
}

fn meta(name: &str, ns: &str, labels: Value) -> Value {
    json!({"name": name, "namespace": ns, "labels": labels, "uid": format!("{ns}-{name}")})
}

/// One namespace of `apps` applications; `i` varies what each one gets wrong.
fn namespace(store: &mut Store, ns_i: usize, apps: usize) {
    let ns = format!("ns-{ns_i}");
    let ns = ns.as_str();
    let argo = ns_i % 4 == 3;
    // Templates: each namespace's own, and ns-0's shared one named from elsewhere.
    store.insert(obj(json!({"apiVersion": "flagger.app/v1beta1", "kind": "MetricTemplate",
        "metadata": meta("errors", ns, json!({})),
        "spec": {"provider": {"type": "prometheus", "address": "http://prometheus.monitoring:9090"},
                 "query": if ns_i % 5 == 2 {
                     "sum(rate(http_requests_total{code=~\"5..\"}[{{ interval }}]))"
                 } else {
                     "sum(rate(http_requests_total{namespace=\"{{ namespace }}\",service=\"{{ target }}\",code=~\"5..\"}[{{ interval }}])) / sum(rate(http_requests_total{namespace=\"{{ namespace }}\",service=\"{{ target }}\"}[{{ interval }}])) * 100"
                 }}})));
    if argo {
        store.insert(obj(json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
            "metadata": meta("success-rate", ns, json!({})),
            "spec": {"args": [{"name": "service"}],
                "metrics": [{"name": "success-rate", "interval": "1m", "successCondition": "result[0] >= 0.99",
                    "provider": {"prometheus": {"address": "http://prometheus.monitoring:9090",
                        "query": "sum(rate(http_requests_total{service=\"{{args.service}}\"}[2m]))"}}}]}})));
    }
    for a in 0..apps {
        let name = format!("app-{a}");
        let k = ns_i * 7 + a;
        let labels = json!({"app": name, "team": format!("t{}", k % 3)});
        let template = json!({"metadata": {"labels": {"app": name, "version": "v1"}},
            "spec": {"containers": [{"name": "app", "image": format!("registry.example.com/{name}:1"),
                "ports": [{"name": "http", "containerPort": 8080}, {"name": "metrics", "containerPort": 9090}]}]}});
        if argo {
            let templates = if k % 3 == 0 {
                json!([{"templateName": "cluster-rate", "clusterScope": true}])
            } else {
                json!([{"templateName": if k % 5 == 1 { "missing" } else { "success-rate" }}])
            };
            store.insert(obj(json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                "metadata": meta(&name, ns, labels.clone()),
                "spec": {"selector": {"matchLabels": {"app": name}}, "template": template,
                    "strategy": {"canary": {"canaryService": format!("{name}-canary"), "stableService": name,
                        "trafficRouting": {"istio": {"virtualService": {"name": name, "routes": ["primary"]},
                                                     "destinationRule": {"name": name, "canarySubsetName": "canary", "stableSubsetName": "stable"}}},
                        "analysis": {"templates": templates, "args": [{"name": "service", "value": name}]},
                        "steps": [{"setWeight": if k % 6 == 1 { 120 } else { 20 }}, {"pause": {}}]}}}})));
            store.insert(obj(json!({"apiVersion": "v1", "kind": "Service",
                "metadata": meta(&format!("{name}-canary"), ns, labels.clone()),
                "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}})));
        } else {
            if k % 11 != 5 {
                store.insert(obj(json!({"apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": meta(&name, ns, labels.clone()),
                    "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}}, "template": template}})));
            }
            // Every third Canary names ns-0's template; one in seven a template nowhere.
            let template_ref = match k % 7 {
                0 => json!({"name": "errors", "namespace": "ns-0"}),
                3 => json!({"name": "gone"}),
                _ => json!({"name": "errors"}),
            };
            store.insert(obj(json!({"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
                "metadata": meta(&name, ns, labels.clone()),
                "spec": {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                    "service": {"port": 80, "targetPort": 8080},
                    "analysis": {"interval": "1m", "threshold": 5, "maxWeight": 50, "stepWeight": 10,
                        "metrics": [{"name": "error-rate", "templateRef": template_ref,
                                     "thresholdRange": {"max": 1}, "interval": if k % 4 == 1 { "15s" } else { "1m" }},
                                    {"name": "request-success-rate", "thresholdRange": {"min": 99}, "interval": "1m"}]}}})));
            if k % 9 == 4 {
                // A Flagger-generated name, written by hand.
                store.insert(obj(json!({"apiVersion": "v1", "kind": "Service",
                    "metadata": meta(&format!("{name}-primary"), ns, labels.clone()),
                    "spec": {"selector": {"app": format!("{name}-primary")}, "ports": [{"port": 80}]}})));
            }
        }
        store.insert(obj(json!({"apiVersion": "v1", "kind": "Service",
            "metadata": meta(&name, ns, labels.clone()),
            "spec": {"selector": {"app": name},
                "ports": [{"name": "http", "port": 80, "targetPort": 8080}, {"name": "metrics", "port": 9090}]}})));
        // Monitors: most select their Service; some watch other namespaces, every namespace,
        // or select nothing anywhere.
        let namespace_selector = match k % 8 {
            2 => json!({"any": true}),
            5 => json!({"matchNames": [format!("ns-{}", (ns_i + 1) % 6), ns]}),
            _ => json!({}),
        };
        let selected = if k % 10 == 7 {
            format!("{name}-x")
        } else {
            name.clone()
        };
        store.insert(obj(json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
            "metadata": meta(&name, ns, labels.clone()),
            "spec": {"selector": {"matchLabels": {"app": selected}}, "namespaceSelector": namespace_selector,
                "endpoints": [{"port": "metrics", "interval": if k % 6 == 2 { "2m" } else { "30s" }}]}})));
        // VirtualServices: mesh ones, a gateway one, and hosts claimed from two namespaces.
        let host = if k % 13 == 6 {
            "shared.ns-0.svc.cluster.local".to_owned()
        } else {
            name.clone()
        };
        let gateways = if k % 5 == 4 {
            json!(["istio-system/public"])
        } else {
            json!(["mesh"])
        };
        let w = if k % 10 == 3 { 80 } else { 90 };
        store.insert(obj(
            json!({"apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService",
            "metadata": meta(&name, ns, labels.clone()),
            "spec": {"hosts": [host], "gateways": gateways, "http": [{"name": "primary", "route": [
                {"destination": {"host": name, "subset": "stable"}, "weight": w},
                {"destination": {"host": name, "subset": "canary"}, "weight": 10}]}]}}),
        ));
        let canary_labels = if k % 12 == 8 {
            json!({"version": "v2"})
        } else {
            json!({"version": "v1"})
        };
        store.insert(obj(
            json!({"apiVersion": "networking.istio.io/v1beta1", "kind": "DestinationRule",
            "metadata": meta(&name, ns, labels.clone()),
            "spec": {"host": name, "subsets": [{"name": "stable", "labels": {"version": "v1"}},
                                               {"name": "canary", "labels": canary_labels}]}}),
        ));
    }
}

fn cluster(namespaces: usize, apps: usize) -> Store {
    let mut store = Store::default();
    for i in 0..namespaces {
        namespace(&mut store, i, apps);
    }
    store.insert(obj(
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "ClusterAnalysisTemplate",
        "metadata": {"name": "cluster-rate"},
        "spec": {"metrics": [{"name": "rate", "interval": "1m", "successCondition": "result[0] > 1",
            "provider": {"prometheus": {"address": "http://prometheus.monitoring:9090",
                "query": "sum(rate(http_requests_total[1m]))"}}}]}}),
    ));
    store.insert(obj(json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "Prometheus",
        "metadata": meta("k8s", "monitoring", json!({})),
        "spec": {"serviceMonitorSelector": {}, "serviceMonitorNamespaceSelector": {}, "scrapeInterval": "30s"}})));
    store
}

fn flagger(mesh: &str) -> Object {
    obj(json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": meta("flagger", "flagger-system", json!({"app": "flagger"})),
        "spec": {"selector": {"matchLabels": {"app": "flagger"}},
            "template": {"metadata": {"labels": {"app": "flagger"}},
                "spec": {"containers": [{"name": "flagger", "image": "ghcr.io/fluxcd/flagger:1.41.0",
                    "args": [format!("-mesh-provider={mesh}")]}]}}}}))
}

fn synced(store: Store) -> Arc<ClusterCache> {
    let c = ClusterCache::from_store(store, Arc::new(Metrics::new()));
    for (g, k) in WATCHED {
        c.mark(g, k, Availability::Synced);
    }
    c
}

fn engine() -> Engine {
    Engine::new(rollgate::rules::REGISTRY, &Config::default(), None)
}

fn lines(a: &Audit) -> Vec<String> {
    a.all_rows()
        .map(|r| {
            format!(
                "{} uid={:?} {} {} {} {}",
                r.object,
                r.uid,
                r.rule,
                r.severity.as_str(),
                r.pointer,
                r.message
            )
        })
        .collect()
}

#[test]
fn facts_and_chunks_change_no_finding() {
    let mut store = cluster(12, 7);
    store.insert(flagger("istio"));
    let cache = synced(store);
    let e = engine();
    let settings = Settings::default();
    let one_view = audit(
        &cache,
        &e,
        &settings,
        &AuditOptions {
            max_objects_per_view: usize::MAX,
            facets: false,
            ..AuditOptions::default()
        },
    );
    assert_eq!(one_view.chunks, 1);
    let want = lines(&one_view);
    // The cluster is meant to exercise the indexed rules: each must have findings here.
    for rule in [
        "template-not-found",
        "servicemonitor-no-matching-service",
        "istio-weights-not-100",
        "istio-vs-conflicting-hosts",
        "argo-template-not-found",
    ] {
        assert!(
            one_view.all_rows().any(|r| r.rule == rule),
            "no {rule} in:\n{}",
            want.join("\n")
        );
    }
    for max in [1, 25, 60, 2_000] {
        let chunked = audit(
            &cache,
            &e,
            &settings,
            &AuditOptions {
                max_objects_per_view: max,
                ..AuditOptions::default()
            },
        );
        assert!(max < 2_000 || chunked.chunks == 1);
        assert!(max > 60 || chunked.chunks > 1, "{max}: {}", chunked.chunks);
        assert_eq!(chunked.objects, one_view.objects, "max {max}");
        assert_eq!(chunked.checked, one_view.checked, "max {max}");
        assert_eq!(chunked.notes, one_view.notes, "max {max}");
        let got = lines(&chunked);
        if got != want {
            let missing: Vec<&String> = want.iter().filter(|l| !got.contains(l)).collect();
            let extra: Vec<&String> = got.iter().filter(|l| !want.contains(l)).collect();
            panic!("max {max}: missing {missing:#?}\nextra {extra:#?}");
        }
    }
}

fn auditor(cache: &Arc<ClusterCache>) -> Auditor {
    Auditor::new(
        cache.clone(),
        engine(),
        Config::default().settings,
        Arc::new(Metrics::new()),
    )
}

fn canary_naming(ns: &str, name: &str, template: Value) -> Object {
    obj(
        json!({"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
        "metadata": meta(name, ns, json!({"app": name})),
        "spec": {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "service": {"port": 80},
            "analysis": {"interval": "1m", "threshold": 5, "maxWeight": 50, "stepWeight": 10,
                "metrics": [{"name": "error-rate", "templateRef": template,
                             "thresholdRange": {"max": 1}, "interval": "1m"}]}}}),
    )
}

#[test]
fn rechecks_follow_facet_keys() {
    let cache = synced(cluster(8, 5));
    let mut a = auditor(&cache);
    let full = a.full_pass();
    let agree = |a: &Auditor, what: &str| {
        let mut fresh = auditor(&cache);
        fresh.full_pass();
        assert_eq!(lines(&a.audit()), lines(&fresh.audit()), "after {what}");
    };

    // A Canary of ns-1 starts naming ns-2's template (the template gains a referrer): its
    // gates are now checked with the Canary's model.
    cache.apply_object(canary_naming(
        "ns-1",
        "app-1",
        json!({"name": "errors", "namespace": "ns-2"}),
    ));
    let s = a.incremental();
    // The Canary, both templates, and the objects of ns-1 that list its Canaries.
    assert!(s.checked < full.checked / 5, "{s:?} of {}", full.checked);
    agree(&a, "a Canary naming another template");

    // A monitor starts watching every namespace, another stops.
    let mut m = cache
        .read(|s| s.object("monitoring.coreos.com", "ServiceMonitor", "ns-3", "app-0"))
        .expect("monitor");
    if let Some(sel) = m.value.pointer_mut("/spec/namespaceSelector") {
        *sel = json!({"any": true});
    }
    cache.apply_object(m);
    a.incremental();
    agree(&a, "a monitor watching every namespace");

    // A VirtualService takes another's host.
    let mut vs = cache
        .read(|s| s.object("networking.istio.io", "VirtualService", "ns-4", "app-2"))
        .expect("vs");
    if let Some(h) = vs.value.pointer_mut("/spec/hosts") {
        *h = json!(["app-1.ns-4.svc.cluster.local"]);
    }
    if let Some(g) = vs.value.pointer_mut("/spec/gateways") {
        *g = json!(["mesh"]);
    }
    cache.apply_object(vs);
    a.incremental();
    agree(&a, "a VirtualService taking a host");

    // A relabelled Deployment re-checks what looked it up, not every Canary.
    let mut d = cache
        .read(|s| s.object("apps", "Deployment", "ns-0", "app-1"))
        .expect("deployment");
    if let Some(l) = d.value.pointer_mut("/spec/template/metadata/labels") {
        *l = json!({"app": "app-1", "release": "v1"});
    }
    cache.apply_object(d);
    let s = a.incremental();
    assert!(s.checked < 10, "{s:?} of {}", full.checked);
    agree(&a, "a relabelled Deployment");

    // A Flagger install appears: every Canary's builtin queries follow its mesh provider.
    cache.apply_object(flagger("linkerd"));
    let s = a.incremental();
    assert!(
        s.checked > 10,
        "the Canaries read the Flagger settings: {s:?}"
    );
    agree(&a, "a Flagger install");
}

/// The cached ServiceMonitor `ns`/`name`, made to watch every namespace.
fn watching_every_namespace(cache: &ClusterCache, ns: &str, name: &str) -> Object {
    let mut m = cache
        .read(|s| s.object("monitoring.coreos.com", "ServiceMonitor", ns, name))
        .expect("monitor");
    if let Some(sel) = m.value.pointer_mut("/spec/namespaceSelector") {
        *sel = json!({"any": true});
    }
    m
}

/// The findings of one admission of `o` (as `review` computes them) in `cache`'s world.
fn admission_findings(cache: &ClusterCache, engine: &Engine, o: &Object) -> Vec<String> {
    use rollgate::engine::Context;
    use rollgate::webhook::World;
    let admitted = Object::from_value(o.value.clone(), Origin::Admission, o.ns()).expect("object");
    let settings = Settings::default();
    let mut out = Vec::new();
    cache.with_world(&admitted, &mut |w| {
        let cx = Context::new(w, &settings);
        let mut findings = Vec::new();
        engine.check(&admitted, &cx, &mut findings);
        out = findings.iter().map(|f| format!("{f:?}")).collect();
    });
    out
}

/// The admission path's facets kept by the cache's store (`ClusterCache::keep_facts`, updated
/// on every stored change) give exactly the findings of the rules' own indexes over the whole
/// cache: every object of a varied cluster admitted again (an UPDATE: the admitted version
/// replaces the cached one), after changes that move facet keys (applied to both caches, so
/// the kept indexes are updated, not rebuilt), plus admissions that move keys themselves.
#[test]
fn admissions_with_kept_facts_match_the_rules_own_indexes() {
    let plain = synced(cluster(6, 4));
    let kept = synced(cluster(6, 4));
    kept.keep_facts();
    let engine = engine();
    // Changes after the index was built, as watch events.
    for c in [&plain, &kept] {
        c.apply_object(flagger("linkerd"));
        c.apply_object(canary_naming(
            "ns-1",
            "app-1",
            json!({"name": "errors", "namespace": "ns-2"}),
        ));
        c.apply_object(watching_every_namespace(c, "ns-3", "app-0"));
        c.delete_object("networking.istio.io", "VirtualService", "ns-4", "app-3");
    }
    let mut admitted: Vec<Object> = plain.read(|s| {
        s.keys(|_, _| true)
            .iter()
            .filter_map(|k| s.object(k.group, k.kind, &k.namespace, &k.name))
            .collect()
    });
    assert!(admitted.len() > 100, "{}", admitted.len());
    // Admissions that move keys: a Canary naming another namespace's template, a new Canary,
    // a VirtualService taking another's host, a second Flagger that disagrees, a monitor
    // watching every namespace.
    admitted.push(canary_naming(
        "ns-2",
        "app-0",
        json!({"name": "errors", "namespace": "ns-0"}),
    ));
    admitted.push(canary_naming(
        "ns-5",
        "new",
        json!({"name": "errors", "namespace": "ns-5"}),
    ));
    let mut vs = plain
        .read(|s| s.object("networking.istio.io", "VirtualService", "ns-4", "app-2"))
        .expect("vs");
    if let Some(h) = vs.value.pointer_mut("/spec/hosts") {
        *h = json!(["app-1.ns-4.svc.cluster.local"]);
    }
    admitted.push(vs);
    let mut other = flagger("istio");
    other.value["metadata"]["namespace"] = json!("istio-system");
    let other = Object::from_value(other.value, Origin::Cluster, "").expect("object");
    admitted.push(other);
    admitted.push(watching_every_namespace(&plain, "ns-1", "app-1"));
    let mut findings = 0;
    for o in &admitted {
        let want = admission_findings(&plain, &engine, o);
        let got = admission_findings(&kept, &engine, o);
        assert_eq!(got, want, "{} {}/{}", o.kind, o.ns(), o.name);
        findings += want.len();
    }
    // Findings that come from the facets' answers are among them (a kept facet answering
    // nothing would differ from the rules' own index).
    assert!(findings > admitted.len() / 2, "{findings}");
}
