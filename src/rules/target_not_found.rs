//! target-not-found: the objects a Flagger Canary or an Argo Rollout operates on must exist.
//!
//! Flagger looks up `spec.targetRef` and `spec.autoscalerRef` in the Canary's namespace and
//! stops before initializing when they are missing (`pkg/canary/deployment_controller.go`,
//! `pkg/canary/hpa_reconciler.go`). Argo Rollouts validates `spec.workloadRef` and the Services
//! named by the strategy before reconciling and marks the Rollout `InvalidSpec` otherwise
//! (`rollout/controller.go` `getRolloutReferencedResources`, `pkg/apis/rollouts/validation`).

use crate::engine::rule::finding;
use crate::engine::{Context, Finding, Object, Rule, RuleMeta, Severity};

use super::common::{Referent, absent, at, display, non_empty, str_in};

pub struct TargetNotFound;

static META: RuleMeta = RuleMeta {
    id: "target-not-found",
    severity: Severity::Error,
    kinds: &[("flagger.app", "Canary"), ("argoproj.io", "Rollout")],
    doc: include_str!("../../rules/target-not-found.md"),
    options: &[],
    builtin: false,
};

/// One reference: where it is, the kind it names (and the default when unset), what happens.
struct Ref {
    base: &'static str,
    /// Kind when the reference has no `kind` field (or a fixed kind for plain name fields).
    kind: &'static str,
    /// Whether `base` is an object `{apiVersion, kind, name}` or a plain name string.
    typed: bool,
    consequence: &'static str,
}

const CANARY: &[Ref] = &[
    Ref {
        base: "/spec/targetRef",
        kind: "Deployment",
        typed: true,
        consequence: "Flagger cannot initialize this Canary and never runs the analysis",
    },
    Ref {
        base: "/spec/autoscalerRef",
        kind: "HorizontalPodAutoscaler",
        typed: true,
        consequence: "Flagger cannot initialize this Canary (autoscaler not found)",
    },
];

const ROLLOUT: &[Ref] = &[
    Ref {
        base: "/spec/workloadRef",
        kind: "Deployment",
        typed: true,
        consequence: "the Rollout has no pod template and is marked InvalidSpec",
    },
    Ref {
        base: "/spec/strategy/canary/canaryService",
        kind: "Service",
        typed: false,
        consequence: "Argo Rollouts marks the Rollout InvalidSpec and does not roll out",
    },
    Ref {
        base: "/spec/strategy/canary/stableService",
        kind: "Service",
        typed: false,
        consequence: "Argo Rollouts marks the Rollout InvalidSpec and does not roll out",
    },
    Ref {
        base: "/spec/strategy/blueGreen/activeService",
        kind: "Service",
        typed: false,
        consequence: "Argo Rollouts marks the Rollout InvalidSpec and does not roll out",
    },
    Ref {
        base: "/spec/strategy/blueGreen/previewService",
        kind: "Service",
        typed: false,
        consequence: "Argo Rollouts marks the Rollout InvalidSpec and does not roll out",
    },
];

/// Workload kinds a target may be confused with.
const WORKLOADS: &[(&str, &str)] = &[
    ("apps", "Deployment"),
    ("apps", "DaemonSet"),
    ("apps", "StatefulSet"),
    ("argoproj.io", "Rollout"),
];

/// The API groups an object of `kind` may be looked up under, given the reference's apiVersion.
fn groups(api_version: Option<&str>, kind: &str) -> Vec<&'static str> {
    let apps = ["Deployment", "DaemonSet", "StatefulSet", "ReplicaSet"];
    let from_version = api_version.map(|v| v.rsplit_once('/').map_or("", |(g, _)| g));
    match (from_version, kind) {
        (_, k) if apps.contains(&k) => vec!["apps", "extensions"],
        (Some("serving.knative.dev"), "Service") => vec!["serving.knative.dev"],
        (_, "Service") => vec![""],
        (_, "HorizontalPodAutoscaler") => vec!["autoscaling"],
        (_, "ScaledObject") => vec!["keda.sh"],
        (_, "Rollout") => vec!["argoproj.io"],
        (_, "PodTemplate") => vec![""],
        _ => Vec::new(),
    }
}

impl Rule for TargetNotFound {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, object: &Object, cx: &Context<'_>, out: &mut Vec<Finding>) {
        let refs = if object.kind == "Canary" {
            CANARY
        } else {
            ROLLOUT
        };
        let ns = object.ns();
        for r in refs {
            let Some(reference) = at(object, r.base) else {
                continue;
            };
            let (name, kind, api_version) = if r.typed {
                (
                    str_in(reference, "name"),
                    str_in(reference, "kind").unwrap_or(r.kind),
                    str_in(reference, "apiVersion"),
                )
            } else {
                (non_empty(reference), r.kind, None)
            };
            let Some(name) = name else {
                continue;
            };
            let groups = groups(api_version, kind);
            if groups.is_empty() {
                continue; // a kind rollgate does not know to look up (a CRD target)
            }
            if groups
                .iter()
                .any(|g| !cx.world.get(g, kind, Some(ns), name).is_empty())
            {
                continue;
            }
            let what = format!(
                "{} {kind} \"{name}\"",
                super::common::field(r.base).trim_start_matches("spec.")
            );
            let referent = Referent {
                referrer: object,
                groups: &groups,
                kind,
                namespace: Some(ns),
                name,
            };
            let (severity, message, outside) = absent(
                cx,
                referent,
                &what,
                &format!("namespace \"{ns}\""),
                r.consequence,
            );
            let name_ptr = if r.typed {
                format!("{}/name", r.base)
            } else {
                r.base.to_owned()
            };
            let mut f = finding(&META, object, &name_ptr, message);
            f.severity = severity;
            f.outside = outside;
            if let Some(other) = groups
                .iter()
                .flat_map(|g| cx.world.get(g, kind, None, name))
                .next()
            {
                f = f
                    .with_help(format!(
                        "{} is in namespace \"{}\"; references are looked up in the {}'s own namespace",
                        display(other),
                        other.ns(),
                        object.kind
                    ))
                    .with_related(other, "/metadata/name", "an object with this name in another namespace");
            } else if let Some(other) = WORKLOADS
                .iter()
                .filter(|_| WORKLOADS.iter().any(|(_, k)| *k == kind))
                .filter(|(_, k)| *k != kind)
                .flat_map(|(g, k)| cx.world.get(g, k, Some(ns), name))
                .find(|o| !std::ptr::eq(*o, object))
            {
                f = f
                    .with_help(format!("{} exists: is the kind right?", display(other)))
                    .with_related(
                        other,
                        "/metadata/name",
                        "an object with this name and another kind",
                    );
            }
            out.push(f);
        }
    }
}
