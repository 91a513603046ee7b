//! istio-retries-exceed-timeout: retries that the route timeout cuts off.
//!
//! `retries.attempts` counts retries after the first try; the route `timeout` bounds all tries
//! together (Envoy's route timeout covers the whole request including retries;
//! `per_try_timeout` each try). istiod converts `retries` in
//! `pilot/pkg/networking/core/route/retry/retry.go` `ConvertPolicy`: unset → 2 retries with no
//! per-try timeout, `attempts: 0` → retries disabled.

use serde_json::Value;

use crate::engine::rule::finding;
use crate::engine::{Context, Finding, Object, Rule, RuleMeta, Severity};
use crate::timeline::duration::{format, parse_go};

pub struct IstioRetriesExceedTimeout;

static META: RuleMeta = RuleMeta {
    id: "istio-retries-exceed-timeout",
    severity: Severity::Warning,
    kinds: &[("networking.istio.io", "VirtualService")],
    doc: include_str!("../../rules/istio-retries-exceed-timeout.md"),
    options: &[],
    builtin: false,
};

impl Rule for IstioRetriesExceedTimeout {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, object: &Object, _cx: &Context<'_>, out: &mut Vec<Finding>) {
        let Some(routes) = object.at("/spec/http").and_then(Value::as_array) else {
            return;
        };
        for (i, r) in routes.iter().enumerate() {
            let Some(timeout) = r.get("timeout").and_then(Value::as_str).and_then(parse_go) else {
                continue;
            };
            // 0 disables the route timeout.
            if timeout <= 0.0 {
                continue;
            }
            let Some(retries) = r.get("retries").and_then(Value::as_object) else {
                continue;
            };
            let attempts = retries.get("attempts").and_then(Value::as_i64).unwrap_or(0);
            if attempts <= 0 {
                continue;
            }
            let Some(per_try) = retries
                .get("perTryTimeout")
                .and_then(Value::as_str)
                .and_then(parse_go)
                .filter(|p| *p > 0.0)
            else {
                continue;
            };
            let total = (attempts as f64 + 1.0) * per_try;
            if total <= timeout + 1e-9 {
                continue;
            }
            let fit = ((timeout / per_try).floor() as i64 - 1).max(0);
            out.push(
                finding(
                    &META,
                    object,
                    format!("/spec/http/{i}/retries"),
                    format!(
                        "1 try + {attempts} retries × perTryTimeout {} need up to {} but the route timeout is {}: the timeout ends the request first, so at most {fit} of the {attempts} retries can run to their per-try timeout",
                        format(per_try),
                        format(total),
                        format(timeout)
                    ),
                )
                .with_related(object, format!("/spec/http/{i}/timeout"), "route timeout bounds all tries")
                .with_help("raise the route timeout to at least (1 + attempts) × perTryTimeout, or lower attempts or perTryTimeout"),
            );
        }
    }
}
