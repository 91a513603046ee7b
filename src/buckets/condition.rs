//! Thresholds inside Argo conditions, on top of the shared condition parser and evaluator
//! ([`crate::promql::condition`], Argo's `utils/evaluate/evaluate.go` semantics): which number
//! literals a condition compares the measured value with, in the value's units.

use std::ops::Range;

use crate::promql::condition::{self as shared, Eval};
pub use crate::promql::condition::{BinOp, Cond, Node, Shape};

/// Parse a condition; `None` when it is outside the analysed subset.
pub fn parse(text: &str) -> Option<Cond> {
    shared::parse(text).ok()
}

/// Evaluate with `result` holding one value `v` of a query of shape `shape`; `None` on an
/// error, a type error or a construct outside the subset.
pub fn eval(c: &Cond, shape: &Shape, v: f64) -> Option<bool> {
    match shared::eval(c, &shared::sample(shape, v)) {
        Eval::Value(b) => Some(b),
        _ => None,
    }
}

/// A comparison of the measured value (possibly scaled by a constant) with a number literal.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// As if written `value op threshold` (operands swapped when the literal is on the left).
    pub op: BinOp,
    /// The literal divided by the scale applied to the value (in the value's units).
    pub threshold: f64,
    /// The literal as written.
    pub literal: f64,
    /// Where the literal is in the condition text.
    pub span: Range<usize>,
}

fn flipped(op: BinOp) -> BinOp {
    match op {
        BinOp::Lt => BinOp::Gt,
        BinOp::Le => BinOp::Ge,
        BinOp::Gt => BinOp::Lt,
        BinOp::Ge => BinOp::Le,
        o => o,
    }
}

fn is_comparison(op: BinOp) -> bool {
    matches!(
        op,
        BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge | BinOp::Eq | BinOp::Ne
    )
}

/// A number literal (a negated one too) and its span.
fn literal(c: &Cond) -> Option<(f64, Range<usize>)> {
    match &c.node {
        Node::Num(v) => Some((*v, c.span.clone())),
        Node::Neg(e) => literal(e).map(|(v, _)| (-v, c.span.clone())),
        _ => None,
    }
}

/// `k` when `c` is `k × value`: `result[0]`, `result` (scalar), `#`, `asFloat(…)`, and
/// products/quotients with literals.
fn linear(c: &Cond, depth: usize) -> Option<f64> {
    if depth > 32 {
        return None;
    }
    match &c.node {
        Node::Result | Node::Elem => Some(1.0),
        Node::Index(base, idx) => {
            matches!(base.node, Node::Result).then_some(())?;
            matches!(idx.node, Node::Num(_)).then_some(1.0)
        }
        Node::Call(name, args) if name == "asFloat" && args.len() == 1 => {
            linear(&args[0], depth + 1)
        }
        Node::Neg(e) => linear(e, depth + 1).map(|k| -k),
        Node::Binary(BinOp::Mul, l, r) => match (literal(l), literal(r)) {
            (Some((k, _)), None) => linear(r, depth + 1).map(|x| x * k),
            (None, Some((k, _))) => linear(l, depth + 1).map(|x| x * k),
            _ => None,
        },
        Node::Binary(BinOp::Div, l, r) => {
            let (k, _) = literal(r)?;
            linear(l, depth + 1).map(|x| x / k)
        }
        _ => None,
    }
}

/// Every comparison of the value with a number literal.
pub fn comparisons(c: &Cond) -> Vec<Comparison> {
    let mut out = Vec::new();
    collect(c, &mut out, 0);
    out
}

fn collect(c: &Cond, out: &mut Vec<Comparison>, depth: usize) {
    if depth > 64 {
        return;
    }
    match &c.node {
        Node::Binary(op, l, r) if is_comparison(*op) => {
            let found = match (literal(l), literal(r)) {
                (None, Some(lit)) => linear(l, 0).map(|k| (k, lit, *op)),
                (Some(lit), None) => linear(r, 0).map(|k| (k, lit, flipped(*op))),
                _ => None,
            };
            match found {
                Some((k, (v, span), op)) if k != 0.0 && k.is_finite() => {
                    let op = if k < 0.0 { flipped(op) } else { op };
                    out.push(Comparison {
                        op,
                        threshold: v / k,
                        literal: v,
                        span,
                    });
                }
                _ => {
                    collect(l, out, depth + 1);
                    collect(r, out, depth + 1);
                }
            }
        }
        Node::Binary(_, l, r) | Node::Index(l, r) => {
            collect(l, out, depth + 1);
            collect(r, out, depth + 1);
        }
        Node::Not(e) | Node::Neg(e) => collect(e, out, depth + 1),
        Node::Call(_, args) => {
            for a in args {
                collect(a, out, depth + 1);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons_found() {
        let c = parse("0.5 > result[0] || result[0] * 1000 <= 250 || all(result, # < 2)").unwrap();
        let cs = comparisons(&c);
        assert_eq!(cs.len(), 3, "{cs:?}");
        assert_eq!(cs[0].op, BinOp::Lt);
        assert_eq!(cs[0].threshold, 0.5);
        assert_eq!(cs[0].span, 0..3);
        assert_eq!(cs[1].op, BinOp::Le);
        assert!((cs[1].threshold - 0.25).abs() < 1e-12);
        assert_eq!(cs[2].threshold, 2.0);
        let v = Shape::Vector {
            may_be_empty: false,
            filter: None,
        };
        assert_eq!(eval(&c, &v, 0.4), Some(true));
        assert_eq!(eval(&c, &v, 3.0), Some(false));
        assert!(parse("result[0] < foo(").is_none());
    }
}
