//! threshold-not-on-bucket-boundary: a gate compares `histogram_quantile(φ, …)` with a threshold
//! that is not one of the histogram's finite bucket bounds, so the decision is made on a value
//! Prometheus interpolated linearly inside a bucket (`promql/quantile.go` `BucketQuantile`).

use crate::buckets::extract::{Threshold, extract, gates_for};
use crate::buckets::{
    self, ANNOTATION, Position, describe_threshold, fmt, how_to_declare, site_finding,
    source_phrase,
};
use crate::engine::{Context, Finding, Object, Rule, RuleMeta, Severity};
use crate::promql::push_unique;

pub struct ThresholdNotOnBucketBoundary;

static META: RuleMeta = RuleMeta {
    id: "threshold-not-on-bucket-boundary",
    severity: Severity::Error,
    kinds: crate::promql::gates::KINDS,
    doc: include_str!("../../rules/threshold-not-on-bucket-boundary.md"),
    options: &[],
    builtin: false,
};

pub fn meta() -> &'static RuleMeta {
    &META
}

/// Problems of the object's own bucket annotation.
fn annotation_problems(object: &Object, out: &mut Vec<Finding>) {
    let Some(text) = buckets::annotation(object) else {
        if object
            .annotations()
            .and_then(|a| a.get(ANNOTATION))
            .is_some()
        {
            out.push(Finding::new(
                META.id,
                Severity::Warning,
                object,
                annotation_pointer(),
                format!("annotation {ANNOTATION} must be a string like \"metric=0.1,0.5,1\"; it is ignored"),
            ));
        }
        return;
    };
    let (decls, problems) = buckets::parse_annotation(text);
    for p in problems {
        out.push(Finding::new(
            META.id,
            Severity::Warning,
            object,
            annotation_pointer(),
            format!("annotation {ANNOTATION}: {p}"),
        ));
    }
    for (name, raw) in decls {
        let (_, notes) = buckets::normalize(&raw);
        for n in notes.iter().filter(|n| n.contains("NaN")) {
            out.push(Finding::new(
                META.id,
                Severity::Warning,
                object,
                annotation_pointer(),
                format!("annotation {ANNOTATION}, {name}: {n}"),
            ));
        }
    }
}

fn annotation_pointer() -> String {
    let mut p = String::from("/metadata/annotations");
    crate::manifest::push_segment(&mut p, ANNOTATION);
    p
}

impl Rule for ThresholdNotOnBucketBoundary {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check<'a>(&self, object: &'a Object, cx: &Context<'a>, out: &mut Vec<Finding>) {
        let mut found = Vec::new();
        annotation_problems(object, &mut found);
        for (gate, own) in gates_for(object, cx) {
            let Some(gv) = extract(&gate, object, own) else {
                continue;
            };
            let checked: Vec<&Threshold<'_>> = gv
                .thresholds
                .iter()
                .filter(|t| t.bound_units > 0.0)
                .collect();
            if checked.is_empty() {
                continue;
            }
            let metric = &gv.quantile.metric;
            let layout = match buckets::lookup(metric, &gv.quantile.selector, &gate, cx) {
                Ok(l) => l,
                Err(notes) => {
                    for t in checked {
                        let mut f = site_finding(
                            &META,
                            Severity::Info,
                            &gate,
                            &t.site,
                            format!(
                                "the bucket layout of {metric} is unknown, so {} was not checked against its bucket bounds",
                                describe_threshold(t)
                            ),
                        );
                        let mut help = how_to_declare(metric);
                        for n in &notes {
                            help.push_str("; ");
                            help.push_str(n);
                        }
                        f = f.with_help(help);
                        push_unique(&mut found, f);
                    }
                    continue;
                }
            };
            for t in checked {
                let Some(Position::Inside { lower, upper }) =
                    buckets::position(&layout.bounds, t.bound_units)
                else {
                    continue;
                };
                let tb = t.bound_units;
                let message = format!(
                    "{} lies inside bucket ({}, {}] of {metric} ({}): histogram_quantile interpolates linearly inside that bucket, so the gate decides on an estimate that assumes observations spread evenly between {} and {}, and a small slow tail moves it far less than the true quantile",
                    describe_threshold(t),
                    fmt(lower),
                    fmt(upper),
                    source_phrase(&layout),
                    fmt(lower),
                    fmt(upper),
                );
                let lower_w = lower * gv.scale_for(t);
                let upper_w = upper * gv.scale_for(t);
                let mut help = format!(
                    "add {} to the histogram's buckets, or use {} or {} as the threshold",
                    fmt(tb),
                    buckets::fmt_plain(lower_w),
                    buckets::fmt_plain(upper_w)
                );
                if lower == 0.0 {
                    help = format!(
                        "add {} to the histogram's buckets, or use {} as the threshold",
                        fmt(tb),
                        buckets::fmt_plain(upper_w)
                    );
                }
                for n in &layout.notes {
                    help.push_str("; ");
                    help.push_str(n);
                }
                let f = site_finding(
                    &META,
                    buckets::severity(&META, &layout),
                    &gate,
                    &t.site,
                    message,
                )
                .with_help(help);
                push_unique(&mut found, f);
            }
        }
        out.extend(found);
    }
}
