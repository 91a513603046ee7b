//! argo-service-selector-mismatch: a Service a Rollout names must select the Rollout's pods.
//!
//! Argo Rollouts validates every Service the Rollout names (`stableService`, `canaryService`,
//! `pingPong`, `activeService`, `previewService`) before reconciling
//! (`pkg/apis/rollouts/validation/validation_references.go` `ValidateService`): each key of the
//! Service's selector, except `rollouts-pod-template-hash` (which the controller sets), must have
//! the same value in the pod template's labels, or in the `stableMetadata` / `canaryMetadata` /
//! `activeMetadata` / `previewMetadata` labels for that Service. Otherwise the Rollout is
//! `InvalidSpec` ("Service \"x\" has unmatch label \"k\" in rollout"). A Service already managed
//! by another Rollout (annotation `argo-rollouts.argoproj.io/managed-by-rollouts`) is rejected too.

use serde_json::{Map, Value};

use crate::engine::rule::finding;
use crate::engine::{Context, Finding, Object, Rule, RuleMeta, Severity};

use super::common::{Referent, absent, at, display, namespaces_phrase, referent};

pub struct ArgoServiceSelectorMismatch;

static META: RuleMeta = RuleMeta {
    id: "argo-service-selector-mismatch",
    severity: Severity::Error,
    kinds: &[("argoproj.io", "Rollout")],
    doc: include_str!("../../rules/argo-service-selector-mismatch.md"),
    options: &[],
    builtin: false,
};

/// `v1alpha1.DefaultRolloutUniqueLabelKey`.
const HASH_KEY: &str = "rollouts-pod-template-hash";
/// `pkg/apis/rollouts/v1alpha1/types.go` `ManagedByRolloutsKey`.
const MANAGED_BY: &str = "argo-rollouts.argoproj.io/managed-by-rollouts";

/// (pointer of the Service name, the metadata whose labels also count for it).
const SERVICE_FIELDS: &[(&str, Option<&str>)] = &[
    (
        "/spec/strategy/canary/stableService",
        Some("/spec/strategy/canary/stableMetadata/labels"),
    ),
    (
        "/spec/strategy/canary/canaryService",
        Some("/spec/strategy/canary/canaryMetadata/labels"),
    ),
    ("/spec/strategy/canary/pingPong/pingService", None),
    ("/spec/strategy/canary/pingPong/pongService", None),
    (
        "/spec/strategy/blueGreen/activeService",
        Some("/spec/strategy/blueGreen/activeMetadata/labels"),
    ),
    (
        "/spec/strategy/blueGreen/previewService",
        Some("/spec/strategy/blueGreen/previewMetadata/labels"),
    ),
];

/// The pod template labels of the Rollout: its own template, or the workload `workloadRef`
/// names (`None` when that workload is not in the world).
fn template_labels<'a>(
    rollout: &'a Object,
    cx: &Context<'a>,
) -> Option<Option<&'a Map<String, Value>>> {
    let Some(wr) = at(rollout, "/spec/workloadRef") else {
        return Some(at(rollout, "/spec/template/metadata/labels").and_then(Value::as_object));
    };
    let kind = wr.get("kind").and_then(Value::as_str)?;
    let name = wr.get("name").and_then(Value::as_str)?;
    let group = wr
        .get("apiVersion")
        .and_then(Value::as_str)
        .map_or("apps", |v| v.rsplit_once('/').map_or("", |(g, _)| g));
    let found = cx.world.get(group, kind, Some(rollout.ns()), name);
    let w = referent(cx, rollout, &found)?;
    Some(
        w.at("/spec/template/metadata/labels")
            .and_then(Value::as_object),
    )
}

impl Rule for ArgoServiceSelectorMismatch {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check<'a>(&self, object: &'a Object, cx: &Context<'a>, out: &mut Vec<Finding>) {
        let mut labels: Option<Option<Option<&Map<String, Value>>>> = None;
        let mut seen: Vec<&str> = Vec::new();
        for (ptr, meta_ptr) in SERVICE_FIELDS {
            let Some(name) = at(object, ptr)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
            else {
                continue;
            };
            if seen.contains(&name) {
                continue;
            }
            seen.push(name);
            let ns = object.ns();
            let services = cx.world.get("", "Service", Some(ns), name);
            if !services.is_empty() && referent(cx, object, &services).is_none() {
                continue;
            }
            let Some(svc) = referent(cx, object, &services) else {
                // A Service outside the input may exist: only a complete world says it is missing
                // (the controller then fails with "service not found").
                if cx.world.complete() {
                    let referent = Referent {
                        referrer: object,
                        groups: &[""],
                        kind: "Service",
                        namespace: Some(ns),
                        name,
                    };
                    let (severity, message, _) = absent(
                        cx,
                        referent,
                        &format!("Service \"{name}\""),
                        &namespaces_phrase(&[ns]),
                        "Argo Rollouts marks the Rollout InvalidSpec and does not roll out",
                    );
                    let mut f = finding(&META, object, *ptr, message);
                    f.severity = severity;
                    out.push(f);
                }
                continue;
            };
            let pod_labels = *labels.get_or_insert_with(|| template_labels(object, cx));
            let Some(pod_labels) = pod_labels else {
                continue;
            };
            let extra = meta_ptr
                .and_then(|p| at(object, p))
                .and_then(Value::as_object);
            let selector = at(svc, "/spec/selector").and_then(Value::as_object);
            let mut unmatched: Vec<String> = Vec::new();
            for (k, v) in selector.into_iter().flatten() {
                if k == HASH_KEY {
                    continue;
                }
                let templated = |m: Option<&Map<String, Value>>| {
                    m.and_then(|m| m.get(k))
                        .and_then(Value::as_str)
                        .is_some_and(|s| s.contains("{{"))
                };
                if templated(pod_labels) || v.as_str().is_some_and(|s| s.contains("{{")) {
                    continue;
                }
                let has = |m: Option<&Map<String, Value>>| m.and_then(|m| m.get(k)) == Some(v);
                if !has(pod_labels) && !has(extra) {
                    let actual = pod_labels
                        .and_then(|m| m.get(k))
                        .map_or("no such label".to_owned(), |a| {
                            format!("the pods have {k}={a}")
                        });
                    unmatched.push(format!("{k}={v} ({actual})"));
                }
            }
            if !unmatched.is_empty() {
                let first_key = unmatched[0].split('=').next().unwrap_or("").to_owned();
                let role = ptr.rsplit('/').next().unwrap_or("");
                out.push(
                    finding(
                        &META,
                        object,
                        *ptr,
                        format!(
                            "{role} {} selects {}, which the Rollout's pod template does not carry: Argo Rollouts rejects the spec (\"Service \\\"{name}\\\" has unmatch label \\\"{first_key}\\\" in rollout\"), marks the Rollout InvalidSpec and does not roll out",
                            display(svc),
                            unmatched.join(", ")
                        ),
                    )
                    .with_help("make the Service selector a subset of the pod template labels (Argo adds rollouts-pod-template-hash itself)")
                    .with_related(svc, "/spec/selector", "the Service's selector"),
                );
            }
            if let Some(owner) = svc
                .annotations()
                .and_then(|a| a.get(MANAGED_BY))
                .and_then(Value::as_str)
                .filter(|o| !o.is_empty() && *o != object.name)
            {
                out.push(
                    finding(
                        &META,
                        object,
                        *ptr,
                        format!(
                            "{} is already managed by Rollout \"{owner}\" (annotation {MANAGED_BY}): Argo Rollouts marks this Rollout InvalidSpec",
                            display(svc)
                        ),
                    )
                    .with_related(svc, "/metadata/annotations", "the managing Rollout"),
                );
            }
        }
    }
}
