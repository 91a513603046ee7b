//! What a PromQL expression's result looks like: which labels survive, which are pinned to one
//! value, whether `le` is kept, whether it can be more than one series. Semantics from
//! Prometheus `promql/engine.go` (aggregation grouping, vector matching signatures) and
//! `promql/functions.go` (which functions keep labels).

use std::collections::BTreeMap;
use std::ops::Range;

use promql_parser::label::MatchOp;
use promql_parser::parser::{
    AggregateExpr, BinaryExpr, Expr, LabelModifier, VectorMatchCardinality,
};

use super::lex::Op;
use super::query::{Query, aggregate_name, binary_op};

/// Functions whose result keeps the input's labels (minus `__name__`).
const KEEPS_LABELS: &[&str] = &[
    "abs",
    "ceil",
    "floor",
    "round",
    "exp",
    "ln",
    "log2",
    "log10",
    "sqrt",
    "sgn",
    "clamp",
    "clamp_min",
    "clamp_max",
    "deg",
    "rad",
    "sin",
    "cos",
    "tan",
    "asin",
    "acos",
    "atan",
    "sinh",
    "cosh",
    "tanh",
    "asinh",
    "acosh",
    "atanh",
    "timestamp",
    "rate",
    "irate",
    "increase",
    "delta",
    "idelta",
    "deriv",
    "predict_linear",
    "changes",
    "resets",
    "avg_over_time",
    "min_over_time",
    "max_over_time",
    "sum_over_time",
    "count_over_time",
    "quantile_over_time",
    "stddev_over_time",
    "stdvar_over_time",
    "last_over_time",
    "present_over_time",
    "mad_over_time",
    "first_over_time",
    "ts_of_min_over_time",
    "ts_of_max_over_time",
    "ts_of_last_over_time",
    "holt_winters",
    "double_exponential_smoothing",
    "sort",
    "sort_desc",
    "sort_by_label",
    "sort_by_label_desc",
    "histogram_count",
    "histogram_sum",
    "histogram_avg",
    "histogram_stddev",
    "histogram_stdvar",
    "histogram_fraction",
    "label_replace",
    "label_join",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "days_in_month",
    "hour",
    "minute",
    "month",
    "year",
];

/// The vector argument of a label-keeping function.
fn vector_arg<'q>(name: &str, args: &'q [Box<Expr>]) -> Option<&'q Expr> {
    match name {
        "quantile_over_time"
        | "histogram_fraction"
        | "clamp"
        | "clamp_min"
        | "clamp_max"
        | "predict_linear"
        | "round"
        | "holt_winters"
        | "double_exponential_smoothing" => {
            // The vector is the first argument except for quantile_over_time and
            // histogram_fraction (last).
            if matches!(name, "quantile_over_time" | "histogram_fraction") {
                args.last().map(|a| &**a)
            } else {
                args.first().map(|a| &**a)
            }
        }
        _ => args.first().map(|a| &**a),
    }
}

/// A label fixed to one value by an `=` matcher, and where the matcher is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    pub value: String,
    /// The matcher `name="value"` in the query text.
    pub span: Option<Range<usize>>,
}

/// Labels of a vector result pinned to one value, or `None` when unknown or not a vector.
pub type Pins = BTreeMap<String, Pin>;

/// Whether `e` is a scalar (or string) rather than a vector.
pub fn is_scalar(e: &Expr) -> bool {
    match e {
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => true,
        Expr::Paren(p) => is_scalar(&p.expr),
        Expr::Unary(u) => is_scalar(&u.expr),
        Expr::Call(c) => matches!(c.func.name, "scalar" | "time" | "pi"),
        Expr::Binary(b) => is_scalar(&b.lhs) && is_scalar(&b.rhs),
        _ => false,
    }
}

/// Pinned labels of a vector expression. `exact(span)` says whether a text range is known
/// (placeholders are not pins).
pub fn pins(q: &Query, e: &Expr, exact: &dyn Fn(&Range<usize>) -> bool) -> Option<Pins> {
    match e {
        Expr::VectorSelector(_) | Expr::MatrixSelector(_) => {
            let vs = match e {
                Expr::VectorSelector(vs) => vs,
                Expr::MatrixSelector(ms) => &ms.vs,
                _ => return None,
            };
            let loc = q.loc(vs).or_else(|| q.loc(e));
            let mut out = Pins::new();
            for m in &vs.matchers.matchers {
                if m.name == "__name__" || !matches!(m.op, MatchOp::Equal) {
                    continue;
                }
                let ml = loc.and_then(|l| {
                    l.matchers
                        .iter()
                        .find(|x| x.name == m.name && x.op == "=" && x.value == m.value)
                });
                if ml.is_some_and(|ml| !exact(&ml.value_span)) {
                    continue;
                }
                out.insert(
                    m.name.clone(),
                    Pin {
                        value: m.value.clone(),
                        span: ml.map(|ml| ml.span.clone()),
                    },
                );
            }
            // `or` alternatives in a selector: nothing is pinned for sure.
            if !vs.matchers.or_matchers.is_empty() {
                return Some(Pins::new());
            }
            Some(out)
        }
        Expr::Paren(p) => pins(q, &p.expr, exact),
        Expr::Unary(u) => pins(q, &u.expr, exact),
        Expr::Subquery(s) => pins(q, &s.expr, exact),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => None,
        Expr::Call(c) => {
            let name = c.func.name;
            if !KEEPS_LABELS.contains(&name) {
                return None;
            }
            let mut p = pins(q, vector_arg(name, &c.args.args)?, exact)?;
            if matches!(name, "label_replace" | "label_join") {
                match c.args.args.get(1).map(|a| &**a) {
                    Some(Expr::StringLiteral(dst)) => {
                        p.remove(&dst.val);
                    }
                    _ => return None,
                }
            }
            Some(p)
        }
        Expr::Aggregate(a) => {
            let inner = pins(q, &a.expr, exact)?;
            Some(match aggregate_name(a) {
                "topk" | "bottomk" | "limitk" | "limit_ratio" => inner,
                "count_values" => return None,
                _ => match &a.modifier {
                    None => Pins::new(),
                    Some(LabelModifier::Include(l)) => inner
                        .into_iter()
                        .filter(|(k, _)| l.labels.contains(k))
                        .collect(),
                    Some(LabelModifier::Exclude(l)) => inner
                        .into_iter()
                        .filter(|(k, _)| !l.labels.contains(k))
                        .collect(),
                },
            })
        }
        Expr::Binary(b) => {
            let (ls, rs) = (is_scalar(&b.lhs), is_scalar(&b.rhs));
            match (ls, rs) {
                (true, true) => None,
                (true, false) => pins(q, &b.rhs, exact),
                (false, true) => pins(q, &b.lhs, exact),
                (false, false) => {
                    let op = binary_op(b)?;
                    let card = b.modifier.as_ref().map(|m| &m.card);
                    if op == Op::Or {
                        return None;
                    }
                    let side = match card {
                        Some(VectorMatchCardinality::OneToMany(_)) => &b.rhs,
                        _ => &b.lhs,
                    };
                    let p = pins(q, side, exact)?;
                    Some(
                        match b.modifier.as_ref().and_then(|m| m.matching.as_ref()) {
                            Some(LabelModifier::Include(l))
                                if matches!(
                                    card,
                                    None | Some(VectorMatchCardinality::OneToOne)
                                ) && !op.is_set() =>
                            {
                                p.into_iter()
                                    .filter(|(k, _)| l.labels.contains(k))
                                    .collect()
                            }
                            Some(LabelModifier::Exclude(l)) if !op.is_set() => p
                                .into_iter()
                                .filter(|(k, _)| !l.labels.contains(k))
                                .collect(),
                            _ => p,
                        },
                    )
                }
            }
        }
        Expr::Extension(_) => None,
    }
}

/// What happens to `le` between the bucket selectors and `histogram_quantile`.
#[derive(Debug, Clone, PartialEq)]
pub enum Le<'q> {
    /// `le` reaches the quantile; `aggregated` says whether some aggregation (keeping `le`)
    /// combined the series.
    Kept { aggregated: bool },
    /// This node drops `le`.
    Dropped(&'q Expr),
    /// Something rollgate does not model (a function, a scalar).
    Unknown,
}

fn modifier_keeps(m: &Option<LabelModifier>, label: &str) -> bool {
    match m {
        None => false,
        Some(LabelModifier::Include(l)) => l.labels.iter().any(|x| x == label),
        Some(LabelModifier::Exclude(l)) => !l.labels.iter().any(|x| x == label),
    }
}

pub fn le<'q>(e: &'q Expr) -> Le<'q> {
    match e {
        Expr::VectorSelector(_) | Expr::MatrixSelector(_) => Le::Kept { aggregated: false },
        Expr::Paren(p) => le(&p.expr),
        Expr::Unary(u) => le(&u.expr),
        Expr::Subquery(s) => le(&s.expr),
        Expr::Call(c) => {
            let name = c.func.name;
            if !KEEPS_LABELS.contains(&name) {
                return Le::Unknown;
            }
            if matches!(name, "label_replace" | "label_join") {
                match c.args.args.get(1).map(|a| &**a) {
                    Some(Expr::StringLiteral(d)) if d.val == "le" => return Le::Dropped(e),
                    Some(Expr::StringLiteral(_)) => {}
                    _ => return Le::Unknown,
                }
            }
            match vector_arg(name, &c.args.args) {
                Some(a) => le(a),
                None => Le::Unknown,
            }
        }
        Expr::Aggregate(a) => aggregate_le(e, a),
        Expr::Binary(b) => binary_le(e, b),
        _ => Le::Unknown,
    }
}

fn aggregate_le<'q>(e: &'q Expr, a: &'q AggregateExpr) -> Le<'q> {
    let inner = le(&a.expr);
    match aggregate_name(a) {
        "topk" | "bottomk" | "limitk" | "limit_ratio" => inner,
        "count_values" => Le::Unknown,
        _ => {
            if !modifier_keeps(&a.modifier, "le") {
                return match inner {
                    Le::Unknown => Le::Unknown,
                    Le::Dropped(d) => Le::Dropped(d),
                    Le::Kept { .. } => Le::Dropped(e),
                };
            }
            match inner {
                Le::Kept { .. } => Le::Kept { aggregated: true },
                other => other,
            }
        }
    }
}

fn binary_le<'q>(e: &'q Expr, b: &'q BinaryExpr) -> Le<'q> {
    match (is_scalar(&b.lhs), is_scalar(&b.rhs)) {
        (true, true) => Le::Unknown,
        (true, false) => le(&b.rhs),
        (false, true) => le(&b.lhs),
        (false, false) => {
            let m = b.modifier.as_ref();
            let side = match m.map(|m| &m.card) {
                Some(VectorMatchCardinality::OneToMany(_)) => &b.rhs,
                _ => &b.lhs,
            };
            let drops = match m.and_then(|m| m.matching.as_ref()) {
                Some(LabelModifier::Include(l)) => {
                    !l.labels.iter().any(|x| x == "le")
                        && matches!(
                            m.map(|m| &m.card),
                            None | Some(VectorMatchCardinality::OneToOne)
                        )
                        && !binary_op(b).is_some_and(Op::is_set)
                }
                Some(LabelModifier::Exclude(l)) => l.labels.iter().any(|x| x == "le"),
                None => false,
            };
            if drops {
                return Le::Dropped(e);
            }
            le(side)
        }
    }
}

/// Can the expression return more than one series?
#[derive(Debug, Clone, PartialEq)]
pub enum Card<'q> {
    /// A scalar or string.
    Scalar,
    /// At most one series.
    Single,
    /// Possibly many; the node that keeps them apart (an unaggregated selector, a `by` clause).
    Many(&'q Expr),
    Unknown,
}

/// Labels pinned by `=` in every selector under `e` (so grouping by them yields one group).
fn pinned_everywhere(q: &Query, e: &Expr, label: &str) -> bool {
    let mut all = true;
    let mut any = false;
    let mut visit = |x: &Expr| {
        let vs = match x {
            Expr::VectorSelector(vs) => vs,
            Expr::MatrixSelector(ms) => &ms.vs,
            _ => return,
        };
        any = true;
        if !vs
            .matchers
            .matchers
            .iter()
            .any(|m| m.name == label && matches!(m.op, MatchOp::Equal))
        {
            all = false;
        }
    };
    walk(e, &mut visit);
    let _ = q;
    any && all
}

fn walk(e: &Expr, f: &mut dyn FnMut(&Expr)) {
    f(e);
    for c in super::query::children(e) {
        walk(c, f);
    }
}

/// `ignore_le`: the result's series are told apart without `le` (inside histogram_quantile).
pub fn card<'q>(q: &Query, e: &'q Expr, ignore_le: bool) -> Card<'q> {
    match e {
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => Card::Scalar,
        Expr::VectorSelector(_) | Expr::MatrixSelector(_) => Card::Many(e),
        Expr::Paren(p) => card(q, &p.expr, ignore_le),
        Expr::Unary(u) => card(q, &u.expr, ignore_le),
        Expr::Subquery(s) => card(q, &s.expr, ignore_le),
        Expr::Call(c) => match c.func.name {
            "vector" | "absent" | "absent_over_time" => Card::Single,
            "scalar" | "time" | "pi" => Card::Scalar,
            "histogram_quantile" => match c.args.args.get(1) {
                Some(x) => card(q, x, true),
                None => Card::Unknown,
            },
            "count_values" => Card::Many(e),
            name if KEEPS_LABELS.contains(&name) => match vector_arg(name, &c.args.args) {
                Some(a) => card(q, a, ignore_le),
                // hour(), minute() … without an argument: one series.
                None => Card::Single,
            },
            _ => Card::Unknown,
        },
        Expr::Aggregate(a) => {
            let name = aggregate_name(a);
            match name {
                "count_values" => Card::Many(e),
                "topk" | "bottomk" | "limitk" => {
                    let one =
                        matches!(a.param.as_deref(), Some(Expr::NumberLiteral(n)) if n.val <= 1.0);
                    if one && a.modifier.is_none() {
                        Card::Single
                    } else {
                        match card(q, &a.expr, ignore_le) {
                            Card::Single => Card::Single,
                            Card::Unknown => Card::Unknown,
                            _ => Card::Many(e),
                        }
                    }
                }
                "limit_ratio" => card(q, &a.expr, ignore_le),
                _ => match &a.modifier {
                    None => Card::Single,
                    Some(LabelModifier::Include(l)) => {
                        let split = l
                            .labels
                            .iter()
                            .filter(|x| !(ignore_le && *x == "le"))
                            .any(|x| !pinned_everywhere(q, &a.expr, x));
                        if split { Card::Many(e) } else { Card::Single }
                    }
                    Some(LabelModifier::Exclude(_)) => match card(q, &a.expr, ignore_le) {
                        Card::Single => Card::Single,
                        Card::Unknown => Card::Unknown,
                        _ => Card::Many(e),
                    },
                },
            }
        }
        Expr::Binary(b) => {
            let l = card(q, &b.lhs, ignore_le);
            let r = card(q, &b.rhs, ignore_le);
            let op = binary_op(b);
            match (&l, &r) {
                (Card::Unknown, _) | (_, Card::Unknown) => Card::Unknown,
                (Card::Scalar, Card::Scalar) => Card::Scalar,
                (Card::Scalar, x) | (x, Card::Scalar) => x.clone(),
                _ => match op {
                    Some(Op::And | Op::Unless) => l,
                    Some(Op::Or) => match (&l, &r) {
                        (Card::Single, Card::Single) => Card::Single,
                        (Card::Many(_), _) => l,
                        _ => r,
                    },
                    _ => match b.modifier.as_ref().map(|m| &m.card) {
                        Some(VectorMatchCardinality::ManyToOne(_)) => l,
                        Some(VectorMatchCardinality::OneToMany(_)) => r,
                        // One-to-one: each result series is one matched pair.
                        _ => {
                            if l == Card::Single || r == Card::Single {
                                Card::Single
                            } else {
                                l
                            }
                        }
                    },
                },
            }
        }
        Expr::Extension(_) => Card::Unknown,
    }
}
