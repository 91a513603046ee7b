//! canary-query-includes-primary: a Flagger gate's pod or workload matcher also matches the
//! primary's names (the gate averages primary and canary), or matches no canary name at all
//! (the gate sees no data).
//!
//! Flagger keeps the target `T` as the canary and creates `T-primary`
//! (`pkg/canary/deployment_controller.go`); pods are named by their ReplicaSet and the API
//! server's generateName (see `regexlang::names`). Prometheus anchors regex matchers
//! (`^(?s:re)$`, `model/labels/regexp.go`), which is why Flagger's builtin
//! `{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)` excludes `T-primary-<hash>-<suffix>` and
//! `{{ target }}-[0-9a-zA-Z]+.*` does not. The decision is exact (`regexlang`: a product of
//! automata, not sampling); past its bounds the rule says "could not decide" as a warning.

use std::collections::BTreeMap;
use std::ops::Range;

use promql_parser::label::{MatchOp as PMatchOp, Matcher as PMatcher};
use serde_json::Value;

use crate::engine::{Context, Finding, Inventory, Object, Rule, RuleMeta, Severity};
use crate::promql::gates::{Gate, GateKind, push_unique};
use crate::promql::query::{Query, Selector};
use crate::promql::template::ValueSource;
use crate::regexlang::names::{FLAGGER_SELECTOR_LABELS, label_kind};
use crate::regexlang::{
    Checker, FlaggerNames, Isolation, Language, MatchOp, Matcher, NameKind, TargetKind, Verdict,
};

pub struct CanaryQueryIncludesPrimary;

static META: RuleMeta = RuleMeta {
    id: "canary-query-includes-primary",
    severity: Severity::Error,
    kinds: &[("flagger.app", "MetricTemplate"), ("flagger.app", "Canary")],
    doc: include_str!("../../rules/canary-query-includes-primary.md"),
    options: &[],
    builtin: false,
};

pub fn meta() -> &'static RuleMeta {
    &META
}

impl Rule for CanaryQueryIncludesPrimary {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check<'a>(&self, object: &'a Object, cx: &Context<'a>, out: &mut Vec<Finding>) {
        let mut found = Vec::new();
        for gate in cx.gates(object).iter() {
            check_gate(gate, cx, &mut found);
        }
        out.extend(found);
    }
}

/// The names of the Canary a Flagger gate is rendered for, when it is bound to one.
pub(crate) fn flagger_names(gate: &Gate<'_>, world: &dyn Inventory) -> Option<FlaggerNames> {
    if !matches!(
        gate.kind,
        GateKind::FlaggerTemplate | GateKind::FlaggerInline | GateKind::FlaggerBuiltin(_)
    ) || !gate.promql
    {
        return None;
    }
    let target = gate.target.as_ref()?;
    if target.name.is_empty() {
        return None;
    }
    let kind = match target.kind.as_str() {
        "Deployment" => TargetKind::Deployment,
        "DaemonSet" => TargetKind::DaemonSet,
        _ => return None,
    };
    let mut names = FlaggerNames::new(&target.name).with_kind(kind);
    let canary = gate.binder.as_ref().map(|b| b.object);
    if let Some(service) = canary
        .and_then(|c| c.at("/spec/service/name"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    {
        names = names.with_service(service);
    }
    if let Some(v) = selector_label_value(world, target) {
        names = names.with_label_value(&v);
    }
    Some(names)
}

/// The canary's selector label value: the first of Flagger's selector labels in the target's
/// `spec.selector.matchLabels`, when the target is in the world.
fn selector_label_value(
    world: &dyn Inventory,
    target: &crate::promql::gates::Target,
) -> Option<String> {
    let (group, _) = target.api_version.split_once('/')?;
    let workload = world
        .get(group, &target.kind, Some(&target.namespace), &target.name)
        .into_iter()
        .next()?;
    let labels = workload.at("/spec/selector/matchLabels")?.as_object()?;
    FLAGGER_SELECTOR_LABELS
        .iter()
        .find_map(|k| labels.get(*k).and_then(Value::as_str))
        .map(str::to_owned)
}

/// The conjunctions of a selector: its matchers, or one per `or` branch.
pub(crate) fn conjunctions<'q>(sel: &Selector<'q>) -> Vec<Vec<&'q PMatcher>> {
    let m = &sel.vs.matchers;
    if m.or_matchers.is_empty() {
        vec![m.matchers.iter().collect()]
    } else {
        m.or_matchers
            .iter()
            .map(|branch| branch.iter().chain(&m.matchers).collect())
            .collect()
    }
}

fn to_matcher(m: &PMatcher) -> Matcher {
    let op = match m.op {
        PMatchOp::Equal => MatchOp::Equal,
        PMatchOp::NotEqual => MatchOp::NotEqual,
        PMatchOp::Re(_) => MatchOp::Regex,
        PMatchOp::NotRe(_) => MatchOp::NotRegex,
    };
    Matcher::new(op, m.value.clone())
}

/// Whether the rendered text at `range` (of the sent query) contains the `{{ target }}`
/// substitution.
fn from_target(gate: &Gate<'_>, range: &Range<usize>) -> bool {
    let r = gate.analysis.to_rendered(range);
    gate.analysis.rendered.substitutions.iter().any(|s| {
        s.source == ValueSource::Model("target") && s.out.start < r.end && r.start < s.out.end
    })
}

fn check_gate(gate: &Gate<'_>, cx: &Context<'_>, out: &mut Vec<Finding>) {
    let world = cx.world;
    let Some(names) = flagger_names(gate, world) else {
        symbolic(gate, out);
        return;
    };
    let Some(q) = gate.analysis.query() else {
        return;
    };
    let target = names.target().to_owned();
    let selector_value_known = gate
        .target
        .as_ref()
        .is_some_and(|t| selector_label_value(world, t).is_some());
    let mut languages: BTreeMap<NameKind, (Language, Language)> = BTreeMap::new();
    for sel in q.selectors() {
        for conj in conjunctions(&sel) {
            let mut by_label: BTreeMap<&str, Vec<&PMatcher>> = BTreeMap::new();
            for m in &conj {
                by_label.entry(m.name.as_str()).or_default().push(m);
            }
            for (label, ms) in by_label {
                let Some(kind) = label_kind(label) else {
                    continue;
                };
                // Only matchers tied to the canary: a value containing the target's name.
                let Some(tied) = ms.iter().find(|m| m.value.contains(&target)) else {
                    continue;
                };
                if kind == NameKind::SelectorLabel && !selector_value_known {
                    // `<v>-primary` needs the real `<v>` (the target's selector label).
                    continue;
                }
                let (primary, canary) = languages
                    .entry(kind)
                    .or_insert_with(|| cx.name_languages(&names, kind))
                    .clone();
                let matchers: Vec<Matcher> = ms.iter().map(|m| to_matcher(m)).collect();
                let iso = match Checker::shared().isolation_in(&matchers, primary, canary) {
                    Ok(iso) => iso,
                    // An invalid regex is the parse rules' business.
                    Err(_) => continue,
                };
                let span = sel
                    .matcher_loc(tied)
                    .map(|l| l.span.clone())
                    .unwrap_or_else(|| q.span(sel.expr));
                report(gate, q, &sel, &names, label, kind, &ms, &iso, &span, out);
            }
        }
    }
}

/// `label=~"value"` as written in the sent query (or rebuilt).
fn shown(q: &Query, sel: &Selector<'_>, ms: &[&PMatcher]) -> String {
    ms.iter()
        .map(|m| {
            sel.matcher_loc(m)
                .and_then(|l| q.text().get(l.span.clone()))
                .map(str::to_owned)
                .unwrap_or_else(|| {
                    format!(
                        "{}{}{:?}",
                        m.name,
                        crate::promql::query::match_op_text(&m.op),
                        m.value
                    )
                })
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[allow(clippy::too_many_arguments)]
fn report(
    gate: &Gate<'_>,
    q: &Query,
    sel: &Selector<'_>,
    names: &FlaggerNames,
    label: &str,
    kind: NameKind,
    ms: &[&PMatcher],
    iso: &Isolation,
    span: &Range<usize>,
    out: &mut Vec<Finding>,
) {
    let what = shown(q, sel, ms);
    let target = names.target();
    let primary_noun = iso.primary_language.noun();
    let canary_noun = iso.canary_language.noun();
    if let Some(u) = iso.undecided() {
        let mut f = gate.finding(
            &META,
            span,
            format!(
                "could not decide whether `{what}` also matches {primary_noun}s of target {target} ({})",
                u.reason
            ),
        );
        f.severity = Severity::Warning;
        push_unique(out, f);
        return;
    }
    let templated = ms.iter().any(|m| {
        sel.matcher_loc(m)
            .is_some_and(|l| from_target(gate, &l.value_span))
    });
    let witness = iso.includes_primary();
    let message = match (witness, iso.misses_canary()) {
        (Some(w), true) => format!(
            "`{what}` matches {primary_noun} `{w}` but no {canary_noun} of target {target}: the gate measures the primary instead of the canary"
        ),
        (Some(w), false) => format!(
            "`{what}` also matches {primary_noun} `{w}`: the gate averages the primary into the canary's metric, so a failing canary is diluted and may never be rolled back"
        ),
        (None, true) => format!(
            "`{what}` matches no {canary_noun} of target {target} ({}): the gate sees no data, Flagger reports \"no values found\" and fails every check",
            example(kind, target)
        ),
        (None, false) => return,
    };
    let mut f = gate.finding(&META, span, message);
    if let Some((help, replacement)) = suggestion(names, label, kind, ms, templated) {
        f = f.with_help(help);
        // The checked matcher replaces the one positive matcher on the label (with several,
        // which to drop is not determined). Unsafe: the gate then measures the canary only.
        let positive: Vec<&&PMatcher> = ms
            .iter()
            .filter(|m| !to_matcher(m).op.is_negative())
            .collect();
        if let (Some(r), [m]) = (replacement, positive.as_slice()) {
            if let Some(loc) = sel.matcher_loc(m) {
                let fix = crate::promql::QueryFix {
                    message: format!("use `{r}`"),
                    applicability: crate::engine::Applicability::Unsafe,
                    edits: vec![(loc.span.clone(), r)],
                };
                if let Some(x) = gate.fix_template_text(&fix) {
                    f = f.with_fix(x);
                }
            }
        }
    }
    push_unique(out, f);
}

/// What canary names look like, for messages.
fn example(kind: NameKind, target: &str) -> String {
    match kind {
        NameKind::Pod => format!("canary pods are `{target}-<pod-template-hash>-<suffix>`"),
        NameKind::Workload => format!("the canary workload is `{target}`"),
        NameKind::Service => format!("the canary service is `{target}-canary`"),
        NameKind::SelectorLabel => "the canary pods carry the target's selector label".into(),
    }
}

/// A corrected matcher, checked to exclude the primary and include the canary (together with
/// the other matchers on the label, minus the positive ones it replaces).
fn suggestion(
    names: &FlaggerNames,
    label: &str,
    kind: NameKind,
    ms: &[&PMatcher],
    templated: bool,
) -> Option<(String, Option<String>)> {
    let target = names.target();
    let shown_target = if templated { "{{ target }}" } else { target };
    let escaped = regex_syntax::escape(target);
    let (op, shown_value, value) = match (kind, names.kind()) {
        (NameKind::Pod, TargetKind::Deployment) => (
            MatchOp::Regex,
            format!("{shown_target}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"),
            format!("{escaped}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"),
        ),
        (NameKind::Pod, TargetKind::DaemonSet) => (
            MatchOp::Regex,
            format!("{shown_target}-[0-9a-zA-Z]{{5}}"),
            format!("{escaped}-[0-9a-zA-Z]{{5}}"),
        ),
        (NameKind::Workload, _) => (MatchOp::Equal, shown_target.to_owned(), target.to_owned()),
        _ => return None,
    };
    let mut candidate: Vec<Matcher> = ms
        .iter()
        .map(|m| to_matcher(m))
        .filter(|m| m.op.is_negative())
        .collect();
    candidate.push(Matcher::new(op, value));
    let iso = Checker::shared().isolation(&candidate, names, kind).ok()?;
    if iso.primary != Verdict::Empty || iso.canary.witness().is_none() {
        // Pod names are cut to 58 bytes before the random suffix: for a long target the hash,
        // and even `-primary`, can be cut off.
        let truncated = target.len() + "-primary-".len() + 10 + 1 > 58;
        return if kind == NameKind::Pod && truncated {
            Some((
                format!(
                    "no pod-name regex separates canary from primary pods of target {target}: Kubernetes truncates pod names to 58 characters before the random suffix; match the workload instead (e.g. `destination_workload=\"{shown_target}\"`)"
                ),
                None,
            ))
        } else {
            None
        };
    }
    let op_text = op.as_str();
    let why = match (kind, names.kind()) {
        (NameKind::Pod, TargetKind::Deployment) => format!(
            "Prometheus anchors regexes, so exactly two segments follow the target and `{target}-primary-<hash>-<suffix>` has three"
        ),
        (NameKind::Pod, TargetKind::DaemonSet) => format!(
            "canary DaemonSet pods are `{target}-<5 characters>`, primary ones `{target}-primary-<5 characters>`"
        ),
        _ => format!("exactly the canary workload, not `{target}-primary`"),
    };
    let replacement = format!("{label}{op_text}\"{shown_value}\"");
    Some((format!("use `{replacement}`: {why}"), Some(replacement)))
}

/// Longest Deployment name whose primary pod names are not truncated: the pod's generateName
/// `<T>-primary-<hash up to 10>-` must fit the 58 bytes kept before the random suffix.
const SYMBOLIC_MAX_TARGET: usize = 58 - "-primary-".len() - 10 - 1;

/// `regex` is the placeholder's text followed by a remainder `R` in the regex's top-level
/// concatenation, so that for every target `T` (a DNS name: no regex operator but `.`, which
/// matches itself) `T·R` accepts `T·w` exactly when `R` accepts `w`. Returns `R`.
fn symbolic_rest<'v>(value: &'v str, placeholder: &str, op: MatchOp) -> Option<&'v str> {
    let rest = value.strip_prefix(placeholder)?;
    if rest.contains(placeholder) {
        return None;
    }
    if matches!(op, MatchOp::Equal | MatchOp::NotEqual) {
        return Some(rest);
    }
    use regex_syntax::hir::HirKind;
    let hir = regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .build()
        .parse(value)
        .ok()?;
    let first = match hir.kind() {
        HirKind::Concat(subs) => subs.first()?,
        _ => &hir,
    };
    match first.kind() {
        HirKind::Literal(l) if l.0.starts_with(placeholder.as_bytes()) => Some(rest),
        _ => None,
    }
}

/// A Flagger MetricTemplate that no Canary of the world references: its pod and workload
/// matchers are decided for every target name at once. The placeholder that stands for
/// `{{ target }}` is a symbol `T`; a matcher `T·R` is decided by running `R` against the names
/// that follow `T` (the languages of the empty target: `-primary-<hash>-<suffix>` for the
/// primary's pods, `-primary` for its workload). Matchers that do not start with the target are
/// not judged (their answer depends on `T`).
fn symbolic(gate: &Gate<'_>, out: &mut Vec<Finding>) {
    if gate.kind != GateKind::FlaggerTemplate
        || !gate.promql
        || gate.target.is_some()
        || gate.binder.is_some()
    {
        return;
    }
    let Some(q) = gate.analysis.query() else {
        return;
    };
    let rendered = &gate.analysis.rendered;
    let Some(placeholder) = rendered
        .substitutions
        .iter()
        .find(|s| s.name == "target" && s.source == ValueSource::Placeholder)
        .and_then(|s| rendered.text.get(s.out.clone()))
        .filter(|p| !p.is_empty())
    else {
        return;
    };
    let names = FlaggerNames::new("");
    for sel in q.selectors() {
        for conj in conjunctions(&sel) {
            let mut by_label: BTreeMap<&str, Vec<&PMatcher>> = BTreeMap::new();
            for m in &conj {
                by_label.entry(m.name.as_str()).or_default().push(m);
            }
            for (label, ms) in by_label {
                let Some(kind) = label_kind(label) else {
                    continue;
                };
                if !matches!(kind, NameKind::Pod | NameKind::Workload) {
                    continue;
                }
                let mut matchers = Vec::with_capacity(ms.len());
                for m in &ms {
                    let op = to_matcher(m).op;
                    match symbolic_rest(&m.value, placeholder, op) {
                        Some(rest) => matchers.push(Matcher::new(op, rest)),
                        None => break,
                    }
                }
                if matchers.len() != ms.len() {
                    continue;
                }
                let iso = match Checker::shared().isolation_in(
                    &matchers,
                    names.primary(kind),
                    names.canary(kind),
                ) {
                    Ok(iso) => iso,
                    Err(_) => continue,
                };
                let span = sel
                    .matcher_loc(ms[0])
                    .map(|l| l.span.clone())
                    .unwrap_or_else(|| q.span(sel.expr));
                let what = shown(q, &sel, &ms).replace(placeholder, "{{ target }}");
                let noun = iso.primary_language.noun().to_owned();
                let canary_noun = iso.canary_language.noun().to_owned();
                let scope = match kind {
                    NameKind::Pod => format!(
                        "every Deployment target T (of up to {SYMBOLIC_MAX_TARGET} characters, whose pod names are not truncated)"
                    ),
                    _ => "every target T".to_owned(),
                };
                if let Some(u) = iso.undecided() {
                    let mut f = gate.finding(
                        &META,
                        &span,
                        format!(
                            "could not decide whether `{what}` also matches {noun}s for {scope} ({})",
                            u.reason
                        ),
                    );
                    f.severity = Severity::Warning;
                    push_unique(out, f);
                    continue;
                }
                let message = match (iso.includes_primary(), iso.misses_canary()) {
                    (Some(w), true) => format!(
                        "for {scope}, `{what}` matches {noun} `T{w}` but no {canary_noun}: every Canary using this template measures the primary instead of the canary"
                    ),
                    (Some(w), false) => format!(
                        "for {scope}, `{what}` also matches {noun} `T{w}`: every Canary using this template averages the primary into the canary's metric, so a failing canary is diluted and may never be rolled back"
                    ),
                    (None, true) => format!(
                        "for {scope}, `{what}` matches no {canary_noun} ({}): every Canary using this template sees no data, and Flagger fails every check",
                        example(kind, "T")
                    ),
                    (None, false) => continue,
                };
                let help = match kind {
                    NameKind::Pod => {
                        "use `pod=~\"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)\"`: Prometheus anchors regexes, so exactly two segments follow the target and `T-primary-<hash>-<suffix>` has three"
                    }
                    _ => "match the workload exactly: `=\"{{ target }}\"`",
                };
                push_unique(out, gate.finding(&META, &span, message).with_help(help));
            }
        }
    }
}
