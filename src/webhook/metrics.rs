//! The webhook's own Prometheus metrics, served on the plain-HTTP `--metrics-addr` (never on the
//! admission port, so scraping needs no client certificate and admission has no plaintext port).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::review::Verdict;
use crate::engine::Severity;

/// Latency buckets (seconds): fine below 10 ms where the webhook lives, and up to 10 s, the
/// apiserver's default webhook timeout (deploy/ sets `timeoutSeconds: 5`), so a request that
/// came close to timing out is visible.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabels {
    pub code: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerdictLabels {
    pub verdict: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RuleLabels {
    pub rule: &'static str,
    /// `deny` (an error finding) or `warn`.
    pub verdict: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub group: String,
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
pub struct AuditFindingLabels {
    pub rule: &'static str,
    pub severity: &'static str,
    pub namespace: String,
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PassLabels {
    /// `full` (every cached object) or `incremental` (the objects a watch event made dirty).
    pub pass: &'static str,
}

/// Background audit pass durations (seconds): an incremental re-check is milliseconds, a full
/// pass of a large cluster seconds.
pub const AUDIT_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

pub struct Metrics {
    registry: Registry,
    /// Findings of the background audit on the cached objects, now.
    pub audit_findings: Family<AuditFindingLabels, Gauge>,
    /// Unix time of the last completed audit pass (full or incremental).
    pub audit_last_run: Gauge<f64, std::sync::atomic::AtomicU64>,
    pub audit_duration: Family<PassLabels, Histogram>,
    /// Objects checked by the background audit, by pass.
    pub audit_checked: Family<PassLabels, Counter>,
    /// 1 while this replica holds the audit Lease (writes the reports), else 0.
    pub audit_leader: Gauge,
    /// Report writes (create, update, delete) and their failures.
    pub audit_report_writes: Family<ResultLabels, Counter>,
    pub requests: Family<CodeLabels, Counter>,
    pub reviews: Family<VerdictLabels, Counter>,
    pub findings: Family<RuleLabels, Counter>,
    pub latency: Histogram,
    /// Requests to /validate being served now (headers received, response not yet sent).
    pub in_flight: Gauge,
    pub cache_objects: Family<KindLabels, Gauge>,
    pub cache_synced: Family<KindLabels, Gauge>,
    pub cert_reloads: Family<ResultLabels, Counter>,
    /// Connections closed at once because the connection limit was reached and none was idle.
    pub connections_refused: Counter,
    /// Idle connections closed to make room for a new one at the connection limit.
    pub connections_evicted: Counter,
    pub connections_closed: Family<ReasonLabels, Counter>,
    /// Reviews answered with the over-budget outcome instead of being checked.
    pub over_budget: Family<ReasonLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("rollgate");
        let requests = Family::<CodeLabels, Counter>::default();
        let reviews = Family::<VerdictLabels, Counter>::default();
        let findings = Family::<RuleLabels, Counter>::default();
        let latency = Histogram::new(LATENCY_BUCKETS.iter().copied());
        let in_flight = Gauge::default();
        let cache_objects = Family::<KindLabels, Gauge>::default();
        let cache_synced = Family::<KindLabels, Gauge>::default();
        let cert_reloads = Family::<ResultLabels, Counter>::default();
        let connections_refused = Counter::default();
        let connections_evicted = Counter::default();
        let connections_closed = Family::<ReasonLabels, Counter>::default();
        let over_budget = Family::<ReasonLabels, Counter>::default();
        let audit_findings = Family::<AuditFindingLabels, Gauge>::default();
        let audit_last_run = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        let audit_duration = Family::<PassLabels, Histogram>::new_with_constructor(
            (|| Histogram::new(AUDIT_BUCKETS.iter().copied())) as fn() -> Histogram,
        );
        let audit_checked = Family::<PassLabels, Counter>::default();
        let audit_leader = Gauge::default();
        let audit_report_writes = Family::<ResultLabels, Counter>::default();
        registry.register(
            "audit_findings",
            "Findings of the background audit on the objects in the cluster cache, by rule, severity, namespace and kind",
            audit_findings.clone(),
        );
        registry.register(
            "audit_last_run_timestamp_seconds",
            "Unix time at which the last background audit pass (full or incremental) completed",
            audit_last_run.clone(),
        );
        registry.register(
            "audit_duration_seconds",
            "Time a background audit pass took, by pass (full, incremental)",
            audit_duration.clone(),
        );
        registry.register(
            "audit_objects_checked",
            "Objects checked by the background audit, by pass (full, incremental)",
            audit_checked.clone(),
        );
        registry.register(
            "audit_leader",
            "1 while this replica holds the audit Lease and writes the PolicyReports, 0 otherwise",
            audit_leader.clone(),
        );
        registry.register(
            "audit_report_writes",
            "PolicyReport writes by result (created, updated, deleted, error)",
            audit_report_writes.clone(),
        );
        registry.register(
            "connections_refused",
            "Connections closed on arrival: the connection limit was reached and none was idle",
            connections_refused.clone(),
        );
        registry.register(
            "connections_evicted",
            "Idle connections closed to make room for a new one at the connection limit",
            connections_evicted.clone(),
        );
        registry.register(
            "connections_closed",
            "Connections closed by the server, by reason (idle, head_timeout, write_stalled, not_drained, grace_over, evicted_or_shutdown)",
            connections_closed.clone(),
        );
        registry.register(
            "admission_over_budget",
            "Reviews answered without a check, by reason (nodes, deadline, busy)",
            over_budget.clone(),
        );
        registry.register(
            "admission_requests",
            "HTTP requests to /validate, by HTTP status code",
            requests.clone(),
        );
        registry.register(
            "admission_reviews",
            "Admission decisions by verdict (allowed, warned, denied, skipped, invalid)",
            reviews.clone(),
        );
        registry.register(
            "admission_findings",
            "Findings reported in admission responses, by rule and verdict (deny or warn)",
            findings.clone(),
        );
        registry.register(
            "admission_duration_seconds",
            "Time from request received to response ready, in seconds",
            latency.clone(),
        );
        registry.register(
            "admission_in_flight_requests",
            "Requests to /validate whose headers arrived and whose response is not yet sent",
            in_flight.clone(),
        );
        registry.register(
            "cache_objects",
            "Objects held in the cluster cache, by group and kind",
            cache_objects.clone(),
        );
        registry.register(
            "cache_synced",
            "1 when the kind has been listed and is being watched, 0 otherwise",
            cache_synced.clone(),
        );
        registry.register(
            "certificate_reloads",
            "Serving certificate reloads by result (ok, error: the old certificate is kept)",
            cert_reloads.clone(),
        );
        Metrics {
            registry,
            audit_findings,
            audit_last_run,
            audit_duration,
            audit_checked,
            audit_leader,
            audit_report_writes,
            requests,
            reviews,
            findings,
            latency,
            in_flight,
            cache_objects,
            cache_synced,
            cert_reloads,
            connections_refused,
            connections_evicted,
            connections_closed,
            over_budget,
        }
    }

    /// Account for one answered request.
    pub fn observe(
        &self,
        code: u16,
        verdict: Verdict,
        findings: &[(&'static str, Severity)],
        seconds: f64,
    ) {
        self.requests.get_or_create(&CodeLabels { code }).inc();
        self.reviews
            .get_or_create(&VerdictLabels {
                verdict: verdict.as_str(),
            })
            .inc();
        for (rule, sev) in findings {
            let verdict = if *sev == Severity::Error {
                "deny"
            } else {
                "warn"
            };
            self.findings
                .get_or_create(&RuleLabels { rule, verdict })
                .inc();
        }
        self.latency.observe(seconds);
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
