//! deploy/ stays in step with the code: the RBAC grants exactly what the cluster cache watches,
//! and the ValidatingWebhookConfiguration sends every rollout-configuration kind a rule checks.
//! deploy/ is a kustomization: `kubectl kustomize` renders it (with and without the cert-manager
//! component) the way `kubectl apply -k` applies it (tests/e2e_apiserver.rs applies it for real).

#[path = "common/skip.rs"]
mod skip;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use rollgate::manifest::{Limits, load};
use rollgate::webhook::cache::WATCHED;
use serde_json::Value;

fn documents(file: &str) -> Vec<Value> {
    let path = format!("{}/deploy/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let loaded = load(&text, Limits::default());
    assert!(loaded.problems.is_empty(), "{path}: {:?}", loaded.problems);
    loaded.documents.into_iter().map(|d| d.value).collect()
}

/// The resource name of a kind, as the apiserver's CRDs of these projects spell it.
fn plural(kind: &str) -> String {
    let k = kind.to_ascii_lowercase();
    if let Some(stem) = k.strip_suffix('y') {
        format!("{stem}ies")
    } else if k.ends_with('s') {
        format!("{k}es")
    } else {
        format!("{k}s")
    }
}

/// (group, resource) pairs of a list of RBAC or webhook rules.
fn grants(rules: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for r in rules.as_array().into_iter().flatten() {
        for g in r["apiGroups"].as_array().into_iter().flatten() {
            for res in r["resources"].as_array().into_iter().flatten() {
                out.insert((
                    g.as_str().unwrap_or("").to_owned(),
                    res.as_str().unwrap_or("").to_owned(),
                ));
            }
        }
    }
    out
}

#[test]
fn rbac_grants_exactly_the_watched_kinds_read_only() {
    let docs = documents("rbac.yaml");
    let role = docs
        .iter()
        .find(|d| d["kind"] == "ClusterRole" && d["metadata"]["name"] == "rollgate-reader")
        .expect("the reader ClusterRole");
    let want: BTreeSet<(String, String)> = WATCHED
        .iter()
        .map(|(g, k)| ((*g).to_owned(), plural(k)))
        .collect();
    assert_eq!(grants(&role["rules"]), want);
    for r in role["rules"].as_array().into_iter().flatten() {
        assert_eq!(
            r["verbs"],
            serde_json::json!(["get", "list", "watch"]),
            "{r}"
        );
    }
    let all = serde_json::to_string(&docs).expect("json");
    assert!(!all.contains("secrets"), "rollgate never reads Secrets");
}

/// The background audit's writes are its reports (and the report owner's read) and its Lease in
/// rollgate's own namespace; nothing else is writable.
#[test]
fn rbac_writes_only_reports_and_the_audit_lease() {
    let docs = documents("rbac.yaml");
    let verbs_of = |r: &Value| -> Vec<String> {
        r["verbs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    };
    let writes = [
        "create",
        "update",
        "patch",
        "delete",
        "deletecollection",
        "*",
    ];
    for d in &docs {
        let kind = d["kind"].as_str().unwrap_or("");
        if kind != "ClusterRole" && kind != "Role" {
            continue;
        }
        for r in d["rules"].as_array().into_iter().flatten() {
            if !verbs_of(r).iter().any(|v| writes.contains(&v.as_str())) {
                continue;
            }
            let g = grants(&serde_json::json!([r]));
            for (group, res) in &g {
                let ok = match (kind, group.as_str(), res.as_str()) {
                    ("ClusterRole", "wgpolicyk8s.io", "policyreports" | "clusterpolicyreports") => {
                        true
                    }
                    ("ClusterRole", "openreports.io", "reports" | "clusterreports") => true,
                    ("Role", "coordination.k8s.io", "leases") => {
                        d["metadata"]["namespace"] == "rollgate"
                    }
                    _ => false,
                };
                assert!(
                    ok,
                    "{kind} {} may write {group}/{res}",
                    d["metadata"]["name"]
                );
                assert!(!verbs_of(r).contains(&"*".to_owned()), "{r}");
            }
        }
    }
    // The Lease the deployment names is the one the Role lets it update.
    let deployment = documents("deployment.yaml");
    let args = deployment[0]["spec"]["template"]["spec"]["containers"][0]["args"].to_string();
    assert!(args.contains("--audit-interval=10m"), "{args}");
    let lease_role = docs
        .iter()
        .find(|d| d["kind"] == "Role" && d["metadata"]["name"] == "rollgate-audit-lease")
        .expect("the lease Role");
    assert!(lease_role.to_string().contains("\"rollgate-audit\""));
}

#[test]
fn webhook_sends_every_rollout_kind_a_rule_checks() {
    let docs = documents("webhook.yaml");
    let vwc = &docs[0];
    assert_eq!(vwc["kind"], "ValidatingWebhookConfiguration");
    let hook = &vwc["webhooks"][0];
    assert_eq!(hook["admissionReviewVersions"], serde_json::json!(["v1"]));
    assert_eq!(hook["sideEffects"], "None");
    assert!(hook["timeoutSeconds"].as_i64().is_some_and(|t| t <= 10));
    let sent = grants(&hook["rules"]);
    // Rules on these groups are admission checks; other kinds (Services, workloads) are only
    // read from the cache, so every Deployment change does not wait for rollgate.
    let groups = [
        "flagger.app",
        "argoproj.io",
        "networking.istio.io",
        "monitoring.coreos.com",
    ];
    // Created by controllers from objects the webhook already checked (an AnalysisRun is
    // rendered from an AnalysisTemplate); denying them would only break the controller.
    let controller_created = [("argoproj.io", "AnalysisRun")];
    let mut missing = Vec::new();
    for r in rollgate::rules::REGISTRY {
        for (g, k) in r.meta().kinds {
            if controller_created.contains(&(*g, *k)) {
                continue;
            }
            if groups.contains(g) && !sent.contains(&((*g).to_owned(), plural(k))) {
                missing.push(format!("{g}/{k} (rule {})", r.meta().id));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "deploy/webhook.yaml does not send these kinds to rollgate: {missing:?}"
    );
    for r in hook["rules"].as_array().into_iter().flatten() {
        assert_eq!(
            r["operations"],
            serde_json::json!(["CREATE", "UPDATE"]),
            "{r}"
        );
        for res in r["resources"].as_array().into_iter().flatten() {
            assert!(
                !res.as_str().unwrap_or("").contains('/'),
                "no subresources: {r}"
            );
        }
    }
    let excluded = &hook["namespaceSelector"]["matchExpressions"][0];
    assert_eq!(excluded["operator"], "NotIn");
    for ns in ["kube-system", "rollgate"] {
        assert!(
            excluded["values"]
                .as_array()
                .is_some_and(|v| v.contains(&Value::from(ns))),
            "{ns} must be excluded"
        );
    }
}

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// `kubectl kustomize DIR` as documents, or `None` (skipped) without kubectl.
fn kustomize(dir: &Path) -> Option<Vec<Value>> {
    let kubectl = std::env::var_os("ROLLGATE_KUBECTL").unwrap_or_else(|| "kubectl".into());
    let out = match Command::new(&kubectl).arg("kustomize").arg(dir).output() {
        Ok(o) => o,
        Err(e) => {
            skip::skip("ROLLGATE_REQUIRE_E2E", &format!("kubectl: {e}"));
            return None;
        }
    };
    assert!(
        out.status.success(),
        "kubectl kustomize {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    let loaded = load(&text, Limits::default());
    assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
    Some(loaded.documents.into_iter().map(|d| d.value).collect())
}

fn kinds(docs: &[Value]) -> Vec<String> {
    docs.iter()
        .map(|d| {
            format!(
                "{}/{}",
                d["kind"].as_str().unwrap_or(""),
                d["metadata"]["name"].as_str().unwrap_or("")
            )
        })
        .collect()
}

fn find<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in {:?}", kinds(docs)))
}

#[test]
fn kustomize_base_applies_namespace_first_without_cert_manager() {
    let Some(docs) = kustomize(&Path::new(ROOT).join("deploy")) else {
        return;
    };
    // Every manifest of deploy/ is in the kustomization (a new file is not forgotten).
    let listed =
        std::fs::read_to_string(format!("{ROOT}/deploy/kustomization.yaml")).expect("read");
    for e in std::fs::read_dir(format!("{ROOT}/deploy")).expect("deploy/") {
        let name = e.expect("entry").file_name().to_string_lossy().into_owned();
        if name.ends_with(".yaml") && name != "kustomization.yaml" {
            assert!(
                listed.contains(&format!("  - {name}\n")),
                "deploy/kustomization.yaml does not list {name}"
            );
        }
    }
    assert_eq!(
        kinds(&docs[..1]),
        ["Namespace/rollgate"],
        "{:?}",
        kinds(&docs)
    );
    assert_eq!(
        kinds(&docs).last().map(String::as_str),
        Some("ValidatingWebhookConfiguration/rollgate"),
        "the webhook is registered last, after what serves it"
    );
    for d in &docs {
        let ns = &d["metadata"]["namespace"];
        let cluster_scoped = [
            "Namespace",
            "ClusterRole",
            "ClusterRoleBinding",
            "ValidatingWebhookConfiguration",
        ];
        if cluster_scoped.contains(&d["kind"].as_str().unwrap_or("")) {
            assert!(ns.is_null(), "{d}");
        } else {
            assert_eq!(ns, "rollgate", "{d}");
        }
        assert!(
            !d["apiVersion"]
                .as_str()
                .unwrap_or("")
                .starts_with("cert-manager.io/"),
            "the base must apply without cert-manager: {d}"
        );
    }
    let vwc = find(&docs, "ValidatingWebhookConfiguration");
    assert!(vwc["metadata"]["annotations"].is_null(), "{vwc}");
    let deployment = find(&docs, "Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(
        pod["containers"][0]["image"], "ghcr.io/rollgate/rollgate:0.1.0",
        "images: in kustomization.yaml"
    );
    assert_eq!(pod["volumes"][0]["secret"]["secretName"], "rollgate-tls");
}

#[test]
fn kustomize_cert_manager_component_wires_the_certificate() {
    // An overlay next to deploy/ (kustomize refuses one nested inside its base), as
    // examples/deploy-with-cert-manager/ is.
    let Some(example) = kustomize(&Path::new(ROOT).join("examples/deploy-with-cert-manager"))
    else {
        return;
    };
    let base = kustomize(&Path::new(ROOT).join("deploy")).expect("kubectl ran above");
    assert_eq!(
        kinds(&example).len(),
        kinds(&base).len() + 4,
        "{:?}",
        kinds(&example)
    );
    assert_eq!(kinds(&example[..1]), ["Namespace/rollgate"]);
    let vwc = find(&example, "ValidatingWebhookConfiguration");
    assert_eq!(
        vwc["metadata"]["annotations"]["cert-manager.io/inject-ca-from"],
        "rollgate/rollgate-tls"
    );
    let cert = example
        .iter()
        .find(|d| d["kind"] == "Certificate" && d["metadata"]["name"] == "rollgate-tls")
        .expect("the serving Certificate");
    // The Secret the Deployment mounts, for the name the apiserver calls.
    assert_eq!(cert["spec"]["secretName"], "rollgate-tls");
    let service = find(&example, "Service");
    let host = format!(
        "{}.{}.svc",
        service["metadata"]["name"].as_str().unwrap_or(""),
        service["metadata"]["namespace"].as_str().unwrap_or("")
    );
    assert_eq!(
        vwc["webhooks"][0]["clientConfig"]["service"]["name"],
        service["metadata"]["name"]
    );
    assert!(
        cert["spec"]["dnsNames"]
            .as_array()
            .is_some_and(|n| n.contains(&Value::from(host.clone()))),
        "{host}: {cert}"
    );
}

#[test]
fn kustomize_rendered_deploy_lints_clean() {
    let Some(docs) = kustomize(&Path::new(ROOT).join("examples/deploy-with-cert-manager")) else {
        return;
    };
    let text: String = docs
        .iter()
        .map(|d| format!("---\n{}\n", serde_json::to_string(d).expect("json")))
        .collect();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rollgate"))
        .args([
            "lint",
            "--no-config",
            "--show-info",
            "--fail-level",
            "info",
            "--format",
            "gcc",
            "-",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("rollgate runs");
    use std::io::Write as _;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("output");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
