//! `rollgate serve`: the rule engine as a validating admission webhook.
//!
//! - [`review`]: the decision, a pure function (AdmissionReview bytes + engine + world →
//!   AdmissionReview response). No HTTP, no clock, no cluster: tests feed it captured reviews.
//! - [`world`]: what rules may look at during admission — the cluster cache (or nothing, with
//!   `--no-cluster`) with the object under admission overlaid.
//! - [`cache`]: kube-rs watches that keep the cluster cache, stripped of what rules never read.
//! - [`server`], [`tls`], [`metrics`]: axum over rustls (ring), certificate reload, `/metrics`.

pub mod args;
pub mod audit;
pub mod audit_cli;
pub mod background;
pub mod budget;
pub mod cache;
pub mod conn;
pub mod decode;
pub mod deps;
pub mod facts;
pub mod lease;
pub mod logs;
pub mod metrics;
pub mod policyreport;
pub mod review;
pub mod server;
pub mod tls;
pub mod world;

pub use review::{Outcome, Verdict, review};
pub use world::{NoCluster, Overlay, World};
