//! flagger-builtin-name-collision: a custom metric named like a builtin also runs the builtin.
//!
//! `runBuiltinMetricChecks` (`pkg/controller/scheduler_metrics.go`) runs the mesh provider's
//! builtin query for every metric *named* `request-success-rate` or `request-duration`, before
//! and independently of `runMetricChecks`, which runs the metric's `templateRef`/`query`. The
//! metric's thresholds are applied to both values.

use serde_json::Value;

use crate::engine::rule::finding;
use crate::engine::{Context, Edit, Finding, Fix, Object, Rule, RuleMeta, Severity};
use crate::timeline::flagger::analysis;

pub struct FlaggerBuiltinNameCollision;

static META: RuleMeta = RuleMeta {
    id: "flagger-builtin-name-collision",
    severity: Severity::Warning,
    kinds: &[("flagger.app", "Canary")],
    doc: include_str!("../../rules/flagger-builtin-name-collision.md"),
    options: &[],
    builtin: false,
};

impl Rule for FlaggerBuiltinNameCollision {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, object: &Object, _cx: &Context<'_>, out: &mut Vec<Finding>) {
        let Some((base, a)) = analysis(object) else {
            return;
        };
        let Some(ms) = a.get("metrics").and_then(Value::as_array) else {
            return;
        };
        for (i, m) in ms.iter().enumerate() {
            let Some(name @ ("request-success-rate" | "request-duration")) =
                m.get("name").and_then(Value::as_str)
            else {
                continue;
            };
            let how = if m.get("templateRef").is_some_and(Value::is_object) {
                "a templateRef"
            } else if m
                .get("query")
                .and_then(Value::as_str)
                .is_some_and(|q| !q.trim().is_empty())
            {
                "an inline query"
            } else {
                continue;
            };
            out.push(
                finding(
                    &META,
                    object,
                    format!("{base}/metrics/{i}/name"),
                    format!(
                        "metric \"{name}\" has {how} but the name of a builtin metric: Flagger runs the builtin {name} query as well, with the same thresholds, and either can fail the check"
                    ),
                )
                .with_help("rename the custom metric, e.g. \"custom-success-rate\"")
                .with_fix(rename_fix(base, ms, i, name)),
            );
        }
    }
}

/// Rename the custom metric to a name no other metric of the analysis has. Unsafe: the builtin
/// check stops running (which is the point) and alerts or dashboards keyed on the name change.
fn rename_fix(base: &str, metrics: &[Value], i: usize, name: &str) -> Fix {
    let stem = match name {
        "request-success-rate" => "custom-success-rate",
        _ => "custom-request-duration",
    };
    let taken = |n: &str| {
        metrics
            .iter()
            .any(|m| m.get("name").and_then(Value::as_str) == Some(n))
    };
    let new = std::iter::once(stem.to_owned())
        .chain((2..).map(|k| format!("{stem}-{k}")))
        .find(|n| !taken(n))
        .unwrap_or_else(|| stem.to_owned());
    Fix::unsafe_edits(
        format!("rename the metric to \"{new}\""),
        vec![Edit::set(format!("{base}/metrics/{i}/name"), new)],
    )
}
