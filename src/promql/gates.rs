//! Where gate queries live, and with what each one is rendered.
//!
//! - Flagger (`pkg/controller/scheduler_metrics.go`): a Canary metric named
//!   `request-success-rate`/`request-duration` runs the builtin query of the mesh provider; a
//!   metric with `query` runs it inline; a metric with `templateRef` runs the MetricTemplate's
//!   `spec.query` (also when it has a builtin name: both run). Builtin and inline queries get
//!   `interval` defaulted to `1m`; templates do not.
//! - Argo Rollouts: `spec.metrics[].provider.prometheus.query` of AnalysisTemplate,
//!   ClusterAnalysisTemplate and AnalysisRun; the arguments come from the template's `spec.args`
//!   merged with those of the Rollout step / background analysis / pre- and post-promotion
//!   analysis / Experiment that references it (`utils/analysis/helpers.go` `MergeArgs`,
//!   `utils/analysis/factory.go` `BuildArgumentsForRolloutAnalysisRun`).
//!
//! A template is analysed once per referencing metric or analysis found in the world, each with
//! its own bindings; with none, once with placeholders. Findings are reported on the object
//! being checked: a template's own findings on the template (inside its query scalar); a
//! Canary's builtin and inline queries on the Canary; a template that is not part of the input
//! (the webhook's cluster cache) on the Canary/Rollout that references it.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::rc::Rc;

use serde_json::Value;

use super::analysis::{Analysis, analyse};
use super::builtin::{self, Builtin};
use super::template::{ArgoArgs, Binding, Dialect, Env, FlaggerModel, ValueSource};
use crate::engine::controllers::Controllers;
use crate::engine::inventory::ValueAt as _;
use crate::engine::{Facet, Finding, Inventory, Object, Origin, RuleMeta, Severity};

/// A place in an object.
#[derive(Debug, Clone, Copy)]
pub struct Site<'w> {
    pub object: &'w Object,
    pub pointer: &'w str,
}

/// A place in an object with an owned pointer.
#[derive(Debug, Clone)]
pub struct Place<'w> {
    pub object: &'w Object,
    pub pointer: String,
}

impl<'w> Place<'w> {
    fn new(object: &'w Object, pointer: impl Into<String>) -> Self {
        Place {
            object,
            pointer: pointer.into(),
        }
    }

    /// The JSON value there.
    pub fn value(&self) -> Option<&'w Value> {
        self.object.at(&self.pointer)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum GateKind {
    /// A Flagger MetricTemplate's `spec.query`.
    FlaggerTemplate,
    /// A Canary metric's inline `query`.
    FlaggerInline,
    /// The implicit query of a builtin Canary metric.
    FlaggerBuiltin(Builtin),
    /// An Argo metric's `provider.prometheus.query`.
    Argo,
}

/// How a gate decides, as written (interpreting them is the analysis rules' business).
#[derive(Debug, Clone, PartialEq)]
pub enum Thresholds {
    /// Flagger: `thresholdRange.min`/`.max` (inclusive), else the deprecated `threshold`.
    Flagger {
        min: Option<Value>,
        max: Option<Value>,
        threshold: Option<Value>,
    },
    /// Argo: the conditions, rendered with the same arguments as the query.
    Argo {
        success: Option<String>,
        failure: Option<String>,
    },
    /// `rollgate check-query --threshold T --op gt|lt`: the gate passes while `value op T`.
    Bare {
        threshold: Option<f64>,
        op: Option<String>,
    },
}

/// The workload a gate measures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub namespace: String,
}

/// One query a controller runs.
#[derive(Debug, Clone)]
pub struct Gate<'w> {
    pub kind: GateKind,
    pub dialect: Dialect,
    /// Where findings go: the object being checked and a pointer in it.
    pub report: Place<'w>,
    /// Whether ranges of the template text are ranges of the string at `report` (then findings
    /// point inside the query).
    pub in_scalar: bool,
    /// Where the query text is written, if it is in an object.
    pub query_site: Option<Place<'w>>,
    /// The metric that runs the query and holds its thresholds or conditions.
    pub metric: Place<'w>,
    pub metric_name: String,
    /// What binds the template's variables, if anything does (else placeholders).
    pub binder: Option<Place<'w>>,
    /// The binder in words: `Canary test/podinfo metric "latency"`.
    pub binder_label: Option<String>,
    pub env: Env,
    pub analysis: Rc<Analysis>,
    pub thresholds: Thresholds,
    /// The metric's interval (Flagger: after defaulting; Argo: `interval`).
    pub interval: Option<String>,
    pub target: Option<Target>,
    /// Whether the query is PromQL (the provider is Prometheus).
    pub promql: bool,
}

impl<'w> Gate<'w> {
    /// Words for the query in messages about a gate whose text is not at the finding.
    pub fn describe(&self) -> String {
        match &self.kind {
            GateKind::FlaggerBuiltin(b) => {
                format!("the builtin {} {} query", b.provider, b.metric)
            }
            _ => match &self.query_site {
                Some(q) if !self.in_scalar => format!("the query of {}", q.object.reference()),
                _ => "the query".to_owned(),
            },
        }
    }

    /// A finding of `meta` about a range of the parsed query text.
    /// A fix given as edits of the sent query, as edits of the string holding the template:
    /// only when the query is a string of the reported object and every edited range maps to
    /// the same text in the template (no `{{ … }}` substitution inside it).
    pub fn fix(&self, fix: &crate::promql::QueryFix) -> Option<crate::engine::Fix> {
        if !self.in_scalar {
            return None;
        }
        let sent = self.analysis.query()?.text();
        let template = &self.analysis.template;
        let mut edits = Vec::new();
        for (r, text) in &fix.edits {
            let t = if r.is_empty() {
                // An insertion point: map the character after it (or before it at the end).
                if r.start < sent.len() {
                    let next = sent[r.start..].chars().next()?.len_utf8();
                    let m = self.analysis.to_template(&(r.start..r.start + next));
                    m.start..m.start
                } else {
                    let prev = sent[..r.start].chars().next_back()?.len_utf8();
                    let m = self.analysis.to_template(&(r.start - prev..r.start));
                    m.end..m.end
                }
            } else {
                self.analysis.to_template(r)
            };
            let around = |x: &Range<usize>| {
                let a = x.start.saturating_sub(1);
                (sent.get(a..x.end + 1).or(sent.get(x.clone()))).map(str::to_owned)
            };
            // The mapped text must be the sent text (and for an insertion, its neighbours).
            if r.is_empty() {
                let (Some(s), Some(tt)) = (
                    around(r),
                    template
                        .get(t.start.saturating_sub(1)..t.end + 1)
                        .or(template.get(t.clone())),
                ) else {
                    return None;
                };
                if s != tt {
                    return None;
                }
            } else if template.get(t.clone())? != sent.get(r.clone())? {
                return None;
            }
            edits.push(crate::engine::Edit::in_scalar(
                self.report.pointer.clone(),
                t,
                text.clone(),
            ));
        }
        Some(crate::engine::Fix {
            message: fix.message.clone(),
            applicability: fix.applicability,
            edits,
        })
    }

    /// Like [`Gate::fix`] for edits whose text is template text (it may hold `{{ target }}`):
    /// a non-empty range whose mapped template text begins and ends like the sent text.
    pub fn fix_template_text(&self, fix: &crate::promql::QueryFix) -> Option<crate::engine::Fix> {
        if !self.in_scalar {
            return None;
        }
        let sent = self.analysis.query()?.text();
        let template = &self.analysis.template;
        let mut edits = Vec::new();
        for (r, text) in &fix.edits {
            let s = sent.get(r.clone()).filter(|s| !s.is_empty())?;
            let t = self.analysis.to_template(r);
            let tt = template.get(t.clone())?;
            if tt.chars().next() != s.chars().next() || tt.chars().last() != s.chars().last() {
                return None;
            }
            edits.push(crate::engine::Edit::in_scalar(
                self.report.pointer.clone(),
                t,
                text.clone(),
            ));
        }
        Some(crate::engine::Fix {
            message: fix.message.clone(),
            applicability: fix.applicability,
            edits,
        })
    }

    pub fn finding(
        &self,
        meta: &'static RuleMeta,
        sent: &Range<usize>,
        message: String,
    ) -> Finding {
        let template = self.analysis.to_template(sent);
        self.template_finding(meta, meta.severity, &template, message)
    }

    /// A finding about a range of the template text (render errors).
    pub fn template_finding(
        &self,
        meta: &'static RuleMeta,
        severity: Severity,
        template: &Range<usize>,
        message: String,
    ) -> Finding {
        let message = if self.in_scalar {
            message
        } else {
            let excerpt = excerpt(&self.analysis.template, template);
            format!("in {} at `{excerpt}`: {message}", self.describe())
        };
        let mut f = Finding::new(
            meta.id,
            severity,
            self.report.object,
            &self.report.pointer,
            message,
        );
        if self.in_scalar && !template.is_empty() {
            f = f.with_range(template.clone());
        }
        if let Some(b) = &self.binder {
            let same = std::ptr::eq(b.object, self.report.object)
                && self.report.pointer.starts_with(&b.pointer);
            if !same {
                let label = self
                    .binder_label
                    .clone()
                    .unwrap_or_else(|| "binds the template".into());
                f = f.with_related(b.object, &b.pointer, format!("rendered for {label}"));
            }
        }
        f
    }
}

/// A short, one-line excerpt of `text` at `r`.
fn excerpt(text: &str, r: &Range<usize>) -> String {
    let s = text.get(r.clone()).unwrap_or("");
    let one: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() > 60 {
        let cut: String = one.chars().take(57).collect();
        format!("{cut}...")
    } else {
        one
    }
}

/// Push `f` unless an identical finding (rule, place, range, message) is there; then merge its
/// related locations (a template bound by several Canaries gives the same finding for each).
pub fn push_unique(out: &mut Vec<Finding>, f: Finding) {
    if let Some(existing) = out.iter_mut().find(|e| {
        e.rule == f.rule
            && e.pointer == f.pointer
            && e.object == f.object
            && e.scalar_range == f.scalar_range
            && e.message == f.message
    }) {
        for r in f.related {
            if !existing.related.contains(&r) {
                existing.related.push(r);
            }
        }
        return;
    }
    out.push(f);
}

/// Every gate whose findings belong on `object`.
pub fn gates<'w>(object: &'w Object, world: &'w dyn Inventory) -> Vec<Gate<'w>> {
    gates_with(object, &Referrers::new(world))
}

/// [`gates`], finding a template's referrers through `refs` (built once per run, so linting
/// T templates and R referrers costs O(T + R), not O(T × R)).
pub fn gates_with<'w>(object: &'w Object, refs: &Referrers<'w>) -> Vec<Gate<'w>> {
    let world = refs.world;
    match (object.group.as_str(), object.kind.as_str()) {
        ("flagger.app", "MetricTemplate") => flagger_template(object, refs),
        ("flagger.app", "Canary") => canary(object, refs),
        ("argoproj.io", "AnalysisTemplate" | "ClusterAnalysisTemplate") => {
            argo_template(object, refs)
        }
        ("argoproj.io", "AnalysisRun") => analysis_run(object),
        ("argoproj.io", "Rollout" | "Experiment") => argo_referrer(object, world),
        _ => Vec::new(),
    }
}

/// The kinds that can hold or bind gate queries (for rule metadata).
pub const KINDS: &[(&str, &str)] = &[
    ("flagger.app", "MetricTemplate"),
    ("flagger.app", "Canary"),
    ("argoproj.io", "AnalysisTemplate"),
    ("argoproj.io", "ClusterAnalysisTemplate"),
    ("argoproj.io", "AnalysisRun"),
    ("argoproj.io", "Rollout"),
    ("argoproj.io", "Experiment"),
];

fn s(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_str)
}

/// The value at `path` under `o` (like `Object::at`, without parsing a pointer).
fn at<'a>(o: &'a Object, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(&o.value, |v, k| v.get(k))
}

/// Whether a reference from `referrer` binds `template`: always when the template's identity is
/// unique in the world; when the world defines it more than once (environments, overlays,
/// examples in one tree), the copies are alternatives and a reference resolves to the nearest
/// ones (`Inventory::distance`: same file, same kustomization build, same folder, up the tree,
/// the rest) — binding each referrer to every copy reports problems of pairs that never meet.
fn binder_filter<'a>(
    template: &'a Object,
    world: &'a dyn Inventory,
) -> impl Fn(&Object) -> bool + 'a {
    let copies = world.get(
        &template.group,
        &template.kind,
        template.namespace.as_deref(),
        &template.name,
    );
    move |referrer: &Object| {
        copies.len() <= 1
            || nearest(referrer, &copies, world)
                .iter()
                .any(|c| std::ptr::eq(*c, template))
    }
}

/// The copies a reference from `referrer` resolves to: those nearest to it — when that is one
/// copy, or copies in the referrer's own file. Several copies equally near in other files (two
/// examples in one folder, two doc snippets) are alternatives none of which is known to meet
/// the referrer: none is bound (each is still analysed, with placeholders, on its own).
fn nearest<'a>(referrer: &Object, copies: &[&'a Object], world: &dyn Inventory) -> Vec<&'a Object> {
    let distances: Vec<u32> = copies.iter().map(|c| world.distance(referrer, c)).collect();
    let Some(&best) = distances.iter().min() else {
        return Vec::new();
    };
    let set: Vec<&'a Object> = copies
        .iter()
        .zip(&distances)
        .filter(|(_, d)| **d == best)
        .map(|(c, _)| *c)
        .collect();
    if best > 0 && set.len() > 1 {
        return Vec::new();
    }
    set
}

/// Whether a template is part of the input (its own findings are reported on it, or, for a
/// context file of the linter, not at all: linting one file finds on it what linting its folder
/// finds there). Only templates of the cluster cache have their findings on the referrer.
fn in_input(o: &Object) -> bool {
    matches!(o.origin, Origin::File { .. } | Origin::Admission)
}

// ---------------------------------------------------------------------------------------------
// Flagger.

/// Provider types Flagger knows (`pkg/metrics/providers/factory.go`); any other type, and an
/// empty one, falls back to Prometheus.
const FLAGGER_NON_PROMETHEUS: &[&str] = &[
    "datadog",
    "externalmetrics",
    "cloudwatch",
    "newrelic",
    "graphite",
    "stackdriver",
    "influxdb",
    "dynatrace",
    "keptn",
    "splunk",
];

/// `spec.analysis`, else the deprecated `spec.canaryAnalysis` (`Canary.GetAnalysis`).
fn canary_analysis(c: &Object) -> Option<(&'static str, &Value)> {
    let spec = c.value.get("spec")?;
    if let Some(a) = spec.get("analysis").filter(|v| !v.is_null()) {
        return Some(("/spec/analysis", a));
    }
    spec.get("canaryAnalysis")
        .filter(|v| !v.is_null())
        .map(|a| ("/spec/canaryAnalysis", a))
}

/// The metrics of a Canary: (index, metric), with the pointer prefix of the list.
fn canary_metric_list(c: &Object) -> Option<(&'static str, &Vec<Value>)> {
    let (base, a) = canary_analysis(c)?;
    Some((base, a.get("metrics")?.as_array()?))
}

fn canary_metrics(c: &Object) -> Vec<(String, &Value)> {
    let Some((base, ms)) = canary_metric_list(c) else {
        return Vec::new();
    };
    ms.iter()
        .enumerate()
        .map(|(i, m)| (format!("{base}/metrics/{i}"), m))
        .collect()
}

fn canary_target(c: &Object) -> Target {
    Target {
        api_version: s(at(c, &["spec", "targetRef", "apiVersion"]))
            .unwrap_or("apps/v1")
            .to_owned(),
        kind: s(at(c, &["spec", "targetRef", "kind"]))
            .unwrap_or("Deployment")
            .to_owned(),
        name: s(at(c, &["spec", "targetRef", "name"]))
            .unwrap_or("")
            .to_owned(),
        namespace: c.ns().to_owned(),
    }
}

/// `toMetricModel`: the template model of a Canary metric.
fn flagger_model(c: &Object, metric: &Value, interval: &str, label: String) -> FlaggerModel {
    let k = |v: &str, f: &'static str| Binding::known(v, ValueSource::Model(f));
    let target = s(at(c, &["spec", "targetRef", "name"])).unwrap_or("");
    let or_target = |field: &str| {
        s(at(c, &["spec", field, "name"]))
            .filter(|v| !v.is_empty())
            .unwrap_or(target)
            .to_owned()
    };
    let knative = s(at(c, &["spec", "provider"])) == Some("knative");
    let variables: BTreeMap<String, String> = metric
        .get("templateVariables")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), v)
                })
                .collect()
        })
        .unwrap_or_default();
    FlaggerModel {
        name: k(&c.name, "name"),
        namespace: k(c.ns(), "namespace"),
        target: k(target, "target"),
        service: k(&or_target("service"), "service"),
        ingress: k(&or_target("ingressRef"), "ingress"),
        // Knative: the latest created revision, known only at run time.
        route: if knative {
            Binding::unknown(ValueSource::Model("route"))
        } else {
            k(&or_target("routeRef"), "route")
        },
        interval: k(interval, "interval"),
        variables: Some(variables),
        binder: Some(label),
    }
}

fn metric_label(c: &Object, metric: &Value) -> String {
    format!(
        "Canary {}/{} metric \"{}\"",
        c.ns(),
        c.name,
        s(metric.get("name")).unwrap_or("")
    )
}

fn flagger_thresholds(metric: &Value) -> Thresholds {
    Thresholds::Flagger {
        min: metric.at("/thresholdRange/min").cloned(),
        max: metric.at("/thresholdRange/max").cloned(),
        threshold: metric.get("threshold").cloned(),
    }
}

/// Who references templates, indexed on first use: Canaries by the (namespace, name) of the
/// MetricTemplates their metrics name, and Argo Rollouts/Experiments by the (cluster scope,
/// name) of the analysis templates their analyses name. Candidates keep the world's order and
/// are checked exactly as before; the index only spares scanning every referrer per template.
pub struct Referrers<'w> {
    world: &'w dyn Inventory,
    /// The controllers' settings (Flagger's mesh provider picks a Canary's builtin queries).
    controllers: Controllers<'w>,
    canaries: OnceCell<HashMap<(String, String), Vec<&'w Object>>>,
    argo: OnceCell<HashMap<String, Vec<&'w Object>>>,
}

impl<'w> Referrers<'w> {
    pub fn new(world: &'w dyn Inventory) -> Self {
        Referrers::with_controllers(world, Controllers::new(world))
    }

    /// Referrers whose Canaries' builtin queries follow `controllers` (the configured or
    /// discovered Flagger `-mesh-provider`).
    pub fn with_controllers(world: &'w dyn Inventory, controllers: Controllers<'w>) -> Self {
        Referrers {
            world,
            controllers,
            canaries: OnceCell::new(),
            argo: OnceCell::new(),
        }
    }

    /// The run's controller settings.
    pub fn controllers(&self) -> &Controllers<'w> {
        &self.controllers
    }

    /// Canaries with a metric whose `templateRef` names `namespace`/`name`.
    fn canaries(&self, namespace: &str, name: &str) -> Cow<'_, [&'w Object]> {
        if let Some(v) = self
            .world
            .facet(&CANARY_TEMPLATES, &format!("{namespace}/{name}"))
        {
            return Cow::Owned(v);
        }
        let index = self.canaries.get_or_init(|| {
            let mut index: HashMap<(String, String), Vec<&'w Object>> = HashMap::new();
            let mut keys = Vec::new();
            for c in self.world.list("flagger.app", "Canary", None) {
                keys.clear();
                canary_template_keys(c, &mut keys);
                for k in keys.drain(..) {
                    let Some((ns, n)) = k.split_once('/') else {
                        continue;
                    };
                    index
                        .entry((ns.to_owned(), n.to_owned()))
                        .or_default()
                        .push(c);
                }
            }
            index
        });
        Cow::Borrowed(
            index
                .get(&(namespace.to_owned(), name.to_owned()))
                .map_or(&[], Vec::as_slice),
        )
    }

    /// Rollouts and Experiments with an analysis that names the template `name` (a
    /// ClusterAnalysisTemplate when `cluster`, else the AnalysisTemplate of `namespace`).
    fn argo(&self, cluster: bool, namespace: &str, name: &str) -> Cow<'_, [&'w Object]> {
        let key = argo_key(cluster, namespace, name);
        if let Some(mut v) = self.world.facet(&ROLLOUT_TEMPLATES, &key) {
            v.extend(
                self.world
                    .facet(&EXPERIMENT_TEMPLATES, &key)
                    .unwrap_or_default(),
            );
            return Cow::Owned(v);
        }
        let index = self.argo.get_or_init(|| {
            let mut index: HashMap<String, Vec<&'w Object>> = HashMap::new();
            let mut keys = Vec::new();
            for kind in ["Rollout", "Experiment"] {
                for o in self.world.list("argoproj.io", kind, None) {
                    keys.clear();
                    argo_template_keys(o, &mut keys);
                    for k in keys.drain(..) {
                        index.entry(k).or_default().push(o);
                    }
                }
            }
            index
        });
        Cow::Borrowed(index.get(&key).map_or(&[], Vec::as_slice))
    }
}

/// Canaries by the `namespace/name` of the MetricTemplates their metrics name
/// ([`Referrers`]).
pub static CANARY_TEMPLATES: Facet = Facet {
    id: "canary-templates",
    group: "flagger.app",
    kind: "Canary",
    keys: canary_template_keys,
};

/// Rollouts by the analysis templates they name ([`argo_key`]).
pub static ROLLOUT_TEMPLATES: Facet = Facet {
    id: "rollout-templates",
    group: "argoproj.io",
    kind: "Rollout",
    keys: argo_template_keys,
};

/// Experiments by the analysis templates they name ([`argo_key`]).
pub static EXPERIMENT_TEMPLATES: Facet = Facet {
    id: "experiment-templates",
    group: "argoproj.io",
    kind: "Experiment",
    keys: argo_template_keys,
};

fn canary_template_keys(c: &Object, out: &mut Vec<String>) {
    let Some((_, ms)) = canary_metric_list(c) else {
        return;
    };
    for m in ms {
        let Some(r) = m.get("templateRef") else {
            continue;
        };
        let Some(n) = s(r.get("name")) else { continue };
        let ns = s(r.get("namespace"))
            .filter(|n| !n.is_empty())
            .unwrap_or(c.ns());
        let k = format!("{ns}/{n}");
        if !out.contains(&k) {
            out.push(k);
        }
    }
}

/// The key of an analysis template reference: a ClusterAnalysisTemplate (`cluster`) by name,
/// or an AnalysisTemplate by the namespace it is looked up in (the referrer's: Argo resolves a
/// `templateName` in the Rollout's namespace, see `refers_to`) and name. Keyed without the
/// namespace, every AnalysisTemplate named like many others (`success-rate` in each team's
/// namespace) drew in every Rollout of the cluster that names one, to be parsed and dropped
/// by the namespace filter.
fn argo_key(cluster: bool, namespace: &str, name: &str) -> String {
    if cluster {
        format!("cluster/{name}")
    } else {
        format!("namespaced/{namespace}/{name}")
    }
}

fn argo_template_keys(o: &Object, out: &mut Vec<String>) {
    analysis_blocks(o, |_, v| {
        block_templates(v, |n, c| {
            let k = argo_key(c, o.ns(), n);
            if !out.contains(&k) {
                out.push(k);
            }
        });
    });
}

/// The Canary metrics that reference a MetricTemplate.
fn referencing_metrics<'w>(
    t: &Object,
    refs: &Referrers<'w>,
) -> Vec<(&'w Object, String, &'w Value)> {
    let world = refs.world;
    let mut out = Vec::new();
    let bindable = binder_filter(t, world);
    for &c in refs.canaries(t.ns(), &t.name).iter() {
        if !bindable(c) {
            continue;
        }
        let Some((base, ms)) = canary_metric_list(c) else {
            continue;
        };
        for (i, m) in ms.iter().enumerate() {
            let Some(r) = m.get("templateRef") else {
                continue;
            };
            if s(r.get("name")) != Some(t.name.as_str()) {
                continue;
            }
            let ns = s(r.get("namespace"))
                .filter(|n| !n.is_empty())
                .unwrap_or(c.ns());
            if ns == t.ns() {
                out.push((c, format!("{base}/metrics/{i}"), m));
            }
        }
    }
    out
}

fn flagger_template<'w>(t: &'w Object, refs: &Referrers<'w>) -> Vec<Gate<'w>> {
    let Some(query) = s(t.at("/spec/query")) else {
        return Vec::new();
    };
    let ptype = s(t.at("/spec/provider/type")).unwrap_or("");
    let promql = !FLAGGER_NON_PROMETHEUS.contains(&ptype);
    let refs = referencing_metrics(t, refs);
    let mut out = Vec::new();
    for (c, p, m) in &refs {
        let interval = s(m.get("interval")).unwrap_or("");
        let label = metric_label(c, m);
        let env = Env::Flagger(flagger_model(c, m, interval, label.clone()));
        out.push(Gate {
            kind: GateKind::FlaggerTemplate,
            dialect: Dialect::Flagger,
            report: Place::new(t, "/spec/query"),
            in_scalar: true,
            query_site: Some(Place::new(t, "/spec/query")),
            metric: Place::new(c, p.clone()),
            metric_name: s(m.get("name")).unwrap_or("").to_owned(),
            binder: Some(Place::new(c, p.clone())),
            binder_label: Some(label),
            analysis: analyse(query, &env, promql),
            env,
            thresholds: flagger_thresholds(m),
            interval: Some(interval.to_owned()),
            target: Some(canary_target(c)),
            promql,
        });
    }
    if refs.is_empty() {
        let env = Env::Flagger(FlaggerModel::placeholders());
        out.push(Gate {
            kind: GateKind::FlaggerTemplate,
            dialect: Dialect::Flagger,
            report: Place::new(t, "/spec/query"),
            in_scalar: true,
            query_site: Some(Place::new(t, "/spec/query")),
            metric: Place::new(t, "/spec/query"),
            metric_name: t.name.clone(),
            binder: None,
            binder_label: None,
            analysis: analyse(query, &env, promql),
            env,
            thresholds: Thresholds::Flagger {
                min: None,
                max: None,
                threshold: None,
            },
            interval: None,
            target: None,
            promql,
        });
    }
    out
}

/// Skipper's observer rewrites non-word characters of the model to `_`
/// (`pkg/metrics/observers/skipper.go` `encodeModelForSkipper`).
fn encode_for_skipper(m: &mut FlaggerModel) {
    let enc = |b: &mut Binding| {
        b.value = b
            .value
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
    };
    enc(&mut m.ingress);
    enc(&mut m.name);
    enc(&mut m.namespace);
    enc(&mut m.service);
    enc(&mut m.target);
}

fn canary<'w>(c: &'w Object, refs: &Referrers<'w>) -> Vec<Gate<'w>> {
    let world = refs.world;
    let mut out = Vec::new();
    let target = canary_target(c);
    let mesh = refs.controllers.flagger_mesh_provider();
    let (provider, assumed) = builtin::provider_for(
        s(at(c, &["spec", "provider"])),
        mesh.as_ref().map(|m| m.value.as_str()),
        &target.kind,
        &target.api_version,
    );
    for (p, m) in canary_metrics(c) {
        let name = s(m.get("name")).unwrap_or("");
        let label = metric_label(c, m);
        // Builtins and inline queries default the interval (`runBuiltinMetricChecks`).
        let interval = s(m.get("interval"))
            .filter(|i| !i.is_empty())
            .unwrap_or("1m");
        if let Some(mut b) = builtin::builtin(&provider, name) {
            b.provider_assumed = assumed;
            let mut model = flagger_model(c, m, interval, label.clone());
            if b.provider == "skipper" {
                encode_for_skipper(&mut model);
            }
            let env = Env::Flagger(model);
            out.push(Gate {
                kind: GateKind::FlaggerBuiltin(b),
                dialect: Dialect::Flagger,
                report: Place::new(c, format!("{p}/name")),
                in_scalar: false,
                query_site: None,
                metric: Place::new(c, p.clone()),
                metric_name: name.to_owned(),
                binder: Some(Place::new(c, p.clone())),
                binder_label: Some(label.clone()),
                analysis: analyse(b.template, &env, true),
                env,
                thresholds: flagger_thresholds(m),
                interval: Some(interval.to_owned()),
                target: Some(target.clone()),
                promql: true,
            });
        }
        if let Some(q) = s(m.get("query")).filter(|q| !q.is_empty()) {
            let env = Env::Flagger(flagger_model(c, m, interval, label.clone()));
            out.push(Gate {
                kind: GateKind::FlaggerInline,
                dialect: Dialect::Flagger,
                report: Place::new(c, format!("{p}/query")),
                in_scalar: true,
                query_site: Some(Place::new(c, format!("{p}/query"))),
                metric: Place::new(c, p.clone()),
                metric_name: name.to_owned(),
                binder: Some(Place::new(c, p.clone())),
                binder_label: Some(label.clone()),
                analysis: analyse(q, &env, true),
                env,
                thresholds: flagger_thresholds(m),
                interval: Some(interval.to_owned()),
                target: Some(target.clone()),
                promql: true,
            });
        }
        // Templates outside the input (the cluster): their findings come here.
        if let Some(tname) = s(m.at("/templateRef/name")) {
            let ns = s(m.at("/templateRef/namespace"))
                .filter(|n| !n.is_empty())
                .unwrap_or(c.ns());
            let copies = world.get("flagger.app", "MetricTemplate", Some(ns), tname);
            for t in nearest(c, &copies, world) {
                if in_input(t) {
                    continue;
                }
                let Some(q) = s(t.at("/spec/query")) else {
                    continue;
                };
                let ptype = s(t.at("/spec/provider/type")).unwrap_or("");
                let promql = !FLAGGER_NON_PROMETHEUS.contains(&ptype);
                let raw_interval = s(m.get("interval")).unwrap_or("");
                let env = Env::Flagger(flagger_model(c, m, raw_interval, label.clone()));
                out.push(Gate {
                    kind: GateKind::FlaggerTemplate,
                    dialect: Dialect::Flagger,
                    report: Place::new(c, format!("{p}/templateRef")),
                    in_scalar: false,
                    query_site: Some(Place::new(t, "/spec/query")),
                    metric: Place::new(c, p.clone()),
                    metric_name: name.to_owned(),
                    binder: Some(Place::new(c, p.clone())),
                    binder_label: Some(label.clone()),
                    analysis: analyse(q, &env, promql),
                    env,
                    thresholds: flagger_thresholds(m),
                    interval: Some(raw_interval.to_owned()),
                    target: Some(target.clone()),
                    promql,
                });
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Argo Rollouts.

/// A reference from a Rollout or Experiment to analysis templates, with its arguments.
#[derive(Debug, Clone)]
pub struct AnalysisRef<'w> {
    pub object: &'w Object,
    /// Pointer to the analysis block (`/spec/strategy/canary/steps/2/analysis`).
    pub pointer: String,
    /// (templateName, clusterScope)
    pub templates: Vec<(String, bool)>,
    pub args: Vec<&'w Value>,
}

/// Every analysis reference of a Rollout or Experiment.
pub fn analysis_refs<'w>(o: &'w Object) -> Vec<AnalysisRef<'w>> {
    let mut out = Vec::new();
    analysis_blocks(o, |pointer, v| {
        let mut templates = Vec::new();
        block_templates(v, |n, c| templates.push((n.to_owned(), c)));
        if !templates.is_empty() {
            out.push((pointer(), templates, v));
        }
    });
    out.into_iter()
        .map(|(pointer, templates, v)| AnalysisRef {
            object: o,
            pointer,
            templates,
            args: args_of(v),
        })
        .collect()
}

/// The analysis references of `o` to template `t` (cheap when there are none).
fn refs_to<'w>(o: &'w Object, t: &Object) -> Vec<AnalysisRef<'w>> {
    let cluster = t.kind == "ClusterAnalysisTemplate";
    let mut any = false;
    analysis_blocks(o, |_, v| {
        block_templates(v, |n, c| any |= n == t.name && c == cluster);
    });
    if !any {
        return Vec::new();
    }
    analysis_refs(o)
        .into_iter()
        .filter(|r| refers_to(r, t))
        .collect()
}

fn args_of(v: &Value) -> Vec<&Value> {
    v.get("args")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

/// The analysis blocks of a Rollout or Experiment, without building pointers: (path, block).
fn analysis_blocks<'w>(o: &'w Object, mut f: impl FnMut(&dyn Fn() -> String, &'w Value)) {
    let Some(spec) = o.value.get("spec") else {
        return;
    };
    match o.kind.as_str() {
        "Rollout" => {
            let strategy = spec.get("strategy");
            let canary = strategy.and_then(|st| st.get("canary"));
            if let Some(steps) = canary
                .and_then(|c| c.get("steps"))
                .and_then(Value::as_array)
            {
                for (i, st) in steps.iter().enumerate() {
                    if let Some(a) = st.get("analysis") {
                        f(&|| format!("/spec/strategy/canary/steps/{i}/analysis"), a);
                    }
                    if let Some(ans) = st
                        .get("experiment")
                        .and_then(|e| e.get("analyses"))
                        .and_then(Value::as_array)
                    {
                        for (j, a) in ans.iter().enumerate() {
                            f(
                                &|| {
                                    format!(
                                        "/spec/strategy/canary/steps/{i}/experiment/analyses/{j}"
                                    )
                                },
                                a,
                            );
                        }
                    }
                }
            }
            if let Some(a) = canary.and_then(|c| c.get("analysis")) {
                f(&|| "/spec/strategy/canary/analysis".to_owned(), a);
            }
            let bg = strategy.and_then(|st| st.get("blueGreen"));
            for k in ["prePromotionAnalysis", "postPromotionAnalysis"] {
                if let Some(a) = bg.and_then(|b| b.get(k)) {
                    f(&|| format!("/spec/strategy/blueGreen/{k}"), a);
                }
            }
        }
        "Experiment" => {
            if let Some(ans) = spec.get("analyses").and_then(Value::as_array) {
                for (j, a) in ans.iter().enumerate() {
                    f(&|| format!("/spec/analyses/{j}"), a);
                }
            }
        }
        _ => {}
    }
}

/// The (templateName, clusterScope) pairs of an analysis block.
fn block_templates(v: &Value, mut f: impl FnMut(&str, bool)) {
    let cluster_of = |t: &Value| {
        t.get("clusterScope")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    if let Some(ts) = v.get("templates").and_then(Value::as_array) {
        for t in ts {
            if let Some(n) = s(t.get("templateName")) {
                f(n, cluster_of(t));
            }
        }
    }
    if let Some(n) = s(v.get("templateName")) {
        f(n, cluster_of(v));
    }
}

/// Whether `r` references template `t`.
fn refers_to(r: &AnalysisRef<'_>, t: &Object) -> bool {
    let cluster = t.kind == "ClusterAnalysisTemplate";
    r.templates
        .iter()
        .any(|(n, c)| *n == t.name && *c == cluster && (cluster || r.object.ns() == t.ns()))
}

/// The binding of one argument value (`{name, value}` or `{name, valueFrom}`), as the
/// controller resolves it for `binder` (a Rollout resolves `fieldRef` on its own metadata).
fn arg_binding(arg: &Value, binder: Option<&Object>) -> Option<Binding> {
    if let Some(v) = arg.get("value") {
        let v = match v {
            Value::String(s) => s.clone(),
            Value::Null => return None,
            other => other.to_string(),
        };
        if v.contains("{{") {
            // Experiment args like {{templates.canary.podTemplateHash}}: resolved at run time.
            return Some(Binding::unknown(ValueSource::ArgValue));
        }
        return Some(Binding::known(v, ValueSource::ArgValue));
    }
    let from = arg.get("valueFrom")?;
    if let Some(h) = s(from.get("podTemplateHashValue")) {
        return Some(Binding::unknown(ValueSource::PodTemplateHash(h.to_owned())));
    }
    if let Some(path) = s(from.at("/fieldRef/fieldPath")) {
        let src = ValueSource::FieldRef(path.to_owned());
        let value = binder
            .filter(|b| b.kind == "Rollout")
            .and_then(|b| field_path(b, path));
        return Some(match value {
            Some(v) => Binding::known(v, src),
            None => Binding::unknown(src),
        });
    }
    if from.get("secretKeyRef").is_some() {
        return Some(Binding::unknown(ValueSource::SecretKeyRef));
    }
    None
}

/// `metadata.name`, `metadata.namespace`, `metadata.labels['k']`, `metadata.annotations['k']`.
fn field_path(o: &Object, path: &str) -> Option<String> {
    match path {
        "metadata.name" => return Some(o.name.clone()),
        "metadata.namespace" => return Some(o.ns().to_owned()),
        _ => {}
    }
    for (prefix, map) in [
        ("metadata.labels", o.labels()),
        ("metadata.annotations", o.annotations()),
    ] {
        let Some(rest) = path.strip_prefix(prefix) else {
            continue;
        };
        let key = rest
            .strip_prefix("['")
            .and_then(|r| r.strip_suffix("']"))
            .or_else(|| rest.strip_prefix("[\"").and_then(|r| r.strip_suffix("\"]")))?;
        return map?.get(key)?.as_str().map(str::to_owned);
    }
    None
}

fn declared_args(t: &Object) -> Vec<&Value> {
    t.at("/spec/args")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

/// Arguments of a template: its declarations, overridden by a reference's arguments.
fn argo_args(t: &Object, r: Option<&AnalysisRef<'_>>) -> ArgoArgs {
    let mut args = Vec::new();
    for d in declared_args(t) {
        let Some(name) = s(d.get("name")) else {
            continue;
        };
        let mut b = arg_binding(d, None);
        if let Some(r) = r {
            if let Some(given) = r.args.iter().find(|a| s(a.get("name")) == Some(name)) {
                if let Some(gb) = arg_binding(given, Some(r.object)) {
                    b = Some(gb);
                }
            }
        }
        args.push((name.to_owned(), b));
    }
    ArgoArgs {
        args,
        complete: r.is_some(),
        binder: r.map(|r| {
            format!(
                "{} {}/{} ({})",
                r.object.kind,
                r.object.ns(),
                r.object.name,
                r.pointer
            )
        }),
    }
}

fn argo_metric_gates<'w>(
    t: &'w Object,
    args: &ArgoArgs,
    binder: Option<(Place<'w>, String)>,
    report_on: Option<Place<'w>>,
    target: Option<Target>,
    out: &mut Vec<Gate<'w>>,
) {
    let Some(metrics) = t.at("/spec/metrics").and_then(Value::as_array) else {
        return;
    };
    let env = Env::Argo(args.clone());
    for (i, m) in metrics.iter().enumerate() {
        let Some(q) = s(m.at("/provider/prometheus/query")) else {
            continue;
        };
        let qp = format!("/spec/metrics/{i}/provider/prometheus/query");
        let render_cond = |k: &str| {
            s(m.get(k)).map(|c| {
                let r = super::template::render(c, &env);
                if r.errors.is_empty() {
                    r.text
                } else {
                    c.to_owned()
                }
            })
        };
        let (report, in_scalar) = match &report_on {
            Some(p) => (p.clone(), false),
            None => (Place::new(t, qp.clone()), true),
        };
        out.push(Gate {
            kind: GateKind::Argo,
            dialect: Dialect::Argo,
            report,
            in_scalar,
            query_site: Some(Place::new(t, qp)),
            metric: Place::new(t, format!("/spec/metrics/{i}")),
            metric_name: s(m.get("name")).unwrap_or("").to_owned(),
            binder: binder.as_ref().map(|(p, _)| p.clone()),
            binder_label: binder.as_ref().map(|(_, l)| l.clone()),
            analysis: analyse(q, &env, true),
            env: env.clone(),
            thresholds: Thresholds::Argo {
                success: render_cond("successCondition"),
                failure: render_cond("failureCondition"),
            },
            interval: s(m.get("interval")).map(str::to_owned),
            target: target.clone(),
            promql: true,
        });
    }
}

fn rollout_target(o: &Object) -> Option<Target> {
    (o.kind == "Rollout").then(|| Target {
        api_version: o.api_version.clone(),
        kind: o.kind.clone(),
        name: o.name.clone(),
        namespace: o.ns().to_owned(),
    })
}

fn argo_template<'w>(t: &'w Object, refs: &Referrers<'w>) -> Vec<Gate<'w>> {
    let mut out = Vec::new();
    let mut bound = false;
    let bindable = binder_filter(t, refs.world);
    let cluster = t.kind == "ClusterAnalysisTemplate";
    let candidates = refs.argo(cluster, t.ns(), &t.name);
    for kind in ["Rollout", "Experiment"] {
        let ns = (!cluster).then(|| t.ns());
        let of_kind = candidates
            .iter()
            .copied()
            .filter(|o| o.kind == kind && ns.is_none_or(|ns| o.ns() == ns));
        for o in of_kind {
            // Cheap filter first: the walk over the analysis blocks is the expensive part.
            if !bindable(o) {
                continue;
            }
            for r in refs_to(o, t) {
                bound = true;
                let args = argo_args(t, Some(&r));
                let label = format!("{} {}/{} {}", o.kind, o.ns(), o.name, r.pointer);
                argo_metric_gates(
                    t,
                    &args,
                    Some((Place::new(o, r.pointer.clone()), label)),
                    None,
                    rollout_target(o),
                    &mut out,
                );
            }
        }
    }
    if !bound {
        argo_metric_gates(t, &argo_args(t, None), None, None, None, &mut out);
    }
    out
}

fn analysis_run(run: &Object) -> Vec<Gate<'_>> {
    let mut args = Vec::new();
    for d in declared_args(run) {
        if let Some(name) = s(d.get("name")) {
            args.push((name.to_owned(), arg_binding(d, None)));
        }
    }
    let args = ArgoArgs {
        args,
        complete: true,
        binder: Some(format!("AnalysisRun {}/{}", run.ns(), run.name)),
    };
    let mut out = Vec::new();
    argo_metric_gates(run, &args, None, None, None, &mut out);
    out
}

/// A Rollout's or Experiment's templates that are not in the input: their findings come here.
fn argo_referrer<'w>(o: &'w Object, world: &'w dyn Inventory) -> Vec<Gate<'w>> {
    let mut out = Vec::new();
    for r in analysis_refs(o) {
        for (name, cluster) in &r.templates {
            let found = if *cluster {
                world.get("argoproj.io", "ClusterAnalysisTemplate", None, name)
            } else {
                world.get("argoproj.io", "AnalysisTemplate", Some(o.ns()), name)
            };
            for t in nearest(o, &found, world) {
                if in_input(t) {
                    continue;
                }
                let args = argo_args(t, Some(&r));
                let label = format!("{} {}/{} {}", o.kind, o.ns(), o.name, r.pointer);
                argo_metric_gates(
                    t,
                    &args,
                    Some((Place::new(o, r.pointer.clone()), label)),
                    Some(Place::new(o, r.pointer.clone())),
                    rollout_target(o),
                    &mut out,
                );
            }
        }
    }
    out
}

/// A bare query (`rollgate check-query`).
pub fn bare(query: &str) -> Rc<Analysis> {
    analyse(query, &Env::Plain, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::MemoryInventory;
    use crate::engine::lint::objects_of;

    fn world(yaml: &str) -> MemoryInventory {
        let docs = crate::manifest::load(yaml, crate::manifest::Limits::default()).documents;
        let mut objs = Vec::new();
        for d in docs {
            objs.extend(objects_of(d.value, 0, d.index, "default").unwrap());
        }
        MemoryInventory::new(objs, "test", false)
    }

    const FLAGGER: &str = r#"
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: latency, namespace: test}
spec:
  provider: {type: prometheus, address: http://prom:9090}
  query: |
    histogram_quantile(0.99, sum by (le) (rate(x_bucket{pod=~"{{ target }}-.*", d="{{ variables.d }}"}[{{ interval }}])))
---
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: test}
spec:
  provider: linkerd
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  analysis:
    interval: 1m
    metrics:
    - name: request-duration
      thresholdRange: {max: 500}
    - name: latency
      templateRef: {name: latency}
      templateVariables: {d: inbound}
      interval: 2m
    - name: inline
      query: sum(rate(x[{{ interval }}]))
"#;

    #[test]
    fn builtins_follow_the_mesh_provider() {
        let w = world(
            "apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: test}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  ingressRef: {apiVersion: networking.k8s.io/v1, kind: Ingress, name: web}
  analysis:
    metrics:
    - {name: request-success-rate, thresholdRange: {min: 99}}
",
        );
        let c = &w.objects()[0];
        let builtin = |settings: &crate::engine::Settings| {
            let refs = Referrers::with_controllers(&w, Controllers::with_settings(&w, settings));
            let g = gates_with(c, &refs);
            match &g[0].kind {
                GateKind::FlaggerBuiltin(b) => (*b, g[0].analysis.sent.clone()),
                k => panic!("{k:?}"),
            }
        };
        let (b, _) = builtin(&crate::engine::Settings::default());
        assert_eq!((b.provider, b.provider_assumed), ("istio", true));
        let nginx = crate::engine::Settings {
            flagger_mesh_provider: Some("nginx".into()),
            ..Default::default()
        };
        let (b, sent) = builtin(&nginx);
        assert_eq!((b.provider, b.provider_assumed), ("nginx", false));
        assert!(sent.contains("ingress=\"web\""), "{sent}");
    }

    #[test]
    fn flagger_gates() {
        let w = world(FLAGGER);
        let objs = w.objects();
        let t = gates(&objs[0], &w);
        assert_eq!(t.len(), 1);
        let a = &t[0].analysis;
        assert!(a.rendered.ok(), "{:?}", a.rendered.errors);
        assert!(a.sent.contains("podinfo-.*"), "{}", a.sent);
        assert!(a.sent.contains("[2m]"), "{}", a.sent);
        assert!(a.query().is_some());
        let c = gates(&objs[1], &w);
        assert_eq!(c.len(), 2);
        let GateKind::FlaggerBuiltin(b) = &c[0].kind else {
            panic!("{:?}", c[0].kind)
        };
        assert_eq!(b.provider, "linkerd");
        assert!(c[0].analysis.sent.contains("deployment=~\"podinfo\""));
        assert_eq!(c[1].kind, GateKind::FlaggerInline);
        assert!(c[1].analysis.sent.contains("[1m]"));
    }

    #[test]
    fn argo_gates() {
        let w = world(
            r#"
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: success-rate, namespace: default}
spec:
  args: [{name: service-name}, {name: hash}]
  metrics:
  - name: success-rate
    successCondition: result[0] >= 0.95
    provider:
      prometheus:
        query: sum(rate(x{service="{{args.service-name}}", h="{{args.hash}}"}[5m]))
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web, namespace: default}
spec:
  strategy:
    canary:
      steps:
      - analysis:
          templates: [{templateName: success-rate}]
          args:
          - {name: service-name, value: web-canary}
          - name: hash
            valueFrom: {podTemplateHashValue: Latest}
"#,
        );
        let g = gates(&w.objects()[0], &w);
        assert_eq!(g.len(), 1);
        let a = &g[0].analysis;
        assert!(a.rendered.ok(), "{:?}", a.rendered.errors);
        assert!(a.sent.contains("service=\"web-canary\""), "{}", a.sent);
        let sub = &a.rendered.substitutions[1];
        assert_eq!(sub.source, ValueSource::PodTemplateHash("Latest".into()));
        assert!(!sub.exact);
        assert_eq!(
            g[0].thresholds,
            Thresholds::Argo {
                success: Some("result[0] >= 0.95".into()),
                failure: None
            }
        );
    }
}
