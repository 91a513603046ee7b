//! Flagger parity (issue 25): the rules flagger-metric-never-runs, flagger-threshold-is-maximum,
//! counter-compared-raw, flagger-analysis-cannot-protect, flagger-router-refs and
//! object-owned-by-flagger on bad input — provider strings in any case or unknown, references
//! of the wrong shape or kind, thousands of metrics, huge thresholds and intervals.

use rollgate::engine::lint::lint;
use rollgate::engine::{Config, Engine, Settings};
use rollgate::manifest::Limits;
use rollgate::manifest::input::from_bytes;

const RULES: &[&str] = &[
    "flagger-metric-never-runs",
    "flagger-threshold-is-maximum",
    "counter-compared-raw",
    "flagger-analysis-cannot-protect",
    "flagger-router-refs",
    "object-owned-by-flagger",
];

/// (rule, severity, pointer, message) of every finding of the parity rules in `yaml`.
fn run(yaml: &str) -> Vec<(String, String, String, String)> {
    run_with(yaml, &Settings::default())
}

fn run_with(yaml: &str, settings: &Settings) -> Vec<(String, String, String, String)> {
    let only: Vec<String> = RULES.iter().map(|s| s.to_string()).collect();
    let engine = Engine::new(rollgate::rules::REGISTRY, &Config::default(), Some(&only));
    let r = lint(
        vec![from_bytes("t.yaml".into(), yaml.as_bytes().to_vec())],
        &engine,
        settings,
        Limits::default(),
    );
    r.diagnostics
        .iter()
        .map(|d| {
            (
                d.finding.rule.to_owned(),
                d.finding.severity.to_string(),
                d.finding.pointer.clone(),
                d.finding.message.clone(),
            )
        })
        .collect()
}

fn canary(spec_extra: &str, analysis: &str) -> String {
    format!(
        "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata:\n  name: app\n  namespace: test\nspec:\n{spec_extra}  targetRef:\n    apiVersion: apps/v1\n    kind: Deployment\n    name: app\n  service:\n    port: 80\n  analysis:\n{analysis}"
    )
}

const OK_ANALYSIS: &str = "    interval: 1m\n    threshold: 5\n    maxWeight: 50\n    stepWeight: 10\n    metrics:\n    - name: request-success-rate\n      thresholdRange: {min: 99}\n      interval: 1m\n";

#[test]
fn provider_strings_in_any_case_or_unknown() {
    // Exact and known: nothing. Known in another case: a warning (Flagger compares exactly and
    // falls back to istio). Istio in another case: info. Unknown: info.
    let ingress =
        "  ingressRef:\n    apiVersion: networking.k8s.io/v1\n    kind: Ingress\n    name: app\n";
    for (provider, want) in [
        ("nginx", None),
        (
            "NGINX",
            Some(("warning", "nothing routes to the canary through nginx")),
        ),
        ("Nginx", Some(("warning", "case-sensitively"))),
        ("Istio", Some(("info", "falls back to the istio router"))),
        ("gatewayapi", Some(("warning", "through gatewayapi:v1"))),
        (
            "frobnicate",
            Some(("info", "not one of Flagger's providers")),
        ),
        (
            "\u{1F600}",
            Some(("info", "not one of Flagger's providers")),
        ),
    ] {
        let y = canary(
            &format!("  provider: \"{provider}\"\n{ingress}"),
            OK_ANALYSIS,
        );
        let f: Vec<_> = run(&y)
            .into_iter()
            .filter(|f| f.0 == "flagger-router-refs" && f.2 == "/spec/provider")
            .collect();
        match want {
            None => assert!(f.is_empty(), "{provider}: {f:?}"),
            Some((sev, text)) => {
                assert_eq!(f.len(), 1, "{provider}: {f:?}");
                assert_eq!(f[0].1, sev, "{provider}: {f:?}");
                assert!(f[0].3.contains(text), "{provider}: {f:?}");
            }
        }
    }
}

#[test]
fn references_missing_of_the_wrong_shape_or_kind() {
    let cases = [
        // nginx without ingressRef: error at spec.provider.
        (
            "  provider: nginx\n",
            "/spec/provider",
            "error",
            "nothing routes to the canary",
        ),
        // A string where a reference belongs.
        (
            "  provider: skipper\n  ingressRef: app\n",
            "/spec/ingressRef",
            "error",
            "is the string \"app\"",
        ),
        // No name.
        (
            "  provider: nginx\n  ingressRef: {kind: Ingress}\n",
            "/spec/ingressRef",
            "error",
            "has no name",
        ),
        // The wrong kind: the router reads the Ingress of that name anyway.
        (
            "  provider: nginx\n  ingressRef: {kind: Service, name: app}\n",
            "/spec/ingressRef/kind",
            "warning",
            "whatever the kind says",
        ),
        (
            "  provider: apisix\n",
            "/spec/provider",
            "error",
            "spec.routeRef",
        ),
        (
            "  provider: appmesh\n",
            "/spec/provider",
            "error",
            "spec.service.meshName",
        ),
        // A reference this router ignores.
        (
            "  provider: istio\n  ingressRef: {name: app}\n",
            "/spec/ingressRef",
            "info",
            "ignores it",
        ),
        // Knative target without the knative provider (also when the provider is unset).
        (
            "  provider: knative\n",
            "/spec/provider",
            "error",
            "not a Knative Service",
        ),
    ];
    for (extra, ptr, sev, text) in cases {
        let y = canary(extra, OK_ANALYSIS);
        let f = run(&y);
        assert!(
            f.iter().any(|f| f.0 == "flagger-router-refs"
                && f.2 == ptr
                && f.1 == sev
                && f.3.contains(text)),
            "{extra}: {f:?}"
        );
    }
    // gatewayRefs of any shape but a non-empty list.
    for refs in ["[]", "{}", "gateway", "null"] {
        let y = canary("  provider: gatewayapi:v1beta1\n", OK_ANALYSIS).replace(
            "    port: 80\n",
            &format!("    port: 80\n    gatewayRefs: {refs}\n"),
        );
        let f = run(&y);
        assert!(
            f.iter()
                .any(|f| f.0 == "flagger-router-refs" && f.1 == "error"),
            "{refs}: {f:?}"
        );
    }
    // Unset provider: the default (istio) is assumed and nothing is said about references.
    let y = canary("", OK_ANALYSIS);
    assert!(run(&y).is_empty(), "{:?}", run(&y));
    let knative = y.replace(
        "apiVersion: apps/v1\n    kind: Deployment",
        "apiVersion: serving.knative.dev/v1\n    kind: Service",
    );
    let f = run(&knative);
    assert!(
        f.iter().any(|f| f.0 == "flagger-router-refs"
            && f.2 == "/spec/targetRef"
            && f.3.contains("unset")),
        "{f:?}"
    );
}

#[test]
fn thousands_of_metrics_and_huge_numbers() {
    let mut analysis = String::from(
        "    interval: 2562047h\n    threshold: 9223372036854775807\n    iterations: 9223372036854775807\n    metrics:\n",
    );
    for i in 0..3000 {
        analysis.push_str(&format!("    - name: m{i}\n      threshold: 1e308\n"));
        analysis.push_str(&format!(
            "    - name: q{i}\n      threshold: 99\n      interval: 1000000h\n      query: sum(x_total{{code!~\"5..\"}}) / sum(x_total)\n"
        ));
    }
    let y = canary("", &analysis);
    let started = std::time::Instant::now();
    let f = run(&y);
    let count = |rule: &str| f.iter().filter(|f| f.0 == rule).count();
    assert_eq!(count("flagger-metric-never-runs"), 3000);
    // A success ratio under a maximum: inverted, an error on each.
    assert_eq!(
        f.iter()
            .filter(|f| f.0 == "flagger-threshold-is-maximum" && f.1 == "error")
            .count(),
        3000
    );
    // One query text, two raw counters: reported on each of the 3000 inline queries.
    assert_eq!(count("counter-compared-raw"), 6000);
    // The threshold outlasts nothing here: iterations are as huge. No overflow either way.
    for x in &f {
        assert!(!x.3.contains("NaN"), "{x:?}");
    }
    assert!(started.elapsed().as_secs() < 60, "{:?}", started.elapsed());

    // A huge threshold with few steps: reported with finite and infinite times, no panic.
    let a = "    interval: 2562047h\n    threshold: 9223372036854775807\n    stepWeight: 50\n    metrics:\n    - name: request-success-rate\n      thresholdRange: {min: 99}\n";
    let f = run(&canary("", a));
    let t: Vec<_> = f
        .iter()
        .filter(|f| f.2 == "/spec/analysis/threshold")
        .collect();
    assert_eq!(t.len(), 1, "{f:?}");
    assert_eq!(t[0].1, "warning");
    assert!(t[0].3.contains("threshold 9223372036854775807"), "{t:?}");
}

#[test]
fn promotion_before_one_window() {
    // 2 iterations of 30s = 1m of canary traffic; a 5m window is more than twice that.
    let a = "    interval: 30s\n    threshold: 2\n    iterations: 2\n    metrics:\n    - name: request-success-rate\n      thresholdRange: {min: 99}\n      interval: 5m\n";
    let f = run(&canary("", a));
    assert!(
        f.iter().any(|f| f.2 == "/spec/analysis/iterations"
            && f.1 == "warning"
            && f.3.contains("1m of canary traffic")),
        "{f:?}"
    );
    // An inline query's own window counts (not the metric interval).
    let a = "    interval: 1m\n    threshold: 2\n    iterations: 10\n    metrics:\n    - name: errors\n      thresholdRange: {max: 1}\n      query: sum(rate(x_total[1h]))\n";
    let f = run(&canary("", a));
    assert!(f.iter().any(|f| f.3.contains("1h window")), "{f:?}");
    let a = "    interval: 1m\n    threshold: 2\n    iterations: 10\n    metrics:\n    - name: errors\n      thresholdRange: {max: 1}\n      query: sum(rate(x_total[5m]))\n";
    assert!(run(&canary("", a)).is_empty());
}

#[test]
fn objects_flagger_takes_over_per_router() {
    let objects = |provider: &str, extra: &str| {
        format!(
            "{}---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: app\n  namespace: test\n---\napiVersion: split.smi-spec.io/v1alpha2\nkind: TrafficSplit\nmetadata:\n  name: app\n  namespace: test\n---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: web-canary\n  namespace: test\n---\napiVersion: traefik.io/v1alpha1\nkind: TraefikService\nmetadata:\n  name: app\n  namespace: test\n---\napiVersion: networking.istio.io/v1beta1\nkind: DestinationRule\nmetadata:\n  name: app-canary\n  namespace: test\n---\napiVersion: networking.istio.io/v1beta1\nkind: DestinationRule\nmetadata:\n  name: app-canary\n  namespace: other\n",
            canary(&format!("  provider: {provider}\n{extra}"), OK_ANALYSIS)
        )
    };
    let taken = |y: &str| -> Vec<String> {
        run(y)
            .into_iter()
            .filter(|f| f.0 == "object-owned-by-flagger")
            .map(|f| {
                f.3.split('"').nth(1).unwrap_or("").to_owned()
                    + " "
                    + f.3.split(' ').next().unwrap_or("")
            })
            .collect()
    };
    assert_eq!(taken(&objects("gatewayapi:v1", "")), ["app HTTPRoute"]);
    assert_eq!(taken(&objects("linkerd", "")), ["app TrafficSplit"]);
    assert_eq!(taken(&objects("osm", "")), ["app TrafficSplit"]);
    assert_eq!(taken(&objects("traefik", "")), ["app TraefikService"]);
    assert_eq!(
        taken(&objects("nginx", "  ingressRef: {name: web}\n")),
        ["web-canary Ingress"]
    );
    assert_eq!(taken(&objects("istio", "")), ["app-canary DestinationRule"]);
    // An unknown provider string is the istio router too.
    assert_eq!(
        taken(&objects("Contour", "")),
        ["app-canary DestinationRule"]
    );
    // Owned by the Canary already: Flagger's own object.
    let owned = objects("gatewayapi:v1", "").replace(
        "kind: HTTPRoute\nmetadata:\n  name: app\n",
        "kind: HTTPRoute\nmetadata:\n  name: app\n  ownerReferences:\n  - {apiVersion: flagger.app/v1beta1, kind: Canary, name: app, uid: x}\n",
    );
    assert!(taken(&owned).is_empty());
}

/// Without spec.provider, the controller's -mesh-provider decides the router: from
/// `flagger.mesh-provider` in the settings, or from a Flagger Deployment in the input.
#[test]
fn mesh_provider_setting_or_flagger_deployment() {
    let y = canary("", OK_ANALYSIS);
    let settings = Settings {
        flagger_mesh_provider: Some("nginx".into()),
        ..Settings::default()
    };
    let f = run_with(&y, &settings);
    assert!(
        f.iter().any(|f| f.0 == "flagger-router-refs"
            && f.1 == "error"
            && f.2 == "/spec"
            && f.3.contains("flagger.mesh-provider")
            && f.3.contains("spec.ingressRef")),
        "{f:?}"
    );
    let deployment = "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: flagger\n  namespace: flagger-system\nspec:\n  template:\n    spec:\n      containers:\n      - name: flagger\n        image: ghcr.io/fluxcd/flagger:1.41.0\n        args: [-mesh-provider=gatewayapi:v1]\n";
    let f = run(&format!("{y}{deployment}"));
    assert!(
        f.iter().any(|f| f.0 == "flagger-router-refs"
            && f.3.contains("spec.service.gatewayRefs")
            && f.3.contains("Deployment")),
        "{f:?}"
    );
    // Generated names follow the discovered provider, at the rule's severity.
    let route = "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: app\n  namespace: test\n";
    let f = run(&format!("{y}{deployment}{route}"));
    assert!(
        f.iter().any(|f| f.0 == "object-owned-by-flagger"
            && f.1 == "warning"
            && f.3.contains("HTTPRoute")),
        "{f:?}"
    );
}
