//! The effective scrape interval of a gate's metric, for `rate-window-too-short`: the
//! ServiceMonitor/PodMonitor endpoint `interval` of a monitor that scrapes the gate's workload,
//! else `prometheus.scrape-interval` of `.rollgate.yaml`, else the `Prometheus` object's
//! `scrapeInterval` (operator default 30s), else 30s assumed (unknown: findings at most info).
//! Deliberately simple: the monitor is matched by the workload's pod labels, not by metric.

use std::cell::OnceCell;
use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;

use super::gates::{Gate, GateKind, Target};
use crate::engine::{Facet, Inventory, Object};

/// Prometheus Operator's default `scrapeInterval` (`monitoring.coreos.com/v1` Prometheus CRD:
/// "Default: 30s").
pub const OPERATOR_DEFAULT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScrapeInterval {
    pub value: Duration,
    /// Where it comes from, for messages: `ServiceMonitor test/podinfo endpoint interval`.
    pub source: String,
    /// Not known to be the interval of the gate's metric: the Prometheus object's global
    /// interval (which may not be the one scraping it), or rollgate's assumption. Findings
    /// based on it are one level lower.
    pub assumed: bool,
    /// Nothing in the input or the configuration says it: the value is rollgate's assumption
    /// (the operator default), and findings based on it are at most `info`.
    pub unknown: bool,
}

impl ScrapeInterval {
    pub fn assumed_default() -> ScrapeInterval {
        ScrapeInterval {
            value: OPERATOR_DEFAULT,
            source: "assumed 30s, the Prometheus Operator default: no monitor of the workload, no Prometheus object and no prometheus.scrape-interval in .rollgate.yaml say the interval".into(),
            assumed: true,
            unknown: true,
        }
    }

    /// A scrape interval the user stated (`prometheus.scrape-interval`, `--scrape-interval`).
    pub fn stated(value: Duration, source: String) -> ScrapeInterval {
        ScrapeInterval {
            value,
            source,
            assumed: false,
            unknown: false,
        }
    }
}

/// Parse a Prometheus duration (`30s`, `1m30s`, `500ms`, `1h`, `1d`, `1w`, `1y`).
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let mut total: u128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let n: u128 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let (unit_ms, len): (u128, usize) = if rest.starts_with("ms") {
            (1, 2)
        } else {
            match rest.chars().next()? {
                's' => (1000, 1),
                'm' => (60_000, 1),
                'h' => (3_600_000, 1),
                'd' => (86_400_000, 1),
                'w' => (604_800_000, 1),
                'y' => (31_536_000_000, 1),
                _ => return None,
            }
        };
        total = total.checked_add(n.checked_mul(unit_ms)?)?;
        rest = &rest[len..];
    }
    u64::try_from(total).ok().map(Duration::from_millis)
}

/// Format a duration the Prometheus way: `1m30s`, `500ms`.
pub fn format_duration(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, len) in [
        ("w", 604_800_000u128),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ] {
        if ms >= len {
            out.push_str(&format!("{}{unit}", ms / len));
            ms %= len;
        }
    }
    out
}

fn s(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_str)
}

/// A Kubernetes label selector (`matchLabels`, `matchExpressions`) against labels.
pub fn selector_matches(sel: &Value, labels: &serde_json::Map<String, Value>) -> bool {
    let label = |k: &str| labels.get(k).and_then(Value::as_str);
    if let Some(ml) = sel.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in ml {
            if label(k) != v.as_str() {
                return false;
            }
        }
    }
    if let Some(exprs) = sel.get("matchExpressions").and_then(Value::as_array) {
        for e in exprs {
            let key = s(e.get("key")).unwrap_or("");
            let values: Vec<&str> = e
                .get("values")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let ok = match s(e.get("operator")).unwrap_or("") {
                "In" => label(key).is_some_and(|v| values.contains(&v)),
                "NotIn" => label(key).is_none_or(|v| !values.contains(&v)),
                "Exists" => label(key).is_some(),
                "DoesNotExist" => label(key).is_none(),
                _ => false,
            };
            if !ok {
                return false;
            }
        }
    }
    true
}

/// Whether a monitor in `monitor_ns` with this `namespaceSelector` looks at namespace `ns`.
fn watches_namespace(monitor: &Object, ns: &str) -> bool {
    match monitor.at("/spec/namespaceSelector") {
        Some(sel) if sel.get("any").and_then(Value::as_bool) == Some(true) => true,
        Some(sel) => match sel.get("matchNames").and_then(Value::as_array) {
            Some(names) if !names.is_empty() => names.iter().any(|n| n.as_str() == Some(ns)),
            _ => monitor.ns() == ns,
        },
        None => monitor.ns() == ns,
    }
}

/// Pod labels of the gate's workload.
fn pod_labels<'w>(
    t: &Target,
    world: &'w dyn Inventory,
) -> Option<&'w serde_json::Map<String, Value>> {
    let (group, kind) = match t.kind.as_str() {
        "Rollout" => ("argoproj.io", "Rollout"),
        "Deployment" | "DaemonSet" | "StatefulSet" => ("apps", t.kind.as_str()),
        _ => return None,
    };
    let o = world
        .get(group, kind, Some(&t.namespace), &t.name)
        .into_iter()
        .next()?;
    o.at("/spec/template/metadata/labels")?.as_object()
}

fn min_interval<'a>(endpoints: impl Iterator<Item = &'a Value>) -> Option<(Duration, String)> {
    endpoints
        .filter_map(|e| s(e.get("interval")))
        .filter_map(|i| parse_duration(i).map(|d| (d, i.to_owned())))
        .filter(|(d, _)| !d.is_zero())
        .min_by_key(|(d, _)| *d)
}

/// PodMonitors and ServiceMonitors by the namespaces they watch, indexed on first use (once
/// per run): a gate looks only at the monitors of its workload's namespace and those with
/// `namespaceSelector.any`, so G gates and M monitors cost O(G + M), not O(G × M).
pub struct Monitors<'w> {
    world: &'w dyn Inventory,
    index: OnceCell<HashMap<&'static str, MonitorIndex<'w>>>,
    /// The world's Prometheus objects' shortest interval ([`from_prometheus`]), once per run.
    prometheus: OnceCell<Option<ScrapeInterval>>,
    /// `prometheus.scrape-interval` of `.rollgate.yaml`: wins over the Prometheus objects.
    configured: Option<ScrapeInterval>,
}

/// One monitor kind: (position in the world's list, monitor) by watched namespace, and those
/// watching every namespace.
#[derive(Default)]
struct MonitorIndex<'w> {
    by_namespace: HashMap<String, Vec<(usize, &'w Object)>>,
    any: Vec<(usize, &'w Object)>,
}

const MONITOR_KINDS: [&str; 2] = ["PodMonitor", "ServiceMonitor"];

impl<'w> Monitors<'w> {
    pub fn new(world: &'w dyn Inventory) -> Self {
        Monitors {
            world,
            index: OnceCell::new(),
            prometheus: OnceCell::new(),
            configured: None,
        }
    }

    /// Monitors of `world`, with the configured global scrape interval of `settings`.
    pub fn with_settings(world: &'w dyn Inventory, settings: &crate::engine::Settings) -> Self {
        Monitors {
            configured: settings.scrape_interval.as_ref().map(|(d, written)| {
                ScrapeInterval::stated(
                    *d,
                    format!("prometheus.scrape-interval {written} in .rollgate.yaml"),
                )
            }),
            ..Monitors::new(world)
        }
    }

    /// Monitors of `kind` that watch namespace `ns`, in the world's order.
    fn watching(&self, kind: &str, ns: &str) -> Vec<&'w Object> {
        let facet = match kind {
            "PodMonitor" => Some(&POD_MONITOR_NAMESPACES),
            "ServiceMonitor" => Some(&SERVICE_MONITOR_NAMESPACES),
            _ => None,
        };
        if let Some(mut v) = facet.and_then(|f| self.world.facet(f, ns)) {
            if let Some(any) = facet.and_then(|f| self.world.facet(f, ANY_NAMESPACE)) {
                v.extend(any);
                // A world that keeps facets lists by namespace and name (the cluster).
                v.sort_by(|a, b| (a.ns(), &a.name).cmp(&(b.ns(), &b.name)));
            }
            return v;
        }
        let index = self.index.get_or_init(|| {
            let mut out = HashMap::new();
            let mut keys = Vec::new();
            for kind in MONITOR_KINDS {
                let mut ix = MonitorIndex::default();
                let all = self.world.list("monitoring.coreos.com", kind, None);
                for (pos, m) in all.into_iter().enumerate() {
                    keys.clear();
                    monitor_namespaces(m, &mut keys);
                    for k in keys.drain(..) {
                        if k == ANY_NAMESPACE {
                            ix.any.push((pos, m));
                        } else {
                            ix.by_namespace.entry(k).or_default().push((pos, m));
                        }
                    }
                }
                out.insert(kind, ix);
            }
            out
        });
        let Some(ix) = index.get(kind) else {
            return Vec::new();
        };
        let mut v: Vec<(usize, &'w Object)> = ix
            .by_namespace
            .get(ns)
            .map(|v| v.as_slice())
            .unwrap_or(&[])
            .iter()
            .chain(&ix.any)
            .copied()
            .collect();
        v.sort_by_key(|(pos, _)| *pos);
        v.into_iter().map(|(_, m)| m).collect()
    }
}

/// The key of the monitors with `namespaceSelector.any` ([`monitor_namespaces`]).
const ANY_NAMESPACE: &str = "*";

/// ServiceMonitors by the namespaces they watch ([`monitor_namespaces`]).
pub static SERVICE_MONITOR_NAMESPACES: Facet = Facet {
    id: "servicemonitor-namespaces",
    group: "monitoring.coreos.com",
    kind: "ServiceMonitor",
    keys: monitor_namespaces,
};

/// PodMonitors by the namespaces they watch ([`monitor_namespaces`]).
pub static POD_MONITOR_NAMESPACES: Facet = Facet {
    id: "podmonitor-namespaces",
    group: "monitoring.coreos.com",
    kind: "PodMonitor",
    keys: monitor_namespaces,
};

/// The namespaces a monitor watches: [`ANY_NAMESPACE`] with `namespaceSelector.any`, else its
/// `matchNames`, else its own namespace.
fn monitor_namespaces(m: &Object, out: &mut Vec<String>) {
    let sel = m.at("/spec/namespaceSelector");
    if sel.and_then(|s| s.get("any")).and_then(Value::as_bool) == Some(true) {
        out.push(ANY_NAMESPACE.to_owned());
        return;
    }
    let names: Vec<&str> = sel
        .and_then(|s| s.get("matchNames"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if names.is_empty() {
        out.push(m.ns().to_owned());
    }
    // A namespace is never named "*": such a name selects nothing, as before.
    for n in names.into_iter().filter(|n| *n != ANY_NAMESPACE) {
        if !out.iter().any(|k| k == n) {
            out.push(n.to_owned());
        }
    }
}

/// The effective scrape interval for a gate, and where it comes from.
pub fn for_gate(gate: &Gate<'_>, monitors: &Monitors<'_>) -> ScrapeInterval {
    let world = monitors.world;
    // Mesh builtins read the proxies' metrics, which the workload's monitors do not scrape;
    // only the kubernetes/gateway-api builtins read the application's own histogram.
    let app_metrics = match &gate.kind {
        GateKind::FlaggerBuiltin(b) => b.provider == "kubernetes",
        _ => true,
    };
    if let (Some(t), true) = (&gate.target, app_metrics) {
        if let Some(found) = from_monitors(t, monitors) {
            return found;
        }
    }
    if let Some(c) = &monitors.configured {
        return c.clone();
    }
    monitors
        .prometheus
        .get_or_init(|| from_prometheus(world))
        .clone()
        .unwrap_or_else(ScrapeInterval::assumed_default)
}

fn from_monitors(t: &Target, monitors: &Monitors<'_>) -> Option<ScrapeInterval> {
    let world = monitors.world;
    let labels = pod_labels(t, world)?;
    let mut best: Option<(Duration, String)> = None;
    let mut consider = |d: Duration, src: String| {
        if best.as_ref().is_none_or(|(b, _)| d < *b) {
            best = Some((d, src));
        }
    };
    for pm in monitors.watching("PodMonitor", &t.namespace) {
        let Some(sel) = pm.at("/spec/selector") else {
            continue;
        };
        if !watches_namespace(pm, &t.namespace) || !selector_matches(sel, labels) {
            continue;
        }
        let eps = pm.at("/spec/podMetricsEndpoints").and_then(Value::as_array);
        if let Some((d, i)) = eps.and_then(|e| min_interval(e.iter())) {
            consider(
                d,
                format!("PodMonitor {}/{} endpoint interval {i}", pm.ns(), pm.name),
            );
        }
    }
    // Services in the namespace that select the workload's pods.
    let services: Vec<&Object> = world.services_selecting(&t.namespace, labels);
    for sm in monitors.watching("ServiceMonitor", &t.namespace) {
        let Some(sel) = sm.at("/spec/selector") else {
            continue;
        };
        if !watches_namespace(sm, &t.namespace) {
            continue;
        }
        let empty = serde_json::Map::new();
        if !services
            .iter()
            .any(|svc| selector_matches(sel, svc.labels().unwrap_or(&empty)))
        {
            continue;
        }
        let eps = sm.at("/spec/endpoints").and_then(Value::as_array);
        if let Some((d, i)) = eps.and_then(|e| min_interval(e.iter())) {
            consider(
                d,
                format!(
                    "ServiceMonitor {}/{} endpoint interval {i}",
                    sm.ns(),
                    sm.name
                ),
            );
        }
    }
    best.map(|(value, source)| ScrapeInterval {
        value,
        source,
        assumed: false,
        unknown: false,
    })
}

fn from_prometheus(world: &dyn Inventory) -> Option<ScrapeInterval> {
    // The shortest interval wins; words are made for the winner only (a cluster can hold many
    // Prometheus objects). Computed once per run: `Monitors::prometheus`.
    let (value, p, written) = world
        .list("monitoring.coreos.com", "Prometheus", None)
        .into_iter()
        .filter_map(|p| {
            let written = s(p.at("/spec/scrapeInterval"));
            let d = match written {
                Some(i) => parse_duration(i)?,
                None => OPERATOR_DEFAULT,
            };
            Some((d, p, written))
        })
        .filter(|(d, _, _)| !d.is_zero())
        .min_by_key(|(d, _, _)| *d)?;
    let how = match written {
        Some(i) => format!("scrapeInterval {i}"),
        None => "default scrapeInterval 30s".to_owned(),
    };
    Some(ScrapeInterval {
        value,
        source: format!(
            "assumed: Prometheus {}/{} {how}, not known to scrape this metric",
            p.ns(),
            p.name
        ),
        assumed: true,
        unknown: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration(""), None);
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("5x"), None);
        assert_eq!(parse_duration("99999999999999999999y"), None);
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1s500ms");
    }
}
