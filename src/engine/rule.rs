//! The rule trait. A rule is a unit struct in `src/rules/<id>.rs`, registered with one line in
//! `src/rules/mod.rs`, documented by `rules/<id>.md` (which is also its test).

use super::config::Settings;
use super::finding::{Finding, Severity};
use super::inventory::Inventory;
use super::object::Object;

/// What the engine needs to know about a rule without running it.
#[derive(Debug)]
pub struct RuleMeta {
    /// Stable kebab-case id; users put it in suppressions and config.
    pub id: &'static str,
    pub severity: Severity,
    /// `(api group, kind)` pairs the rule looks at; empty means every object.
    pub kinds: &'static [(&'static str, &'static str)],
    /// The rule's documentation (`rules/<id>.md`), shown by `rollgate explain`.
    pub doc: &'static str,
    /// Option names accepted under `rules.<id>` in `.rollgate.yaml` (besides `severity`).
    pub options: &'static [&'static str],
    /// Reported by the engine itself (parse errors, suppressions), not by `check`.
    pub builtin: bool,
}

impl RuleMeta {
    /// The first sentence of the "What it does" section.
    pub fn summary(&self) -> String {
        let mut lines = self
            .doc
            .lines()
            .skip_while(|l| !l.starts_with("## What it does"));
        lines.next();
        let para: Vec<&str> = lines
            .skip_while(|l| l.trim().is_empty())
            .take_while(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .map(str::trim)
            .collect();
        let text = para.join(" ");
        match text.find(". ") {
            Some(i) => text[..=i].trim_end_matches('.').to_owned(),
            None => text.trim_end_matches('.').to_owned(),
        }
    }
}

/// What a rule may look at besides the object: the world and the settings. Rules do not know
/// whether the linter or the webhook called them.
pub struct Context<'a> {
    pub world: &'a dyn Inventory,
    pub settings: &'a Settings,
}

pub trait Rule: Send + Sync + 'static {
    fn meta(&self) -> &'static RuleMeta;

    /// Report problems of `object` into `out`. Findings carry the rule's default severity unless
    /// the rule knows better (e.g. a contradiction is an error, an absence a warning).
    fn check(&self, object: &Object, cx: &Context<'_>, out: &mut Vec<Finding>);
}

/// Helper for rules: a finding with this rule's id and default severity.
pub fn finding(
    meta: &'static RuleMeta,
    object: &Object,
    pointer: impl Into<String>,
    message: impl Into<String>,
) -> Finding {
    Finding::new(meta.id, meta.severity, object, pointer, message)
}
