//! duplicate-object: one input file defines the same object (API group, kind, namespace, name)
//! twice. `kubectl apply -f` applies both in turn and the later one silently replaces the
//! earlier; kustomize refuses the input ("may not add resource with an already registered id").
//!
//! Only duplicates inside one file are reported: across files the same object is often written
//! on purpose (kustomize bases and overlays, alternative examples).

use crate::engine::rule::finding;
use crate::engine::{Context, Finding, Object, Rule, RuleMeta, Severity};

use super::common::{at, same_input};

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
        let mut in_file = same.iter().filter(|o| same_input(o, object));
        let Some(first) = in_file.next() else { return };
        if std::ptr::eq(*first, object) {
            return;
        }
        let count = same.iter().filter(|o| same_input(o, object)).count();
        out.push(
            finding(
                &META,
                object,
                "/metadata/name",
                format!(
                    "duplicate object: {} is already defined earlier in this file ({count} definitions); kubectl applies each in turn and the last one replaces the others",
                    object.reference()
                ),
            )
            .with_help("delete one of the definitions, or give this one another name")
            .with_related(first, "/metadata/name", "first defined here"),
        );
    }
}
