//! deploy/ stays in step with the code: the RBAC grants exactly what the cluster cache watches,
//! and the ValidatingWebhookConfiguration sends every rollout-configuration kind a rule checks.

use std::collections::BTreeSet;

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
        .find(|d| d["kind"] == "ClusterRole")
        .expect("a ClusterRole");
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
