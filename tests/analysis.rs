//! Analysis semantics (issue 8): each rule against the exact controller behaviour it relies on,
//! the condition evaluator, Argo's replica rounding, the Flagger/Argo timelines and
//! `rollgate explain-rollout`.

use rollgate::engine::lint::lint;
use rollgate::engine::{Config, Engine, Settings};
use rollgate::manifest::Limits;
use rollgate::manifest::input::from_bytes;
use rollgate::promql::condition::{Eval, Input, Shape, eval, parse, shape};
use rollgate::promql::query::Query;
use rollgate::timeline::argo::approximate;

/// (rule, 1-based line, message) of every finding of `rules` in `yaml`.
fn run(rules: &[&str], yaml: &str) -> Vec<(String, usize, String)> {
    let only: Vec<String> = rules.iter().map(|s| s.to_string()).collect();
    let engine = Engine::new(rollgate::rules::REGISTRY, &Config::default(), Some(&only));
    let r = lint(
        vec![from_bytes("t.yaml".into(), yaml.as_bytes().to_vec())],
        &engine,
        &Settings::default(),
        Limits::default(),
    );
    r.diagnostics
        .iter()
        .map(|d| {
            (
                d.finding.rule.to_owned(),
                d.span.map_or(0, |s| s.start.line as usize),
                d.finding.message.clone(),
            )
        })
        .collect()
}

fn template(metric: &str) -> String {
    format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata:\n  name: t\nspec:\n  metrics:\n{metric}"
    )
}

// --- utils/evaluate/evaluate.go ------------------------------------------------------------

/// `TestEvaluateResultNoFailureConditionAndNoSuccessCondition`: no condition → Successful.
#[test]
fn no_condition_is_successful_whatever_the_result() {
    let y = template(
        "  - name: m\n    provider:\n      prometheus:\n        address: http://p:9090\n        query: sum(rate(x[1m])) > 5\n",
    );
    let f = run(&["argo-analysis-always-passes"], &y);
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(f[0].2.contains("filter"), "{f:?}");
    // A Job metric decides by the Job's outcome, not by conditions.
    let y = template("  - name: j\n    provider:\n      job:\n        spec: {}\n");
    assert!(run(&["argo-analysis-always-passes"], &y).is_empty());
}

#[test]
fn expr_semantics_the_rules_rely_on() {
    let e = |s: &str, i: Input| eval(&parse(s).expect("parses"), &i);
    // `all` is vacuously true, `any` false, on an empty []float64.
    assert_eq!(
        e("all(result, # < 1)", Input::Vector(vec![])),
        Eval::Value(true)
    );
    assert_eq!(
        e("any(result, # < 1)", Input::Vector(vec![])),
        Eval::Value(false)
    );
    // Index out of range on an empty vector is a runtime error.
    assert!(matches!(
        e("result[0] < 1", Input::Vector(vec![])),
        Eval::IndexError(_)
    ));
    // []float64 compared with a number: type error whatever the values.
    assert!(matches!(
        e("result >= 0.9", Input::Vector(vec![1.0])),
        Eval::TypeError(_)
    ));
    // NaN compares false.
    assert_eq!(
        e("result[0] > 0.05", Input::Vector(vec![f64::NAN])),
        Eval::Value(false)
    );
    assert_eq!(
        e("result > 0.05", Input::Scalar(f64::NAN)),
        Eval::Value(false)
    );
    // Non-bool output: "expected bool".
    assert!(matches!(
        e("result[0]", Input::Vector(vec![1.0])),
        Eval::TypeError(_)
    ));
}

#[test]
fn query_shapes() {
    let s = |q: &str| shape(&Query::parse(q).expect("parses"));
    assert_eq!(s("scalar(sum(x))"), Shape::Scalar);
    assert!(matches!(
        s("sum(rate(x[1m]))"),
        Shape::Vector {
            may_be_empty: true,
            filter: None
        }
    ));
    assert!(matches!(
        s("sum(x) or vector(0)"),
        Shape::Vector {
            may_be_empty: false,
            ..
        }
    ));
    assert!(matches!(
        s("sum(x) > 5"),
        Shape::Vector {
            filter: Some(_),
            ..
        }
    ));
    assert!(matches!(
        s("sum(x) > bool 5"),
        Shape::Vector { filter: None, .. }
    ));
}

#[test]
fn index_unguarded_vacuous_nan_and_type_errors() {
    let q = "sum(rate(http_requests_total[1m]))";
    let m = |cond: &str| {
        template(&format!(
            "  - name: m\n    {cond}\n    provider:\n      prometheus:\n        address: http://p:9090\n        query: {q}\n"
        ))
    };
    let rules = [
        "argo-result-index-unguarded",
        "argo-vacuous-all",
        "argo-nan-passes",
        "argo-condition-type-error",
        "argo-analysis-always-passes",
    ];
    let ids = |y: String| -> Vec<String> { run(&rules, &y).into_iter().map(|f| f.0).collect() };
    assert_eq!(
        ids(m("successCondition: result[0] < 0.5")),
        ["argo-result-index-unguarded"]
    );
    assert!(ids(m("successCondition: len(result) > 0 && result[0] < 0.5")).is_empty());
    assert_eq!(
        ids(m("successCondition: \"all(result, # < 0.5)\"")),
        ["argo-vacuous-all"]
    );
    assert_eq!(
        ids(m("failureCondition: len(result) > 0 && result[0] > 0.5")),
        ["argo-nan-passes"]
    );
    assert_eq!(
        ids(m("successCondition: result >= 0.5")),
        ["argo-condition-type-error"]
    );
    assert_eq!(
        ids(m("successCondition: \"true\"")),
        ["argo-analysis-always-passes"]
    );
    // Conditions outside the analysed subset, and ones that do not parse: not analysed.
    assert!(ids(m("successCondition: default(result[0], 0) < 1")).is_empty());
    assert!(ids(m("successCondition: \"result[0 <\"")).is_empty());
    assert!(ids(m("successCondition: \"((((((((\"")).is_empty());
}

/// Templated arguments render before the conditions are evaluated (`{{args.x}}`).
#[test]
fn templated_conditions_and_counts() {
    let y = "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata:\n  name: t\nspec:\n  args:\n  - name: limit\n    value: \"0.5\"\n  - name: checks\n  metrics:\n  - name: m\n    interval: 1m\n    count: \"{{args.checks}}\"\n    successCondition: len(result) > 0 && result[0] < {{args.limit}}\n    provider:\n      prometheus:\n        address: http://p:9090\n        query: sum(rate(x[1m]))\n---\napiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata:\n  name: r\nspec:\n  strategy:\n    canary:\n      steps:\n      - analysis:\n          templates:\n          - templateName: t\n          args:\n          - name: checks\n            value: \"3\"\n";
    let rules = [
        "argo-analysis-runs-forever",
        "argo-result-index-unguarded",
        "argo-condition-type-error",
        "argo-analysis-always-passes",
    ];
    // The controller validates the count with the template's own argument values: `checks`
    // has none, becomes "dummy-value" (0), and the step analysis is rejected as running
    // forever although the Rollout passes checks=3 (`setArgValuePlaceHolder`, `EffectiveCount`).
    let f = run(&rules, y);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].0, "argo-analysis-runs-forever");
    assert!(f[0].2.contains("dummy-value"), "{f:?}");
    // With an integer default in the template it is accepted.
    let y = y.replace(
        "  - name: checks\n  metrics:",
        "  - name: n\n    value: \"2\"\n  metrics:",
    );
    let f = run(&rules, &y);
    assert!(f.is_empty(), "{f:?}");
}

// --- rollout/controller.go, validation_references.go ---------------------------------------

#[test]
fn step_analysis_without_count_is_invalid_spec() {
    let y = "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata:\n  name: t\nspec:\n  metrics:\n  - name: m\n    interval: 1m\n    successCondition: result[0] > 1\n    provider:\n      web:\n        url: http://x\n---\napiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata:\n  name: r\nspec:\n  strategy:\n    canary:\n      analysis:\n        templates:\n        - templateName: t\n      steps:\n      - analysis:\n          templates:\n          - templateName: t\n";
    let f = run(&["argo-analysis-runs-forever"], y);
    assert_eq!(f.len(), 1, "{f:?}");
    // The step's template reference, not the background analysis (which may run forever).
    assert_eq!(f[0].1, 27);
    assert!(f[0].2.contains("InvalidSpec"));
}

// --- utils/replicaset/canary.go ------------------------------------------------------------

/// The desired counts of `approximateWeightedCanaryStableReplicaCounts` for the examples in
/// `CalculateReplicaCountsForBasicCanary`'s doc comment (which then also applies maxSurge and
/// maxUnavailable to the current counts).
#[test]
fn argo_replica_rounding() {
    assert_eq!(approximate(10, 10, 1), (1, 9));
    // 5% of 10: 1 of 10 (10%) or, surging, 1 of 11 (9.1%), which is closer.
    assert_eq!(approximate(10, 5, 1), (1, 10));
    assert_eq!(approximate(1, 5, 1), (1, 1));
    assert_eq!(approximate(1, 95, 1), (1, 1));
    // floorCeilingTied: 3 replicas at 50% pick the larger canary count.
    assert_eq!(approximate(3, 50, 0), (2, 1));
}

#[test]
fn setweight_without_traffic_routing_reports_the_pod_share() {
    let y = "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata:\n  name: r\nspec:\n  strategy:\n    canary:\n      steps:\n      - setWeight: 10\n      - setWeight: 50\n";
    let f = run(&["argo-setweight-unachievable"], y);
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(
        f[0].2.contains("1 canary + 1 stable") && f[0].2.contains("50%"),
        "{f:?}"
    );
    // Traffic routing: weights are exact.
    let routed = y.replace(
        "    canary:\n",
        "    canary:\n      trafficRouting:\n        istio: {}\n",
    );
    assert!(run(&["argo-setweight-unachievable"], &routed).is_empty());
    // An HPA decides the replica count: not known, not reported.
    let hpa = format!(
        "{y}---\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: r\nspec:\n  scaleTargetRef:\n    apiVersion: argoproj.io/v1alpha1\n    kind: Rollout\n    name: r\n"
    );
    assert!(run(&["argo-setweight-unachievable"], &hpa).is_empty());
}

// --- Istio retry.go ConvertPolicy ----------------------------------------------------------

#[test]
fn istio_retries() {
    let vs = |http: &str| {
        format!(
            "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: v\nspec:\n  hosts: [v]\n  http:\n{http}"
        )
    };
    let rule = ["istio-retries-exceed-timeout"];
    // 1 try + 3 retries of 1s > 2s.
    let f = run(
        &rule,
        &vs(
            "  - timeout: 2s\n    retries: {attempts: 3, perTryTimeout: 1s}\n    route: [{destination: {host: v}}]\n",
        ),
    );
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(f[0].2.contains("at most 1 of the 3 retries"), "{f:?}");
    // Exactly fitting: fine. attempts 0 disables retries. Unset retries: 2 retries, no per-try
    // timeout. No route timeout: unbounded.
    for ok in [
        "  - timeout: 1.5s\n    retries: {attempts: 2, perTryTimeout: 500ms}\n",
        "  - timeout: 1s\n    retries: {attempts: 0, perTryTimeout: 5s}\n",
        "  - timeout: 1s\n",
        "  - retries: {attempts: 5, perTryTimeout: 5s}\n",
        "  - timeout: 1s\n    retries: {attempts: 5, perTryTimeout: nonsense}\n",
    ] {
        assert!(run(&rule, &vs(ok)).is_empty(), "{ok}");
    }
}

// --- Flagger scheduler.go / scheduler_metrics.go -------------------------------------------

fn canary(analysis: &str) -> String {
    format!(
        "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata:\n  name: c\nspec:\n  targetRef:\n    apiVersion: apps/v1\n    kind: Deployment\n    name: c\n  service:\n    port: 80\n  analysis:\n{analysis}"
    )
}

#[test]
fn flagger_rules() {
    let ids = |rules: &[&str], a: &str| -> Vec<String> {
        run(rules, &canary(a)).into_iter().map(|f| f.0).collect()
    };
    let w = ["flagger-weights-stall"];
    assert_eq!(ids(&w, "    maxWeight: 101\n    stepWeight: 10\n"), w);
    assert!(ids(&w, "    maxWeight: 100\n    stepWeight: 10\n").is_empty());
    assert_eq!(ids(&w, "    stepWeights: [10, 5]\n"), w);
    assert!(ids(&w, "    iterations: 10\n    maxWeight: 200\n").is_empty());
    let t = ["flagger-metric-without-threshold"];
    assert_eq!(
        ids(&t, "    metrics:\n    - name: x\n      query: sum(x)\n"),
        t
    );
    assert!(
        ids(
            &t,
            "    metrics:\n    - name: x\n      query: sum(x)\n      threshold: 5\n"
        )
        .is_empty()
    );
    assert!(ids(&t, "    metrics:\n    - name: request-success-rate\n").is_empty());
    let n = ["flagger-builtin-name-collision"];
    assert_eq!(
        ids(
            &n,
            "    metrics:\n    - name: request-duration\n      templateRef: {name: lat}\n"
        ),
        n
    );
    let i = ["flagger-metric-interval-shorter-than-analysis"];
    // Builtin metrics default to a 1m window.
    assert_eq!(
        ids(
            &i,
            "    interval: 5m\n    metrics:\n    - name: request-duration\n"
        ),
        i
    );
    assert!(
        ids(
            &i,
            "    interval: 30s\n    metrics:\n    - name: request-duration\n"
        )
        .is_empty()
    );
}

#[test]
fn flagger_timeline_rollback_is_threshold_plus_two_intervals() {
    let y = canary(
        "    interval: 1m\n    threshold: 5\n    maxWeight: 50\n    stepWeight: 10\n    metrics:\n    - name: request-success-rate\n      thresholdRange: {min: 99}\n",
    );
    let dir = std::env::temp_dir().join(format!("rollgate-timeline-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let file = dir.join("c.yaml");
    std::fs::write(&file, &y).expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rollgate"))
        .args(["explain-rollout", "--format", "json"])
        .arg(&file)
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let tl = &v[0];
    assert_eq!(tl["kind"], "Canary");
    // t0 detected, t1 first step (no check), checks from t2: 5 failed checks → t7.
    assert_eq!(tl["fastest_rollback_seconds"], 420.0);
    // 5 steps (10..50) + ~3 intervals.
    assert_eq!(tl["promotion_seconds"], 480.0);
    let text = std::process::Command::new(env!("CARGO_BIN_EXE_rollgate"))
        .arg("explain-rollout")
        .arg(&file)
        .output()
        .expect("runs");
    let s = String::from_utf8_lossy(&text.stdout);
    assert!(
        s.contains("canary weight 10%") && s.contains("fastest rollback: 7m"),
        "{s}"
    );
    let md = std::process::Command::new(env!("CARGO_BIN_EXE_rollgate"))
        .args(["explain-rollout", "--format", "markdown"])
        .arg(&file)
        .output()
        .expect("runs");
    assert!(md.status.success());
    let s = String::from_utf8_lossy(&md.stdout);
    assert!(s.starts_with("### Canary `"), "{s}");
    assert!(
        s.contains("| at | step | for | gates |\n|---|---|---|---|\n"),
        "{s}"
    );
    assert!(
        s.contains("canary weight 10%") && s.contains("- fastest rollback: 7m"),
        "{s}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
