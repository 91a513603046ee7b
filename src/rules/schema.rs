//! schema: unknown fields, wrong types, missing required fields, enum and range violations,
//! against the OpenAPI v3 schema of the object's kind (`crate::schema`: the user's CRDs first,
//! then the built-in schemas derived from upstream CRDs).
//!
//! Placement: a finding names the JSON pointer of the offending node — the unknown field itself
//! (placed at its key, `Finding::at_key`), the value of the wrong type, the object that misses a
//! required field.

use crate::engine::rule::finding;
use crate::engine::{Context, Finding, Object, Origin, Rule, RuleMeta, Severity};
use crate::schema::{self, Kind, SchemaOrigin};

pub struct Schema;

static META: RuleMeta = RuleMeta {
    id: "schema",
    severity: Severity::Error,
    // Every kind: a CustomResourceDefinition in the input can give any kind a schema.
    kinds: &[],
    doc: include_str!("../../rules/schema.md"),
    options: &[],
    builtin: false,
};

/// Findings listed per object; the rest are counted in one last finding.
const MAX_PER_OBJECT: usize = 50;

impl Rule for Schema {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, object: &Object, cx: &Context<'_>, out: &mut Vec<Finding>) {
        // A validating webhook is called after the apiserver has decoded, pruned and validated
        // the object against the CRD actually installed; checking it again against a built-in
        // schema of another version could only deny objects the cluster accepts.
        if matches!(object.origin, Origin::Admission | Origin::Cluster) {
            return;
        }
        let Some((found, report)) = schema::check(
            object,
            &cx.world_schemas(&object.group, &object.kind),
            &cx.settings.crds,
            MAX_PER_OBJECT,
        ) else {
            return;
        };
        let source = match found.origin {
            SchemaOrigin::World => format!("the {} in the input", found.arena.source.label),
            SchemaOrigin::Flag => format!("the {} given with --crd", found.arena.source.label),
            SchemaOrigin::Builtin => format!("rollgate's built-in {}", found.arena.source.label),
        };
        for v in report.violations {
            let mut f = finding(&META, object, v.pointer, v.message);
            if v.kind == Kind::UnknownField {
                f = f.at_key();
            }
            if found.origin == SchemaOrigin::Builtin
                && matches!(v.kind, Kind::UnknownField | Kind::Enum)
            {
                f = f.with_help(format!(
                    "checked against {source}; if your cluster runs another version, pass its CRD with --crd"
                ));
            } else if v.kind == Kind::UnknownField {
                f = f.with_help(format!(
                    "checked against {source}; the apiserver rejects unknown fields (kubectl --validate=strict, the default) or silently drops them"
                ));
            }
            out.push(f);
        }
        if report.more > 0 {
            out.push(finding(
                &META,
                object,
                "",
                format!(
                    "{} more schema error(s) in this object are not listed",
                    report.more
                ),
            ));
        }
    }
}
