//! Cross-resource rules through the library, as `rollgate lint` runs them: several input files
//! linted together (a Service in one file, a ServiceMonitor in another, a Deployment in a
//! third), namespaces covered by `namespaceSelector`, absent referents (warnings) versus
//! contradicting ones (errors), and `--strict-references`.

use rollgate::engine::lint::lint;
use rollgate::engine::{Config, Engine, Settings, Severity};
use rollgate::manifest::Limits;
use rollgate::manifest::input::from_bytes;

const RULES: &[&str] = &[
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

/// One placed finding: file, line, rule, severity, message, related (file, line, message).
#[derive(Debug)]
struct Found {
    file: String,
    line: u32,
    rule: &'static str,
    severity: Severity,
    message: String,
    related: Vec<(String, u32, String)>,
}

fn run_with(files: &[(&str, &str)], settings: &Settings) -> Vec<Found> {
    let inputs = files
        .iter()
        .map(|(name, text)| from_bytes((*name).to_owned(), text.as_bytes().to_vec()))
        .collect();
    let only: Vec<String> = RULES.iter().map(|s| (*s).to_owned()).collect();
    let engine = Engine::new(rollgate::rules::REGISTRY, &Config::default(), Some(&only));
    let run = lint(inputs, &engine, settings, Limits::default());
    let name = |s: Option<usize>| s.map_or(String::new(), |i| run.sources[i].name.clone());
    run.diagnostics
        .iter()
        .map(|d| Found {
            file: name(d.source),
            line: d.span.map_or(0, |s| s.start.line),
            rule: d.finding.rule,
            severity: d.finding.severity,
            message: d.finding.message.clone(),
            related: d
                .related
                .iter()
                .map(|r| {
                    (
                        name(r.source),
                        r.span.map_or(0, |s| s.start.line),
                        r.message.clone(),
                    )
                })
                .collect(),
        })
        .collect()
}

fn run(files: &[(&str, &str)]) -> Vec<Found> {
    run_with(files, &Settings::default())
}

fn strict() -> Settings {
    Settings {
        strict_references: true,
        ..Settings::default()
    }
}

fn only<'a>(found: &'a [Found], rule: &str) -> Vec<&'a Found> {
    found.iter().filter(|f| f.rule == rule).collect()
}

const SERVICE: &str = "\
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
  labels:
    app.kubernetes.io/name: web
spec:
  selector:
    app: web
  ports:
  - name: http
    port: 80
    targetPort: 8080
  - name: http-metrics
    port: 9797
";

const DEPLOYMENT: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels:
    team: storefront
spec:
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
        version: v2
    spec:
      containers:
      - name: web
        image: example/web:2
        ports:
        - name: http
          containerPort: 8080
        - name: http-metrics
          containerPort: 9797
";

fn monitor(namespace: &str, namespace_selector: &str, selector: &str, endpoint: &str) -> String {
    format!(
        "apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: web
  namespace: {namespace}
spec:
{namespace_selector}  selector:
{selector}  endpoints:
  - {endpoint}
"
    )
}

#[test]
fn three_files_monitor_selects_pod_labels() {
    let sm = monitor(
        "shop",
        "",
        "    matchLabels:\n      app: web\n",
        "port: http-metrics",
    );
    let found = run(&[
        ("svc.yaml", SERVICE),
        ("monitor.yaml", &sm),
        ("deploy.yaml", DEPLOYMENT),
    ]);
    assert_eq!(found.len(), 1, "{found:#?}");
    let f = &found[0];
    assert_eq!(f.rule, "servicemonitor-selects-workload-labels");
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(
        (f.file.as_str(), f.line),
        ("monitor.yaml", 7),
        "at `selector:`"
    );
    assert!(
        f.message.contains("pod labels of Deployment shop/web"),
        "{}",
        f.message
    );
    assert!(f.message.contains("namespace \"shop\""), "{}", f.message);
    // The workload's pod labels in the third file, the Service in the first.
    assert!(
        f.related
            .iter()
            .any(|(file, line, _)| file == "deploy.yaml" && *line == 14),
        "{:?}",
        f.related
    );
    assert!(
        f.related.iter().any(|(file, line, m)| file == "svc.yaml"
            && *line == 6
            && m.contains("selects these pods")),
        "{:?}",
        f.related
    );
}

#[test]
fn three_files_correct_wiring_is_clean() {
    for selector in [
        "    matchLabels:\n      app.kubernetes.io/name: web\n",
        "    matchExpressions:\n    - {key: app.kubernetes.io/name, operator: In, values: [web, api]}\n",
        "    matchExpressions:\n    - {key: app.kubernetes.io/name, operator: Exists}\n    - {key: canary, operator: DoesNotExist}\n",
    ] {
        for endpoint in [
            "port: http-metrics",
            "targetPort: 9797",
            "targetPort: http-metrics",
        ] {
            let sm = monitor("shop", "", selector, endpoint);
            let found = run(&[
                ("svc.yaml", SERVICE),
                ("monitor.yaml", &sm),
                ("deploy.yaml", DEPLOYMENT),
            ]);
            assert!(found.is_empty(), "{selector} {endpoint}: {found:#?}");
        }
    }
}

#[test]
fn workload_own_labels_and_matchexpressions() {
    // NotIn matches a label that is absent: `team` only is on the Deployment itself.
    let sm = monitor(
        "shop",
        "",
        "    matchExpressions:\n    - {key: team, operator: In, values: [storefront]}\n    - {key: tier, operator: NotIn, values: [db]}\n",
        "port: http-metrics",
    );
    let found = run(&[
        ("svc.yaml", SERVICE),
        ("m.yaml", &sm),
        ("d.yaml", DEPLOYMENT),
    ]);
    let f = only(&found, "servicemonitor-selects-workload-labels");
    assert_eq!(f.len(), 1, "{found:#?}");
    assert!(
        f[0].message.contains("the labels of Deployment shop/web"),
        "{}",
        f[0].message
    );
}

#[test]
fn monitor_in_another_namespace() {
    let plain = monitor(
        "monitoring",
        "",
        "    matchLabels:\n      app.kubernetes.io/name: web\n",
        "port: http-metrics",
    );
    let found = run(&[("svc.yaml", SERVICE), ("m.yaml", &plain)]);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].rule, "servicemonitor-no-matching-service");
    assert_eq!(found[0].severity, Severity::Warning);
    assert!(
        found[0]
            .message
            .contains("namespace \"monitoring\" of the input files"),
        "{}",
        found[0].message
    );
    // The Service of the other namespace is pointed at.
    assert!(found[0].related.iter().any(|(f, _, _)| f == "svc.yaml"));

    for ns_sel in [
        "  namespaceSelector:\n    matchNames: [shop]\n",
        "  namespaceSelector:\n    matchNames: [other, shop]\n",
        "  namespaceSelector:\n    any: true\n",
    ] {
        let sm = monitor(
            "monitoring",
            ns_sel,
            "    matchLabels:\n      app.kubernetes.io/name: web\n",
            "port: http-metrics",
        );
        let found = run(&[
            ("svc.yaml", SERVICE),
            ("m.yaml", &sm),
            ("d.yaml", DEPLOYMENT),
        ]);
        assert!(found.is_empty(), "{ns_sel}: {found:#?}");
    }

    // matchNames that miss the Service's namespace.
    let sm = monitor(
        "monitoring",
        "  namespaceSelector:\n    matchNames: [payments]\n",
        "    matchLabels:\n      app.kubernetes.io/name: web\n",
        "port: http-metrics",
    );
    let found = run(&[("svc.yaml", SERVICE), ("m.yaml", &sm)]);
    assert_eq!(only(&found, "servicemonitor-no-matching-service").len(), 1);
}

#[test]
fn pod_labels_across_namespaces_with_any() {
    let sm = monitor(
        "monitoring",
        "  namespaceSelector:\n    any: true\n",
        "    matchLabels:\n      app: web\n",
        "port: http-metrics",
    );
    let found = run(&[
        ("svc.yaml", SERVICE),
        ("m.yaml", &sm),
        ("d.yaml", DEPLOYMENT),
    ]);
    let f = only(&found, "servicemonitor-selects-workload-labels");
    assert_eq!(f.len(), 1, "{found:#?}");
    assert!(f[0].message.contains("all namespaces"), "{}", f[0].message);
    assert_eq!(f[0].severity, Severity::Error);
}

#[test]
fn service_elsewhere_is_never_an_error() {
    // Monitors whose Services live in other repositories (like kube-prometheus' kubelet monitor).
    let sm = monitor(
        "monitoring",
        "",
        "    matchLabels:\n      app.kubernetes.io/name: kubelet\n",
        "port: https-metrics",
    );
    // No Service at all in the covered namespace: most likely defined outside the input (an
    // info, counted as a reference outside it).
    let found = run(&[("m.yaml", &sm)]);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].severity, Severity::Info);
    // Only a Deployment matches, and no Service of the input selects its pods: the Service may
    // be elsewhere with these labels.
    let sm = monitor(
        "shop",
        "",
        "    matchLabels:\n      app: web\n",
        "port: http-metrics",
    );
    let found = run(&[("m.yaml", &sm), ("d.yaml", DEPLOYMENT)]);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].rule, "servicemonitor-selects-workload-labels");
    assert_eq!(found[0].severity, Severity::Warning);
    assert!(
        found[0].message.contains("if one defined elsewhere"),
        "{}",
        found[0].message
    );
    // Declared complete: certain.
    let found = run_with(&[("m.yaml", &sm), ("d.yaml", DEPLOYMENT)], &strict());
    assert_eq!(found[0].severity, Severity::Error);
    let sm = monitor(
        "monitoring",
        "",
        "    matchLabels:\n      app.kubernetes.io/name: kubelet\n",
        "port: https-metrics",
    );
    let found = run_with(&[("m.yaml", &sm)], &strict());
    assert_eq!(found[0].severity, Severity::Error);
}

#[test]
fn ports() {
    let found = run(&[
        ("svc.yaml", SERVICE),
        (
            "m.yaml",
            &monitor(
                "shop",
                "",
                "    matchLabels:\n      app.kubernetes.io/name: web\n",
                "port: 9797\n  - port: \"9797\"\n  - port: metrics\n  - targetPort: 9090",
            ),
        ),
        ("d.yaml", DEPLOYMENT),
    ]);
    let f = only(&found, "servicemonitor-port-not-found");
    assert_eq!(f.len(), 4, "{found:#?}");
    assert_eq!((f[0].line, f[0].severity), (11, Severity::Error));
    assert!(f[0].message.contains("the number 9797"), "{}", f[0].message);
    assert_eq!((f[1].line, f[1].severity), (12, Severity::Error));
    assert_eq!((f[2].line, f[2].severity), (13, Severity::Error));
    assert!(f[2].message.contains("\"metrics\""), "{}", f[2].message);
    assert_eq!((f[3].line, f[3].severity), (14, Severity::Warning));

    // No Service selected: a name cannot be checked (no finding from this rule), a number can.
    let found = run(&[(
        "m.yaml",
        &monitor(
            "shop",
            "",
            "    matchLabels:\n      app: nothing\n",
            "port: metrics\n  - port: 8080",
        ),
    )]);
    let f = only(&found, "servicemonitor-port-not-found");
    assert_eq!(f.len(), 1, "{found:#?}");
    assert_eq!(f[0].line, 12);
}

#[test]
fn invalid_selectors_are_findings_not_panics() {
    for (selector, line) in [
        (
            "    matchExpressions:\n    - {key: app, operator: in, values: [web]}\n",
            9,
        ),
        ("    matchExpressions:\n    - {key: app, operator: In}\n", 9),
        (
            "    matchExpressions:\n    - {key: app, operator: Exists, values: [web]}\n",
            9,
        ),
        ("    matchExpressions:\n    - {operator: Exists}\n", 9),
        ("    matchLabels: [app]\n", 8),
        ("    app: web\n", 8),
    ] {
        let found = run(&[
            ("svc.yaml", SERVICE),
            ("m.yaml", &monitor("shop", "", selector, "port: http")),
        ]);
        assert_eq!(found.len(), 1, "{selector}: {found:#?}");
        assert_eq!(found[0].rule, "servicemonitor-no-matching-service");
        assert_eq!(found[0].severity, Severity::Error);
        assert_eq!(found[0].line, line, "{selector}: {}", found[0].message);
    }
}

#[test]
fn flagger_generated_services_and_primary_pods() {
    let canary = "\
apiVersion: flagger.app/v1beta1
kind: Canary
metadata:
  name: web
  namespace: shop
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  service:
    port: 80
    portName: http-web
";
    for (sel, port) in [
        ("web-canary", "http-web"),
        ("web-primary", "http-web"),
        ("web", "http-web"),
    ] {
        let sm = monitor(
            "shop",
            "",
            &format!("    matchLabels:\n      app: {sel}\n"),
            &format!("port: {port}"),
        );
        let found = run(&[("c.yaml", canary), ("m.yaml", &sm), ("d.yaml", DEPLOYMENT)]);
        assert!(found.is_empty(), "{sel}: {found:#?}");
    }
    // Flagger names its Service port `portName`: another name matches nothing.
    let sm = monitor(
        "shop",
        "",
        "    matchLabels:\n      app: web-canary\n",
        "port: metrics",
    );
    let found = run(&[("c.yaml", canary), ("m.yaml", &sm), ("d.yaml", DEPLOYMENT)]);
    assert_eq!(
        only(&found, "servicemonitor-port-not-found").len(),
        1,
        "{found:#?}"
    );
    // A PodMonitor on the primary pods Flagger creates.
    let pm = "\
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata:
  name: web
  namespace: shop
spec:
  selector:
    matchLabels: {app: web-primary}
  podMetricsEndpoints:
  - port: http-metrics
";
    let found = run(&[("c.yaml", canary), ("p.yaml", pm), ("d.yaml", DEPLOYMENT)]);
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn podmonitor_on_service_labels() {
    let pm = "\
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata:
  name: web
  namespace: shop
spec:
  selector:
    matchLabels: {app.kubernetes.io/name: web}
  podMetricsEndpoints:
  - port: http-metrics
";
    let found = run(&[
        ("svc.yaml", SERVICE),
        ("p.yaml", pm),
        ("d.yaml", DEPLOYMENT),
    ]);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].rule, "podmonitor-selects-service-labels");
    assert_eq!(found[0].severity, Severity::Error);
    // Without the pods in the input: maybe fine.
    let found = run(&[("svc.yaml", SERVICE), ("p.yaml", pm)]);
    assert_eq!(found[0].severity, Severity::Warning);
}

#[test]
fn prometheus_selection() {
    let prom = |sel: &str, ns_sel: &str| {
        format!(
            "apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata:
  name: k8s
  namespace: monitoring
spec:
{sel}{ns_sel}"
        )
    };
    let sm = "\
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: web
  namespace: shop
  labels: {release: prom}
spec:
  selector:
    matchLabels: {app.kubernetes.io/name: web}
  endpoints:
  - port: http-metrics
";
    let case = |p: &str| {
        only(
            &run(&[("p.yaml", p), ("m.yaml", sm), ("svc.yaml", SERVICE)]),
            "monitor-not-selected-by-prometheus",
        )
        .len()
    };
    // Null selector: nothing. Empty: everything. Namespace selector null: own namespace only.
    assert_eq!(
        case(&prom("", "  serviceMonitorNamespaceSelector: {}\n")),
        1
    );
    assert_eq!(
        case(&prom(
            "  serviceMonitorSelector: {}\n",
            "  serviceMonitorNamespaceSelector: {}\n"
        )),
        0
    );
    assert_eq!(case(&prom("  serviceMonitorSelector: {}\n", "")), 1);
    assert_eq!(
        case(&prom(
            "  serviceMonitorSelector: {matchLabels: {release: prom}}\n",
            "  serviceMonitorNamespaceSelector: {}\n"
        )),
        0
    );
    assert_eq!(
        case(&prom(
            "  serviceMonitorSelector: {matchLabels: {release: other}}\n",
            "  serviceMonitorNamespaceSelector: {}\n"
        )),
        1
    );
    // Namespaces by label: the automatic kubernetes.io/metadata.name label counts; other labels
    // of a namespace that is not in the input are unknown (no finding).
    let by_name = prom(
        "  serviceMonitorSelector: {}\n",
        "  serviceMonitorNamespaceSelector: {matchLabels: {kubernetes.io/metadata.name: shop}}\n",
    );
    assert_eq!(case(&by_name), 0);
    let by_label = prom(
        "  serviceMonitorSelector: {}\n",
        "  serviceMonitorNamespaceSelector: {matchLabels: {monitored: \"true\"}}\n",
    );
    assert_eq!(case(&by_label), 0);
    let ns = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels: {monitored: \"false\"}\n";
    let found = run(&[
        ("p.yaml", &by_label),
        ("m.yaml", sm),
        ("svc.yaml", SERVICE),
        ("ns.yaml", ns),
    ]);
    assert_eq!(
        only(&found, "monitor-not-selected-by-prometheus").len(),
        1,
        "{found:#?}"
    );
    // No Prometheus in the input: nothing to say.
    assert!(run(&[("m.yaml", sm), ("svc.yaml", SERVICE)]).is_empty());
}

#[test]
fn references_missing_versus_strict() {
    let canary = "\
apiVersion: flagger.app/v1beta1
kind: Canary
metadata:
  name: web
  namespace: shop
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  service: {port: 80}
  analysis:
    metrics:
    - name: errors
      templateRef: {name: errors}
    - name: latency
      templateRef: {name: latency, namespace: flagger-system}
";
    let template = |name: &str, ns: &str| {
        format!(
            "apiVersion: flagger.app/v1beta1\nkind: MetricTemplate\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  provider: {{type: prometheus, address: http://prom:9090}}\n  query: up\n"
        )
    };
    let found = run(&[("c.yaml", canary)]);
    let rules: Vec<(&str, Severity)> = found.iter().map(|f| (f.rule, f.severity)).collect();
    assert_eq!(
        rules,
        // Nothing of these kinds in the input: the references point outside it (infos).
        vec![
            ("target-not-found", Severity::Info),
            ("template-not-found", Severity::Info),
            ("template-not-found", Severity::Info),
        ]
    );
    assert!(
        found[1].message.contains("searched namespace \"shop\""),
        "{}",
        found[1].message
    );
    assert!(
        found[2]
            .message
            .contains("searched namespace \"flagger-system\""),
        "{}",
        found[2].message
    );
    let found = run_with(&[("c.yaml", canary)], &strict());
    assert!(
        found.iter().all(|f| f.severity == Severity::Error),
        "{found:#?}"
    );
    assert!(
        found[0]
            .message
            .contains("does not exist in the input files"),
        "{}",
        found[0].message
    );
    // Templates where the Canary looks for them, the target in a third file.
    let found = run(&[
        ("c.yaml", canary),
        ("t1.yaml", &template("errors", "shop")),
        ("t2.yaml", &template("latency", "flagger-system")),
        ("d.yaml", DEPLOYMENT),
    ]);
    assert!(found.is_empty(), "{found:#?}");
    // A template in the wrong namespace is named in the help.
    let found = run(&[
        ("c.yaml", canary),
        ("t1.yaml", &template("errors", "flagger-system")),
    ]);
    let f = only(&found, "template-not-found");
    assert_eq!(f.len(), 2);
    assert!(f[0].related.iter().any(|(file, _, _)| file == "t1.yaml"));
}

#[test]
fn argo_templates_and_cluster_scope() {
    let rollout = "\
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: web
  namespace: shop
spec:
  strategy:
    canary:
      analysis:
        templates:
        - templateName: success-rate
          clusterScope: true
      steps:
      - analysis:
          templates:
          - templateName: smoke
    blueGreen:
      prePromotionAnalysis:
        templates:
        - templateName: pre
";
    let tpl = |kind: &str, name: &str, ns: Option<&str>| {
        let ns = ns
            .map(|n| format!("  namespace: {n}\n"))
            .unwrap_or_default();
        format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: {kind}\nmetadata:\n  name: {name}\n{ns}spec:\n  metrics: []\n"
        )
    };
    let found = run(&[("r.yaml", rollout)]);
    assert_eq!(
        only(&found, "argo-template-not-found").len(),
        3,
        "{found:#?}"
    );
    let found = run(&[
        ("r.yaml", rollout),
        (
            "a.yaml",
            &tpl("ClusterAnalysisTemplate", "success-rate", None),
        ),
        ("b.yaml", &tpl("AnalysisTemplate", "smoke", Some("shop"))),
        ("c.yaml", &tpl("AnalysisTemplate", "pre", Some("shop"))),
    ]);
    assert!(found.is_empty(), "{found:#?}");
    // clusterScope asks for a ClusterAnalysisTemplate: an AnalysisTemplate does not do.
    let found = run(&[
        ("r.yaml", rollout),
        (
            "a.yaml",
            &tpl("AnalysisTemplate", "success-rate", Some("shop")),
        ),
        ("b.yaml", &tpl("AnalysisTemplate", "smoke", Some("shop"))),
        ("c.yaml", &tpl("AnalysisTemplate", "pre", Some("other"))),
    ]);
    let f = only(&found, "argo-template-not-found");
    assert_eq!(f.len(), 2, "{found:#?}");
    assert_eq!(f[0].line, 11);
    assert!(f[0].related.iter().any(|(file, _, _)| file == "a.yaml"));
    assert_eq!(f[1].line, 20);
}

#[test]
fn istio_subsets_across_files_and_namespaces() {
    let dr = "\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
  namespace: bookinfo
spec:
  host: reviews.bookinfo.svc.cluster.local
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
";
    let vs = |ns: &str, host: &str, subset: &str| {
        format!(
            "apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata:
  name: reviews
  namespace: {ns}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {{host: {host}, subset: {subset}}}
"
        )
    };
    // Short names resolve in the VirtualService's namespace.
    assert!(
        run(&[
            ("dr.yaml", dr),
            ("vs.yaml", &vs("bookinfo", "reviews", "v2"))
        ])
        .is_empty()
    );
    assert!(
        run(&[
            ("dr.yaml", dr),
            (
                "vs.yaml",
                &vs("front", "reviews.bookinfo.svc.cluster.local", "v1")
            )
        ])
        .is_empty()
    );
    // Present and contradicting: an error, wherever the VirtualService is.
    let found = run(&[
        ("dr.yaml", dr),
        ("vs.yaml", &vs("bookinfo", "reviews", "v3")),
    ]);
    assert_eq!(found.len(), 1);
    assert_eq!((found[0].line, found[0].severity), (10, Severity::Error));
    assert!(
        found[0].message.contains("\"v1\", \"v2\""),
        "{}",
        found[0].message
    );
    assert_eq!(found[0].related[0].0, "dr.yaml");
    let found = run(&[
        ("dr.yaml", dr),
        ("vs.yaml", &vs("front", "reviews.bookinfo", "v3")),
    ]);
    assert_eq!(found[0].severity, Severity::Error, "{found:#?}");
    // `reviews` in namespace front is another host: no DestinationRule for it.
    // No DestinationRule in namespace front at all: most likely defined outside the input.
    let found = run(&[("dr.yaml", dr), ("vs.yaml", &vs("front", "reviews", "v1"))]);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].severity, Severity::Info);
    assert!(
        found[0].message.contains("reviews.front.svc.cluster.local"),
        "{}",
        found[0].message
    );
    let found = run_with(&[("vs.yaml", &vs("front", "reviews", "v1"))], &strict());
    assert_eq!(found[0].severity, Severity::Error);
}

#[test]
fn flagger_takes_over_virtualservice() {
    // Only this rule: the Canaries' targets are not part of these inputs.
    let run = |files: &[(&str, &str)]| -> Vec<Found> {
        run(files)
            .into_iter()
            .filter(|f| f.rule == "istio-vs-owned-by-flagger")
            .collect()
    };
    let canary = |provider: &str| {
        format!(
            "apiVersion: flagger.app/v1beta1
kind: Canary
metadata:
  name: web
  namespace: shop
spec:
{provider}  targetRef: {{apiVersion: apps/v1, kind: Deployment, name: web}}
  service: {{name: storefront, port: 80}}
"
        )
    };
    let vs = |name: &str, host: &str| {
        format!(
            "apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: {name}
  namespace: shop
spec:
  hosts: [{host}]
  http:
  - route:
    - destination: {{host: {host}}}
"
        )
    };
    let found = run(&[
        ("c.yaml", &canary("")),
        ("vs.yaml", &vs("storefront", "storefront")),
    ]);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(
        (found[0].rule, found[0].line),
        ("istio-vs-owned-by-flagger", 4)
    );
    assert!(
        found[0].message.contains("default mesh provider"),
        "{}",
        found[0].message
    );
    let found = run(&[
        ("c.yaml", &canary("  provider: istio\n")),
        ("vs.yaml", &vs("other", "storefront.shop.svc.cluster.local")),
    ]);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].line, 7);
    // Another mesh: Flagger does not touch VirtualServices.
    assert!(
        run(&[
            ("c.yaml", &canary("  provider: linkerd\n")),
            ("vs.yaml", &vs("storefront", "storefront"))
        ])
        .is_empty()
    );
    // Flagger's own VirtualService (owned by the Canary).
    let own = vs("storefront", "storefront").replace(
        "  namespace: shop\n",
        "  namespace: shop\n  ownerReferences:\n  - {apiVersion: flagger.app/v1beta1, kind: Canary, name: web, uid: x}\n",
    );
    assert!(run(&[("c.yaml", &canary("")), ("vs.yaml", &own)]).is_empty());
}

#[test]
fn duplicates_only_within_one_file() {
    let both = format!("{SERVICE}---\n{SERVICE}");
    let found = run(&[("svc.yaml", &both)]);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!((found[0].rule, found[0].line), ("duplicate-object", 21));
    assert_eq!(found[0].related[0].1, 4);
    // The same object in two files (a kustomize base and overlay): not reported.
    assert!(run(&[("base.yaml", SERVICE), ("overlay.yaml", SERVICE)]).is_empty());
    // Another namespace, another kind: different objects.
    let other = format!(
        "{SERVICE}---\n{}",
        SERVICE.replace("namespace: shop", "namespace: staging")
    );
    assert!(run(&[("svc.yaml", &other)]).is_empty());
    // A default namespace and the explicit one are the same object.
    let implicit = SERVICE.replace("  namespace: shop\n", "");
    let explicit = SERVICE.replace("namespace: shop", "namespace: default");
    let found = run(&[("svc.yaml", &format!("{implicit}---\n{explicit}"))]);
    assert_eq!(found.len(), 1, "{found:#?}");
}

/// Flagger's `-mesh-provider` (issue 19): read from `flagger.mesh-provider` or a Flagger
/// Deployment's args; unknown, a Canary without `spec.provider` is only assumed to be Istio's
/// and the finding is `info`, saying so.
#[test]
fn flagger_mesh_provider_setting() {
    let files = |flagger: &str| -> Vec<(String, String)> {
        let mut v = vec![
            (
                "c.yaml".to_owned(),
                "apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: web, namespace: shop}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  service: {name: storefront, port: 80}
"
                .to_owned(),
            ),
            (
                "vs.yaml".to_owned(),
                "apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: storefront, namespace: shop}
spec:
  hosts: [storefront]
  http:
  - route:
    - destination: {host: storefront}
"
                .to_owned(),
            ),
        ];
        if !flagger.is_empty() {
            v.push((
                "flagger.yaml".to_owned(),
                format!(
                    "apiVersion: apps/v1
kind: Deployment
metadata: {{name: flagger, namespace: flagger-system}}
spec:
  selector: {{matchLabels: {{app: flagger}}}}
  template:
    metadata: {{labels: {{app: flagger}}}}
    spec:
      containers:
      - name: flagger
        image: ghcr.io/fluxcd/flagger:1.41.0
        args: [-log-level=info{flagger}]
"
                ),
            ));
        }
        v
    };
    let lint = |files: &[(String, String)], settings: &Settings| -> Vec<Found> {
        let refs: Vec<(&str, &str)> = files
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        run_with(&refs, settings)
            .into_iter()
            .filter(|f| f.rule == "istio-vs-owned-by-flagger")
            .collect()
    };
    // Unknown: info, with the assumption in the message.
    let found = lint(&files(""), &Settings::default());
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].severity, Severity::Info);
    assert!(found[0].message.contains("assumed"), "{}", found[0].message);
    // A Flagger Deployment that runs nginx: the Canary is not Istio's.
    assert!(lint(&files(", -mesh-provider=nginx"), &Settings::default()).is_empty());
    // One that runs istio (`--flag value` form): a warning naming where it was read.
    let found = lint(&files(", --mesh-provider, istio"), &Settings::default());
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].severity, Severity::Warning);
    assert!(
        found[0]
            .message
            .contains("Deployment flagger-system/flagger"),
        "{}",
        found[0].message
    );
    // No flag: Flagger's default, istio, known from the Deployment.
    let found = lint(&files(", -namespace=shop"), &Settings::default());
    assert_eq!(found[0].severity, Severity::Warning, "{found:#?}");
    // The configuration wins over the Deployment.
    let configured = Settings {
        flagger_mesh_provider: Some("linkerd".into()),
        ..Settings::default()
    };
    assert!(lint(&files(", -mesh-provider=istio"), &configured).is_empty());
    let configured = Settings {
        flagger_mesh_provider: Some("istio".into()),
        ..Settings::default()
    };
    let found = lint(&files(""), &configured);
    assert_eq!(found[0].severity, Severity::Warning);
    assert!(
        found[0].message.contains(".rollgate.yaml"),
        "{}",
        found[0].message
    );
}
