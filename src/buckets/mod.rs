//! Histogram bucket layouts: where a gate's histogram gets its bucket bounds, and where a
//! threshold falls among them. Used by `threshold-not-on-bucket-boundary`,
//! `threshold-unreachable` and `unit-mismatch`.
//!
//! Sources, in order (the finding names the one used):
//! 1. declarations: `.rollgate.yaml` `histograms:` and the annotation [`ANNOTATION`] on the
//!    MetricTemplate/AnalysisTemplate (or the Canary/Rollout/query object);
//! 2. instrumentation source code scanned with `--source PATH` ([`source`]);
//! 3. a live Prometheus with `--prometheus URL` ([`live`]; opt-in, bounded, falls back);
//! 4. known exporters and their documented defaults ([`known`]), including the Istio pod
//!    annotation `sidecar.istio.io/statsHistogramBuckets`.
//!
//! Live discovery ranks above the known-exporter tables because those are guesses about the
//! deployed version (vLLM changed its buckets between releases); explicit declarations and the
//! application's own source rank above both.
//!
//! `histogram_quantile` (Prometheus `promql/quantile.go` `BucketQuantile`) interpolates linearly
//! inside the bucket that holds the rank, with 0 as the lower bound of the first bucket when
//! its upper bound is positive, and returns the highest finite bound when the rank falls in
//! `+Inf`.

pub mod condition;
pub mod extract;
pub mod known;
pub mod live;
pub mod source;

use serde_json::Value;

use crate::engine::inventory::{PodTemplate, ValueAt as _};
use crate::engine::{Context, Finding, Inventory, Object, RuleMeta, Severity};
use crate::promql::Gate;

/// Annotation declaring bucket bounds on a MetricTemplate/AnalysisTemplate (or the Canary,
/// Rollout or AnalysisRun): `metric=b1,b2,…`, several separated by `;` or new lines. The metric
/// is the histogram's name with or without `_bucket`.
pub const ANNOTATION: &str = "rollgate.dev/histogram-buckets";

/// The Istio pod annotation overriding Envoy's histogram buckets per stat prefix
/// (istio/api `annotation/annotations.yaml`, `sidecar.istio.io/statsHistogramBuckets`:
/// `{"istiocustom":[1,5,10,50,100,500,1000,5000,10000]}`).
pub const ISTIO_BUCKETS_ANNOTATION: &str = "sidecar.istio.io/statsHistogramBuckets";

/// A bucket layout and where it comes from.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// Finite bounds, sorted ascending, without duplicates.
    pub bounds: Vec<f64>,
    /// Where they come from, for messages ("declared in .rollgate.yaml `histograms`").
    pub source: String,
    /// The layout depends on the exporter's version (say so, suggest live discovery).
    pub version_dependent: bool,
    /// What was fixed up while reading the declaration, and fallbacks taken on the way.
    pub notes: Vec<String>,
}

impl Layout {
    pub fn top(&self) -> Option<f64> {
        self.bounds.last().copied()
    }
}

/// Bounds as written → finite, sorted, distinct bounds, and what was wrong with them.
pub fn normalize(raw: &[f64]) -> (Vec<f64>, Vec<String>) {
    let mut notes = Vec::new();
    let mut v: Vec<f64> = Vec::with_capacity(raw.len());
    let mut nan = false;
    let mut inf = false;
    for &b in raw {
        if b.is_nan() {
            nan = true;
        } else if b.is_infinite() {
            inf = true;
        } else {
            v.push(b);
        }
    }
    if nan {
        notes.push("NaN bounds were ignored".to_owned());
    }
    if inf {
        notes.push("+Inf is implicit and was ignored".to_owned());
    }
    if v.windows(2).any(|w| w[0] > w[1]) {
        notes.push(
            "the bounds were not in increasing order (client libraries refuse that); sorted them"
                .to_owned(),
        );
        v.sort_by(f64::total_cmp);
    }
    let before = v.len();
    v.dedup_by(|a, b| same(*a, *b));
    if v.len() != before {
        notes.push("duplicate bounds were merged".to_owned());
    }
    (v, notes)
}

/// Numeric equality of bounds (Prometheus 3 writes `le="1.0"`, 2.x `le="1"`; TGI bounds are
/// products like 0.00015000000000000001).
pub fn same(a: f64, b: f64) -> bool {
    if !a.is_finite() || !b.is_finite() {
        return a == b;
    }
    a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

/// Shortest readable form of a bound.
pub fn fmt(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e15 {
        return format!("{v:.1}");
    }
    let s = format!("{v}");
    // Trim float noise (0.00015000000000000001 → 0.00015) when it reads back the same.
    for p in 1..17 {
        let t = format!("{v:.p$}");
        let t = t.trim_end_matches('0').trim_end_matches('.').to_owned();
        if t.parse::<f64>().is_ok_and(|x| same(x, v)) {
            return t;
        }
    }
    s
}

/// Where a value falls among bounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Position {
    /// On bound `i`.
    On(usize),
    /// Strictly inside the bucket `(lower, upper]`.
    Inside { lower: f64, upper: f64 },
    /// Above the highest finite bound.
    Above { top: f64 },
}

pub fn position(bounds: &[f64], t: f64) -> Option<Position> {
    let top = *bounds.last()?;
    if let Some(i) = bounds.iter().position(|b| same(*b, t)) {
        return Some(Position::On(i));
    }
    if t > top {
        return Some(Position::Above { top });
    }
    let i = bounds.iter().position(|b| *b > t)?;
    let lower = if i == 0 {
        if bounds[0] > 0.0 && t > 0.0 {
            0.0
        } else {
            return None;
        }
    } else {
        bounds[i - 1]
    };
    Some(Position::Inside {
        lower,
        upper: bounds[i],
    })
}

/// A parsed [`ANNOTATION`] value: (metric, raw bounds) and problems (message).
pub fn parse_annotation(text: &str) -> (Vec<(String, Vec<f64>)>, Vec<String>) {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for part in text.split([';', '\n']) {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let Some((name, list)) = part.split_once('=') else {
            problems.push(format!(
                "`{part}` is not `metric=bound,bound,…`; this declaration is ignored"
            ));
            continue;
        };
        let name = name.trim();
        let name = name.strip_suffix("_bucket").unwrap_or(name);
        if name.is_empty() {
            problems.push(format!(
                "`{part}` names no metric; this declaration is ignored"
            ));
            continue;
        }
        let mut bounds = Vec::new();
        let mut ok = true;
        for b in list.split(',').map(str::trim).filter(|b| !b.is_empty()) {
            match parse_bound(b) {
                Some(v) => bounds.push(v),
                None => {
                    problems.push(format!(
                        "bound `{b}` of {name} is not a number; the declaration of {name} is ignored"
                    ));
                    ok = false;
                    break;
                }
            }
        }
        if ok && bounds.iter().all(|b| !b.is_finite()) {
            problems.push(format!(
                "the declaration of {name} has no finite bound; it is ignored"
            ));
            ok = false;
        }
        if ok {
            out.push((name.to_owned(), bounds));
        }
    }
    (out, problems)
}

/// A bound as Prometheus writes `le` (`0.5`, `1.0`, `+Inf`, `NaN`).
pub fn parse_bound(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" | "+inf" | "inf" | ".inf" => Some(f64::INFINITY),
        "NaN" | "nan" | ".nan" => Some(f64::NAN),
        _ => s.parse::<f64>().ok(),
    }
}

/// The annotation text of an object, if any.
pub fn annotation(o: &Object) -> Option<&str> {
    o.annotations()?.get(ANNOTATION)?.as_str()
}

fn declared(map: &[(String, Vec<f64>)], metric: &str) -> Option<Vec<f64>> {
    map.iter()
        .find(|(n, _)| n == metric)
        .map(|(_, b)| b.clone())
}

fn layout(raw: &[f64], source: String) -> Option<Layout> {
    let (bounds, notes) = normalize(raw);
    if bounds.is_empty() {
        return None;
    }
    Some(Layout {
        bounds,
        source,
        version_dependent: false,
        notes,
    })
}

/// Objects whose [`ANNOTATION`] applies to a gate: the template holding the query, the object
/// holding the thresholds, the object being reported on.
fn annotated<'w>(gate: &Gate<'w>) -> Vec<&'w Object> {
    let mut v: Vec<&Object> = Vec::new();
    for o in gate
        .query_site
        .iter()
        .map(|p| p.object)
        .chain([gate.metric.object, gate.report.object])
    {
        if !v.iter().any(|x| std::ptr::eq(*x, o)) {
            v.push(o);
        }
    }
    v
}

/// The Istio bucket override of the gate target's pod template, for `metric`.
fn istio_override(gate: &Gate<'_>, world: &dyn Inventory, metric: &str) -> Option<Layout> {
    let t = gate.target.as_ref()?;
    let group = t.api_version.rsplit_once('/').map_or("", |(g, _)| g);
    let prefix = if metric.starts_with("istio_") {
        "istiocustom"
    } else if metric.starts_with("envoy_cluster_") {
        "cluster"
    } else {
        return None;
    };
    for w in world.get(group, &t.kind, Some(&t.namespace), &t.name) {
        let Some(pt) = PodTemplate::of(w) else {
            continue;
        };
        let ptr = format!(
            "{}/metadata/annotations/{}",
            pt.pointer,
            ISTIO_BUCKETS_ANNOTATION
                .replace('~', "~0")
                .replace('/', "~1")
        );
        let Some(text) = w.value.at(&ptr).and_then(Value::as_str) else {
            continue;
        };
        let Ok(Value::Object(m)) = serde_json::from_str::<Value>(text) else {
            continue;
        };
        let Some(list) = m.get(prefix).and_then(Value::as_array) else {
            continue;
        };
        let raw: Vec<f64> = list.iter().filter_map(Value::as_f64).collect();
        return layout(
            &raw,
            format!(
                "the pod annotation {ISTIO_BUCKETS_ANNOTATION} (\"{prefix}\") of {} {}/{}",
                w.kind,
                w.ns(),
                w.name
            ),
        );
    }
    None
}

/// What rollgate knows about the buckets of `metric` (base name, without `_bucket`) for
/// `gate`; `Err` lists the sources tried and fallbacks taken, for an info finding.
pub fn lookup(
    metric: &str,
    live_match: &str,
    gate: &Gate<'_>,
    cx: &Context<'_>,
) -> Result<Layout, Vec<String>> {
    let mut notes = Vec::new();
    let bucket = format!("{metric}_bucket");
    for name in [metric, bucket.as_str()] {
        if let Some(raw) = cx.settings.histograms.get(name) {
            if let Some(l) = layout(
                raw,
                format!("declared in .rollgate.yaml `histograms.{name}`"),
            ) {
                return Ok(l);
            }
        }
    }
    for o in annotated(gate) {
        let Some(text) = annotation(o) else { continue };
        let (decls, _) = parse_annotation(text);
        if let Some(raw) = declared(&decls, metric) {
            if let Some(l) = layout(
                &raw,
                format!(
                    "declared by annotation {ANNOTATION} on {} {}",
                    o.kind,
                    if o.ns().is_empty() {
                        o.name.clone()
                    } else {
                        format!("{}/{}", o.ns(), o.name)
                    }
                ),
            ) {
                return Ok(l);
            }
        }
    }
    match cx.settings.source_histograms.find(metric) {
        source::Match::One(f) => {
            if let Some(mut l) = layout(&f.bounds, f.describe()) {
                l.notes.extend(f.notes.iter().cloned());
                return Ok(l);
            }
        }
        source::Match::Conflict(desc) => notes.push(desc),
        source::Match::None => {}
    }
    if let Some(url) = cx.settings.prometheus_url.as_deref() {
        match live::bounds(url, live_match, metric, cx.settings.prometheus_timeout_ms) {
            Ok(raw) => {
                if let Some(l) = layout(&raw, format!("discovered on the Prometheus at {url}")) {
                    return Ok(l);
                }
                notes.push(format!(
                    "the Prometheus at {url} has no finite `le` values for {bucket}"
                ));
            }
            Err(e) => notes.push(format!(
                "live discovery on {url} failed ({e}); fell back to the other sources"
            )),
        }
    }
    if let Some(l) = istio_override(gate, cx.world, metric) {
        return Ok(l);
    }
    if let Some(k) = known::lookup(metric) {
        if let Some(mut l) = layout(&k.bounds, k.source.to_owned()) {
            l.version_dependent = k.version_dependent;
            l.notes.extend(notes);
            return Ok(l);
        }
    }
    Err(notes)
}

/// How to declare a layout, for messages when it is unknown.
pub fn how_to_declare(metric: &str) -> String {
    format!(
        "declare the buckets in .rollgate.yaml (`histograms: {{{metric}: [0.1, 0.5, 1]}}`) or with the annotation `{ANNOTATION}: \"{metric}=0.1,0.5,1\"`, pass the instrumentation code with --source, or discover them with --prometheus URL"
    )
}

/// The severity of a finding about `layout`: a version-dependent guess is only a warning.
pub fn severity(meta: &RuleMeta, layout: &Layout) -> Severity {
    if layout.version_dependent {
        meta.severity.min(Severity::Warning)
    } else {
        meta.severity
    }
}

/// A finding of `meta` at a threshold's site.
pub fn site_finding(
    meta: &'static RuleMeta,
    severity: Severity,
    gate: &Gate<'_>,
    site: &extract::Site<'_>,
    message: String,
) -> Finding {
    let mut f = match site {
        extract::Site::Query(span) => gate.finding(meta, span, message),
        extract::Site::Field {
            object,
            pointer,
            range,
            context,
        } => {
            let message = match context {
                Some(c) => format!("{c}: {message}"),
                None => message,
            };
            let mut f = Finding::new(meta.id, meta.severity, object, pointer.clone(), message);
            if let Some(r) = range {
                f = f.with_range(r.clone());
            }
            if let Some(q) = &gate.query_site {
                if !std::ptr::eq(q.object, *object) || !pointer.starts_with(&q.pointer) {
                    f = f.with_related(q.object, &q.pointer, "the histogram_quantile query");
                }
            }
            f
        }
    };
    f.severity = severity;
    f
}

/// The threshold in words: `thresholdRange.max 300 (0.3 in the histogram's units)`.
pub fn describe_threshold(t: &extract::Threshold<'_>) -> String {
    if matches!(t.site, extract::Site::Query(_)) {
        if same(t.written, t.bound_units) {
            return t.label.clone();
        }
        return format!(
            "{} ({} in the histogram's units)",
            t.label,
            fmt(t.bound_units)
        );
    }
    if same(t.written, t.bound_units) {
        format!("{} {}", t.label, fmt_plain(t.written))
    } else {
        format!(
            "{} {} ({} in the histogram's units)",
            t.label,
            fmt_plain(t.written),
            fmt(t.bound_units)
        )
    }
}

/// A number as the user wrote it (no forced `.0`).
pub fn fmt_plain(v: f64) -> String {
    let s = fmt(v);
    s.strip_suffix(".0").map(str::to_owned).unwrap_or(s)
}

/// The source phrase of a layout for messages, with the version warning.
///
/// Findings that rest on a version-dependent layout are warnings, not errors ([`severity`]).
pub fn source_phrase(l: &Layout) -> String {
    if l.version_dependent {
        format!(
            "{}; check them with --prometheus URL or declare them",
            l.source
        )
    } else {
        l.source.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes() {
        let (b, notes) = normalize(&[1.0, 0.5, 0.5, f64::NAN, f64::INFINITY, 2.0]);
        assert_eq!(b, vec![0.5, 1.0, 2.0]);
        assert_eq!(notes.len(), 4, "{notes:?}");
    }

    #[test]
    fn positions() {
        let b = [0.1, 0.5, 1.0, 2.5];
        assert_eq!(position(&b, 0.5), Some(Position::On(1)));
        assert_eq!(position(&b, 1.0000000000001), Some(Position::On(2)));
        assert_eq!(
            position(&b, 0.7),
            Some(Position::Inside {
                lower: 0.5,
                upper: 1.0
            })
        );
        assert_eq!(
            position(&b, 0.05),
            Some(Position::Inside {
                lower: 0.0,
                upper: 0.1
            })
        );
        assert_eq!(position(&b, 3.0), Some(Position::Above { top: 2.5 }));
        assert_eq!(position(&b, -1.0), None);
        assert_eq!(position(&[], 1.0), None);
    }

    #[test]
    fn annotation_parses() {
        let (d, p) = parse_annotation("a_bucket=0.1, 0.5,+Inf; b = 1,x\nc=\n d=NaN");
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].0, "a");
        assert_eq!(p.len(), 3, "{p:?}");
    }

    #[test]
    fn formats() {
        assert_eq!(fmt(2.0), "2.0");
        assert_eq!(fmt(0.25), "0.25");
        assert_eq!(fmt(known::tgi_duration()[0]), "0.00015");
    }
}
