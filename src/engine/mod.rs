//! The rule engine shared by `rollgate lint` and `rollgate serve`: rule dispatch by kind,
//! configured severities, and suppression annotations. Front ends give it objects and a world;
//! it gives back findings (JSON pointers, no positions).

pub mod apply;
pub mod builtin;
pub mod config;
pub mod controllers;
pub mod finding;
pub mod fix;
pub mod inventory;
pub mod lint;
pub mod object;
pub mod rule;
pub mod selector;
pub mod workspace;

use std::collections::HashMap;

pub use config::{Config, Settings};
pub use finding::{Finding, Related, Severity};
pub use fix::{Applicability, Edit, Fix, TextEdit, TextFix};
pub use inventory::{Absence, Facet, Inventory, MemoryInventory, SourceScope};
pub use object::{Object, ObjectRef, Origin};
pub use rule::{Context, Rule, RuleMeta};
pub use selector::LabelSelector;

/// Annotation prefix that suppresses a rule on one object:
/// `ignore-check.rollgate.dev/<rule-id>: "<reason>"`. Annotations (not comments) so that the
/// webhook, which sees JSON, honours exactly what the linter honours.
pub const IGNORE_PREFIX: &str = "ignore-check.rollgate.dev/";

/// Every rule id known to rollgate: the registered rules and the engine's own diagnostics.
pub fn all_metas() -> Vec<&'static RuleMeta> {
    let mut v: Vec<&'static RuleMeta> = builtin::ALL.to_vec();
    v.extend(crate::rules::REGISTRY.iter().map(|r| r.meta()));
    v
}

/// Look up a rule's metadata by id.
pub fn meta(id: &str) -> Option<&'static RuleMeta> {
    all_metas().into_iter().find(|m| m.id == id)
}

pub struct Engine {
    rules: Vec<&'static dyn Rule>,
    /// Effective severity per registered rule; `None` = off.
    severity: Vec<Option<Severity>>,
    dispatch: HashMap<(&'static str, &'static str), Vec<usize>>,
    every_kind: Vec<usize>,
    /// Effective severity of the engine's own diagnostics.
    builtin: HashMap<&'static str, Option<Severity>>,
    known_ids: Vec<&'static str>,
}

impl Engine {
    /// An engine over `rules`, configured by `config`. With `only`, every other rule is off
    /// (the engine's syntax diagnostics stay on: nothing can be checked without them).
    pub fn new(rules: &[&'static dyn Rule], config: &Config, only: Option<&[String]>) -> Engine {
        let effective = |m: &'static RuleMeta| -> Option<Severity> {
            if let Some(only) = only {
                if !only.iter().any(|o| o == m.id) {
                    return None;
                }
            }
            match config.rules.get(m.id) {
                Some(rc) => rc.severity,
                None => Some(m.severity),
            }
        };
        let mut engine = Engine {
            rules: rules.to_vec(),
            severity: Vec::new(),
            dispatch: HashMap::new(),
            every_kind: Vec::new(),
            builtin: HashMap::new(),
            known_ids: Vec::new(),
        };
        for m in builtin::ALL {
            let sev = if m.id == builtin::PARSE_ERROR.id {
                config
                    .rules
                    .get(m.id)
                    .map_or(Some(m.severity), |rc| rc.severity)
            } else {
                effective(m)
            };
            engine.builtin.insert(m.id, sev);
            engine.known_ids.push(m.id);
        }
        for (i, r) in rules.iter().enumerate() {
            let m = r.meta();
            engine.known_ids.push(m.id);
            let sev = effective(m);
            engine.severity.push(sev);
            if sev.is_none() {
                continue;
            }
            if m.kinds.is_empty() {
                engine.every_kind.push(i);
            }
            for k in m.kinds {
                engine.dispatch.entry(*k).or_default().push(i);
            }
        }
        engine
    }

    /// Whether any enabled rule looks at objects of this group/kind (the webhook admits others
    /// without building a world).
    pub fn wants(&self, group: &str, kind: &str) -> bool {
        !self.every_kind.is_empty()
            || self
                .dispatch
                .iter()
                .any(|((g, k), _)| *g == group && *k == kind)
    }

    /// The configured severity of one of the engine's own diagnostics (`None`: off).
    pub fn builtin_severity(&self, id: &str) -> Option<Severity> {
        self.builtin.get(id).copied().flatten()
    }

    /// Apply the configured severity to an engine diagnostic; `None` if that diagnostic is off.
    pub fn builtin_finding(&self, mut f: Finding) -> Option<Finding> {
        f.severity = self.builtin_severity(f.rule)?;
        Some(f)
    }

    /// Run every applicable rule on `object`, then apply severities and suppressions.
    /// Returns how many findings were suppressed.
    pub fn check<'a>(&self, object: &'a Object, cx: &Context<'a>, out: &mut Vec<Finding>) -> usize {
        let cx = &cx.for_object(object);
        let mut raw = Vec::new();
        let specific = self
            .dispatch
            .get(&(object.group.as_str(), object.kind.as_str()))
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        // Keys of `dispatch` are &'static str; look up with borrowed strs through a scan-free
        // path: HashMap<(&str,&str)> lookups with non-static borrows are fine here.
        for &i in specific.iter().chain(&self.every_kind) {
            let start = raw.len();
            self.rules[i].check(object, cx, &mut raw);
            let sev = self.severity[i];
            for f in &mut raw[start..] {
                // A rule may lower or raise its own severity (absent vs contradicting referent);
                // a configured severity replaces both.
                if let Some(sev) = sev {
                    let configured = sev != self.rules[i].meta().severity;
                    if configured {
                        f.severity = sev;
                    }
                }
            }
        }
        let ignores = self.ignores(object, out);
        let mut suppressed = 0;
        for f in raw {
            if ignores.iter().any(|(id, _)| *id == f.rule) {
                suppressed += 1;
            } else {
                out.push(f);
            }
        }
        suppressed
    }

    /// The object's suppression annotations; reports empty reasons and unknown rule ids.
    fn ignores<'o>(&self, object: &'o Object, out: &mut Vec<Finding>) -> Vec<(&'o str, &'o str)> {
        let Some(annotations) = object.annotations() else {
            return Vec::new();
        };
        let mut v = Vec::new();
        for (k, val) in annotations {
            let Some(id) = k.strip_prefix(IGNORE_PREFIX) else {
                continue;
            };
            let mut pointer = String::from("/metadata/annotations");
            crate::manifest::push_segment(&mut pointer, k);
            let reason = val.as_str().unwrap_or("");
            if !self.known_ids.contains(&id) {
                let near = config::suggest(id, &self.known_ids);
                let suggestion = near
                    .map(|s| format!("; did you mean \"{s}\"?"))
                    .unwrap_or_default();
                let mut f = Finding::new(
                    builtin::INVALID_SUPPRESSION.id,
                    builtin::INVALID_SUPPRESSION.severity,
                    object,
                    pointer.clone(),
                    format!("suppression names unknown rule \"{id}\"{suggestion}"),
                );
                // Unsafe: the suppression starts to hide that rule's findings.
                if let Some(near) =
                    near.filter(|n| !annotations.contains_key(&format!("{IGNORE_PREFIX}{n}")))
                {
                    f = f.with_fix(Fix::unsafe_edits(
                        format!("suppress \"{near}\""),
                        vec![Edit::rename_key(
                            pointer.clone(),
                            format!("{IGNORE_PREFIX}{near}"),
                        )],
                    ));
                }
                if let Some(f) = self.builtin_finding(f) {
                    out.push(f);
                }
            } else if reason.trim().is_empty() {
                if let Some(f) = self.builtin_finding(
                    Finding::new(
                        builtin::INVALID_SUPPRESSION.id,
                        builtin::INVALID_SUPPRESSION.severity,
                        object,
                        pointer.clone(),
                        format!("suppression of {id} gives no reason"),
                    )
                    .with_help("say why the finding does not apply, so the next reader can tell"),
                ) {
                    out.push(f);
                }
            }
            v.push((id, reason));
        }
        v
    }
}

/// A fix that suppresses `finding` on its object: `ignore-check.rollgate.dev/<rule>: "<reason>"`
/// in `metadata.annotations`, created in the file's style when absent. Offered by editors
/// (`DisplayOnly`: `lint --fix` never applies it); `None` for findings not about an object, and
/// for the engine's own diagnostics that cannot be suppressed.
pub fn suppression_fix(finding: &Finding, object: &Object, reason: &str) -> Option<Fix> {
    let meta = meta(finding.rule)?;
    if finding.object.is_none() || (meta.builtin && finding.rule != builtin::INVALID_SUPPRESSION.id)
    {
        return None;
    }
    let key = format!("{IGNORE_PREFIX}{}", finding.rule);
    let message = format!("suppress {} on this object", finding.rule);
    let metadata = object.value.get("metadata");
    let edit = match metadata.and_then(|m| m.get("annotations")) {
        Some(serde_json::Value::Object(a)) if a.contains_key(&key) => return None,
        Some(serde_json::Value::Object(_)) => Edit::insert("/metadata/annotations", key, reason),
        Some(_) => Edit::set("/metadata/annotations", serde_json::json!({ key: reason })),
        None if metadata.is_some_and(serde_json::Value::is_object) => Edit::insert(
            "/metadata",
            "annotations",
            serde_json::json!({ key: reason }),
        ),
        None => return None,
    };
    Some(Fix::display_only(message, vec![edit]))
}
