//! rollgate: one rule engine for canary rollout configuration (Flagger, Argo Rollouts, Istio,
//! Prometheus Operator), behind an offline linter and a validating admission webhook.

/// A hash map for indexes rebuilt on every run (names, labels, node addresses): foldhash, seeded
/// per process, instead of SipHash, which costs a quarter of building the world's indexes.
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

pub mod buckets;
pub mod cli;
pub mod engine;
pub mod lsp;
pub mod manifest;
pub mod promql;
pub mod regexlang;
pub mod report;
pub mod rules;
pub mod schema;
pub mod timeline;
pub mod webhook;
