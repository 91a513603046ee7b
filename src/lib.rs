//! rollgate: one rule engine for canary rollout configuration (Flagger, Argo Rollouts, Istio,
//! Prometheus Operator), behind an offline linter and a validating admission webhook.

pub mod buckets;
pub mod cli;
pub mod engine;
pub mod manifest;
pub mod promql;
pub mod regexlang;
pub mod report;
pub mod rules;
pub mod schema;
pub mod timeline;
pub mod webhook;
