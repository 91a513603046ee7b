//! unit-mismatch: a threshold in the wrong unit for what the gate measures.
//! - Flagger builtin `request-duration` is in milliseconds, truncated to whole ms
//!   (`pkg/controller/scheduler_metrics.go`: `time.Duration(*max) * time.Millisecond`), so
//!   `max < 1` becomes 0 ms and every check with any latency fails.
//! - Flagger builtin `request-success-rate` is a percentage 0–100: `min ≤ 1` reads a ratio as
//!   a percentage and passes nearly every canary.
//! - A `*_seconds` histogram compared with 60 or more (in its units), or a `*_milliseconds` /
//!   `*_ms` one with less than 1.

use serde_json::Value;

use crate::buckets::extract::Site as FixSite;
use crate::buckets::extract::{Site, extract, gates_for};
use crate::buckets::{describe_threshold, fmt_plain, site_finding};
use crate::engine::{Applicability, Context, Edit, Finding, Fix, Object, Rule, RuleMeta, Severity};
use crate::promql::QueryFix;
use crate::promql::builtin::Unit;
use crate::promql::gates::Gate;
use crate::promql::gates::{GateKind, Thresholds};
use crate::promql::push_unique;

pub struct UnitMismatch;

static META: RuleMeta = RuleMeta {
    id: "unit-mismatch",
    severity: Severity::Warning,
    kinds: crate::promql::gates::KINDS,
    doc: include_str!("../../rules/unit-mismatch.md"),
    options: &[],
    builtin: false,
};

pub fn meta() -> &'static RuleMeta {
    &META
}

impl Rule for UnitMismatch {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check<'a>(&self, object: &'a Object, cx: &Context<'a>, out: &mut Vec<Finding>) {
        let mut found = Vec::new();
        for (gate, own) in gates_for(object, cx) {
            // Builtins: their units are fixed by Flagger.
            if let (
                GateKind::FlaggerBuiltin(b),
                Thresholds::Flagger {
                    min,
                    max,
                    threshold,
                },
            ) = (&gate.kind, &gate.thresholds)
            {
                if std::ptr::eq(gate.metric.object, object) {
                    let ranged = min.is_some() || max.is_some();
                    let fields: [(&str, &Option<Value>); 3] = [
                        ("/thresholdRange/max", max),
                        ("/thresholdRange/min", min),
                        ("/threshold", if ranged { &None } else { threshold }),
                    ];
                    for (ptr, v) in fields {
                        let Some(t) = v.as_ref().and_then(Value::as_f64) else {
                            continue;
                        };
                        let label = ptr.trim_start_matches('/').replace('/', ".");
                        let site = Site::Field {
                            object,
                            pointer: format!("{}{ptr}", gate.metric.pointer),
                            range: None,
                            context: None,
                        };
                        let factor = match b.unit {
                            Unit::Milliseconds => 1000.0,
                            _ => 100.0,
                        };
                        let msg = match b.unit {
                            Unit::Milliseconds if t > 0.0 && t < 1.0 => Some((
                                format!(
                                    "{label} {} of the builtin request-duration is read as milliseconds and truncated to whole milliseconds: it becomes 0 ms, so {}",
                                    fmt_plain(t),
                                    if ptr.ends_with("min") {
                                        "the lower limit does nothing"
                                    } else {
                                        "any request latency above 0 ms fails the check"
                                    }
                                ),
                                format!(
                                    "request-duration is in milliseconds: for {} s write {}",
                                    fmt_plain(t),
                                    fmt_plain(t * 1000.0)
                                ),
                            )),
                            Unit::Percent if ptr.ends_with("min") && t > 0.0 && t <= 1.0 => Some((
                                format!(
                                    "{label} {} of the builtin request-success-rate is a percentage (0–100): it lets a canary through with only {}% successful requests",
                                    fmt_plain(t),
                                    fmt_plain(t)
                                ),
                                format!(
                                    "request-success-rate is a percentage: for a ratio of {} write {}",
                                    fmt_plain(t),
                                    fmt_plain(t * 100.0)
                                ),
                            )),
                            _ => None,
                        };
                        if let Some((m, h)) = msg {
                            let mut f =
                                site_finding(&META, META.severity, &gate, &site, m).with_help(h);
                            if let Some(x) = unit_fix(&gate, &site, t * factor) {
                                f = f.with_fix(x);
                            }
                            push_unique(&mut found, f);
                        }
                    }
                }
                continue;
            }
            let Some(gv) = extract(&gate, object, own) else {
                continue;
            };
            let metric = &gv.quantile.metric;
            let seconds = metric.ends_with("_seconds");
            let millis = metric.ends_with("_milliseconds") || metric.ends_with("_ms");
            for t in &gv.thresholds {
                let tb = t.bound_units;
                let scaled = if seconds {
                    t.written / 1000.0
                } else {
                    t.written * 1000.0
                };
                let msg = if seconds && tb >= 60.0 {
                    Some((
                        format!(
                            "{} compares {metric}, which is in seconds, with {} s ({} minutes): the threshold was probably meant in milliseconds",
                            describe_threshold(t),
                            fmt_plain(tb),
                            fmt_plain((tb / 60.0 * 100.0).round() / 100.0)
                        ),
                        format!(
                            "for {} ms write {} (or scale the query with `* 1000`)",
                            fmt_plain(tb),
                            fmt_plain(t.written / 1000.0)
                        ),
                    ))
                } else if millis && tb > 0.0 && tb < 1.0 {
                    Some((
                        format!(
                            "{} compares {metric}, which is in milliseconds, with {} ms: the threshold was probably meant in seconds",
                            describe_threshold(t),
                            fmt_plain(tb)
                        ),
                        format!(
                            "for {} s write {}",
                            fmt_plain(tb),
                            fmt_plain(t.written * 1000.0)
                        ),
                    ))
                } else {
                    None
                };
                if let Some((m, h)) = msg {
                    let mut f = site_finding(&META, META.severity, &gate, &t.site, m).with_help(h);
                    if let Some(x) = unit_fix(&gate, &t.site, scaled) {
                        f = f.with_fix(x);
                    }
                    push_unique(&mut found, f);
                }
            }
        }
        let _ = cx;
        out.extend(found);
    }
}

/// Write the threshold in the unit its comparison uses. The factor is certain (the unit of the
/// builtin metric, or the metric name's `_seconds`/`_milliseconds`); that the threshold was
/// meant in the other unit is the finding's reading: unsafe.
fn unit_fix(gate: &Gate<'_>, site: &FixSite<'_>, new: f64) -> Option<Fix> {
    // Ten significant digits: 0.3 × 1000 is 300, not 300.00000000000006.
    let new = format!("{new:.10e}").parse::<f64>().ok()?;
    if !new.is_finite() {
        return None;
    }
    let text = fmt_plain(new);
    let message = format!("write {text}");
    match site {
        FixSite::Field {
            pointer,
            range: None,
            ..
        } => {
            let value = if new.fract() == 0.0 && new.abs() < 1e15 {
                Value::from(new as i64)
            } else {
                Value::from(new)
            };
            Some(Fix::unsafe_edits(
                message,
                vec![Edit::set(pointer.clone(), value)],
            ))
        }
        FixSite::Field {
            pointer,
            range: Some(r),
            ..
        } => Some(Fix::unsafe_edits(
            message,
            vec![Edit::in_scalar(pointer.clone(), r.clone(), text)],
        )),
        FixSite::Query(span) => gate.fix(&QueryFix {
            message,
            applicability: Applicability::Unsafe,
            edits: vec![(span.clone(), text)],
        }),
    }
}
