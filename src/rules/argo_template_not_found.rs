//! argo-template-not-found: every analysis template an Argo Rollout, Experiment or
//! AnalysisTemplate refers to must exist and be named.
//!
//! `rollout/controller.go` `getReferencedAnalysisTemplatesFromRef`: an `AnalysisTemplate` is
//! looked up in the Rollout's namespace, a `ClusterAnalysisTemplate` (`clusterScope: true`)
//! cluster-wide; a missing one makes the Rollout `InvalidSpec` ("AnalysisTemplate 'x' not
//! found") and nothing is rolled out. Templates can include templates (`spec.templates`).

use serde_json::Value;

use crate::engine::rule::finding;
use crate::engine::{Context, Edit, Finding, Fix, Object, Rule, RuleMeta, Severity};

use super::common::{absent, at, display, field, str_at};

pub struct ArgoTemplateNotFound;

static META: RuleMeta = RuleMeta {
    id: "argo-template-not-found",
    severity: Severity::Error,
    kinds: &[
        ("argoproj.io", "Rollout"),
        ("argoproj.io", "Experiment"),
        ("argoproj.io", "AnalysisTemplate"),
        ("argoproj.io", "ClusterAnalysisTemplate"),
    ],
    doc: include_str!("../../rules/argo-template-not-found.md"),
    options: &[],
    builtin: false,
};

/// JSON pointers of the lists of template references of an object.
fn reference_lists(object: &Object) -> Vec<String> {
    let mut lists = Vec::new();
    match object.kind.as_str() {
        "Rollout" => {
            if let Some(steps) = at(object, "/spec/strategy/canary/steps").and_then(Value::as_array)
            {
                for i in 0..steps.len() {
                    lists.push(format!(
                        "/spec/strategy/canary/steps/{i}/analysis/templates"
                    ));
                    lists.push(format!(
                        "/spec/strategy/canary/steps/{i}/experiment/analyses"
                    ));
                }
            }
            lists.push("/spec/strategy/canary/analysis/templates".into());
            lists.push("/spec/strategy/blueGreen/prePromotionAnalysis/templates".into());
            lists.push("/spec/strategy/blueGreen/postPromotionAnalysis/templates".into());
        }
        "Experiment" => lists.push("/spec/analyses".into()),
        _ => lists.push("/spec/templates".into()),
    }
    lists
}

impl Rule for ArgoTemplateNotFound {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, object: &Object, cx: &Context<'_>, out: &mut Vec<Finding>) {
        let consequence = match object.kind.as_str() {
            "Rollout" => "Argo Rollouts marks the Rollout InvalidSpec and does not roll out",
            "Experiment" => "the Experiment fails without running its analyses",
            _ => "every Rollout using this template is marked InvalidSpec",
        };
        for list in reference_lists(object) {
            let Some(refs) = at(object, &list).and_then(Value::as_array) else {
                continue;
            };
            for (j, r) in refs.iter().enumerate() {
                let at = format!("{list}/{j}");
                if !r.is_object() {
                    continue;
                }
                let Some(name) = str_at(object, &format!("{at}/templateName")) else {
                    let mut f = finding(
                        &META,
                        object,
                        &at,
                        format!("{} has no templateName; {consequence}", field(&at)),
                    )
                    .with_help("name the AnalysisTemplate with `templateName` (not `name`)");
                    // `name:` written for `templateName:`: rename the key. Unsafe: the
                    // reference starts to resolve (the step's analysis runs).
                    if r.get("templateName").is_none()
                        && r.get("name").is_some_and(Value::is_string)
                    {
                        f = f.with_fix(Fix::unsafe_edits(
                            "rename `name` to `templateName`",
                            vec![Edit::rename_key(format!("{at}/name"), "templateName")],
                        ));
                    }
                    out.push(f);
                    continue;
                };
                let cluster = r
                    .get("clusterScope")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                let (kind, other_kind) = if cluster {
                    ("ClusterAnalysisTemplate", "AnalysisTemplate")
                } else {
                    ("AnalysisTemplate", "ClusterAnalysisTemplate")
                };
                let ns = object.namespace.as_deref();
                if !cluster && ns.is_none() {
                    // A ClusterAnalysisTemplate's namespaced reference resolves in the namespace
                    // of each Rollout that uses it: unknown here.
                    continue;
                }
                let found = if cluster {
                    cx.world.get("argoproj.io", kind, None, name)
                } else {
                    cx.world.get("argoproj.io", kind, ns, name)
                };
                if !found.is_empty() {
                    continue;
                }
                let searched = match ns.filter(|_| !cluster) {
                    Some(ns) => format!("namespace \"{ns}\""),
                    None => "cluster-scoped objects".to_owned(),
                };
                let (severity, message) = absent(
                    cx,
                    &format!("templateName \"{name}\" ({kind})"),
                    &searched,
                    consequence,
                );
                let mut f = finding(&META, object, format!("{at}/templateName"), message);
                f.severity = severity;
                // The other scope: an AnalysisTemplate of this namespace, or any
                // ClusterAnalysisTemplate.
                let other = cx
                    .world
                    .get("argoproj.io", other_kind, ns.filter(|_| cluster), name);
                let elsewhere = cx.world.get("argoproj.io", kind, None, name);
                if let Some(o) = other.first() {
                    let fix = if cluster {
                        Fix::unsafe_edits(
                            format!("refer to the {other_kind}: `clusterScope: false`"),
                            vec![Edit::set(format!("{at}/clusterScope"), false)],
                        )
                    } else if r.get("clusterScope").is_some() {
                        Fix::unsafe_edits(
                            format!("refer to the {other_kind}: `clusterScope: true`"),
                            vec![Edit::set(format!("{at}/clusterScope"), true)],
                        )
                    } else {
                        Fix::unsafe_edits(
                            format!("refer to the {other_kind}: `clusterScope: true`"),
                            vec![Edit::insert(at.clone(), "clusterScope", true)],
                        )
                    };
                    f = f
                        .with_fix(fix)
                        .with_help(format!(
                            "{} exists: {}",
                            display(o),
                            if cluster {
                                "remove `clusterScope: true`"
                            } else {
                                "add `clusterScope: true`"
                            }
                        ))
                        .with_related(
                            o,
                            "/metadata/name",
                            format!("a {other_kind} with this name"),
                        );
                } else if let Some(o) = elsewhere.first() {
                    f = f
                        .with_help(format!(
                            "{} is in another namespace; an AnalysisTemplate must be in the {}'s namespace",
                            display(o),
                            object.kind
                        ))
                        .with_related(o, "/metadata/name", "an AnalysisTemplate with this name");
                } else if let Some(near) = did_you_mean(cx, kind, ns.filter(|_| !cluster), name) {
                    f = f.with_help(format!("did you mean \"{near}\"?")).with_fix(
                        Fix::unsafe_edits(
                            format!("refer to \"{near}\""),
                            vec![Edit::set(format!("{at}/templateName"), near)],
                        ),
                    );
                }
                out.push(f);
            }
        }
    }
}

/// The name of a template of `kind` in `ns` (cluster-scoped when `None`) near `name` (an edit
/// distance of at most a third of the length): a typo's intended referent.
fn did_you_mean(cx: &Context<'_>, kind: &str, ns: Option<&str>, name: &str) -> Option<String> {
    let objects = cx.world.list("argoproj.io", kind, ns);
    let names: Vec<&str> = objects.iter().map(|o| o.name.as_str()).collect();
    crate::engine::config::suggest(name, &names).map(str::to_owned)
}
