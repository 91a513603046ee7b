//! The background audit of `rollgate serve --audit-interval`: the objects the cluster cache
//! already holds, checked with the same engine, on the webhook's own watch data (no LIST):
//!
//! - a full pass every `--audit-interval` (and at start, once the cache is synced);
//! - between passes, event-driven re-checks: each watch event that changes what rules read
//!   (src/webhook/cache.rs `Changes`) makes dirty the object and every object whose check looked
//!   it up (src/webhook/deps.rs); after `--audit-debounce` without a new event (at most 10
//!   debounce periods), only those are checked again.
//!
//! Results: the `rollgate_audit_*` metrics on every replica; PolicyReports written by the
//! replica that holds the audit Lease (src/webhook/lease.rs), on change only.
//!
//! Admission comes first. The audit runs on its own thread (never on the runtime's workers),
//! at a lower CPU priority (nice +10), and holds the cache's read lock for one chunk of at most
//! [`CHUNK`] objects of one kind in one namespace, never for a pass: readers do not block
//! admissions, and before each chunk it lets a waiting watch event write first
//! (`ClusterCache::yield_to_writers`) so that a queued writer never holds admissions behind
//! an audit read.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use super::cache::{ClusterCache, Store, WATCHED};
use super::deps::{Dep, DepIndex, KindId, ObjKey, Recorder};
use super::metrics::{AuditFindingLabels, Metrics, PassLabels};
use crate::engine::{Absence, Context, Engine, Finding, Inventory, Object, Settings};

/// Most objects checked under one read lock (one `Context`).
pub const CHUNK: usize = 256;

/// `--audit-*` settings of `rollgate serve`.
#[derive(Debug, Clone)]
pub struct AuditOptions {
    /// Time between full passes.
    pub interval: Duration,
    /// Quiet time after a watch event before the dirty objects are checked.
    pub debounce: Duration,
    /// Write PolicyReports (when this replica holds the Lease).
    pub reports: bool,
}

impl AuditOptions {
    pub fn new(interval: Duration) -> AuditOptions {
        AuditOptions {
            interval,
            debounce: Duration::from_millis(500),
            reports: true,
        }
    }
}

/// What one pass did.
#[derive(Debug, Clone, Default)]
pub struct PassStats {
    pub full: bool,
    pub checked: usize,
    /// Objects whose findings changed.
    pub changed: usize,
    pub duration: Duration,
    /// Namespaces whose findings changed ("" for cluster-scoped objects).
    pub namespaces: BTreeSet<String>,
}

/// The world an audited object sees: the cached cluster, every object in it reported (the
/// audit reports on each), and referents of a kind the cache does not hold in full (CRD not
/// installed, not listed yet) not called missing.
pub struct AuditWorld<'a> {
    pub inner: &'a dyn Inventory,
    pub unsynced: &'a [(&'static str, &'static str)],
}

impl Inventory for AuditWorld<'_> {
    fn list(&self, group: &str, kind: &str, namespace: Option<&str>) -> Vec<&Object> {
        self.inner.list(group, kind, namespace)
    }
    fn get(&self, group: &str, kind: &str, namespace: Option<&str>, name: &str) -> Vec<&Object> {
        self.inner.get(group, kind, namespace, name)
    }
    fn describe(&self) -> &str {
        "the cluster"
    }
    fn complete(&self) -> bool {
        true
    }
    fn reported(&self, _: &Object) -> bool {
        true
    }
    fn absence(
        &self,
        _: &Object,
        group: &str,
        kind: &str,
        _: Option<&str>,
        _: &str,
    ) -> Absence {
        let watched = WATCHED.iter().any(|(g, k)| *g == group && *k == kind);
        if !watched || self.unsynced.iter().any(|(g, k)| *g == group && *k == kind) {
            Absence::Unknown
        } else {
            Absence::Missing
        }
    }
}

/// The audit's state: findings and recorded lookups of every cached object it checks.
pub struct Auditor {
    cache: Arc<ClusterCache>,
    engine: Engine,
    settings: Settings,
    metrics: Arc<Metrics>,
    deps: DepIndex,
    results: BTreeMap<ObjKey, Vec<Finding>>,
    counts: HashMap<AuditFindingLabels, i64>,
    /// Kinds some enabled rule checks.
    kinds: Vec<KindId>,
}

/// An object's check: its findings and the lookups it made (`None`: the object is gone).
type Checked = (ObjKey, Option<(Vec<Finding>, Vec<Dep>)>);

impl Auditor {
    pub fn new(
        cache: Arc<ClusterCache>,
        engine: Engine,
        settings: Settings,
        metrics: Arc<Metrics>,
    ) -> Auditor {
        cache.track_changes();
        let kinds = WATCHED
            .iter()
            .enumerate()
            .filter(|(_, (g, k))| engine.wants(g, k))
            .filter_map(|(i, _)| KindId::try_from(i).ok())
            .collect();
        Auditor {
            cache,
            engine,
            settings,
            metrics,
            deps: DepIndex::default(),
            results: BTreeMap::new(),
            counts: HashMap::new(),
            kinds,
        }
    }

    /// Every finding of the last passes, by object.
    pub fn results(&self) -> &BTreeMap<ObjKey, Vec<Finding>> {
        &self.results
    }

    /// The findings of one namespace's objects ("" for cluster-scoped), in object order.
    pub fn namespace_findings(&self, namespace: &str) -> Vec<&Finding> {
        self.results
            .iter()
            .filter(|(k, _)| &*k.namespace == namespace)
            .flat_map(|(_, f)| f)
            .collect()
    }

    /// Namespaces with findings now.
    pub fn namespaces(&self) -> BTreeSet<String> {
        self.results
            .iter()
            .filter(|(_, f)| !f.is_empty())
            .map(|(k, _)| k.namespace.to_string())
            .collect()
    }

    /// Objects with recorded lookups (for tests and figures).
    pub fn tracked(&self) -> usize {
        self.deps.len()
    }

    /// Check `names` (objects of one kind in one namespace) under one read lock.
    fn check_chunk(&self, kind: KindId, namespace: &str, names: &[String], out: &mut Vec<Checked>) {
        let (group, kind_name) = WATCHED[usize::from(kind)];
        let unsynced = self.cache.unsynced_kinds();
        self.cache.yield_to_writers();
        self.cache.read(|store: &Store| {
            let view = store.view();
            let world = AuditWorld {
                inner: &view,
                unsynced: &unsynced,
            };
            let recorder = Recorder::new(&world);
            let cx = Context::new(&recorder, &self.settings);
            for name in names {
                let key = ObjKey::new(kind, namespace, name);
                let found = view.get(group, kind_name, Some(namespace), name);
                let Some(object) = found.first() else {
                    out.push((key, None));
                    continue;
                };
                recorder.take();
                let mut findings = Vec::new();
                self.engine.check(object, &cx, &mut findings);
                findings.sort_by(|a, b| {
                    (a.rule, &a.pointer, &a.message).cmp(&(b.rule, &b.pointer, &b.message))
                });
                out.push((key, Some((findings, recorder.take()))));
            }
        });
    }

    /// Check these objects of one kind and namespace, in chunks.
    fn check_names(&self, kind: KindId, namespace: &str, names: &[String], out: &mut Vec<Checked>) {
        for chunk in names.chunks(CHUNK) {
            self.check_chunk(kind, namespace, chunk, out);
        }
    }

    /// Check every cached object of the kinds rules look at; replaces all results.
    pub fn full_pass(&mut self) -> PassStats {
        let start = Instant::now();
        let namespaces = self.cache.read(Store::namespaces);
        let mut checked = Vec::new();
        for ns in &namespaces {
            for &kind in &self.kinds {
                let (g, k) = WATCHED[usize::from(kind)];
                let names = self.cache.read(|s| s.names(g, k, ns));
                self.check_names(kind, ns, &names, &mut checked);
            }
        }
        // Objects not seen in this pass are gone.
        let seen: HashSet<&ObjKey> = checked.iter().map(|(k, _)| k).collect();
        let gone: Vec<Checked> = self
            .results
            .keys()
            .filter(|k| !seen.contains(k))
            .map(|k| (k.clone(), None))
            .collect();
        checked.extend(gone);
        let stats = self.apply(checked, true, start);
        self.publish_pass(&stats);
        stats
    }

    /// Re-check what the watch events noted since the last pass made dirty. A full pass when
    /// too many piled up.
    pub fn incremental(&mut self) -> PassStats {
        let changes = self.cache.take_changes();
        if changes.overflow {
            return self.full_pass();
        }
        let start = Instant::now();
        let mut dirty = HashSet::new();
        for c in &changes.objects {
            if let Some(kind) = super::deps::kind_id(c.group, c.kind) {
                self.deps
                    .dirty(&ObjKey::new(kind, &c.namespace, &c.name), &mut dirty);
            }
        }
        // By (namespace, kind), so each group shares a read lock and a Context.
        let mut groups: BTreeMap<(Box<str>, KindId), Vec<String>> = BTreeMap::new();
        for k in dirty {
            if self.kinds.contains(&k.kind) {
                groups
                    .entry((k.namespace.clone(), k.kind))
                    .or_default()
                    .push(k.name.to_string());
            }
        }
        let mut checked = Vec::new();
        for ((ns, kind), mut names) in groups {
            names.sort();
            self.check_names(kind, &ns, &names, &mut checked);
        }
        let stats = self.apply(checked, false, start);
        self.publish_pass(&stats);
        stats
    }

    /// Store the checks' results; the findings gauges follow.
    fn apply(&mut self, checked: Vec<Checked>, full: bool, start: Instant) -> PassStats {
        let mut stats = PassStats {
            full,
            checked: checked.iter().filter(|(_, c)| c.is_some()).count(),
            ..PassStats::default()
        };
        let mut touched: BTreeSet<AuditFindingLabels> = BTreeSet::new();
        for (key, c) in checked {
            let (findings, deps) = match c {
                Some((f, d)) => (Some(f), Some(d)),
                None => (None, None),
            };
            match deps {
                Some(d) => self.deps.set(&key, d),
                None => self.deps.remove(&key),
            }
            let old = match findings {
                Some(f) => {
                    let same = self.results.get(&key).is_some_and(|o| same_findings(o, &f));
                    if same {
                        continue;
                    }
                    self.count(&key, &f, 1, &mut touched);
                    self.results.insert(key.clone(), f)
                }
                None => self.results.remove(&key),
            };
            if let Some(old) = &old {
                self.count(&key, old, -1, &mut touched);
            }
            let was_empty = old.as_ref().is_none_or(Vec::is_empty);
            let is_empty = self.results.get(&key).is_none_or(Vec::is_empty);
            if !(was_empty && is_empty) {
                stats.changed += 1;
                stats.namespaces.insert(key.namespace.to_string());
            }
        }
        for labels in touched {
            let n = self.counts.get(&labels).copied().unwrap_or(0);
            if n <= 0 {
                self.counts.remove(&labels);
                self.metrics.audit_findings.remove(&labels);
            } else {
                self.metrics.audit_findings.get_or_create(&labels).set(n);
            }
        }
        stats.duration = start.elapsed();
        stats
    }

    fn count(
        &mut self,
        key: &ObjKey,
        findings: &[Finding],
        sign: i64,
        touched: &mut BTreeSet<AuditFindingLabels>,
    ) {
        for f in findings {
            let labels = AuditFindingLabels {
                rule: f.rule,
                severity: f.severity.as_str(),
                namespace: key.namespace.to_string(),
                kind: key.group_kind().1,
            };
            *self.counts.entry(labels.clone()).or_insert(0) += sign;
            touched.insert(labels);
        }
    }

    fn publish_pass(&self, stats: &PassStats) {
        let pass = PassLabels {
            pass: if stats.full { "full" } else { "incremental" },
        };
        self.metrics
            .audit_duration
            .get_or_create(&pass)
            .observe(stats.duration.as_secs_f64());
        self.metrics
            .audit_checked
            .get_or_create(&pass)
            .inc_by(stats.checked as u64);
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        self.metrics.audit_last_run.set(now);
    }
}

/// Findings equal for a report: same rules, severities, places and messages.
fn same_findings(a: &[Finding], b: &[Finding]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.rule == y.rule
                && x.severity == y.severity
                && x.pointer == y.pointer
                && x.message == y.message
        })
}

/// Lower the calling thread's CPU priority (Linux: per thread), so the audit takes what the
/// admissions leave.
fn lower_priority() {
    // SAFETY: plain syscalls on the calling thread; failure only leaves the priority as is.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        let _ = libc::setpriority(libc::PRIO_PROCESS, tid, 10);
    }
}

/// What the loop does after each pass with the namespaces whose findings changed (report
/// writing; `all` after a full pass).
pub trait AfterPass: Send {
    fn after(&mut self, auditor: &Auditor, stats: &PassStats);
}

impl AfterPass for () {
    fn after(&mut self, _: &Auditor, _: &PassStats) {}
}

/// Run the background audit on its own thread until `stop`.
pub fn spawn(
    mut auditor: Auditor,
    opts: AuditOptions,
    mut after: Box<dyn AfterPass>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("rollgate-audit".into())
        .spawn(move || {
            lower_priority();
            // Wait for the cache: auditing a half-listed cluster reports false absences.
            while !stop.load(Ordering::SeqCst) && !super::world::World::synced(&*auditor.cache) {
                std::thread::sleep(Duration::from_millis(200));
            }
            let mut next_full = Instant::now();
            while !stop.load(Ordering::SeqCst) {
                if Instant::now() >= next_full {
                    // Changes noted before a full pass are covered by it.
                    let _ = auditor.cache.take_changes();
                    let stats = auditor.full_pass();
                    tracing::info!(
                        objects = stats.checked,
                        changed = stats.changed,
                        tracked = auditor.tracked(),
                        millis = stats.duration.as_millis() as u64,
                        "audit pass"
                    );
                    after.after(&auditor, &stats);
                    next_full = Instant::now() + opts.interval;
                    continue;
                }
                let wait = next_full
                    .saturating_duration_since(Instant::now())
                    .min(Duration::from_secs(1));
                if !auditor.cache.wait_changes(wait) {
                    continue;
                }
                // Debounce: a burst (kubectl apply -f dir/, a rollout) is checked once, when
                // no event came for one period, or after ten periods at the latest.
                let burst = Instant::now();
                let mut seen = auditor.cache.pending_changes();
                loop {
                    std::thread::sleep(opts.debounce);
                    let now = auditor.cache.pending_changes();
                    if now == seen
                        || burst.elapsed() >= opts.debounce * 10
                        || stop.load(Ordering::SeqCst)
                    {
                        break;
                    }
                    seen = now;
                }
                let stats = auditor.incremental();
                tracing::debug!(
                    objects = stats.checked,
                    changed = stats.changed,
                    micros = stats.duration.as_micros() as u64,
                    "audit re-check"
                );
                after.after(&auditor, &stats);
            }
        })
}
