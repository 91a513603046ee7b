//! argo-setweight-unachievable: without `trafficRouting`, `setWeight` is a share of pods, and
//! the replica count cannot express the weight.
//!
//! Argo then scales the canary and stable ReplicaSets to the counts of
//! `approximateWeightedCanaryStableReplicaCounts` (`utils/replicaset/canary.go`): the closest of
//! ceil/floor of `replicas × weight / 100` over `replicas` (or `replicas + 1` with surge), never
//! 0 for a weight of 1–99 unless a single replica has no surge. With 1 replica any weight of 1–99
//! becomes 1 canary + 1 stable pod: 50% of the traffic.

use serde_json::Value;

use crate::engine::rule::finding;
use crate::engine::{Context, Finding, Object, Rule, RuleMeta, Severity};
use crate::timeline::argo::{approximate, scaled};

pub struct ArgoSetweightUnachievable;

static META: RuleMeta = RuleMeta {
    id: "argo-setweight-unachievable",
    severity: Severity::Warning,
    kinds: &[("argoproj.io", "Rollout")],
    doc: include_str!("../../rules/argo-setweight-unachievable.md"),
    options: &[],
    builtin: false,
};

/// How far (percentage points) the pod share may be from the weight before it is reported.
const TOLERANCE: f64 = 5.0;

/// Whether a pod share is a larger exposure than the weight asked for, and not a rounding: at
/// least 1.5 times the weight and 10 points above it (1 replica: `setWeight: 10` gives 50%).
/// Smaller gaps (3 replicas: `setWeight: 20` gives 25%) are what pod-share canaries always do
/// and nobody acts on them (docs/precision.md: 15 such warnings outside test fixtures on 25
/// repositories, none worth a change); they are infos that say so.
fn over_exposed(share: f64, weight: f64) -> bool {
    share >= weight * 1.5 && share - weight >= 10.0
}

fn pct(x: f64) -> String {
    let s = format!("{x:.1}");
    format!("{}%", s.strip_suffix(".0").unwrap_or(&s))
}

impl Rule for ArgoSetweightUnachievable {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, object: &Object, cx: &Context<'_>, out: &mut Vec<Finding>) {
        let Some(canary) = object.at("/spec/strategy/canary") else {
            return;
        };
        if canary.get("trafficRouting").is_some_and(|v| !v.is_null()) {
            return;
        }
        let Some(steps) = canary.get("steps").and_then(Value::as_array) else {
            return;
        };
        let (replicas, implicit) = match object.at("/spec/replicas") {
            Some(Value::Number(n)) => match n.as_i64() {
                Some(r) => (r, false),
                None => return,
            },
            None | Some(Value::Null) => {
                // An autoscaler sets the count; the default of 1 only holds without one.
                let scaled_by_hpa = cx
                    .world
                    .list("autoscaling", "HorizontalPodAutoscaler", Some(object.ns()))
                    .iter()
                    .any(|h| {
                        h.at("/spec/scaleTargetRef/name").and_then(Value::as_str)
                            == Some(object.name.as_str())
                    });
                if scaled_by_hpa {
                    return;
                }
                (1, true)
            }
            _ => return,
        };
        let Some(surge) = scaled(canary.get("maxSurge"), replicas, 25, true) else {
            return;
        };
        for (i, s) in steps.iter().enumerate() {
            if s.get("setCanaryScale").is_some() {
                // Explicit scaling from here on: not the approximation.
                return;
            }
            let Some(w) = s.get("setWeight").and_then(Value::as_i64) else {
                continue;
            };
            if !(0..=100).contains(&w) {
                continue;
            }
            let (c, st) = approximate(replicas, w, surge);
            if c + st == 0 {
                continue;
            }
            let share = c as f64 * 100.0 / (c + st) as f64;
            if (share - w as f64).abs() < TOLERANCE {
                continue;
            }
            let larger = over_exposed(share, w as f64);
            let replicas_text = if implicit {
                "spec.replicas is unset (default 1)".to_owned()
            } else {
                format!("spec.replicas is {replicas}")
            };
            out.push(
                finding(
                    &META,
                    object,
                    format!("/spec/strategy/canary/steps/{i}/setWeight"),
                    format!(
                        "setWeight {w} cannot be met with replica counts: with no trafficRouting the weight is the share of pods, {replicas_text} (maxSurge {surge}), so Argo runs {c} canary + {st} stable pods and the canary gets about {} of the traffic{}",
                        pct(share),
                        if larger {
                            ""
                        } else {
                            " (a rounding of the weight, not a larger exposure)"
                        }
                    ),
                )
                .with_severity(if larger {
                    META.severity
                } else {
                    Severity::Info
                })
                .with_help("configure trafficRouting (e.g. Istio, SMI, an ingress) for exact weights, or raise spec.replicas so the weight is a whole number of pods"),
            );
        }
    }
}
