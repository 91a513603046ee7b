//! One writer of PolicyReports among the webhook's replicas: a `coordination.k8s.io/v1` Lease,
//! held the way client-go's leader election holds one (`tools/leaderelection`).
//!
//! - The holder renews `spec.renewTime` every [`LeaseTimes::retry`]; every replica tries that
//!   often.
//! - Another replica takes the Lease over when the record (holder, renew time) has not changed
//!   for `lease_duration` *as it observed it* (client-go's `observedTime`: clocks of the
//!   replicas are not compared), with the `resourceVersion` it read, so of two replicas racing
//!   for it one gets 409 Conflict and stays a follower.
//! - A holder that cannot renew for `renew_deadline` (< `lease_duration`) stops writing on its
//!   own, before anyone may take over: two writers never overlap while clocks tick alike.
//! - On shutdown the holder releases the Lease (empty holder), so the next replica takes over
//!   at once instead of after `lease_duration`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::Client;
use kube::api::{Api, ObjectMeta, PostParams};

use super::metrics::Metrics;

#[derive(Debug, Clone)]
pub struct LeaseTimes {
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry: Duration,
}

impl Default for LeaseTimes {
    /// client-go's defaults (15 s, 10 s, 2 s).
    fn default() -> Self {
        LeaseTimes {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry: Duration::from_secs(2),
        }
    }
}

#[derive(Debug, Clone)]
pub struct LeaseConfig {
    pub namespace: String,
    pub name: String,
    /// `spec.holderIdentity`: the pod name.
    pub identity: String,
    pub times: LeaseTimes,
}

/// Whether this replica holds the Lease now (read by the audit thread before each write).
#[derive(Clone, Default)]
pub struct Leadership(Arc<AtomicBool>);

impl Leadership {
    pub fn is_leader(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// Always the leader (no Lease: a single replica, tests).
    pub fn always() -> Leadership {
        Leadership(Arc::new(AtomicBool::new(true)))
    }
}

fn now() -> MicroTime {
    MicroTime(k8s_openapi::jiff::Timestamp::now())
}

/// What this replica last saw of the Lease, and when (its own clock).
struct Observed {
    holder: Option<String>,
    renew: Option<MicroTime>,
    at: Instant,
}

pub struct Elector {
    api: Api<Lease>,
    cfg: LeaseConfig,
    observed: Option<Observed>,
    /// When this replica last renewed successfully.
    renewed: Option<Instant>,
    leadership: Leadership,
    metrics: Arc<Metrics>,
}

impl Elector {
    pub fn new(client: Client, cfg: LeaseConfig, metrics: Arc<Metrics>) -> Elector {
        Elector {
            api: Api::namespaced(client, &cfg.namespace),
            cfg,
            observed: None,
            renewed: None,
            leadership: Leadership::default(),
            metrics,
        }
    }

    pub fn leadership(&self) -> Leadership {
        self.leadership.clone()
    }

    fn set_leader(&self, leader: bool) {
        let was = self.leadership.0.swap(leader, Ordering::SeqCst);
        self.metrics.audit_leader.set(i64::from(leader));
        if was != leader {
            tracing::info!(
                lease = format!("{}/{}", self.cfg.namespace, self.cfg.name),
                identity = self.cfg.identity.as_str(),
                leader,
                "audit lease {}",
                if leader { "acquired" } else { "lost" }
            );
        }
    }

    fn spec(&self, transitions: i32, acquired: Option<MicroTime>) -> LeaseSpec {
        let t = now();
        LeaseSpec {
            holder_identity: Some(self.cfg.identity.clone()),
            lease_duration_seconds: Some(
                i32::try_from(self.cfg.times.lease_duration.as_secs()).unwrap_or(15),
            ),
            acquire_time: Some(acquired.unwrap_or_else(|| t.clone())),
            renew_time: Some(t),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    /// One round: create, renew or take over the Lease; whether this replica holds it.
    pub async fn try_acquire_or_renew(&mut self) -> Result<bool, kube::Error> {
        let existing = self.api.get_opt(&self.cfg.name).await?;
        let Some(mut lease) = existing else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.cfg.name.clone()),
                    namespace: Some(self.cfg.namespace.clone()),
                    labels: Some(
                        [(
                            "app.kubernetes.io/managed-by".to_owned(),
                            "rollgate".to_owned(),
                        )]
                        .into(),
                    ),
                    ..ObjectMeta::default()
                },
                spec: Some(self.spec(0, None)),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                // Another replica created it first.
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let changed = self
            .observed
            .as_ref()
            .is_none_or(|o| o.holder != holder || o.renew != spec.renew_time);
        if changed {
            self.observed = Some(Observed {
                holder: holder.clone(),
                renew: spec.renew_time.clone(),
                at: Instant::now(),
            });
        }
        let mine = holder.as_deref() == Some(self.cfg.identity.as_str());
        let duration = spec
            .lease_duration_seconds
            .and_then(|s| u64::try_from(s).ok())
            .map_or(self.cfg.times.lease_duration, Duration::from_secs);
        let expired = holder.is_none()
            || self
                .observed
                .as_ref()
                .is_some_and(|o| o.at.elapsed() >= duration);
        if !mine && !expired {
            return Ok(false);
        }
        let transitions = spec.lease_transitions.unwrap_or(0) + i32::from(!mine);
        let acquired = if mine {
            spec.acquire_time.clone()
        } else {
            None
        };
        lease.spec = Some(self.spec(transitions, acquired));
        // `replace` sends the resourceVersion read above: a concurrent writer makes it 409.
        match self
            .api
            .replace(&self.cfg.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Give the Lease up (shutdown), if held.
    pub async fn release(&mut self) {
        if !self.leadership.is_leader() {
            return;
        }
        self.set_leader(false);
        let Ok(Some(mut lease)) = self.api.get_opt(&self.cfg.name).await else {
            return;
        };
        let Some(spec) = lease.spec.as_mut() else {
            return;
        };
        if spec.holder_identity.as_deref() != Some(self.cfg.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(now());
        if let Err(e) = self
            .api
            .replace(&self.cfg.name, &PostParams::default(), &lease)
            .await
        {
            tracing::warn!(error = %e, "cannot release the audit lease");
        }
    }

    /// Hold or wait for the Lease until `stop` turns true, then release it.
    pub async fn run(mut self, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => {
                    self.renewed = Some(Instant::now());
                    self.set_leader(true);
                }
                Ok(false) => {
                    self.renewed = None;
                    self.set_leader(false);
                }
                Err(e) => {
                    // Keep writing only until the renew deadline: after it another replica
                    // may take over.
                    let stale = self
                        .renewed
                        .is_none_or(|r| r.elapsed() >= self.cfg.times.renew_deadline);
                    if stale {
                        self.set_leader(false);
                    }
                    tracing::warn!(error = %e, "audit lease: cannot read or renew");
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(self.cfg.times.retry) => {}
                _ = stop.changed() => break,
            }
            if *stop.borrow() {
                break;
            }
        }
        self.release().await;
    }
}
