//! The background audit of `rollgate serve --audit-interval`: the audit pass of
//! src/webhook/audit.rs over the cluster cache the webhook already holds (its watches: no LIST),
//!
//! - a full pass every `--audit-interval` (the first once the cache has settled);
//! - between passes, event-driven re-checks: each watch event that changes what rules read
//!   (`ClusterCache::take_changes`) makes dirty the object and every object whose last check
//!   looked it up (src/webhook/deps.rs); when no event came for `--audit-debounce` (at most ten
//!   periods into a burst), only those are checked again, namespace by namespace.
//!
//! Results: the `rollgate_audit_*` metrics on every replica; PolicyReports written only by the
//! replica that holds the audit Lease (src/webhook/lease.rs), and only where they changed
//! (`policyreport::reconcile`).
//!
//! Admission comes first. The audit runs on a thread of its own (never on the runtime's
//! workers) at a lower CPU priority (nice +10). A full pass copies the cache namespace by
//! namespace (one short read lock each) and checks the copy with no lock held; a re-check reads
//! the live cache, one namespace per read lock, and first lets any watch event waiting for the
//! write lock in (`ClusterCache::yield_to_writers`), so a queued writer never holds admissions
//! behind an audit read.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use super::audit::{self, Audit, AuditOptions as PassOptions, Observer, Row};
use super::cache::{ClusterCache, Key};
use super::deps::{Dep, DepIndex};
use super::facts::Facts;
use super::lease::Leadership;
use super::metrics::{AuditFindingLabels, Metrics, PassLabels};
use super::policyreport::{self, Flavor, ReportMeta, WriteSummary};
use crate::engine::{Engine, Settings, Severity};

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
            debounce: DEFAULT_DEBOUNCE,
            reports: true,
        }
    }
}

pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(500);

/// What one pass did.
#[derive(Debug, Clone, Default)]
pub struct PassStats {
    pub full: bool,
    /// Objects checked.
    pub checked: usize,
    /// Objects whose rows changed (appeared, went, differ).
    pub changed: usize,
    pub duration: Duration,
    /// Namespaces whose rows or counts changed ("" for cluster-scoped objects).
    pub namespaces: BTreeSet<String>,
    /// Longest time a read lock of the cache was held.
    pub longest_read: Duration,
}

/// What the audit knows of one checked object.
#[derive(Debug, Clone, PartialEq)]
struct Checked {
    rows: Vec<Row>,
    /// No row at warning or above.
    passed: bool,
}

/// The background audit's state: the rows and recorded lookups of every checked object.
pub struct Auditor {
    cache: Arc<ClusterCache>,
    engine: Engine,
    settings: Settings,
    metrics: Arc<Metrics>,
    deps: DepIndex,
    /// The rules' cluster-wide indexes as of the last pass, updated per change.
    facts: Facts,
    objects: HashMap<Key, Checked>,
    counts: HashMap<AuditFindingLabels, i64>,
    /// Notes of the last full pass (kinds the cache cannot vouch for).
    notes: Vec<audit::Note>,
}

/// Collects a pass's per-object results.
#[derive(Default)]
struct Collect {
    checked: Vec<(Key, Vec<Dep>, Checked)>,
    gone: Vec<Key>,
}

impl Observer for Collect {
    fn checked(&mut self, key: &Key, deps: Vec<Dep>, rows: &[Row], passed: bool) {
        self.checked.push((
            key.clone(),
            deps,
            Checked {
                rows: rows.to_vec(),
                passed,
            },
        ));
    }

    fn gone(&mut self, key: &Key) {
        self.gone.push(key.clone());
    }
}

impl Auditor {
    pub fn new(
        cache: Arc<ClusterCache>,
        engine: Engine,
        settings: Settings,
        metrics: Arc<Metrics>,
    ) -> Auditor {
        cache.track_changes();
        Auditor {
            cache,
            engine,
            settings,
            metrics,
            deps: DepIndex::default(),
            facts: Facts::new(),
            objects: HashMap::new(),
            counts: HashMap::new(),
            notes: Vec::new(),
        }
    }

    pub fn cache(&self) -> &Arc<ClusterCache> {
        &self.cache
    }

    /// Objects with recorded lookups.
    pub fn tracked(&self) -> usize {
        self.deps.len()
    }

    /// The audit as one pass would give it now: rows by namespace, counts, notes of the last
    /// full pass.
    pub fn audit(&self) -> Audit {
        let mut out = Audit {
            notes: self.notes.clone(),
            ..Audit::default()
        };
        let mut keys: Vec<&Key> = self.objects.keys().collect();
        keys.sort();
        for k in keys {
            let c = &self.objects[k];
            let ns = (!k.namespace.is_empty()).then(|| k.namespace.clone());
            let counts = out.checked.entry(ns).or_default();
            counts.objects += 1;
            counts.passed += usize::from(c.passed);
            out.objects += 1;
            for r in &c.rows {
                out.rows
                    .entry(r.object.namespace.clone())
                    .or_default()
                    .push(r.clone());
            }
        }
        for list in out.rows.values_mut() {
            list.sort_by(|a, b| {
                (
                    &a.object.kind,
                    &a.object.name,
                    &a.pointer,
                    a.rule,
                    &a.message,
                )
                    .cmp(&(
                        &b.object.kind,
                        &b.object.name,
                        &b.pointer,
                        b.rule,
                        &b.message,
                    ))
            });
            list.dedup();
        }
        out
    }

    /// Check every cached object; replaces all results.
    pub fn full_pass(&mut self) -> PassStats {
        let start = Instant::now();
        // Changes noted until now are covered by this pass.
        let _ = self.cache.take_changes();
        let mut collect = Collect::default();
        // Built afresh from this pass's snapshot; changes taken above are in it, later ones
        // update it.
        self.facts = Facts::new();
        let pass = audit::audit_observed(
            &self.cache,
            &self.engine,
            &self.settings,
            &PassOptions::default(),
            Some(&mut collect),
            &self.facts,
        );
        self.notes = pass.notes;
        // Objects not seen in this pass are gone.
        let seen: HashSet<&Key> = collect.checked.iter().map(|(k, _, _)| k).collect();
        let gone: Vec<Key> = self
            .objects
            .keys()
            .filter(|k| !seen.contains(k))
            .cloned()
            .collect();
        collect.gone.extend(gone);
        let mut stats = self.apply(collect, true, start);
        stats.longest_read = pass.longest_read;
        self.publish(&stats);
        stats
    }

    /// Re-check what the watch events noted since the last pass made dirty (a full pass when
    /// too many piled up).
    pub fn incremental(&mut self) -> PassStats {
        let changes = self.cache.take_changes();
        if changes.overflow {
            return self.full_pass();
        }
        let start = Instant::now();
        let mut dirty = HashSet::new();
        for c in changes.objects {
            let key = Key {
                namespace: c.namespace,
                group: c.group,
                kind: c.kind,
                name: c.name,
            };
            self.deps.dirty(&key, &mut dirty);
            // The facet keys it gained or lost: the objects that looked those up.
            let mut gained_or_lost = Vec::new();
            let facts = &mut self.facts;
            self.cache
                .read(|store| facts.update(store, &key, &mut gained_or_lost));
            for dep in &gained_or_lost {
                self.deps.dependents(dep, &mut dirty);
            }
        }
        let mut by_ns: BTreeMap<String, Vec<Key>> = BTreeMap::new();
        for k in dirty {
            if self.engine.wants(k.group, k.kind) {
                by_ns.entry(k.namespace.clone()).or_default().push(k);
            }
        }
        let availability = self.cache.availability();
        let options = PassOptions::default();
        let mut collect = Collect::default();
        let mut longest = Duration::ZERO;
        for (_, mut keys) in by_ns {
            keys.sort();
            self.cache.yield_to_writers();
            let t = Instant::now();
            self.cache.read(|store| {
                audit::audit_keys(
                    store,
                    &availability,
                    &self.engine,
                    &self.settings,
                    &options,
                    &keys,
                    Some(&mut collect),
                    &self.facts,
                )
            });
            longest = longest.max(t.elapsed());
        }
        let mut stats = self.apply(collect, false, start);
        stats.longest_read = longest;
        self.publish(&stats);
        stats
    }

    /// Store a pass's results; the findings gauges follow.
    fn apply(&mut self, collect: Collect, full: bool, start: Instant) -> PassStats {
        let mut stats = PassStats {
            full,
            checked: collect.checked.len(),
            ..PassStats::default()
        };
        let mut touched: BTreeSet<AuditFindingLabels> = BTreeSet::new();
        for key in collect.gone {
            self.deps.remove(&key);
            if let Some(old) = self.objects.remove(&key) {
                count(&mut self.counts, &old.rows, -1, &mut touched);
                stats.changed += 1;
                stats.namespaces.insert(key.namespace.clone());
                stats
                    .namespaces
                    .extend(old.rows.iter().map(|r| row_ns(r).to_owned()));
            }
        }
        for (key, deps, checked) in collect.checked {
            self.deps.set(&key, deps);
            if self.objects.get(&key) == Some(&checked) {
                continue;
            }
            stats.changed += 1;
            stats.namespaces.insert(key.namespace.clone());
            stats
                .namespaces
                .extend(checked.rows.iter().map(|r| row_ns(r).to_owned()));
            count(&mut self.counts, &checked.rows, 1, &mut touched);
            if let Some(old) = self.objects.insert(key, checked) {
                stats
                    .namespaces
                    .extend(old.rows.iter().map(|r| row_ns(r).to_owned()));
                count(&mut self.counts, &old.rows, -1, &mut touched);
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

    fn publish(&self, stats: &PassStats) {
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

fn row_ns(r: &Row) -> &str {
    r.object.namespace.as_deref().unwrap_or("")
}

fn count(
    counts: &mut HashMap<AuditFindingLabels, i64>,
    rows: &[Row],
    sign: i64,
    touched: &mut BTreeSet<AuditFindingLabels>,
) {
    for r in rows {
        let labels = AuditFindingLabels {
            rule: r.rule,
            severity: r.severity.as_str(),
            namespace: row_ns(r).to_owned(),
            kind: r.object.kind.clone(),
        };
        *counts.entry(labels.clone()).or_insert(0) += sign;
        touched.insert(labels);
    }
}

/// Writes the PolicyReports after each pass, while this replica holds the Lease.
pub struct ReportWriter {
    pub client: kube::Client,
    pub runtime: tokio::runtime::Handle,
    pub leadership: Leadership,
    pub meta: ReportMeta,
    /// Whether every namespace's report must be reconciled on the next write (start, a
    /// newly won Lease, a failed write).
    stale: bool,
    flavors: Vec<Flavor>,
    metrics: Arc<Metrics>,
}

impl ReportWriter {
    pub fn new(
        client: kube::Client,
        runtime: tokio::runtime::Handle,
        leadership: Leadership,
        meta: ReportMeta,
        metrics: Arc<Metrics>,
    ) -> ReportWriter {
        ReportWriter {
            client,
            runtime,
            leadership,
            meta,
            stale: true,
            flavors: Vec::new(),
            metrics,
        }
    }

    /// Bring the reports in line with the auditor's rows: every namespace after a full pass (or
    /// when stale), else the namespaces the pass changed. Nothing when another replica holds
    /// the Lease.
    pub fn write(&mut self, auditor: &Auditor, stats: &PassStats) -> Option<WriteSummary> {
        if !self.leadership.is_leader() {
            // Whoever holds the Lease writes; when this replica wins it, it starts over.
            self.stale = true;
            return None;
        }
        let all = stats.full || self.stale || stats.namespaces.contains("");
        if !all && stats.namespaces.is_empty() {
            return None;
        }
        let scope: Option<BTreeSet<String>> = (!all).then(|| stats.namespaces.clone());
        if all || self.flavors.is_empty() {
            self.flavors = self
                .runtime
                .block_on(policyreport::served_flavors(&self.client));
        }
        let mut summary = WriteSummary::default();
        if self.flavors.is_empty() {
            // The PolicyReport CRD is not installed: metrics only.
            return Some(summary);
        }
        let audit = auditor.audit();
        for f in self.flavors.clone() {
            let desired = policyreport::desired(f, &audit, &self.meta);
            self.runtime.block_on(policyreport::write_reports(
                &self.client,
                f,
                &desired,
                scope.as_ref(),
                &mut summary,
            ));
        }
        for (result, n) in [
            ("created", summary.created),
            ("updated", summary.updated),
            ("deleted", summary.deleted),
            ("error", summary.errors.len()),
        ] {
            if n > 0 {
                self.metrics
                    .audit_report_writes
                    .get_or_create(&super::metrics::ResultLabels { result })
                    .inc_by(n as u64);
            }
        }
        for e in &summary.errors {
            tracing::warn!(error = e.as_str(), "audit report not written");
        }
        self.stale = !summary.errors.is_empty();
        Some(summary)
    }
}

/// Lower the calling thread's CPU priority (Linux: per thread), so that the audit takes what
/// the admissions leave on a busy node.
pub fn lower_priority() {
    // SAFETY: plain syscalls on the calling thread; a failure leaves the priority as it was.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        let _ = libc::setpriority(libc::PRIO_PROCESS, tid, 10);
    }
}

/// Write the reports after a pass, if this replica writes them.
fn after(writer: &mut Option<ReportWriter>, auditor: &Auditor, stats: &PassStats) {
    let Some(s) = writer.as_mut().and_then(|w| w.write(auditor, stats)) else {
        return;
    };
    if s.created + s.updated + s.deleted > 0 {
        tracing::info!(
            created = s.created,
            updated = s.updated,
            deleted = s.deleted,
            unchanged = s.unchanged,
            "audit reports written"
        );
    }
}

/// Run the background audit on its own thread until `stop`.
pub fn spawn(
    mut auditor: Auditor,
    opts: AuditOptions,
    mut writer: Option<ReportWriter>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("rollgate-audit".into())
        .spawn(move || {
            lower_priority();
            // A half-listed cluster would give false absences: wait for every kind.
            while !stop.load(Ordering::SeqCst) && !auditor.cache.settled() {
                std::thread::sleep(Duration::from_millis(200));
            }
            let mut next_full = Instant::now();
            while !stop.load(Ordering::SeqCst) {
                if Instant::now() >= next_full {
                    let stats = auditor.full_pass();
                    tracing::info!(
                        objects = stats.checked,
                        changed = stats.changed,
                        tracked = auditor.tracked(),
                        millis = stats.duration.as_millis() as u64,
                        "audit pass"
                    );
                    after(&mut writer, &auditor, &stats);
                    next_full = Instant::now() + opts.interval;
                    continue;
                }
                let wait = next_full
                    .saturating_duration_since(Instant::now())
                    .min(Duration::from_secs(1));
                if !auditor.cache.wait_changes(wait) {
                    // A newly won Lease writes without waiting for a change.
                    if writer
                        .as_ref()
                        .is_some_and(|w| w.stale && w.leadership.is_leader())
                    {
                        after(&mut writer, &auditor, &PassStats::default());
                    }
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
                after(&mut writer, &auditor, &stats);
            }
        })
}

/// Findings at warning or above in `audit`, for logs.
pub fn failing(audit: &Audit) -> usize {
    audit.count_at_least(Severity::Warning)
}
