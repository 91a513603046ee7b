//! vector-match-never-matches: a binary operation between two vectors whose sides pin the same
//! label to different values, with no `on(…)`/`ignoring(…)` that leaves the label out.
//!
//! One-to-one and `and` matching pair series whose label sets (without `__name__`) are equal,
//! or equal on the `on` labels / without the `ignoring` labels (Prometheus `promql/engine.go`
//! `VectorBinop`, `signatureFunc`). `x{track="canary"} / x{track="stable"}` therefore never
//! matches and always returns nothing.

use promql_parser::parser::{Expr, LabelModifier};

use crate::engine::{Context, Finding, Object, Rule, RuleMeta, Severity};
use crate::promql::labels::{is_scalar, pins};
use crate::promql::lex::Op;
use crate::promql::query::{Query, binary_op};
use crate::promql::{Issue, QueryCx, run_query_rule};

pub struct VectorMatchNeverMatches;

static META: RuleMeta = RuleMeta {
    id: "vector-match-never-matches",
    severity: Severity::Error,
    kinds: crate::promql::gates::KINDS,
    doc: include_str!("../../rules/vector-match-never-matches.md"),
    options: &[],
    builtin: false,
};

pub fn meta() -> &'static RuleMeta {
    &META
}

impl Rule for VectorMatchNeverMatches {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check<'a>(&self, object: &'a Object, cx: &Context<'a>, out: &mut Vec<Finding>) {
        run_query_rule(&META, object, cx, out, analyse);
    }
}

pub fn analyse(q: &Query, cx: &QueryCx<'_>) -> Vec<Issue> {
    let mut out = Vec::new();
    if !cx.structure_known() {
        return out;
    }
    let exact = |r: &std::ops::Range<usize>| cx.exact(r);
    q.walk(&mut |e, _| {
        let Expr::Binary(b) = e else { return };
        let Some(op) = binary_op(b) else { return };
        if matches!(op, Op::Or | Op::Unless) || is_scalar(&b.lhs) || is_scalar(&b.rhs) {
            return;
        }
        let (Some(l), Some(r)) = (pins(q, &b.lhs, &exact), pins(q, &b.rhs, &exact)) else {
            return;
        };
        let matching = b.modifier.as_ref().and_then(|m| m.matching.as_ref());
        for (label, lp) in &l {
            let Some(rp) = r.get(label) else { continue };
            if lp.value == rp.value {
                continue;
            }
            let compared = match matching {
                Some(LabelModifier::Include(ls)) => ls.labels.contains(label),
                Some(LabelModifier::Exclude(ls)) => !ls.labels.contains(label),
                None => true,
            };
            if !compared {
                continue;
            }
            let loc = q.loc(e);
            let span = loc.map_or_else(|| q.span(e), |l| l.head.clone());
            let how = match matching {
                Some(LabelModifier::Include(_)) => format!("`on(…)` compares `{label}`"),
                Some(LabelModifier::Exclude(_)) => format!("`ignoring(…)` does not leave out `{label}`"),
                None => "one-to-one matching needs identical label sets".to_owned(),
            };
            let help = match matching {
                Some(LabelModifier::Include(_)) => format!("remove `{label}` from `on(…)`"),
                Some(LabelModifier::Exclude(ls)) => {
                    let mut v: Vec<&str> = ls.labels.iter().map(String::as_str).collect();
                    v.push(label);
                    format!("ignore it: `{} ignoring({}) …`", op.text(), v.join(", "))
                }
                None => format!("ignore it: `{} ignoring({label}) …`", op.text()),
            };
            out.push(Issue {
            fix: None,
                span,
                severity: Severity::Error,
                message: format!(
                    "the left side has {label}=\"{}\" and the right side {label}=\"{}\", and {how}, so `{}` never matches and the result is always empty; {}",
                    lp.value,
                    rp.value,
                    op.text(),
                    cx.on_empty()
                ),
                help: Some(help),
            });
            break;
        }
    });
    out
}
