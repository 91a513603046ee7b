//! threshold-unreachable: a gate whose threshold the quantile can never cross. When the rank
//! falls in `+Inf`, `histogram_quantile` returns the highest finite bound
//! (`promql/quantile.go` `BucketQuantile`), so the value never exceeds it: Flagger's
//! `val > max` (inclusive ranges, `pkg/controller/scheduler_metrics.go`) with `max` at or above
//! that bound never fails; nor does Argo's `result[0] <= T` with `T` at or above it. Also
//! thresholds that are not finite numbers, and negative maxima (every check fails).

use crate::buckets::extract::{BadKind, Decision, Site, Threshold, can_fail, extract, gates_for};
use crate::buckets::{self, describe_threshold, fmt, fmt_plain, site_finding, source_phrase};
use crate::engine::{Context, Finding, Object, Rule, RuleMeta, Severity};
use crate::promql::push_unique;

pub struct ThresholdUnreachable;

static META: RuleMeta = RuleMeta {
    id: "threshold-unreachable",
    severity: Severity::Error,
    kinds: crate::promql::gates::KINDS,
    doc: include_str!("../../rules/threshold-unreachable.md"),
    options: &[],
    builtin: false,
};

pub fn meta() -> &'static RuleMeta {
    &META
}

impl Rule for ThresholdUnreachable {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check<'a>(&self, object: &'a Object, cx: &Context<'a>, out: &mut Vec<Finding>) {
        let mut found = Vec::new();
        for (gate, own) in gates_for(object, cx) {
            let Some(gv) = extract(&gate, object, own) else {
                continue;
            };
            for b in gv.bad.iter().filter(|b| b.kind == BadKind::NotFinite) {
                let f = site_finding(
                    &META,
                    META.severity,
                    &gate,
                    &b.site,
                    format!(
                        "{} {} is not a finite number: Kubernetes clients cannot encode it as JSON and refuse the object, and were it stored, no comparison with it would ever be true, so the check could never fail on it",
                        b.label, b.text
                    ),
                )
                .with_help("write a finite number, in the histogram's units");
                push_unique(&mut found, f);
            }
            let metric = &gv.quantile.metric;
            let needs_layout = !gv.bad.is_empty() || !matches!(gv.decision, Decision::Unknown);
            if !needs_layout {
                continue;
            }
            let Ok(layout) = buckets::lookup(metric, &gv.quantile.selector, &gate, cx) else {
                continue;
            };
            let Some(top) = layout.top() else { continue };
            if layout.bounds.first().is_some_and(|b| *b > 0.0) {
                for b in gv.bad.iter().filter(|b| b.kind == BadKind::Negative) {
                    let f = site_finding(
                        &META,
                        META.severity,
                        &gate,
                        &b.site,
                        format!(
                            "{} {} is negative: histogram_quantile of {metric} is never below 0 (its first bucket starts at 0), so Flagger's `val > {}` holds at every check and every check fails",
                            b.label, b.text, b.text
                        ),
                    )
                    .with_help("thresholds are in the histogram's units and must be at least 0");
                    push_unique(&mut found, f);
                }
            }
            if can_fail(&gv, top) != Some(false) {
                continue;
            }
            // The threshold to blame: the one at or above the top bound.
            let blame: Option<&Threshold<'_>> = gv
                .thresholds
                .iter()
                .filter(|t| !matches!(t.site, Site::Query(_)))
                .find(|t| t.bound_units >= top || buckets::same(t.bound_units, top))
                .or_else(|| {
                    gv.thresholds
                        .iter()
                        .find(|t| !matches!(t.site, Site::Query(_)))
                });
            let Some(t) = blame else { continue };
            let top_w = top * gv.scale_for(t);
            let why = match &gv.decision {
                Decision::Flagger { truncate_ms, .. } => {
                    let trunc = if *truncate_ms {
                        " (Flagger compares whole milliseconds)"
                    } else {
                        ""
                    };
                    format!(
                        "when the quantile lands in the +Inf bucket histogram_quantile returns that bound, so the value is never above {}, and Flagger fails a check only when the value is greater than max{trunc}: this gate can never fail",
                        fmt_plain(top_w)
                    )
                }
                _ => format!(
                    "when the quantile lands in the +Inf bucket histogram_quantile returns that bound, so the value is never above {}, and for every value up to it the conditions pass: this gate can never fail",
                    fmt_plain(top_w)
                ),
            };
            let message = format!(
                "{} is at or above the highest finite bucket bound {} of {metric} ({}): {why}",
                describe_threshold(t),
                fmt(top),
                source_phrase(&layout),
            );
            let f = site_finding(&META, buckets::severity(&META, &layout), &gate, &t.site, message).with_help(format!(
                "use a threshold below {} (ideally one of the bucket bounds), or add larger buckets to the histogram",
                fmt_plain(top_w)
            ));
            push_unique(&mut found, f);
        }
        out.extend(found);
    }
}
