//! template-render-error: a gate query the controller cannot render.
//!
//! Flagger renders with Go `text/template`, `missingkey=error`, nil data and one function per
//! model field (`pkg/metrics/observers/render.go`, `pkg/apis/flagger/v1beta1/metric.go`); Argo
//! Rollouts substitutes `{{args.NAME}}` with fasttemplate (`utils/template/template.go`). The
//! rendering itself lives in `crate::promql::template`; this rule reports its errors.

use crate::engine::{Context, Finding, Object, Rule, RuleMeta, Severity};
use crate::promql::push_unique;

pub struct TemplateRenderError;

static META: RuleMeta = RuleMeta {
    id: "template-render-error",
    severity: Severity::Error,
    kinds: crate::promql::gates::KINDS,
    doc: include_str!("../../rules/template-render-error.md"),
    options: &[],
    builtin: false,
};

pub fn meta() -> &'static RuleMeta {
    &META
}

impl Rule for TemplateRenderError {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check<'a>(&self, object: &'a Object, cx: &Context<'a>, out: &mut Vec<Finding>) {
        let mut found = Vec::new();
        for gate in cx.gates(object).iter() {
            let r = &gate.analysis.rendered;
            for e in &r.errors {
                let mut f =
                    gate.template_finding(&META, Severity::Error, &e.src, e.message.clone());
                if let Some(h) = &e.help {
                    f = f.with_help(h.clone());
                }
                push_unique(&mut found, f);
            }
            if let Some((span, what)) = &r.unsupported {
                push_unique(
                    &mut found,
                    gate.template_finding(
                        &META,
                        Severity::Info,
                        span,
                        format!("the template uses {what}, which rollgate does not evaluate; the query is not analysed"),
                    ),
                );
            }
        }
        out.extend(found);
    }
}
