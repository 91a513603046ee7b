//! duplicate-object: one input file defines the same object (API group, kind, namespace, name)
//! twice. `kubectl apply -f` applies both in turn and the later one silently replaces the
//! earlier; kustomize refuses the input ("may not add resource with an already registered id").
//!
//! Only duplicates that are applied together are reported: in one file, or in one kustomization
//! build (`Inventory::applied_together`). Across other files the same identity is written on
//! purpose (environments, overlays, alternative examples): those are alternatives.

use crate::engine::rule::finding;
use crate::engine::{Context, Finding, Object, Origin, Rule, RuleMeta, Severity};

use super::common::at;

pub struct DuplicateObject;

static META: RuleMeta = RuleMeta {
    id: "duplicate-object",
    severity: Severity::Error,
    kinds: &[],
    doc: include_str!("../../rules/duplicate-object.md"),
    options: &[],
    builtin: false,
};

impl Rule for DuplicateObject {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, object: &Object, cx: &Context<'_>, out: &mut Vec<Finding>) {
        // `generateName` objects get a fresh name each time: never duplicates.
        if object.name.is_empty() || at(object, "/metadata/name").is_none() {
            return;
        }
        let ns = object.namespace.as_deref().unwrap_or("");
        let same = cx
            .world
            .get(&object.group, &object.kind, Some(ns), &object.name);
        let together: Vec<&Object> = same
            .iter()
            .copied()
            .filter(|o| cx.world.applied_together(o, object))
            .collect();
        let count = together.len();
        let (Some(&head), true) = (together.first(), count > 1) else {
            return;
        };
        // Reported on every definition but the first; on the first too when the others are
        // context (never reported themselves).
        let first = if std::ptr::eq(head, object) {
            match together
                .iter()
                .find(|o| !std::ptr::eq(**o, object) && !cx.reported(o))
            {
                Some(o) => *o,
                None => return,
            }
        } else {
            head
        };
        let same_file = matches!(
            (&first.origin, &object.origin),
            (Origin::File { source: a, .. }, Origin::File { source: b, .. }) if a == b
        );
        let (place, effect) = if same_file {
            (
                "in this file",
                "kubectl applies each in turn and the last one replaces the others",
            )
        } else {
            (
                "in another file of the same kustomization build",
                "kustomize refuses the build (\"may not add resource with an already registered id\")",
            )
        };
        out.push(
            finding(
                &META,
                object,
                "/metadata/name",
                format!(
                    "duplicate object: {} is already defined {place} ({count} definitions); {effect}",
                    object.reference()
                ),
            )
            .with_help("delete one of the definitions, or give this one another name")
            .with_related(first, "/metadata/name", "also defined here"),
        );
    }
}
