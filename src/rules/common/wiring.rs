//! Scrape wiring shared by the ServiceMonitor and PodMonitor rules: which namespaces a monitor
//! covers, which Services and pods its selector selects, and which Services select a workload's
//! pods (prometheus-operator `pkg/prometheus/promcfg.go` `generateServiceMonitorConfig`,
//! `getNamespacesFromNamespaceSelector`).
//!
//! Flagger creates Services and a primary Deployment for every Canary
//! (`pkg/router/kubernetes_default.go` `reconcileService`, `pkg/canary/deployment_controller.go`
//! `createPrimaryDeployment`); they are never in the input but monitors select them. When no
//! object of the input matches, the Services and pods a Canary of the covered namespaces will
//! create are considered too, so monitors written for Flagger are not reported.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::{at, canary_apex, display, namespaces_phrase, str_at};
use crate::engine::inventory::{POD_TEMPLATE_KINDS, PodTemplate};
use crate::engine::selector::{LabelSelector, Operator, SelectorError};
use crate::engine::{Context, Object};

/// Namespaces a monitor covers (`spec.namespaceSelector`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Namespaces {
    /// `any: true`.
    Any,
    /// `matchNames`, or the monitor's own namespace when neither field is set.
    Names(Vec<String>),
}

impl Namespaces {
    pub fn of_monitor(monitor: &Object) -> Namespaces {
        let sel = at(monitor, "/spec/namespaceSelector");
        if sel
            .and_then(|s| s.get("any"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
        {
            return Namespaces::Any;
        }
        let names: Vec<String> = sel
            .and_then(|s| s.get("matchNames"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        if names.is_empty() {
            Namespaces::Names(vec![monitor.ns().to_owned()])
        } else {
            Namespaces::Names(names)
        }
    }

    /// The namespace arguments of inventory queries.
    pub fn queries(&self) -> Vec<Option<&str>> {
        match self {
            Namespaces::Any => vec![None],
            Namespaces::Names(n) => n.iter().map(|s| Some(s.as_str())).collect(),
        }
    }

    /// For messages: `namespace "a"`, `namespaces "a", "b"`, `all namespaces`.
    pub fn phrase(&self) -> String {
        match self {
            Namespaces::Any => "all namespaces".to_owned(),
            Namespaces::Names(n) => namespaces_phrase(n),
        }
    }
}

/// A monitor's `spec.selector`. The field is a struct in the API (not a pointer): absent or
/// null is the empty selector, which selects everything.
pub fn monitor_selector(monitor: &Object) -> Result<LabelSelector, SelectorError> {
    LabelSelector::parse(at(monitor, "/spec/selector").unwrap_or(&Value::Null))
}

/// A Service a selector selected: one of the input, or one Flagger will create for a Canary.
#[derive(Debug, Clone)]
pub struct Svc<'a> {
    /// The Service; for a Flagger one, the Canary.
    pub object: &'a Object,
    pub namespace: &'a str,
    pub name: Cow<'a, str>,
    pub labels: Cow<'a, Map<String, Value>>,
    /// The pods it sends traffic to (`spec.selector`); `None` selects no pod.
    pub pod_selector: Option<LabelSelector>,
    /// Names of its ports; `None` when not known (Flagger's port discovery).
    pub port_names: Option<Vec<String>>,
    /// Whether Flagger creates it (then `object` is the Canary).
    pub by_flagger: bool,
}

impl Svc<'_> {
    /// `Service ns/name`, or `Service ns/name (created by Flagger for Canary ns/c)`.
    pub fn describe(&self) -> String {
        let base = format!("Service {}/{}", self.namespace, self.name);
        if self.by_flagger {
            format!("{base} (created by Flagger for {})", display(self.object))
        } else {
            base
        }
    }

    /// Where its labels are written: the Service's labels, or the Canary's `spec.service`.
    pub fn labels_pointer(&self) -> &'static str {
        if self.by_flagger {
            "/spec/service"
        } else {
            "/metadata/labels"
        }
    }

    fn of_service(o: &Object) -> Svc<'_> {
        let pod_selector = at(o, "/spec/selector")
            .and_then(Value::as_object)
            .filter(|m| !m.is_empty())
            .map(LabelSelector::from_map);
        let port_names = at(o, "/spec/ports")
            .and_then(Value::as_array)
            .map(|ports| {
                ports
                    .iter()
                    .filter_map(|p| p.get("name").and_then(Value::as_str))
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        Svc {
            object: o,
            namespace: o.ns(),
            name: Cow::Borrowed(&o.name),
            labels: o
                .labels()
                .map_or_else(|| Cow::Owned(Map::new()), Cow::Borrowed),
            pod_selector,
            port_names: Some(port_names),
            by_flagger: false,
        }
    }
}

/// Pods a selector selected: a pod template of the input, or the primary pods Flagger creates
/// from a Canary's target.
#[derive(Debug, Clone)]
pub struct Pods<'a> {
    /// The template (for Flagger's primary: the target's, which Flagger copies).
    pub template: PodTemplate<'a>,
    pub labels: Cow<'a, Map<String, Value>>,
    /// The Canary, when these are the pods of Flagger's `<target>-primary`.
    pub primary_of: Option<&'a Object>,
}

impl Pods<'_> {
    /// `pods of Deployment ns/web`, or `pods of Deployment ns/web-primary (created by Flagger …)`.
    pub fn describe(&self) -> String {
        let w = self.template.workload;
        match self.primary_of {
            None => format!("pods of {}", display(w)),
            Some(c) => format!(
                "pods of {} {}/{}-primary (created by Flagger for {})",
                w.kind,
                w.ns(),
                w.name,
                display(c)
            ),
        }
    }

    /// Whether a container declares this port (a name, or a number as text).
    pub fn declares_port(&self, port: &Value) -> bool {
        let Some(spec) = self.template.spec() else {
            return false;
        };
        ["containers", "initContainers"]
            .iter()
            .filter_map(|k| spec.get(*k).and_then(Value::as_array))
            .flatten()
            .filter_map(|c| c.get("ports").and_then(Value::as_array))
            .flatten()
            .any(|p| match port {
                Value::String(name) => p.get("name").and_then(Value::as_str) == Some(name),
                Value::Number(n) => p.get("containerPort").and_then(Value::as_i64) == n.as_i64(),
                _ => false,
            })
    }
}

/// Services of the covered namespaces the selector selects: those of the input, else those the
/// Canaries of those namespaces make Flagger create.
pub fn services<'a>(
    cx: &Context<'a>,
    namespaces: &Namespaces,
    selector: &LabelSelector,
) -> Vec<Svc<'a>> {
    let mut out: Vec<Svc<'a>> = Vec::new();
    for ns in namespaces.queries() {
        out.extend(
            cx.world
                .select("", "Service", ns, selector)
                .into_iter()
                .map(Svc::of_service),
        );
    }
    if out.is_empty() {
        for ns in namespaces.queries() {
            for c in flagger_canaries(cx, ns, Some(selector)) {
                out.extend(
                    c.services()
                        .into_iter()
                        .filter(|s| selector.matches(Some(&s.labels))),
                );
            }
        }
    }
    out
}

/// Pods of the covered namespaces the selector selects: the input's pod templates, else the
/// primary pods Flagger creates for the Canaries of those namespaces.
pub fn pods<'a>(
    cx: &Context<'a>,
    namespaces: &Namespaces,
    selector: &LabelSelector,
) -> Vec<Pods<'a>> {
    let mut out: Vec<Pods<'a>> = Vec::new();
    for ns in namespaces.queries() {
        out.extend(cx.world.select_pods(ns, selector).into_iter().map(|t| {
            Pods {
                template: t,
                labels: t
                    .labels()
                    .map_or_else(|| Cow::Owned(Map::new()), Cow::Borrowed),
                primary_of: None,
            }
        }));
    }
    if out.is_empty() {
        for ns in namespaces.queries() {
            for c in flagger_canaries(cx, ns, None) {
                if let Some(p) = c.primary_pods() {
                    if selector.matches(Some(&p.labels)) {
                        out.push(p);
                    }
                }
            }
        }
    }
    out
}

/// A workload whose own labels or pod labels the selector selects, and which labels matched.
#[derive(Debug, Clone)]
pub struct WorkloadMatch<'a> {
    pub template: PodTemplate<'a>,
    /// JSON pointer of the labels that matched (`/metadata/labels` or the template's).
    pub labels_pointer: String,
    pub pod_labels: bool,
}

/// Workloads of the covered namespaces whose own labels or pod-template labels the selector
/// selects (what a ServiceMonitor author may have copied instead of the Service's labels).
pub fn workloads<'a>(
    cx: &Context<'a>,
    namespaces: &Namespaces,
    selector: &LabelSelector,
) -> Vec<WorkloadMatch<'a>> {
    let mut out: Vec<WorkloadMatch<'a>> = Vec::new();
    for ns in namespaces.queries() {
        for t in cx.world.select_pods(ns, selector) {
            out.push(WorkloadMatch {
                template: t,
                labels_pointer: t.labels_pointer(),
                pod_labels: true,
            });
        }
        for (g, k, _) in POD_TEMPLATE_KINDS {
            for o in cx.world.select(g, k, ns, selector) {
                let Some(t) = PodTemplate::of(o) else {
                    continue;
                };
                if !out.iter().any(|m| std::ptr::eq(m.template.workload, o)) {
                    out.push(WorkloadMatch {
                        template: t,
                        labels_pointer: "/metadata/labels".to_owned(),
                        pod_labels: false,
                    });
                }
            }
        }
    }
    out
}

/// Services of `namespace` whose `spec.selector` selects pods with these labels: the input's,
/// and those Flagger creates for the namespace's Canaries. A reverse lookup (selectors are not
/// indexed), used only to explain a finding.
pub fn services_selecting<'a>(
    cx: &Context<'a>,
    namespace: &str,
    pod_labels: &Map<String, Value>,
) -> Vec<Svc<'a>> {
    let mut out: Vec<Svc<'a>> = cx
        .world
        .list("", "Service", Some(namespace))
        .into_iter()
        .map(Svc::of_service)
        .filter(|s| {
            s.pod_selector
                .as_ref()
                .is_some_and(|sel| sel.matches(Some(pod_labels)))
        })
        .collect();
    for c in flagger_canaries(cx, Some(namespace), None) {
        out.extend(c.services().into_iter().filter(|s| {
            s.pod_selector
                .as_ref()
                .is_some_and(|sel| sel.matches(Some(pod_labels)))
        }));
    }
    out
}

/// Labels Flagger uses to build pod selectors, in its order of preference
/// (`-selector-labels` default, `cmd/flagger/main.go`).
const FLAGGER_SELECTOR_LABELS: &[&str] = &["app", "name", "app.kubernetes.io/name"];

/// A Flagger Canary that creates Services (its target is a Deployment or DaemonSet).
struct FlaggerCanary<'a> {
    canary: &'a Object,
    apex: &'a str,
    /// The target, when it is in the world.
    target: Option<&'a Object>,
    /// The target's selector label (`app`, …) and value, when the target is known.
    selector_label: Option<(&'static str, String)>,
}

/// The Canaries of `ns` whose Services `selector` may select (all of them without a selector).
/// The test on the Service names comes first: looking up each target is the expensive part.
fn flagger_canaries<'a>(
    cx: &Context<'a>,
    ns: Option<&str>,
    selector: Option<&LabelSelector>,
) -> Vec<FlaggerCanary<'a>> {
    let mut out = Vec::new();
    for canary in cx.world.list("flagger.app", "Canary", ns) {
        let kind = str_at(canary, "/spec/targetRef/kind").unwrap_or("Deployment");
        if kind != "Deployment" && kind != "DaemonSet" {
            continue;
        }
        let Some(apex) = canary_apex(canary) else {
            continue;
        };
        if selector.is_some_and(|sel| !may_select(canary, apex, sel)) {
            continue;
        }
        let target = str_at(canary, "/spec/targetRef/name").and_then(|name| {
            cx.world
                .get("apps", kind, Some(canary.ns()), name)
                .into_iter()
                .next()
        });
        let selector_label = target.and_then(|t| {
            let m = at(t, "/spec/selector/matchLabels")?.as_object()?;
            FLAGGER_SELECTOR_LABELS.iter().find_map(|l| {
                let v = m.get(*l)?.as_str()?;
                Some((*l, v.to_owned()))
            })
        });
        out.push(FlaggerCanary {
            canary,
            apex,
            target,
            selector_label,
        });
    }
    out
}

/// A necessary condition for `selector` to select one of the Services Flagger creates for
/// `canary` (named `apex`, `apex-canary`, `apex-primary`, labelled with their name under a
/// selector label, plus the labels of `spec.service.{apex,canary,primary}`).
fn may_select(canary: &Object, apex: &str, selector: &LabelSelector) -> bool {
    let custom = |key: &str| {
        at(canary, "/spec/service").is_some_and(|service| {
            ["apex", "canary", "primary"].iter().any(|role| {
                service
                    .get(*role)
                    .and_then(|m| m.get("labels"))
                    .and_then(|l| l.get(key))
                    .is_some()
            })
        })
    };
    let is_name = |v: &str| {
        v == apex
            || v.strip_suffix("-canary") == Some(apex)
            || v.strip_suffix("-primary") == Some(apex)
    };
    selector.requirements.iter().all(|r| {
        let selector_label = FLAGGER_SELECTOR_LABELS.contains(&r.key.as_str());
        match r.operator {
            Operator::NotIn | Operator::DoesNotExist => true,
            Operator::Exists => selector_label || custom(&r.key),
            Operator::Equals | Operator::In => {
                (selector_label && r.values.iter().any(|v| is_name(v))) || custom(&r.key)
            }
        }
    })
}

impl<'a> FlaggerCanary<'a> {
    /// The apex, `-canary` and `-primary` Services, labelled `<selector label>: <service name>`
    /// plus `spec.service.{apex,canary,primary}.labels`. With the target unknown, the selector
    /// label is unknown: every candidate label is set (lenient).
    fn services(&self) -> Vec<Svc<'a>> {
        let c = self.canary;
        let port_names = if at(c, "/spec/service/portDiscovery")
            .and_then(Value::as_bool)
            .unwrap_or(false)
        {
            None
        } else {
            Some(vec![
                str_at(c, "/spec/service/portName")
                    .unwrap_or("http")
                    .to_owned(),
            ])
        };
        let keys: Vec<&str> = match &self.selector_label {
            Some((k, _)) => vec![k],
            None => FLAGGER_SELECTOR_LABELS.to_vec(),
        };
        let value = self.selector_label.as_ref().map(|(_, v)| v.as_str());
        let primary_value = value.map(|v| format!("{v}-primary"));
        [
            ("apex", self.apex.to_owned(), primary_value.clone()),
            (
                "canary",
                format!("{}-canary", self.apex),
                value.map(str::to_owned),
            ),
            ("primary", format!("{}-primary", self.apex), primary_value),
        ]
        .into_iter()
        .map(|(role, name, pod_value)| {
            let mut labels = Map::new();
            if let Some(extra) =
                at(c, &format!("/spec/service/{role}/labels")).and_then(Value::as_object)
            {
                labels.extend(extra.clone());
            }
            for k in &keys {
                labels.insert((*k).to_owned(), Value::String(name.clone()));
            }
            let pod_selector = match (&self.selector_label, pod_value) {
                (Some((k, _)), Some(v)) => {
                    let mut m = Map::new();
                    m.insert((*k).to_owned(), Value::String(v));
                    Some(LabelSelector::from_map(&m))
                }
                _ => None,
            };
            Svc {
                object: c,
                namespace: c.ns(),
                name: Cow::Owned(name),
                labels: Cow::Owned(labels),
                pod_selector,
                port_names: port_names.clone(),
                by_flagger: true,
            }
        })
        .collect()
    }

    /// The pods of `<target>-primary`: the target's template with the selector label's value
    /// suffixed `-primary` (`pkg/canary/util.go` `makePrimaryLabels`).
    fn primary_pods(&self) -> Option<Pods<'a>> {
        let target = self.target?;
        let (key, value) = self.selector_label.as_ref()?;
        let template = PodTemplate::of(target)?;
        let mut labels = template.labels().cloned().unwrap_or_default();
        labels.insert((*key).to_owned(), Value::String(format!("{value}-primary")));
        Some(Pods {
            template,
            labels: Cow::Owned(labels),
            primary_of: Some(self.canary),
        })
    }
}
