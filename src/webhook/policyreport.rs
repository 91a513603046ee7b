//! Audit results as the ecosystem's reports: one `wgpolicyk8s.io/v1alpha2` `PolicyReport`
//! named `rollgate` per namespace with findings, one `ClusterPolicyReport` for cluster-scoped
//! objects (the format Kyverno writes and Policy Reporter reads), and the same documents as
//! `openreports.io/v1alpha1` `Report` / `ClusterReport` where that CRD is installed (its
//! successor: same result fields, `kyverno/config/crds/policyreport/openreports.io_*.yaml`).
//!
//! Lessons from Kyverno and Gatekeeper (shared/spec/anchors-wave2.md §4):
//! - One report per namespace, written only when its content changes ([`reconcile`] compares
//!   without timestamps and server-set metadata, Kyverno's `ReportsAreIdentical`); no
//!   timestamps in results at all, so an unchanged cluster never causes a write (Gatekeeper's
//!   `auditTimestamp` makes every pass a write). The time of the last pass is a metric.
//! - Results capped at [`MAX_RESULTS`] (a per-namespace report outgrew etcd's request limit at
//!   ~2,000 pods: kyverno #2674); the summary counts every finding.
//! - A namespace whose findings are all fixed loses its report (deleted, not left empty).
//!
//! Garbage collection: a PolicyReport lives in the namespace it describes, so deleting the
//! namespace deletes it. `rollgate serve` passes an owner (its ValidatingWebhookConfiguration,
//! cluster-scoped) so uninstalling rollgate removes every report; `rollgate audit
//! --write-reports` writes none (nothing of rollgate stays in the cluster to own them), and
//! `kubectl delete policyreport,clusterpolicyreport -A -l app.kubernetes.io/managed-by=rollgate`
//! removes them.

use std::collections::{BTreeMap, BTreeSet};

use kube::api::{Api, DeleteParams, DynamicObject, ListParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Client, discovery};
use serde_json::{Value, json};

use super::audit::{Audit, Row};
use crate::engine::Severity;

/// The name of every report rollgate writes.
pub const REPORT_NAME: &str = "rollgate";
/// `source` of every result, and the `managed-by` label value.
pub const SOURCE: &str = "rollgate";
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// Label with a hash of rollgate's version and configuration (Kyverno labels reports with
/// its policies' versions): a report written by another configuration is rewritten.
pub const CONFIG_LABEL: &str = "rollgate.dev/config";
/// Results per report; the summary still counts every finding.
pub const MAX_RESULTS: usize = 500;
/// Longest message in a result.
pub const MAX_MESSAGE_CHARS: usize = 1000;

/// A report format: apiVersion and the kinds of the namespaced and the cluster report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flavor {
    pub group: &'static str,
    pub version: &'static str,
    pub namespaced: &'static str,
    pub cluster: &'static str,
}

pub const WGPOLICY: Flavor = Flavor {
    group: "wgpolicyk8s.io",
    version: "v1alpha2",
    namespaced: "PolicyReport",
    cluster: "ClusterPolicyReport",
};

pub const OPENREPORTS: Flavor = Flavor {
    group: "openreports.io",
    version: "v1alpha1",
    namespaced: "Report",
    cluster: "ClusterReport",
};

impl Flavor {
    pub fn api_version(&self) -> String {
        format!("{}/{}", self.group, self.version)
    }

    fn kind(&self, namespace: Option<&str>) -> &'static str {
        if namespace.is_some() {
            self.namespaced
        } else {
            self.cluster
        }
    }

    fn resource(&self, namespaced: bool) -> ApiResource {
        let kind = if namespaced {
            self.namespaced
        } else {
            self.cluster
        };
        ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(self.group, self.version, kind),
            &format!("{}s", kind.to_ascii_lowercase()),
        )
    }
}

/// A hash of rollgate's version and its configuration (the config file's bytes, the flags
/// that change findings), as 16 hex digits: a label value.
pub fn config_hash(version: &str, config: &[u8]) -> String {
    // FNV-1a, 64 bits: a change detector, not a security boundary.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in version.as_bytes().iter().chain([0u8].iter()).chain(config) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// What the reports are made of besides the rows.
#[derive(Debug, Clone, Default)]
pub struct ReportMeta {
    /// [`config_hash`].
    pub config_hash: String,
    /// Owner reference (JSON) set on every report, e.g. rollgate's cluster-scoped
    /// ValidatingWebhookConfiguration (see the module comment).
    pub owner: Option<Value>,
}

fn result_severity(s: Severity) -> (&'static str, &'static str) {
    // (result, severity) in the report's enums: an error fails the check, a warning warns.
    match s {
        Severity::Error => ("fail", "high"),
        Severity::Warning => ("warn", "medium"),
        Severity::Info => ("skip", "info"),
    }
}

fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

fn result(r: &Row) -> Value {
    let (result, severity) = result_severity(r.severity);
    let mut resource = json!({
        "apiVersion": r.object.api_version,
        "kind": r.object.kind,
        "name": r.object.name,
    });
    if let Some(ns) = &r.object.namespace {
        resource["namespace"] = json!(ns);
    }
    if let Some(uid) = &r.uid {
        resource["uid"] = json!(&**uid);
    }
    let mut properties = serde_json::Map::new();
    properties.insert("pointer".into(), json!(r.pointer));
    let path = super::review::dotted_path(&r.pointer);
    if !path.is_empty() {
        properties.insert("field".into(), json!(path));
    }
    json!({
        "source": SOURCE,
        "policy": r.rule,
        "result": result,
        "severity": severity,
        "scored": true,
        "message": cut(&r.message, MAX_MESSAGE_CHARS),
        "resources": [resource],
        "properties": properties,
    })
}

/// The report of one namespace (`None`: the cluster report), or `None` when it has no result
/// at warning or error (its report is then deleted). `passed`: objects checked there with no
/// such finding.
pub fn report(
    flavor: Flavor,
    namespace: Option<&str>,
    rows: &[Row],
    passed: usize,
    meta: &ReportMeta,
) -> Option<Value> {
    let listed: Vec<&Row> = rows
        .iter()
        .filter(|r| r.severity >= Severity::Warning)
        .collect();
    if listed.is_empty() {
        return None;
    }
    let fail = listed
        .iter()
        .filter(|r| r.severity == Severity::Error)
        .count();
    let warn = listed.len() - fail;
    // Errors first when capped: they are what a reader must see.
    let mut ordered = listed.clone();
    ordered.sort_by_key(|r| std::cmp::Reverse(r.severity));
    let results: Vec<Value> = ordered
        .iter()
        .take(MAX_RESULTS)
        .map(|r| result(r))
        .collect();
    let mut metadata = json!({
        "name": REPORT_NAME,
        "labels": {MANAGED_BY: SOURCE, CONFIG_LABEL: meta.config_hash},
    });
    if listed.len() > MAX_RESULTS {
        metadata["annotations"] = json!({
            "rollgate.dev/results-omitted": (listed.len() - MAX_RESULTS).to_string()
        });
    }
    if let Some(ns) = namespace {
        metadata["namespace"] = json!(ns);
    }
    if let Some(owner) = &meta.owner {
        metadata["ownerReferences"] = json!([owner]);
    }
    Some(json!({
        "apiVersion": flavor.api_version(),
        "kind": flavor.kind(namespace),
        "metadata": metadata,
        "summary": {"pass": passed, "fail": fail, "warn": warn, "error": 0, "skip": 0},
        "results": results,
    }))
}

/// Every report an audit asks for, by namespace (`None`: the cluster report). Namespaces with
/// no finding at warning or error have none.
pub fn desired(
    flavor: Flavor,
    audit: &Audit,
    meta: &ReportMeta,
) -> BTreeMap<Option<String>, Value> {
    let mut out = BTreeMap::new();
    for (ns, rows) in &audit.rows {
        let passed = audit.checked.get(ns).map_or(0, |c| c.passed);
        if let Some(r) = report(flavor, ns.as_deref(), rows, passed, meta) {
            out.insert(ns.clone(), r);
        }
    }
    out
}

/// A change to make to one report.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    Create(Value),
    /// The desired report with the observed `metadata.resourceVersion` (optimistic locking).
    Update(Value),
    Delete {
        namespace: Option<String>,
        name: String,
    },
}

/// What is compared: everything rollgate writes, nothing the server sets (uid,
/// resourceVersion, creationTimestamp, managedFields, generation) and no timestamp.
fn comparable(v: &Value) -> Value {
    let m = v.get("metadata");
    let ours_labels: BTreeMap<String, Value> = m
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter(|(k, _)| *k == MANAGED_BY || *k == CONFIG_LABEL)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let annotation = m
        .and_then(|m| m.pointer("/annotations/rollgate.dev~1results-omitted"))
        .cloned();
    let mut results = v.get("results").cloned().unwrap_or(Value::Null);
    for r in results.as_array_mut().into_iter().flatten() {
        if let Some(o) = r.as_object_mut() {
            o.remove("timestamp");
        }
    }
    json!({
        "apiVersion": v.get("apiVersion"),
        "kind": v.get("kind"),
        "labels": ours_labels,
        "omitted": annotation,
        "owners": m.and_then(|m| m.get("ownerReferences")),
        "summary": v.get("summary"),
        "results": results,
    })
}

/// The write that takes the observed report (as the apiserver returned it) to the desired one;
/// `None` when they already agree.
pub fn reconcile(observed: Option<&Value>, desired: Option<&Value>) -> Option<Write> {
    match (observed, desired) {
        (None, None) => None,
        (None, Some(d)) => Some(Write::Create(d.clone())),
        (Some(o), None) => Some(Write::Delete {
            namespace: o
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .map(str::to_owned),
            name: o
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or(REPORT_NAME)
                .to_owned(),
        }),
        (Some(o), Some(d)) => {
            if comparable(o) == comparable(d) {
                return None;
            }
            let mut d = d.clone();
            // Keep labels and annotations others set on the report; ours win.
            for field in ["labels", "annotations"] {
                if let Some(theirs) = o
                    .pointer(&format!("/metadata/{field}"))
                    .and_then(Value::as_object)
                {
                    let mut merged = theirs.clone();
                    merged.remove("rollgate.dev/results-omitted");
                    if let Some(ours) = d
                        .pointer(&format!("/metadata/{field}"))
                        .and_then(Value::as_object)
                    {
                        merged.extend(ours.clone());
                    }
                    d["metadata"][field] = Value::Object(merged);
                }
            }
            if let Some(rv) = o.pointer("/metadata/resourceVersion") {
                d["metadata"]["resourceVersion"] = rv.clone();
            }
            Some(Write::Update(d))
        }
    }
}

/// What [`write_reports`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteSummary {
    pub created: usize,
    pub updated: usize,
    pub deleted: usize,
    pub unchanged: usize,
    /// Report kinds written (`PolicyReport.wgpolicyk8s.io`, …).
    pub flavors: Vec<String>,
    /// Failures, one line each (the other reports are still written).
    pub errors: Vec<String>,
}

/// The report flavors the apiserver serves (wgpolicyk8s.io and/or openreports.io).
pub async fn served_flavors(client: &Client) -> Vec<Flavor> {
    let mut out = Vec::new();
    for f in [WGPOLICY, OPENREPORTS] {
        if let Ok(g) = discovery::group(client, f.group).await {
            let kinds: BTreeSet<String> = g
                .versioned_resources(f.version)
                .into_iter()
                .map(|(ar, _)| ar.kind)
                .collect();
            if kinds.contains(f.namespaced) && kinds.contains(f.cluster) {
                out.push(f);
            }
        }
    }
    out
}

/// Bring rollgate's reports of `flavor` in line with `desired` ([`desired`]): create, update
/// or delete each namespace's report, for every namespace `scope` covers (`None`: all, and
/// the cluster report). Reports rollgate did not write (no `managed-by: rollgate` label) are
/// never touched.
pub async fn write_reports(
    client: &Client,
    flavor: Flavor,
    desired: &BTreeMap<Option<String>, Value>,
    scope: Option<&BTreeSet<String>>,
    summary: &mut WriteSummary,
) {
    let lp = ListParams::default().labels(&format!("{MANAGED_BY}={SOURCE}"));
    let mut observed: BTreeMap<Option<String>, Value> = BTreeMap::new();
    let mut lists: Vec<(bool, Api<DynamicObject>)> = Vec::new();
    let ns_res = flavor.resource(true);
    let cl_res = flavor.resource(false);
    match scope {
        None => {
            lists.push((true, Api::all_with(client.clone(), &ns_res)));
            lists.push((false, Api::all_with(client.clone(), &cl_res)));
        }
        Some(set) => {
            for ns in set {
                lists.push((true, Api::namespaced_with(client.clone(), ns, &ns_res)));
            }
        }
    }
    for (namespaced, api) in &lists {
        match api.list(&lp).await {
            Ok(list) => {
                for o in list.items {
                    if o.metadata.name.as_deref() != Some(REPORT_NAME) {
                        continue;
                    }
                    let ns = if *namespaced {
                        o.metadata.namespace.clone()
                    } else {
                        None
                    };
                    if let Ok(v) = serde_json::to_value(&o) {
                        observed.insert(ns, v);
                    }
                }
            }
            Err(e) => {
                summary.errors.push(format!(
                    "listing {} reports failed: {e}; not writing them",
                    flavor.kind(namespaced.then_some(""))
                ));
                return;
            }
        }
    }
    let in_scope = |ns: &Option<String>| match (scope, ns) {
        (None, _) => true,
        (Some(set), Some(ns)) => set.contains(ns),
        (Some(_), None) => false,
    };
    let keys: BTreeSet<&Option<String>> = observed
        .keys()
        .chain(desired.keys())
        .filter(|k| in_scope(k))
        .collect();
    for ns in keys {
        let Some(w) = reconcile(observed.get(ns), desired.get(ns)) else {
            summary.unchanged += 1;
            continue;
        };
        let api: Api<DynamicObject> = match ns {
            Some(n) => Api::namespaced_with(client.clone(), n, &ns_res),
            None => Api::all_with(client.clone(), &cl_res),
        };
        let what = format!(
            "{} {}{REPORT_NAME}",
            flavor.kind(ns.as_deref()),
            ns.as_deref().map(|n| format!("{n}/")).unwrap_or_default()
        );
        let outcome = match &w {
            Write::Create(v) => match serde_json::from_value::<DynamicObject>(v.clone()) {
                Ok(d) => api
                    .create(&PostParams::default(), &d)
                    .await
                    .map(|_| summary.created += 1),
                Err(e) => Err(kube::Error::SerdeError(e)),
            },
            Write::Update(v) => match serde_json::from_value::<DynamicObject>(v.clone()) {
                Ok(d) => api
                    .replace(REPORT_NAME, &PostParams::default(), &d)
                    .await
                    .map(|_| summary.updated += 1),
                Err(e) => Err(kube::Error::SerdeError(e)),
            },
            Write::Delete { name, .. } => api
                .delete(name, &DeleteParams::default())
                .await
                .map(|_| summary.deleted += 1),
        };
        if let Err(e) = outcome {
            summary.errors.push(format!("writing {what} failed: {e}"));
        }
    }
    summary
        .flavors
        .push(format!("{}.{}", flavor.namespaced, flavor.group));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::ObjectRef;
    use std::sync::Arc;

    fn row(ns: &str, name: &str, sev: Severity) -> Row {
        Row {
            object: Arc::new(ObjectRef {
                api_version: "networking.istio.io/v1beta1".into(),
                kind: "VirtualService".into(),
                namespace: Some(ns.into()),
                name: name.into(),
            }),
            uid: Some("u".into()),
            rule: "istio-weights-not-100",
            severity: sev,
            message: "weights sum to 90".into(),
            pointer: "/spec/http/0/route".into(),
            help: None,
            related: Vec::new(),
        }
    }

    fn meta() -> ReportMeta {
        ReportMeta {
            config_hash: config_hash("1.0", b""),
            owner: None,
        }
    }

    #[test]
    fn report_shape() {
        let rows = vec![
            row("prod", "a", Severity::Error),
            row("prod", "b", Severity::Warning),
            row("prod", "c", Severity::Info),
        ];
        let r = report(WGPOLICY, Some("prod"), &rows, 7, &meta()).expect("a report");
        assert_eq!(r["apiVersion"], "wgpolicyk8s.io/v1alpha2");
        assert_eq!(r["kind"], "PolicyReport");
        assert_eq!(r["metadata"]["name"], "rollgate");
        assert_eq!(r["metadata"]["namespace"], "prod");
        assert_eq!(r["metadata"]["labels"][MANAGED_BY], "rollgate");
        assert_eq!(
            r["summary"],
            json!({"pass": 7, "fail": 1, "warn": 1, "error": 0, "skip": 0})
        );
        let results = r["results"].as_array().expect("results");
        assert_eq!(results.len(), 2, "infos are not results");
        assert_eq!(results[0]["policy"], "istio-weights-not-100");
        assert_eq!(results[0]["result"], "fail");
        assert_eq!(results[0]["severity"], "high");
        assert_eq!(results[0]["source"], "rollgate");
        assert_eq!(results[0]["properties"]["pointer"], "/spec/http/0/route");
        assert_eq!(results[0]["properties"]["field"], "spec.http[0].route");
        assert_eq!(results[0]["resources"][0]["uid"], "u");
        assert_eq!(results[1]["result"], "warn");
        let cluster = report(OPENREPORTS, None, &rows, 0, &meta()).expect("a report");
        assert_eq!(cluster["kind"], "ClusterReport");
        assert!(cluster["metadata"].get("namespace").is_none());
        assert!(report(WGPOLICY, Some("prod"), &rows[2..], 1, &meta()).is_none());
    }

    #[test]
    fn results_are_capped_and_counted() {
        let rows: Vec<Row> = (0..MAX_RESULTS + 10)
            .map(|i| row("prod", &format!("o{i}"), Severity::Warning))
            .chain([row("prod", "z", Severity::Error)])
            .collect();
        let r = report(WGPOLICY, Some("prod"), &rows, 0, &meta()).expect("a report");
        assert_eq!(r["results"].as_array().map(Vec::len), Some(MAX_RESULTS));
        assert_eq!(r["results"][0]["result"], "fail", "errors kept first");
        assert_eq!(r["summary"]["warn"], MAX_RESULTS + 10);
        assert_eq!(
            r["metadata"]["annotations"]["rollgate.dev/results-omitted"],
            "11"
        );
    }

    #[test]
    fn reconcile_ignores_server_fields_and_timestamps() {
        let rows = vec![row("prod", "a", Severity::Error)];
        let want = report(WGPOLICY, Some("prod"), &rows, 1, &meta()).expect("report");
        assert_eq!(
            reconcile(None, Some(&want)),
            Some(Write::Create(want.clone()))
        );
        let mut seen = want.clone();
        seen["metadata"]["uid"] = json!("x");
        seen["metadata"]["resourceVersion"] = json!("42");
        seen["metadata"]["creationTimestamp"] = json!("2026-01-01T00:00:00Z");
        seen["metadata"]["managedFields"] = json!([{"manager": "rollgate"}]);
        seen["metadata"]["labels"]["team"] = json!("a");
        seen["results"][0]["timestamp"] = json!({"seconds": 1, "nanos": 0});
        assert_eq!(reconcile(Some(&seen), Some(&want)), None);
        let fixed = report(WGPOLICY, Some("prod"), &[], 1, &meta());
        assert_eq!(
            reconcile(Some(&seen), fixed.as_ref()),
            Some(Write::Delete {
                namespace: Some("prod".into()),
                name: "rollgate".into()
            })
        );
        let more = vec![
            row("prod", "a", Severity::Error),
            row("prod", "b", Severity::Warning),
        ];
        let want2 = report(WGPOLICY, Some("prod"), &more, 0, &meta()).expect("report");
        match reconcile(Some(&seen), Some(&want2)) {
            Some(Write::Update(v)) => {
                assert_eq!(v["metadata"]["resourceVersion"], "42");
                assert_eq!(v["metadata"]["labels"]["team"], "a", "others' labels kept");
                assert_eq!(v["results"].as_array().map(Vec::len), Some(2));
            }
            other => panic!("{other:?}"),
        }
        let other_config = ReportMeta {
            config_hash: config_hash("1.1", b""),
            owner: None,
        };
        let want3 = report(WGPOLICY, Some("prod"), &rows, 1, &other_config).expect("report");
        assert!(matches!(
            reconcile(Some(&seen), Some(&want3)),
            Some(Write::Update(_))
        ));
    }
}
