//! metrictemplate-missing-address: a Prometheus MetricTemplate without `spec.provider.address`.
//!
//! A MetricTemplate's provider is built from the template alone (`pkg/metrics/providers/
//! factory.go`); `NewPrometheusProvider` (`pkg/metrics/providers/prometheus.go`) fails on an
//! empty address ("… address is not a valid URL"): the Canary's `--metrics-server` is only used
//! for builtin metrics. Every check of a metric using the template then fails.

use serde_json::Value;

use crate::engine::rule::finding;
use crate::engine::{Context, Finding, Object, Rule, RuleMeta, Severity};

pub struct MetrictemplateMissingAddress;

static META: RuleMeta = RuleMeta {
    id: "metrictemplate-missing-address",
    severity: Severity::Error,
    kinds: &[("flagger.app", "MetricTemplate")],
    doc: include_str!("../../rules/metrictemplate-missing-address.md"),
    options: &[],
    builtin: false,
};

impl Rule for MetrictemplateMissingAddress {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, object: &Object, _cx: &Context<'_>, out: &mut Vec<Finding>) {
        let Some(p) = object.at("/spec/provider").and_then(Value::as_object) else {
            return;
        };
        let ty = p.get("type").and_then(Value::as_str).unwrap_or("");
        if ty != "prometheus" {
            return;
        }
        let address = p.get("address").and_then(Value::as_str).map(str::trim);
        if address.is_some_and(|a| !a.is_empty()) {
            return;
        }
        out.push(
            finding(
                &META,
                object,
                "/spec/provider",
                "prometheus provider has no address: Flagger does not fall back to its --metrics-server for MetricTemplates, so building the provider fails and every check of a metric using this template fails",
            )
            .with_help("set `spec.provider.address`, e.g. http://prometheus.istio-system:9090"),
        );
    }
}
