//! Diagnostics the engine reports itself: the input could not be loaded, or a suppression is
//! malformed. They have ids, docs and severities like rules, so they can be configured,
//! explained and filtered the same way.

use super::finding::Severity;
use super::rule::RuleMeta;

pub static PARSE_ERROR: RuleMeta = RuleMeta {
    id: "parse-error",
    severity: Severity::Error,
    kinds: &[],
    doc: include_str!("../../rules/parse-error.md"),
    options: &[],
    builtin: true,
};

pub static DUPLICATE_KEY: RuleMeta = RuleMeta {
    id: "duplicate-key",
    severity: Severity::Error,
    kinds: &[],
    doc: include_str!("../../rules/duplicate-key.md"),
    options: &[],
    builtin: true,
};

pub static NOT_KUBERNETES_OBJECT: RuleMeta = RuleMeta {
    id: "not-kubernetes-object",
    severity: Severity::Info,
    kinds: &[],
    doc: include_str!("../../rules/not-kubernetes-object.md"),
    options: &[],
    builtin: true,
};

pub static INVALID_SUPPRESSION: RuleMeta = RuleMeta {
    id: "invalid-suppression",
    severity: Severity::Warning,
    kinds: &[],
    doc: include_str!("../../rules/invalid-suppression.md"),
    options: &[],
    builtin: true,
};

pub static ALL: &[&RuleMeta] = &[
    &PARSE_ERROR,
    &DUPLICATE_KEY,
    &NOT_KUBERNETES_OBJECT,
    &INVALID_SUPPRESSION,
];
