//! Gate extraction: the `histogram_quantile` a gate compares, and every threshold it is
//! compared with.
//!
//! - The query's value must reduce to `histogram_quantile(φ, …x_bucket…)`, possibly scaled by
//!   constants (`* 1000`), wrapped in parentheses, `max`/`min`/`sum`/`avg` over it,
//!   `scalar(…)`, `… or vector(0)`, or compared in the query (`… > 0.5`, `… > bool 0.5`).
//!   Anything else: not analysed.
//! - Flagger (`pkg/controller/scheduler_metrics.go`): a check fails when `val > max` or
//!   `val < min` (inclusive ranges); without `thresholdRange`, the deprecated `threshold` fails
//!   when `val > threshold`. Builtin `request-duration` compares whole milliseconds: the
//!   query's value is truncated (`time.Duration(int64(v))`; the kubernetes/gateway-api
//!   observer multiplies seconds by 1000 first, `pkg/metrics/observers/http.go`), and so is
//!   the threshold (`time.Duration(*max) * time.Millisecond`).
//! - Argo (`utils/evaluate/evaluate.go` `EvaluateResult`): with only `successCondition` a
//!   measurement fails when it is false; with only `failureCondition` when it is true; with
//!   both, when the failure condition is true (neither → Inconclusive).

use std::borrow::Cow;
use std::ops::Range;

use promql_parser::parser::Expr;
use serde_json::Value;

use super::condition::{self, Cond};
use crate::engine::inventory::ValueAt as _;
use crate::engine::{Context, Object};
use crate::promql::builtin::{Builtin, Unit};
use crate::promql::gates::{Gate, GateKind, Thresholds};
use crate::promql::lex::Op;
use crate::promql::query::{aggregate_name, binary_op, contains};

/// The histogram quantile a gate's value is made of.
#[derive(Debug, Clone)]
pub struct Quantile {
    /// The histogram's base name (the selector's name without `_bucket`).
    pub metric: String,
    /// A selector for live discovery: the name and the exact `=` matchers.
    pub selector: String,
    /// The query's value = quantile × scale.
    pub scale: f64,
    /// The `histogram_quantile(…)` call in the parsed text.
    pub span: Range<usize>,
    /// Comparisons inside the query.
    pub in_query: Vec<InQuery>,
    /// A `bool` comparison turned the value into 0/1: outer thresholds are not about buckets.
    pub bool_result: bool,
}

/// A comparison with a constant inside the query (`histogram_quantile(…) > 0.5`).
#[derive(Debug, Clone)]
pub struct InQuery {
    pub op: Op,
    pub literal: f64,
    /// The constant in the histogram's units.
    pub bound_units: f64,
    /// The literal in the parsed text.
    pub span: Range<usize>,
    pub return_bool: bool,
}

/// Where a threshold is written.
#[derive(Debug, Clone)]
pub enum Site<'w> {
    /// A field of an object (with the literal's range inside a condition string).
    Field {
        object: &'w Object,
        pointer: String,
        range: Option<Range<usize>>,
        /// Words prefixed to messages when the field is not on the reported object.
        context: Option<String>,
    },
    /// A literal inside the query (a range of the parsed text).
    Query(Range<usize>),
}

/// A threshold compared with the quantile.
#[derive(Debug, Clone)]
pub struct Threshold<'w> {
    /// As written.
    pub written: f64,
    /// In the histogram's units (written ÷ every scale between the quantile and the comparison).
    pub bound_units: f64,
    /// What it is, for messages: `thresholdRange.max`, `successCondition`, `the comparison`.
    pub label: String,
    pub site: Site<'w>,
    /// Flagger `max`/`threshold`: the check fails when the value is above it.
    pub fails_above: bool,
    /// Flagger `min`: the check fails when the value is below it.
    pub fails_below: bool,
}

/// How the gate decides, for reachability.
#[derive(Debug, Clone)]
pub enum Decision {
    Flagger {
        min: Option<f64>,
        max: Option<f64>,
        /// Builtin request-duration: values and thresholds truncated to whole milliseconds.
        truncate_ms: bool,
    },
    Argo {
        success: Option<Cond>,
        failure: Option<Cond>,
        /// What `result` is (a scalar, or a vector of one series).
        shape: condition::Shape,
    },
    /// Not analysed.
    Unknown,
}

/// A threshold that is not a usable number.
#[derive(Debug, Clone)]
pub struct BadThreshold<'w> {
    pub label: String,
    pub site: Site<'w>,
    pub text: String,
    pub kind: BadKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadKind {
    /// `.nan`, `.inf`, `1e309`: not finite.
    NotFinite,
    /// Negative `max`/`threshold` on a quantile of non-negative bounds.
    Negative,
}

/// One gate's quantile and thresholds.
#[derive(Debug, Clone)]
pub struct GateValue<'w> {
    pub quantile: Quantile,
    /// Compared value = quantile × `scale` (the query's constants and the controller's own).
    pub scale: f64,
    pub thresholds: Vec<Threshold<'w>>,
    pub decision: Decision,
    pub bad: Vec<BadThreshold<'w>>,
    pub builtin: Option<Builtin>,
}

impl GateValue<'_> {
    /// Written units per histogram unit for a threshold (the scales between them).
    pub fn scale_for(&self, t: &Threshold<'_>) -> f64 {
        if t.bound_units != 0.0 && t.bound_units.is_finite() {
            t.written / t.bound_units
        } else {
            1.0
        }
    }
}

/// The gates whose threshold findings belong on `o`, with whether `o` owns the query (then
/// in-query thresholds are reported too). A Canary also gets the gates of the MetricTemplates
/// it references in the input, for the thresholds it writes.
pub fn gates_for<'s, 'w>(o: &'w Object, cx: &'s Context<'w>) -> Vec<(Cow<'s, Gate<'w>>, bool)> {
    let world = cx.world;
    // The object's own gates are the ones the context already holds: borrowed, not copied.
    let mut out: Vec<(Cow<'s, Gate<'w>>, bool)> = match cx.gates(o) {
        Cow::Borrowed(gates) => gates.iter().map(|g| (Cow::Borrowed(g), true)).collect(),
        Cow::Owned(gates) => gates.into_iter().map(|g| (Cow::Owned(g), true)).collect(),
    };
    if o.group == "flagger.app" && o.kind == "Canary" {
        let mut seen: Vec<&Object> = Vec::new();
        for base in ["/spec/analysis/metrics", "/spec/canaryAnalysis/metrics"] {
            let Some(ms) = o.at(base).and_then(Value::as_array) else {
                continue;
            };
            for m in ms {
                let Some(name) = m.at("/templateRef/name").and_then(Value::as_str) else {
                    continue;
                };
                let ns = m
                    .at("/templateRef/namespace")
                    .and_then(Value::as_str)
                    .filter(|n| !n.is_empty())
                    .unwrap_or(o.ns());
                for t in world.get("flagger.app", "MetricTemplate", Some(ns), name) {
                    if seen.iter().any(|s| std::ptr::eq(*s, t)) {
                        continue;
                    }
                    seen.push(t);
                    // Rendered once per run for every Canary that references the template.
                    for g in cx.template_gates(t) {
                        if std::ptr::eq(g.metric.object, o) && !std::ptr::eq(g.report.object, o) {
                            out.push((Cow::Borrowed(g), false));
                        }
                    }
                }
            }
        }
    }
    out
}

fn literal(e: &Expr) -> Option<f64> {
    match e {
        Expr::NumberLiteral(n) => Some(n.val),
        Expr::Paren(p) => literal(&p.expr),
        Expr::Unary(u) => literal(&u.expr).map(|v| -v),
        _ => None,
    }
}

fn is_comparison(op: Op) -> bool {
    matches!(
        op,
        Op::Gtr | Op::Lss | Op::Gte | Op::Lte | Op::EqlC | Op::Neq
    )
}

/// Reduce the query's value to a quantile: (the call, scale, in-query comparisons).
fn reduce<'q>(
    e: &'q Expr,
    depth: usize,
    comparisons: &mut Vec<(Op, f64, &'q Expr, bool, f64)>,
) -> Option<(&'q Expr, f64, bool)> {
    if depth > 32 {
        return None;
    }
    match e {
        Expr::Paren(p) => reduce(&p.expr, depth + 1, comparisons),
        Expr::Call(c) if c.func.name == "histogram_quantile" => Some((e, 1.0, false)),
        Expr::Call(c) if c.func.name == "scalar" => {
            reduce(c.args.args.first()?, depth + 1, comparisons)
        }
        Expr::Aggregate(a) if a.param.is_none() => match aggregate_name(a) {
            "max" | "min" | "sum" | "avg" => reduce(&a.expr, depth + 1, comparisons),
            _ => None,
        },
        Expr::Binary(b) => {
            let op = binary_op(b)?;
            match op {
                Op::Mul | Op::Div => {
                    let (inner, k, lit_left) = match (literal(&b.lhs), literal(&b.rhs)) {
                        (None, Some(k)) => (&*b.lhs, k, false),
                        (Some(k), None) if op == Op::Mul => (&*b.rhs, k, true),
                        _ => return None,
                    };
                    let _ = lit_left;
                    let (hq, s, boolean) = reduce(inner, depth + 1, comparisons)?;
                    if boolean || k == 0.0 || !k.is_finite() {
                        return None;
                    }
                    let s = if op == Op::Mul { s * k } else { s / k };
                    Some((hq, s, false))
                }
                Op::Or => reduce(&b.lhs, depth + 1, comparisons),
                op if is_comparison(op) => {
                    let (inner, lit, lit_expr, flipped) = match (literal(&b.lhs), literal(&b.rhs)) {
                        (None, Some(k)) => (&*b.lhs, k, &*b.rhs, false),
                        (Some(k), None) => (&*b.rhs, k, &*b.lhs, true),
                        _ => return None,
                    };
                    let (hq, s, boolean) = reduce(inner, depth + 1, comparisons)?;
                    if boolean {
                        return None;
                    }
                    let op = if flipped { flip(op) } else { op };
                    let rb = b.return_bool();
                    comparisons.push((op, lit, lit_expr, rb, s));
                    Some((hq, s, rb))
                }
                _ => None,
            }
        }
        _ => None,
    }
}

fn flip(op: Op) -> Op {
    match op {
        Op::Gtr => Op::Lss,
        Op::Lss => Op::Gtr,
        Op::Gte => Op::Lte,
        Op::Lte => Op::Gte,
        o => o,
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The quantile of a gate's parsed query.
pub fn quantile(gate: &Gate<'_>) -> Option<Quantile> {
    let q = gate.analysis.query()?;
    let mut cmps = Vec::new();
    let (hq, scale, bool_result) = reduce(q.expr(), 0, &mut cmps)?;
    let Expr::Call(call) = hq else { return None };
    let arg = call.args.args.get(1)?;
    let mut name: Option<String> = None;
    let mut selector = String::new();
    for s in q.selectors() {
        if !contains(arg, s.expr) {
            continue;
        }
        let n = s.metric()?;
        let base = n.strip_suffix("_bucket")?;
        match &name {
            Some(prev) if prev != base => return None,
            Some(_) => {}
            None => {
                name = Some(base.to_owned());
                let mut ms = Vec::new();
                if let Some(loc) = s.loc {
                    for m in &loc.matchers {
                        if m.op == "="
                            && m.name != "__name__"
                            && gate.analysis.is_exact(&m.value_span)
                        {
                            ms.push(format!("{}=\"{}\"", m.name, escape(&m.value)));
                        }
                    }
                }
                selector = if ms.is_empty() {
                    n.to_owned()
                } else {
                    format!("{n}{{{}}}", ms.join(","))
                };
            }
        }
    }
    let metric = name?;
    let in_query = cmps
        .into_iter()
        .map(|(op, lit, lit_expr, rb, s)| InQuery {
            op,
            literal: lit,
            bound_units: lit / s,
            span: q.span(lit_expr),
            return_bool: rb,
        })
        .collect();
    Some(Quantile {
        metric,
        selector,
        scale,
        span: q.span(hq),
        in_query,
        bool_result,
    })
}

enum Num {
    Ok(f64),
    NotFinite(String),
    /// Not a number at all (a string like "500ms"): the schema rule reports the type.
    Other,
}

fn number(v: &Value) -> Num {
    match v {
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.is_finite() => Num::Ok(f),
            _ => Num::NotFinite(n.to_string()),
        },
        // The loader keeps YAML floats JSON cannot hold (.nan, .inf, 1e309) as strings.
        Value::String(s) => match super::parse_bound(s.trim()) {
            Some(f) if !f.is_finite() => Num::NotFinite(s.clone()),
            _ => Num::Other,
        },
        _ => Num::Other,
    }
}

/// The gate's value and thresholds; `None` when the query is not a histogram quantile rollgate
/// can follow. `checked` is the object being checked; `own` whether it owns the query.
pub fn extract<'w>(gate: &Gate<'w>, checked: &'w Object, own: bool) -> Option<GateValue<'w>> {
    if !gate.promql {
        return None;
    }
    let quantile = quantile(gate)?;
    let builtin = match &gate.kind {
        GateKind::FlaggerBuiltin(b) => Some(*b),
        _ => None,
    };
    let go_scale = builtin.map_or(1.0, |b| b.go_scale);
    let scale = quantile.scale * go_scale;
    let mut thresholds = Vec::new();
    let mut bad = Vec::new();
    if own {
        for c in &quantile.in_query {
            thresholds.push(Threshold {
                written: c.literal,
                bound_units: c.bound_units,
                label: format!(
                    "the comparison `{} {}` in the query",
                    c.op.text(),
                    super::fmt_plain(c.literal)
                ),
                site: Site::Query(c.span.clone()),
                fails_above: false,
                fails_below: false,
            });
        }
    }
    // Where the metric's fields are reported: on the checked object when they are its own; on
    // the reported place when they live in a template outside the input.
    let field_site = |suffix: &str, range: Option<Range<usize>>| -> Option<Site<'w>> {
        if std::ptr::eq(gate.metric.object, checked) {
            Some(Site::Field {
                object: checked,
                pointer: format!("{}{suffix}", gate.metric.pointer),
                range,
                context: None,
            })
        } else if std::ptr::eq(gate.report.object, checked) && !gate.in_scalar {
            let m = gate.metric.object;
            Some(Site::Field {
                object: checked,
                pointer: gate.report.pointer.clone(),
                range: None,
                context: Some(format!(
                    "in {} {}/{} metric \"{}\"",
                    m.kind,
                    m.ns(),
                    m.name,
                    gate.metric_name
                )),
            })
        } else {
            None
        }
    };
    let mut decision = Decision::Unknown;
    if !quantile.bool_result {
        match &gate.thresholds {
            Thresholds::Flagger {
                min,
                max,
                threshold,
            } => {
                let truncate_ms = builtin.is_some_and(|b| b.unit == Unit::Milliseconds);
                let mut fmin = None;
                let mut fmax = None;
                let fields: Vec<(&str, &Option<Value>, bool)> = if min.is_some() || max.is_some() {
                    vec![
                        ("/thresholdRange/max", max, true),
                        ("/thresholdRange/min", min, false),
                    ]
                } else {
                    vec![("/threshold", threshold, true)]
                };
                let mut analysable = true;
                for (ptr, v, above) in fields {
                    let Some(v) = v.as_ref().filter(|v| !v.is_null()) else {
                        continue;
                    };
                    let label = ptr.trim_start_matches('/').replace('/', ".");
                    let Some(site) = field_site(ptr, None) else {
                        analysable = false;
                        continue;
                    };
                    match number(v) {
                        Num::Ok(t) => {
                            if above && t < 0.0 {
                                bad.push(BadThreshold {
                                    label: label.clone(),
                                    site: site.clone(),
                                    text: t.to_string(),
                                    kind: BadKind::Negative,
                                });
                            }
                            if above {
                                fmax = Some(t);
                            } else {
                                fmin = Some(t);
                            }
                            thresholds.push(Threshold {
                                written: t,
                                bound_units: t / scale,
                                label,
                                site,
                                fails_above: above,
                                fails_below: !above,
                            });
                        }
                        Num::NotFinite(text) => {
                            analysable = false;
                            bad.push(BadThreshold {
                                label,
                                site,
                                text,
                                kind: BadKind::NotFinite,
                            });
                        }
                        Num::Other => analysable = false,
                    }
                }
                if analysable && (fmin.is_some() || fmax.is_some()) {
                    decision = Decision::Flagger {
                        min: fmin,
                        max: fmax,
                        truncate_ms,
                    };
                }
            }
            Thresholds::Argo { success, failure } => {
                let mut conds = [None, None];
                let mut analysable = true;
                for (i, (key, text)) in
                    [("successCondition", success), ("failureCondition", failure)]
                        .into_iter()
                        .enumerate()
                {
                    let Some(text) = text.as_deref().filter(|t| !t.trim().is_empty()) else {
                        continue;
                    };
                    let Some(c) = condition::parse(text) else {
                        analysable = false;
                        continue;
                    };
                    let raw = gate
                        .metric
                        .object
                        .at(&format!("{}/{key}", gate.metric.pointer))
                        .and_then(Value::as_str);
                    let same_text = raw == Some(text);
                    for cmp in condition::comparisons(&c) {
                        let range = same_text.then(|| cmp.span.clone());
                        let Some(site) = field_site(&format!("/{key}"), range) else {
                            continue;
                        };
                        thresholds.push(Threshold {
                            written: cmp.literal,
                            bound_units: cmp.threshold / scale,
                            label: key.to_owned(),
                            site,
                            fails_above: false,
                            fails_below: false,
                        });
                    }
                    conds[i] = Some(c);
                }
                let [s, f] = conds;
                let shape = gate.analysis.query().map(crate::promql::condition::shape);
                if let (true, Some(shape)) = (analysable && (s.is_some() || f.is_some()), shape) {
                    decision = Decision::Argo {
                        success: s,
                        failure: f,
                        shape,
                    };
                }
            }
            Thresholds::Bare { .. } => {}
        }
    }
    Some(GateValue {
        quantile,
        scale,
        thresholds,
        decision,
        bad,
        builtin,
    })
}

/// Whether the gate can fail for some value the quantile can take in `[0, top]` (bounds in the
/// histogram's units). `None`: not analysed.
pub fn can_fail(g: &GateValue<'_>, top: f64) -> Option<bool> {
    let qs = g.quantile.scale;
    match &g.decision {
        Decision::Unknown => None,
        Decision::Flagger {
            min,
            max,
            truncate_ms,
        } => {
            let val = |q: f64| {
                let v = q * g.scale;
                if *truncate_ms { v.trunc() } else { v }
            };
            let lim = |t: f64| if *truncate_ms { t.trunc() } else { t };
            let above = max.is_some_and(|m| val(top) > lim(m));
            let below = min.is_some_and(|m| val(0.0) < lim(m));
            Some(above || below)
        }
        Decision::Argo {
            success,
            failure,
            shape,
        } => {
            let mut points = vec![0.0, top];
            for c in success.iter().chain(failure.iter()) {
                for cmp in condition::comparisons(c) {
                    let t = cmp.threshold / qs;
                    let d = (t.abs() * 1e-9).max(1e-12);
                    for p in [t - d, t, t + d] {
                        if (0.0..=top).contains(&p) {
                            points.push(p);
                        }
                    }
                }
            }
            for q in points {
                let v = q * qs;
                let s = match success {
                    Some(c) => Some(condition::eval(c, shape, v)?),
                    None => None,
                };
                let f = match failure {
                    Some(c) => Some(condition::eval(c, shape, v)?),
                    None => None,
                };
                let fails = match (s, f) {
                    (Some(s), None) => !s,
                    (None, Some(f)) => f,
                    // Failure wins; neither true is Inconclusive (a pause): count it as firing.
                    (Some(s), Some(f)) => f || !s,
                    (None, None) => return None,
                };
                if fails {
                    return Some(true);
                }
            }
            Some(false)
        }
    }
}
