//! rollgate: one rule engine for canary rollout configuration (Flagger, Argo Rollouts, Istio,
//! Prometheus Operator), behind an offline linter and a validating admission webhook.
//! docs/architecture.md describes how a manifest becomes findings; the three entry points:
//!
//! **Loading** a YAML stream keeps the source position of every node, by JSON pointer
//! ([`manifest::load`]):
//!
//! ```
//! use rollgate::manifest::{Limits, load};
//!
//! let loaded = load("a: 1\n---\nb: [x, {c: on}]\n", Limits::default());
//! assert!(loaded.problems.is_empty());
//! let second = &loaded.documents[1];
//! // Plain scalars resolve as the apiserver's YAML 1.1 reader does: `on` is a boolean.
//! assert_eq!(second.value["b"][1]["c"], true);
//! let (_, node) = second.spans.locate("/b/1/c").expect("every node has a span");
//! assert_eq!((node.value.start.line, node.value.start.column), (3, 12));
//! ```
//!
//! **Linting** files as `rollgate lint` does ([`engine::lint::lint`]): findings carry the rule,
//! the JSON pointer the rule named, and the span the engine placed it at.
//!
//! ```
//! use rollgate::engine::lint::lint;
//! use rollgate::engine::{Config, Engine, Settings};
//! use rollgate::manifest::Limits;
//! use rollgate::manifest::input::from_bytes;
//!
//! let vs = "apiVersion: networking.istio.io/v1
//! kind: VirtualService
//! metadata: {name: podinfo, namespace: test}
//! spec:
//!   hosts: [podinfo]
//!   http:
//!   - route:
//!     - {destination: {host: podinfo-primary}, weight: 95}
//!     - {destination: {host: podinfo-canary}, weight: 10}
//! ";
//! let engine = Engine::new(rollgate::rules::REGISTRY, &Config::default(), None);
//! let input = from_bytes("vs.yaml".into(), vs.as_bytes().to_vec());
//! let run = lint(vec![input], &engine, &Settings::default(), Limits::default());
//! let d = &run.diagnostics[0];
//! assert_eq!(d.finding.rule, "istio-weights-not-100");
//! assert_eq!(d.finding.pointer, "/spec/http/0/route");
//! let span = d.span.expect("placed in vs.yaml");
//! assert_eq!((span.start.line, span.start.column), (7, 5));
//! assert!(d.finding.message.starts_with("weights sum to 105, not 100"));
//! ```
//!
//! **Admission**: the webhook's decision on an AdmissionReview body ([`webhook::review`]),
//! here without a cluster (the object under review is the whole world):
//!
//! ```
//! use rollgate::engine::{Config, Engine, Settings};
//! use rollgate::webhook::{NoCluster, Verdict, review};
//!
//! let body = br#"{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
//!   "request": {"uid": "42", "operation": "CREATE", "namespace": "test", "name": "podinfo",
//!     "kind": {"group": "networking.istio.io", "version": "v1", "kind": "VirtualService"},
//!     "resource": {"group": "networking.istio.io", "version": "v1", "resource": "virtualservices"},
//!     "userInfo": {},
//!     "object": {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
//!       "metadata": {"name": "podinfo", "namespace": "test"},
//!       "spec": {"hosts": ["podinfo"], "http": [{"route": [
//!         {"destination": {"host": "podinfo-primary"}, "weight": 95},
//!         {"destination": {"host": "podinfo-canary"}, "weight": 10}]}]}}}}"#;
//! let engine = Engine::new(rollgate::rules::REGISTRY, &Config::default(), None);
//! let out = review(body, &engine, &Settings::default(), &NoCluster);
//! assert_eq!(out.verdict, Verdict::Denied);
//! assert_eq!(out.findings, [("istio-weights-not-100", rollgate::engine::Severity::Error)]);
//! ```

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
