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

/// The world's CustomResourceDefinitions of `object`'s kind that define its version and are
/// nearest to it (`Inventory::distance`): a repository holding several copies of one CRD (one
/// per version of an adapter, an old and a new one; wg-policy-prototypes holds eight
/// PolicyReport CRDs) checks each object against the copy beside it, as references resolve to
/// the nearest alternative (docs/worlds.md). Last defined first among equals, as before.
fn nearest_crds(object: &Object, cx: &Context<'_>) -> Vec<std::sync::Arc<schema::Arena>> {
    let mut best: Option<u32> = None;
    let mut out = Vec::new();
    for crd in schema::crd::world_crds_for(cx.world, &object.group, &object.kind) {
        let Some(arena) = schema::crd::world_crd(crd) else {
            continue;
        };
        if arena.root(&object.version).is_none() {
            continue;
        }
        let d = cx.world.distance(object, crd);
        match best {
            Some(b) if d > b => {}
            Some(b) if d == b => out.push(arena),
            _ => {
                best = Some(d);
                out = vec![arena];
            }
        }
    }
    // Among equally near copies, the strictest first, whatever the order the files were read
    // in or which of them a bounded context holds: a copy that prunes before one that keeps
    // every field, then the larger schema (a "minimal" copy without the schemas of `spec` must
    // not hide what the full copy finds). kserve's `docs/samples` linted alone were checked
    // against a minimal copy, in the folder against a full one (docs/precision.md). The sort
    // is stable: copies alike in both stay in input order.
    out.sort_by_key(|a| (a.preserve_all, std::cmp::Reverse(a.nodes.len())));
    out
}

/// A value written for the reader to replace: `<namespace>`, `<your-bucket>`, `${NAMESPACE}`.
fn is_placeholder(s: &str) -> bool {
    let inner = |t: &str| !t.is_empty() && !t.contains(['<', '>', '{', '}', '$']);
    s.strip_prefix('<')
        .and_then(|t| t.strip_suffix('>'))
        .is_some_and(inner)
        || s.strip_prefix("${")
            .and_then(|t| t.strip_suffix('}'))
            .is_some_and(inner)
}

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
        let all = cx.world_schemas(&object.group, &object.kind);
        let defining = all
            .iter()
            .filter(|a| a.root(&object.version).is_some())
            .count();
        let nearest;
        let world: &[std::sync::Arc<schema::Arena>] = if defining > 1 {
            nearest = nearest_crds(object, cx);
            &nearest
        } else {
            &all
        };
        // Alternatives at the same distance: the last defined, as before (a permissive copy,
        // such as kserve's "minimal" CRDs without schemas, must not hide the findings the full
        // copy gives).
        let Some((found, report)) = schema::check(object, world, &cx.settings.crds, MAX_PER_OBJECT)
        else {
            return;
        };
        let source = match found.origin {
            SchemaOrigin::World => format!("the {} in the input", found.arena.source.label),
            SchemaOrigin::Flag => format!("the {} given with --crd", found.arena.source.label),
            SchemaOrigin::Builtin => format!("rollgate's built-in {}", found.arena.source.label),
        };
        // kustomize adds `commonLabels` (and `labels` with `includeSelectors`) to a workload's
        // `spec.selector.matchLabels`, creating it: in a base whose every build does so, the
        // selector is left out on purpose (kubeflow/manifests, docs/precision.md).
        let selector_added = object.group == "apps"
            && matches!(
                object.kind.as_str(),
                "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet"
            )
            && cx.world.selector_added(object);
        for v in report.violations {
            if selector_added
                && v.kind == Kind::Required
                && v.pointer == "/spec"
                && v.message == "missing required field \"selector\" in spec"
            {
                continue;
            }
            // A documentation placeholder (`namespace: <namespace>`): the reader is told to
            // replace it, so the value is wrong on purpose (docs/precision.md: kserve's
            // docs/samples). Said, at info.
            let placeholder = matches!(v.kind, Kind::Pattern | Kind::Enum | Kind::Type)
                && object
                    .at(&v.pointer)
                    .and_then(serde_json::Value::as_str)
                    .is_some_and(is_placeholder);
            let message = if placeholder {
                format!("{} (a placeholder to replace before applying)", v.message)
            } else {
                v.message
            };
            let mut f = finding(&META, object, v.pointer, message);
            if placeholder {
                f = f.with_severity(Severity::Info);
            }
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

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders() {
        assert!(super::is_placeholder("<namespace>"));
        assert!(super::is_placeholder("${NAMESPACE}"));
        assert!(!super::is_placeholder("<a><b>"));
        assert!(!super::is_placeholder("tcp"));
        assert!(!super::is_placeholder("<>"));
    }
}
