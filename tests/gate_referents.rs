//! A rendered gate that selects a Service (or workload) the input does not hold (issue 19 item
//! 4, docs/worlds.md): a `gate-cannot-measure` warning with evidence of a mistake (other
//! Services of that namespace applied with the Canary/Rollout, "did you mean"), an info without
//! it, nothing when the Service is there or the name is one Flagger generates.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_rollgate");

const SERVICE: &str = "apiVersion: v1\nkind: Service\nmetadata: {name: frontend, namespace: test}\nspec:\n  selector: {app: frontend}\n";

fn canary_and_template(selector: &str) -> String {
    format!(
        r#"apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {{name: errors, namespace: test}}
spec:
  provider: {{type: prometheus, address: "http://prometheus:9090"}}
  query: sum(rate(istio_requests_total{{{selector},response_code=~"5.."}}[{{{{ interval }}}}]))
---
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {{name: podinfo, namespace: test}}
spec:
  provider: istio
  targetRef: {{apiVersion: apps/v1, kind: Deployment, name: podinfo}}
  service: {{port: 9898}}
  analysis:
    interval: 1m
    threshold: 5
    maxWeight: 50
    stepWeight: 10
    metrics:
    - name: errors
      interval: 2m
      templateRef: {{name: errors}}
      thresholdRange: {{max: 1}}
"#
    )
}

/// Lint `files` (relative path → text) in a fresh project; the gate-cannot-measure findings'
/// `(severity, message)`.
fn gate_findings(tag: &str, files: &[(&str, String)]) -> Vec<(String, String)> {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("rollgate-gate-ref-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join(".git")).expect("mkdir");
    for (rel, text) in files {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }
    let out = Command::new(BIN)
        .current_dir(&dir)
        .args([
            "lint",
            "--no-config",
            "--format",
            "json",
            "--show-info",
            ".",
        ])
        .output()
        .expect("run");
    let _ = std::fs::remove_dir_all(&dir);
    let json: Value = serde_json::from_slice(&out.stdout).expect("json");
    json["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["rule"] == "gate-cannot-measure")
        .map(|f| {
            (
                f["severity"].as_str().unwrap_or("").to_owned(),
                f["message"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

#[test]
fn a_misspelled_service_next_to_the_real_one_is_a_warning_with_did_you_mean() {
    let f = gate_findings(
        "typo",
        &[(
            "app.yaml",
            format!(
                "{SERVICE}---\n{}",
                canary_and_template(r#"destination_service_name="frontnd""#)
            ),
        )],
    );
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].0, "warning", "{f:?}");
    assert!(f[0].1.contains("did you mean \"frontend\""), "{f:?}");
    assert!(f[0].1.contains("Service \"frontnd\""), "{f:?}");
}

#[test]
fn without_evidence_it_is_an_info_and_a_present_or_generated_name_is_nothing() {
    // The only Service of the namespace is in a sibling folder (another example): no evidence.
    let f = gate_findings(
        "elsewhere",
        &[
            ("a/svc.yaml", SERVICE.replace("frontend", "shop")),
            (
                "b/app.yaml",
                canary_and_template(r#"destination_service_name="payments""#),
            ),
        ],
    );
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].0, "info", "{f:?}");
    // The Service is there.
    let f = gate_findings(
        "present",
        &[(
            "app.yaml",
            format!(
                "{SERVICE}---\n{}",
                canary_and_template(r#"destination_service_name="frontend""#)
            ),
        )],
    );
    assert!(f.is_empty(), "{f:?}");
    // Names Flagger generates for the canary, and the target: not judged here.
    for sel in [
        r#"destination_service_name="podinfo-canary""#,
        r#"destination_workload="podinfo-primary""#,
        r#"destination_workload="podinfo""#,
        r#"destination_service_name=~"front.*""#,
    ] {
        let f = gate_findings(
            "generated",
            &[(
                "app.yaml",
                format!("{SERVICE}---\n{}", canary_and_template(sel)),
            )],
        );
        assert!(f.is_empty(), "{sel}: {f:?}");
    }
    // Another namespace named by the selector: judged there.
    let f = gate_findings(
        "ns",
        &[(
            "app.yaml",
            format!(
                "{}---\n{}",
                SERVICE.replace("namespace: test", "namespace: web"),
                canary_and_template(r#"service="frontnd",namespace="web""#)
            ),
        )],
    );
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(f[0].1.contains("namespace \"web\""), "{f:?}");
    assert_eq!(f[0].0, "warning", "{f:?}");
    // `service` is also an application's own label: without a similar name, an info.
    let f = gate_findings(
        "applabel",
        &[(
            "app.yaml",
            format!(
                "{SERVICE}---\n{}",
                canary_and_template(r#"service="checkout-api""#)
            ),
        )],
    );
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].0, "info", "{f:?}");
}

/// rollouts-demo `examples/istio`: the Rollout passes `service: canary`, the template selects
/// Istio's `destination_service=~"{{args.service}}.{{args.namespace}}.svc.cluster.local"`, and
/// the Services of the namespace are `web-canary` and `web-stable`.
fn argo_fqdn(service: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Service
metadata: {{name: web-canary, namespace: shop}}
spec:
  selector: {{app: web}}
---
apiVersion: v1
kind: Service
metadata: {{name: web-stable, namespace: shop}}
spec:
  selector: {{app: web}}
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {{name: success-rate, namespace: shop}}
spec:
  args:
  - name: service
  - name: namespace
  metrics:
  - name: success-rate
    interval: 1m
    successCondition: len(result) > 0 && result[0] >= 0.99
    provider:
      prometheus:
        address: http://prometheus:9090
        query: sum(rate(istio_requests_total{{destination_service=~"{{{{args.service}}}}.{{{{args.namespace}}}}.svc.cluster.local",response_code!~"5.*"}}[2m])) / sum(rate(istio_requests_total{{destination_service=~"{{{{args.service}}}}.{{{{args.namespace}}}}.svc.cluster.local"}}[2m]))
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {{name: web, namespace: shop}}
spec:
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
  strategy:
    canary:
      canaryService: web-canary
      stableService: web-stable
      analysis:
        templates: [{{templateName: success-rate}}]
        args:
        - name: service
          value: {service}
        - name: namespace
          valueFrom:
            fieldRef: {{fieldPath: metadata.namespace}}
      steps:
      - setWeight: 20
"#
    )
}

#[test]
fn an_istio_host_naming_no_service_of_the_namespace_is_a_warning() {
    let f = gate_findings("fqdn", &[("app.yaml", argo_fqdn("canary"))]);
    assert_eq!(f.len(), 2, "{f:?}");
    assert!(
        f.iter().all(|(s, m)| s == "warning"
            && m.contains("Service \"canary\"")
            && m.contains("namespace \"shop\"")),
        "{f:?}"
    );
    // The Rollout's own canary Service: nothing.
    let f = gate_findings("fqdn-ok", &[("app.yaml", argo_fqdn("web-canary"))]);
    assert!(f.is_empty(), "{f:?}");
}
