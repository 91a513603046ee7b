//! argo-pause-zero: `pause: {duration: 0}` does not pause.
//!
//! A pause with a duration completes once `now` is after the pause condition's start time plus
//! the duration (`rollout/pause.go` `CompletedCanaryPauseStep`); with 0 that is true at the next
//! reconcile, so the rollout moves on at once. Only `pause: {}` (no duration) waits for a manual
//! promotion.

use serde_json::Value;

use crate::engine::inventory::ValueAt as _;
use crate::engine::rule::finding;
use crate::engine::{Context, Edit, Finding, Fix, Object, Rule, RuleMeta, Severity};
use crate::timeline::duration::{parse_argo, templated};

pub struct ArgoPauseZero;

static META: RuleMeta = RuleMeta {
    id: "argo-pause-zero",
    severity: Severity::Warning,
    kinds: &[("argoproj.io", "Rollout")],
    doc: include_str!("../../rules/argo-pause-zero.md"),
    options: &[],
    builtin: false,
};

impl Rule for ArgoPauseZero {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, object: &Object, _cx: &Context<'_>, out: &mut Vec<Finding>) {
        let Some(steps) = object
            .at("/spec/strategy/canary/steps")
            .and_then(Value::as_array)
        else {
            return;
        };
        for (i, s) in steps.iter().enumerate() {
            let Some(d) = s.at("/pause/duration") else {
                continue;
            };
            if templated(d) || d.is_null() {
                continue;
            }
            if parse_argo(d) == Some(0.0) {
                out.push(
                    finding(
                        &META,
                        object,
                        format!("/spec/strategy/canary/steps/{i}/pause/duration"),
                        format!(
                            "pause duration {d} is no pause: the rollout moves on to the next step immediately"
                        ),
                    )
                    .with_help("write `pause: {}` to wait for a manual promotion, or give a duration such as `5m`")
                    // Unsafe: the rollout then waits for a promotion instead of moving on.
                    .with_fix(Fix::unsafe_edits(
                        "write `pause: {}` (wait for a manual promotion)",
                        vec![Edit::set(
                            format!("/spec/strategy/canary/steps/{i}/pause"),
                            Value::Object(Default::default()),
                        )],
                    )),
                );
            }
        }
    }
}
