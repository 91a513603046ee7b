//! Structural validation of a JSON value against a compiled schema, with the apiserver's
//! semantics for CRDs (k8s.io/apiextensions-apiserver `pkg/apiserver/schema`, kube-openapi
//! `pkg/validation/validate`):
//!
//! - a field the schema does not declare is unknown unless the object preserves unknown fields
//!   or has `additionalProperties`; with strict field validation (kubectl's default since 1.27)
//!   the apiserver rejects it, without it the field is silently pruned — either way it is lost;
//! - `null` is pruned before validation (nullable or not), so it never has a wrong type, but a
//!   required field that is `null` is missing;
//! - `oneOf`/`anyOf`/`allOf`/`not` only hold value validations (structural schemas), so their
//!   branches never make a field unknown;
//! - a string holding `{{` is a template a controller substitutes later (Argo `{{args.n}}`,
//!   Flagger `{{ interval }}`) and is accepted where a number, boolean or enum value is expected.

use serde_json::{Map, Number, Value};

use crate::engine::config::levenshtein_within;

use super::node::{Additional, Arena, Format, Node, Ty};

/// Deeper values than this are not descended into (the loader already caps nesting at 256).
const MAX_DEPTH: usize = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    UnknownField,
    Type,
    Required,
    Enum,
    /// minimum/maximum, int32/int64 range, length, item counts.
    Range,
    Pattern,
    /// oneOf/anyOf/not.
    Alternatives,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    pub kind: Kind,
    /// JSON pointer relative to the validated value: the unknown field itself, the value of the
    /// wrong type, or the object that misses a required field.
    pub pointer: String,
    pub message: String,
}

#[derive(Debug, Default)]
pub struct Report {
    pub violations: Vec<Violation>,
    /// Violations found beyond the cap and not listed.
    pub more: usize,
}

/// Validate `value` against version root `root` of `arena`; at most `max` violations are listed.
pub fn validate(arena: &Arena, root: u32, value: &Value, max: usize) -> Report {
    let mut w = Walker::new(false, max, arena.preserve_all);
    w.walk(arena, root, value, 0);
    Report {
        violations: w.out,
        more: w.dropped,
    }
}

#[derive(Debug, Clone, Copy)]
enum Seg<'v> {
    Key(&'v str),
    Index(usize),
}

struct Walker<'v> {
    /// Only decide pass/fail (a `oneOf`/`anyOf`/`not` branch): no messages, stop at the first.
    probe: bool,
    failed: bool,
    /// Inside `allOf` branches: value validations only, so no unknown-field checks.
    branch: u32,
    preserve_all: bool,
    out: Vec<Violation>,
    max: usize,
    dropped: usize,
    path: Vec<Seg<'v>>,
}

impl<'v> Walker<'v> {
    fn new(probe: bool, max: usize, preserve_all: bool) -> Walker<'v> {
        Walker {
            probe,
            failed: false,
            branch: 0,
            preserve_all,
            out: Vec::new(),
            max,
            dropped: 0,
            path: Vec::new(),
        }
    }

    fn stop(&self) -> bool {
        self.probe && self.failed
    }

    fn pointer(&self) -> String {
        let mut p = String::new();
        for s in &self.path {
            match s {
                Seg::Key(k) => crate::manifest::push_segment(&mut p, k),
                Seg::Index(i) => {
                    p.push('/');
                    p.push_str(&i.to_string());
                }
            }
        }
        p
    }

    fn report(&mut self, kind: Kind, message: impl FnOnce(&str) -> String) {
        self.failed = true;
        if self.probe {
            return;
        }
        if self.out.len() >= self.max {
            self.dropped += 1;
            return;
        }
        let shown = display_path(&self.path);
        self.out.push(Violation {
            kind,
            pointer: self.pointer(),
            message: message(&shown),
        });
    }

    /// Whether `value` passes `id` (a branch of a combinator).
    fn probe(&self, arena: &Arena, id: u32, value: &'v Value, depth: usize) -> bool {
        let mut w = Walker::new(true, 0, self.preserve_all);
        w.walk(arena, id, value, depth);
        !w.failed
    }

    /// The violations of one branch, as messages relative to the current path.
    fn branch_violations(&self, arena: &Arena, id: u32, value: &'v Value, depth: usize) -> Report {
        let mut w = Walker::new(false, 3, self.preserve_all);
        w.branch = 1;
        w.path = self.path.clone();
        w.walk(arena, id, value, depth);
        Report {
            violations: w.out,
            more: w.dropped,
        }
    }

    fn walk(&mut self, arena: &Arena, id: u32, value: &'v Value, depth: usize) {
        if depth > MAX_DEPTH || self.stop() {
            return;
        }
        let Some(n) = arena.node(id) else { return };
        if n.object_meta {
            if let Some(meta) = super::builtin::object_meta() {
                if let Some(root) = meta.root("v1") {
                    self.walk(meta, root, value, depth + 1);
                }
            }
            return;
        }
        if value.is_null() {
            return;
        }
        let templated = matches!(value, Value::String(s) if s.contains("{{"));
        if !self.check_type(n, value, templated) {
            return;
        }
        if !n.enumeration.is_empty() && !templated && !n.enumeration.iter().any(|e| same(e, value))
        {
            let allowed = list_values(&n.enumeration);
            let hint = match value {
                Value::String(s) => {
                    let cands: Vec<&str> = n.enumeration.iter().filter_map(Value::as_str).collect();
                    closest(s, &cands)
                        .map(|c| format!("; did you mean \"{c}\"?"))
                        .unwrap_or_default()
                }
                _ => String::new(),
            };
            self.report(Kind::Enum, |p| {
                format!("{p}: {} is not one of {allowed}{hint}", show(value))
            });
        }
        match value {
            Value::String(s) if !templated => self.check_string(n, s),
            Value::Number(x) => self.check_number(n, x),
            Value::Object(m) => self.check_object(arena, n, m, depth),
            Value::Array(a) => {
                let len = a.len() as u64;
                if let Some(min) = n.min_items.filter(|&m| len < m) {
                    self.report(Kind::Range, |p| {
                        format!("{p}: needs at least {min} item(s), has {len}")
                    });
                }
                if let Some(max) = n.max_items.filter(|&m| len > m) {
                    self.report(Kind::Range, |p| {
                        format!("{p}: allows at most {max} item(s), has {len}")
                    });
                }
                if let Some(items) = n.items {
                    for (i, item) in a.iter().enumerate() {
                        self.path.push(Seg::Index(i));
                        self.walk(arena, items, item, depth + 1);
                        self.path.pop();
                        if self.stop() {
                            return;
                        }
                    }
                }
            }
            _ => {}
        }
        self.check_alternatives(arena, n, value, depth);
    }

    /// Returns false when the type is wrong (nothing else about the value is checked then).
    fn check_type(&mut self, n: &Node, value: &Value, templated: bool) -> bool {
        if n.int_or_string {
            let ok = match value {
                Value::String(_) => true,
                Value::Number(x) => is_integral(x),
                _ => false,
            };
            if !ok {
                self.report(Kind::Type, |p| {
                    format!("{p}: expected integer or string, got {}", describe(value))
                });
            }
            return ok;
        }
        let Some(ty) = n.ty else { return true };
        let ok = match (ty, value) {
            (Ty::String, Value::String(_)) => true,
            (Ty::Integer, Value::Number(x)) => is_integral(x),
            (Ty::Number, Value::Number(_)) => true,
            (Ty::Boolean, Value::Bool(_)) => true,
            (Ty::Object, Value::Object(_)) => true,
            (Ty::Array, Value::Array(_)) => true,
            (Ty::Integer | Ty::Number | Ty::Boolean, Value::String(_)) => templated,
            _ => false,
        };
        if !ok {
            let hint = type_hint(ty, value);
            self.report(Kind::Type, |p| {
                format!(
                    "{p}: expected {}, got {}{hint}",
                    ty.describe(),
                    describe(value)
                )
            });
        }
        ok
    }

    fn check_string(&mut self, n: &Node, s: &str) {
        if n.min_length.is_some() || n.max_length.is_some() {
            let len = s.chars().count() as u64;
            if let Some(max) = n.max_length.filter(|&m| len > m) {
                self.report(Kind::Range, |p| {
                    format!(
                        "{p}: {} is {len} characters long, more than the maximum {max}",
                        show_str(s)
                    )
                });
            }
            if let Some(min) = n.min_length.filter(|&m| len < m) {
                self.report(Kind::Range, |p| {
                    format!(
                        "{p}: {} is shorter than the minimum length {min}",
                        show_str(s)
                    )
                });
            }
        }
        if let Some(re) = n.regex() {
            if !re.is_match(s) {
                let pat = n.pattern.as_deref().unwrap_or("");
                self.report(Kind::Pattern, |p| {
                    format!("{p}: {} does not match the pattern {pat}", show_str(s))
                });
            }
        }
    }

    fn check_number(&mut self, n: &Node, x: &Number) {
        let f = x.as_f64().unwrap_or(0.0);
        if let Some(format) = n.format {
            let ok = match format {
                Format::Int32 => x
                    .as_i64()
                    .map_or(!is_integral(x), |i| i32::try_from(i).is_ok()),
                Format::Int64 => x.as_i64().is_some() || (!x.is_u64() && f.abs() < 9.2e18),
            };
            if !ok {
                let name = match format {
                    Format::Int32 => "int32",
                    Format::Int64 => "int64",
                };
                self.report(Kind::Range, |p| {
                    format!("{p}: {x} is out of range for an {name}")
                });
            }
        }
        if let Some(min) = n.minimum {
            if f < min || (n.exclusive_minimum && f == min) {
                let rel = if n.exclusive_minimum {
                    "more than"
                } else {
                    "at least"
                };
                self.report(Kind::Range, |p| {
                    format!("{p}: {x} is too small; it must be {rel} {}", num(min))
                });
            }
        }
        if let Some(max) = n.maximum {
            if f > max || (n.exclusive_maximum && f == max) {
                let rel = if n.exclusive_maximum {
                    "less than"
                } else {
                    "at most"
                };
                self.report(Kind::Range, |p| {
                    format!("{p}: {x} is too large; it must be {rel} {}", num(max))
                });
            }
        }
    }

    fn check_object(&mut self, arena: &Arena, n: &Node, m: &'v Map<String, Value>, depth: usize) {
        for r in &n.required {
            let child = n.properties.get(r).and_then(|&c| arena.node(c));
            // A field with a default is filled in before validation: absent, or null where
            // null is pruned (not nullable), it is not missing.
            let defaulted = child.is_some_and(|c| c.defaulted);
            let present = match m.get(&**r) {
                None => defaulted,
                Some(Value::Null) => child.is_some_and(|c| c.nullable || c.defaulted),
                Some(_) => true,
            };
            if !present {
                self.report(Kind::Required, |p| missing(r, p));
                if self.stop() {
                    return;
                }
            }
        }
        for (k, v) in m {
            self.path.push(Seg::Key(k));
            if let Some(&child) = n.properties.get(k.as_str()) {
                self.walk(arena, child, v, depth + 1);
            } else if let Some(add) = n.additional {
                match add {
                    Additional::Node(c) => self.walk(arena, c, v, depth + 1),
                    Additional::Bool(true) => {}
                    Additional::Bool(false) => self.unknown(n, k),
                }
            } else if n.embedded && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                if k == "metadata" {
                    if let Some(meta) = super::builtin::object_meta() {
                        if let Some(root) = meta.root("v1") {
                            self.walk(meta, root, v, depth + 1);
                        }
                    }
                }
            } else if !(n.preserve_unknown || self.preserve_all || self.branch > 0 || self.probe) {
                self.unknown(n, k);
            }
            self.path.pop();
            if self.stop() {
                return;
            }
        }
    }

    /// Report the field at the end of the path as unknown in its parent.
    fn unknown(&mut self, n: &Node, key: &str) {
        if n.typos_only && key.len() < 6 {
            // Below: a reduced schema only reports near-misses of 6 characters or more.
            return;
        }
        if n.typos_only
            && !n
                .properties
                .keys()
                .any(|c| levenshtein_within(key, c, 2).is_some())
        {
            // No known field is a near-miss, so whatever `closest` would pick is not one either:
            // skip its search (it compares every candidate several ways; up to ~170k
            // instructions on a large CRD node, for each unknown field of a reduced schema).
            return;
        }
        let cands: Vec<&str> = n.properties.keys().map(|k| &**k).collect();
        let suggestion = closest(key, &cands);
        if n.typos_only {
            // A reduced schema: only a near-miss of a known field is certainly a mistake.
            let typo = suggestion
                .is_some_and(|s| key.len() >= 6 && levenshtein_within(key, s, 2).is_some());
            if !typo {
                return;
            }
        }
        let parent = display_path(&self.path[..self.path.len().saturating_sub(1)]);
        let hint = suggestion
            .map(|s| format!("; did you mean \"{s}\"?"))
            .unwrap_or_default();
        self.report(Kind::UnknownField, |_| {
            if parent.is_empty() {
                format!("unknown field \"{key}\" at the top level{hint}")
            } else {
                format!("unknown field \"{key}\" in {parent}{hint}")
            }
        });
    }

    fn check_alternatives(&mut self, arena: &Arena, n: &Node, value: &'v Value, depth: usize) {
        for &b in &n.all_of {
            self.branch += 1;
            self.walk(arena, b, value, depth + 1);
            self.branch -= 1;
            if self.stop() {
                return;
            }
        }
        if !n.any_of.is_empty()
            && !n
                .any_of
                .iter()
                .any(|&b| self.probe(arena, b, value, depth + 1))
        {
            if self.probe {
                self.failed = true;
                return;
            }
            match required_sets(arena, &n.any_of) {
                Some(sets) => {
                    let alts = alternatives(&sets);
                    self.report(Kind::Required, |p| {
                        format!("{} needs at least one of {alts}", subject(p))
                    });
                }
                None => self.no_match(arena, &n.any_of, value, depth),
            }
        }
        if !n.one_of.is_empty() {
            let passing: Vec<usize> = n
                .one_of
                .iter()
                .enumerate()
                .filter(|&(_, &b)| self.probe(arena, b, value, depth + 1))
                .map(|(i, _)| i)
                .collect();
            if passing.len() != 1 {
                if self.probe {
                    self.failed = true;
                    return;
                }
                self.one_of_failed(arena, n, value, depth, passing.len());
            }
        }
        if let Some(b) = n.not {
            if self.probe(arena, b, value, depth + 1) {
                self.report(Kind::Alternatives, |p| {
                    format!(
                        "{}: this value is excluded by the schema (`not`)",
                        subject(p)
                    )
                });
            }
        }
    }

    fn one_of_failed(
        &mut self,
        arena: &Arena,
        n: &Node,
        value: &'v Value,
        depth: usize,
        matched: usize,
    ) {
        let present = |k: &str| value.get(k).is_some_and(|v| !v.is_null());
        // protobuf `oneof` as Istio's CRDs encode it: `oneOf: [{not: {anyOf: [{required: [a]},
        // {required: [b]}]}}, {required: [a]}, {required: [b]}]` — at most one of a, b.
        if let Some(keys) = at_most_one(arena, &n.one_of) {
            let found: Vec<&str> = keys.iter().copied().filter(|k| present(k)).collect();
            let all = or_list(&keys);
            let found = and_list(&found);
            self.report(Kind::Alternatives, |p| {
                format!("{}: set at most one of {all}, found {found}", subject(p))
            });
            return;
        }
        // Every branch only requires fields (Flagger's analysis: interval and threshold, and one
        // of iterations, stepWeight, stepWeights): name the missing common fields, then the
        // choice.
        if let Some(sets) = required_sets(arena, &n.one_of) {
            let common: Vec<&str> = sets[0]
                .iter()
                .copied()
                .filter(|k| sets.iter().all(|s| s.contains(k)))
                .collect();
            for k in &common {
                if !present(k) {
                    self.report(Kind::Required, |p| missing(k, p));
                }
            }
            let rest: Vec<Vec<&str>> = sets
                .iter()
                .map(|s| s.iter().copied().filter(|k| !common.contains(k)).collect())
                .collect();
            let chosen: Vec<String> = rest
                .iter()
                .filter(|s| !s.is_empty() && s.iter().all(|k| present(k)))
                .map(|s| s.join(" and "))
                .collect();
            if rest.iter().any(Vec::is_empty) || chosen.len() == 1 {
                // The choice is fine; only common fields were missing (reported above).
                return;
            }
            let alts = alternatives(&rest);
            if chosen.is_empty() {
                self.report(Kind::Required, |p| {
                    format!("{} needs exactly one of {alts}, found none", subject(p))
                });
            } else {
                let found: Vec<&str> = chosen.iter().map(String::as_str).collect();
                let found = and_list(&found);
                self.report(Kind::Alternatives, |p| {
                    format!("{}: set exactly one of {alts}, found {found}", subject(p))
                });
            }
            return;
        }
        if matched == 0 {
            self.no_match(arena, &n.one_of, value, depth);
        } else {
            let total = n.one_of.len();
            self.report(Kind::Alternatives, |p| {
                format!(
                    "{}: matches {matched} of the {total} alternative forms the schema allows; exactly one must match",
                    subject(p)
                )
            });
        }
    }

    /// No branch matched: report the branch that came closest, with its first problem.
    fn no_match(&mut self, arena: &Arena, branches: &[u32], value: &'v Value, depth: usize) {
        let best = branches
            .iter()
            .map(|&b| self.branch_violations(arena, b, value, depth + 1))
            .filter(|r| !r.violations.is_empty())
            .min_by_key(|r| r.violations.len() + r.more);
        let total = branches.len();
        let detail = best
            .and_then(|r| r.violations.into_iter().next())
            .map(|v| format!(" (closest: {})", v.message))
            .unwrap_or_default();
        self.report(Kind::Alternatives, |p| {
            format!(
                "{}: matches none of the {total} alternative forms the schema allows{detail}",
                subject(p)
            )
        });
    }
}

/// The field sets of branches that only require fields, or `None`.
fn required_sets<'a>(arena: &'a Arena, branches: &[u32]) -> Option<Vec<Vec<&'a str>>> {
    branches
        .iter()
        .map(|&b| {
            let n = arena.node(b)?;
            n.is_required_only()
                .then(|| n.required.iter().map(|k| &**k).collect())
        })
        .collect()
}

/// Istio's "at most one" encoding: the keys, or `None` if the branches have another shape.
fn at_most_one<'a>(arena: &'a Arena, branches: &[u32]) -> Option<Vec<&'a str>> {
    let (first, rest) = branches.split_first()?;
    let not = arena.node(arena.node(*first)?.not?)?;
    let inner = required_sets(arena, &not.any_of)?;
    let outer = required_sets(arena, rest)?;
    let single = |s: &Vec<Vec<&'a str>>| s.iter().all(|k| k.len() == 1);
    (single(&inner) && single(&outer) && !outer.is_empty())
        .then(|| outer.into_iter().flatten().collect())
}

fn alternatives(sets: &[Vec<&str>]) -> String {
    let alts: Vec<String> = sets.iter().map(|s| s.join(" and ")).collect();
    let alts: Vec<&str> = alts.iter().map(String::as_str).collect();
    or_list(&alts)
}

fn or_list(items: &[&str]) -> String {
    join_list(items, "or")
}

fn and_list(items: &[&str]) -> String {
    join_list(items, "and")
}

fn join_list(items: &[&str], word: &str) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} {word} {last}", init.join(", ")),
    }
}

fn missing(field: &str, path: &str) -> String {
    if path.is_empty() {
        format!("missing required field \"{field}\"")
    } else {
        format!("missing required field \"{field}\" in {path}")
    }
}

/// The path as a sentence subject: the object itself at the top level.
fn subject(path: &str) -> &str {
    if path.is_empty() { "the object" } else { path }
}

/// `spec.strategy.canary.steps[0]`; keys that are not plain words are quoted
/// (`metadata.annotations["prometheus.io/scrape"]`).
fn display_path(path: &[Seg<'_>]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Index(i) => {
                s.push('[');
                s.push_str(&i.to_string());
                s.push(']');
            }
            Seg::Key(k) => {
                let plain = !k.is_empty()
                    && k.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                if plain {
                    if !s.is_empty() {
                        s.push('.');
                    }
                    s.push_str(k);
                } else {
                    s.push('[');
                    s.push_str(&serde_json::to_string(k).unwrap_or_default());
                    s.push(']');
                }
            }
        }
    }
    s
}

fn is_integral(x: &Number) -> bool {
    x.is_i64()
        || x.is_u64()
        || x.as_f64()
            .is_some_and(|f| f.is_finite() && f.fract() == 0.0)
}

/// JSON equality with numbers compared by value (`1` equals `1.0`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn num(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

fn show_str(s: &str) -> String {
    const MAX: usize = 60;
    if s.chars().count() > MAX {
        let cut: String = s.chars().take(MAX).collect();
        format!("{:?}", format!("{cut}…"))
    } else {
        format!("{s:?}")
    }
}

/// A value as messages quote it.
fn show(v: &Value) -> String {
    match v {
        Value::String(s) => show_str(s),
        Value::Object(_) => "a mapping".into(),
        Value::Array(_) => "a list".into(),
        other => other.to_string(),
    }
}

/// A value with its type, for type errors.
fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => format!("string {}", show_str(s)),
        Value::Object(_) => "a mapping".into(),
        Value::Array(_) => "a list".into(),
    }
}

fn list_values(vals: &[Value]) -> String {
    const SHOWN: usize = 12;
    let mut parts: Vec<String> = vals
        .iter()
        .take(SHOWN)
        .map(|v| match v {
            Value::String(s) if s.is_empty() => "\"\"".into(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect();
    if vals.len() > SHOWN {
        parts.push(format!("… ({} more)", vals.len() - SHOWN));
    }
    parts.join(", ")
}

/// What to do about a type error, where there is something specific to say.
fn type_hint(expected: Ty, v: &Value) -> String {
    match (expected, v) {
        // sigs.k8s.io/yaml reads YAML 1.1 (go-yaml v2): an unquoted y/n/yes/no/on/off/true/false is a boolean,
        // an unquoted 1.0 or 0755 a number, and the apiserver rejects both for a string field
        // (CRDs: "must be of type string"; built-in kinds: "cannot unmarshal bool into Go struct
        // field … of type string").
        (Ty::String, Value::Bool(_)) => {
            "; an unquoted y/n/yes/no/on/off/true/false is a YAML boolean and the apiserver rejects it for a string field: quote the value".into()
        }
        (Ty::String, Value::Number(_)) => {
            "; an unquoted number is not a string and the apiserver rejects it: quote the value"
                .into()
        }
        (Ty::Integer | Ty::Number, Value::String(s)) if s.trim().parse::<f64>().is_ok() => {
            "; write the number without quotes".into()
        }
        (Ty::Boolean, Value::String(s))
            if matches!(s.to_ascii_lowercase().as_str(), "true" | "false") =>
        {
            "; write true or false without quotes".into()
        }
        (Ty::Array, Value::Object(_) | Value::String(_)) => {
            "; write it as a list (each item starts with \"- \")".into()
        }
        _ => String::new(),
    }
}

/// The closest valid name for a misspelt field or enum value: a typo (edit distance), a
/// different case, a shared stem (`trafficWeight` → `trafficRouting`), or a longer name that
/// ends with it (`name` → `templateName`).
pub fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    if word.is_empty() || candidates.is_empty() {
        return None;
    }
    if let Some(c) = candidates.iter().find(|c| c.eq_ignore_ascii_case(word)) {
        return Some(c);
    }
    if let Some(c) = crate::engine::config::suggest(word, candidates) {
        return Some(c);
    }
    // Longest shared prefix of at least 5 characters (a stem such as "traffic", "template").
    let prefix = |c: &str| {
        c.bytes()
            .zip(word.bytes())
            .take_while(|(a, b)| a.eq_ignore_ascii_case(b))
            .count()
    };
    let best = candidates
        .iter()
        .map(|c| (prefix(c), *c))
        .filter(|(n, c)| *n >= 5 || (*n >= 4 && *n * 2 >= word.len().min(c.len())))
        .max_by_key(|(n, c)| (*n, std::cmp::Reverse(c.len())));
    if let Some((_, c)) = best {
        return Some(c);
    }
    // A longer name ending with the word: `name` → `templateName`.
    if word.len() >= 3 {
        let mut ends: Vec<&str> = candidates
            .iter()
            .copied()
            .filter(|c| {
                c.len() > word.len()
                    && c.as_bytes()[c.len() - word.len()..].eq_ignore_ascii_case(word.as_bytes())
            })
            .collect();
        ends.sort_by_key(|c| c.len());
        if let Some(c) = ends.first() {
            return Some(c);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::node::compile_crd;
    use super::*;
    use serde_json::json;

    fn crd(schema: Value) -> Arena {
        compile_crd(
            &json!({"spec": {"group": "g.io", "names": {"kind": "K"}, "versions": [
                {"name": "v1", "served": true, "schema": {"openAPIV3Schema": schema}}]}}),
            false,
        )
        .unwrap()
    }

    fn check(arena: &Arena, v: Value) -> Vec<(String, String)> {
        let root = arena.root("v1").unwrap();
        validate(arena, root, &v, 50)
            .violations
            .into_iter()
            .map(|v| (v.pointer, v.message))
            .collect()
    }

    #[test]
    fn suggestions() {
        let c = [
            "trafficRouting",
            "steps",
            "maxSurge",
            "analysis",
            "canaryService",
        ];
        assert_eq!(closest("trafficWeight", &c), Some("trafficRouting"));
        assert_eq!(closest("step", &c), Some("steps"));
        assert_eq!(
            closest("name", &["templateName", "clusterScope"]),
            Some("templateName")
        );
        assert_eq!(closest("zzz", &c), None);
        assert_eq!(closest("MaxSurge", &c), Some("maxSurge"));
    }

    #[test]
    fn unknown_fields_types_and_required() {
        let a = crd(json!({"type": "object", "properties": {"spec": {
        "type": "object", "required": ["interval"],
        "properties": {
            "interval": {"type": "string", "pattern": "^[0-9]+(m|s)"},
            "replicas": {"type": "integer", "format": "int32", "minimum": 0},
            "name": {"type": "string"},
            "count": {"x-kubernetes-int-or-string": true,
                      "anyOf": [{"type": "integer"}, {"type": "string"}]},
            "mode": {"type": "string", "enum": ["Fast", "Slow"]},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}}
        }}}}));
        assert!(check(&a, json!({"apiVersion": "g.io/v1", "kind": "K", "metadata": {"name": "x"},
            "spec": {"interval": "1m", "count": "{{args.n}}", "free": {"a": {"b": 1}}, "labels": {"a": "b"}}}))
        .is_empty());
        let got = check(
            &a,
            json!({"spec": {"intervall": "1m", "replicas": "3", "name": true,
            "count": 1.5, "mode": "fast", "labels": {"a": 1}}}),
        );
        let msgs: Vec<&str> = got.iter().map(|(_, m)| m.as_str()).collect();
        assert!(
            msgs.contains(&"missing required field \"interval\" in spec"),
            "{msgs:#?}"
        );
        assert!(
            msgs.contains(&"unknown field \"intervall\" in spec; did you mean \"interval\"?"),
            "{msgs:#?}"
        );
        assert!(msgs.contains(&"spec.replicas: expected integer, got string \"3\"; write the number without quotes"), "{msgs:#?}");
        assert!(
            msgs.iter().any(|m| m
                .starts_with("spec.name: expected string, got boolean true; an unquoted y/n/yes")),
            "{msgs:#?}"
        );
        assert!(
            msgs.contains(&"spec.count: expected integer or string, got number 1.5"),
            "{msgs:#?}"
        );
        assert!(
            msgs.contains(&"spec.mode: \"fast\" is not one of Fast, Slow; did you mean \"Fast\"?"),
            "{msgs:#?}"
        );
        assert!(
            msgs.iter()
                .any(|m| m.starts_with("spec.labels.a: expected string, got number 1")),
            "{msgs:#?}"
        );
        let ptrs: Vec<&str> = got.iter().map(|(p, _)| p.as_str()).collect();
        assert!(ptrs.contains(&"/spec/intervall"));
        assert!(ptrs.contains(&"/spec"));
        let got = check(
            &a,
            json!({"spec": {"interval": "1h", "replicas": 3000000000u64}}),
        );
        assert_eq!(got.len(), 2, "{got:#?}"); // pattern, int32
        let got = check(&a, json!({"spec": {"interval": "1m", "replicas": -1}}));
        assert_eq!(
            got[0].1,
            "spec.replicas: -1 is too small; it must be at least 0"
        );
    }

    #[test]
    fn flagger_analysis_one_of() {
        let a = crd(
            json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "analysis": {"type": "object",
                "oneOf": [
                    {"required": ["interval", "threshold", "iterations"]},
                    {"required": ["interval", "threshold", "stepWeight"]},
                    {"required": ["interval", "threshold", "stepWeights"]}],
                "properties": {"interval": {"type": "string"}, "threshold": {"type": "number"},
                    "iterations": {"type": "number"}, "stepWeight": {"type": "number"},
                    "stepWeights": {"type": "array", "items": {"type": "number"}}}}}}}}),
        );
        let ok =
            json!({"spec": {"analysis": {"interval": "1m", "threshold": 5, "stepWeight": 10}}});
        assert!(check(&a, ok).is_empty());
        let got = check(
            &a,
            json!({"spec": {"analysis": {"threshold": 5, "stepWeight": 10}}}),
        );
        assert_eq!(
            got,
            vec![(
                "/spec/analysis".into(),
                "missing required field \"interval\" in spec.analysis".into()
            )]
        );
        let got = check(
            &a,
            json!({"spec": {"analysis": {"interval": "1m", "threshold": 5}}}),
        );
        assert_eq!(
            got[0].1,
            "spec.analysis needs exactly one of iterations, stepWeight or stepWeights, found none"
        );
        let got = check(
            &a,
            json!({"spec": {"analysis": {"interval": "1m", "threshold": 5, "iterations": 3, "stepWeight": 5}}}),
        );
        assert_eq!(
            got[0].1,
            "spec.analysis: set exactly one of iterations, stepWeight or stepWeights, found iterations and stepWeight"
        );
    }

    #[test]
    fn istio_at_most_one() {
        let a = crd(
            json!({"type": "object", "properties": {"spec": {"type": "object",
            "oneOf": [{"not": {"anyOf": [{"required": ["exact"]}, {"required": ["prefix"]}]}},
                      {"required": ["exact"]}, {"required": ["prefix"]}],
            "properties": {"exact": {"type": "string"}, "prefix": {"type": "string"}}}}}),
        );
        assert!(check(&a, json!({"spec": {}})).is_empty());
        assert!(check(&a, json!({"spec": {"exact": "a"}})).is_empty());
        let got = check(&a, json!({"spec": {"exact": "a", "prefix": "b"}}));
        assert_eq!(
            got[0].1,
            "spec: set at most one of exact or prefix, found exact and prefix"
        );
    }

    #[test]
    fn nulls_are_pruned_but_missing_when_required() {
        let a = crd(
            json!({"type": "object", "properties": {"spec": {"type": "object",
            "required": ["a"], "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}}}}),
        );
        let got = check(&a, json!({"spec": {"a": null, "b": null}}));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].1, "missing required field \"a\" in spec");
    }

    #[test]
    fn a_required_field_with_a_default_is_never_missing() {
        // KubeRay's RayCluster CRD: `workerGroupSpecs[].maxReplicas` is required and has a
        // default; the apiserver defaults it before validating, so samples omit it.
        let a = crd(
            json!({"type": "object", "properties": {"spec": {"type": "object",
            "required": ["max", "min", "name"], "properties": {
                "max": {"type": "integer", "default": 2147483647},
                "min": {"type": "integer", "default": 0},
                "name": {"type": "string"}}}}}),
        );
        let got = check(&a, json!({"spec": {"min": null}}));
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].1, "missing required field \"name\" in spec");
    }

    #[test]
    fn cap_counts_the_rest() {
        let a = crd(
            json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {}}}}),
        );
        let mut spec = serde_json::Map::new();
        for i in 0..80 {
            spec.insert(format!("f{i}"), json!(1));
        }
        let r = validate(&a, a.root("v1").unwrap(), &json!({"spec": spec}), 50);
        assert_eq!(r.violations.len(), 50);
        assert_eq!(r.more, 30);
    }

    #[test]
    fn display_paths() {
        let p = [
            Seg::Key("metadata"),
            Seg::Key("annotations"),
            Seg::Key("prometheus.io/scrape"),
        ];
        assert_eq!(
            display_path(&p),
            "metadata.annotations[\"prometheus.io/scrape\"]"
        );
        let p = [
            Seg::Key("spec"),
            Seg::Key("steps"),
            Seg::Index(0),
            Seg::Key("setWeight"),
        ];
        assert_eq!(display_path(&p), "spec.steps[0].setWeight");
    }
}
