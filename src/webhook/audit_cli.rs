//! `rollgate audit`: read the kinds the rules look at from a cluster, read-only, with paged
//! LISTs, into the webhook's cache structure; audit it ([`super::audit`]); print the findings in
//! any `lint` format; write PolicyReports only with `--write-reports`.
//!
//! LISTs (shared/spec/anchors-wave2.md §4 pitfalls): `limit=500` and `continue`, no
//! `resourceVersion`, so each page is a consistent read from etcd at the first page's revision
//! (`resourceVersion=0` is served from the watch cache, which ignores `limit`: kubernetes
//! #96182). A continue token that expired (410 Gone) restarts the kind's list, at most
//! [`MAX_RESTARTS`] times. A kind whose CRD is not installed, that RBAC forbids, or whose
//! LIST fails gets one note; the other kinds are still audited.

use std::collections::{BTreeSet, HashMap};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Args;
use futures::StreamExt;
use kube::api::{Api, DynamicObject, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::ApiResource;
use kube::{Client, discovery};
use serde_json::json;

use super::audit::{Audit, AuditOptions, Row, audit_store};
use super::cache::{Availability, ClusterCache, Store, WATCHED, to_object};
use super::metrics::Metrics;
use super::policyreport::{self, ReportMeta, WriteSummary};
use crate::cli::{ColorChoice, FailLevel};
use crate::engine::config::{self, Config};
use crate::engine::lint::{LintRun, Located, LocatedRelated, Summary};
use crate::engine::selector::{Operator, Requirement};
use crate::engine::{Engine, Finding, LabelSelector, Origin, Severity, all_metas};
use crate::report::{self, Format};

/// Restarts of one kind's LIST after its continue token expired (410 Gone).
pub const MAX_RESTARTS: usize = 3;
/// Kinds listed at the same time.
const CONCURRENT_LISTS: usize = 4;

#[derive(Args, Debug)]
pub struct AuditArgs {
    /// Kubeconfig file (default: $KUBECONFIG or ~/.kube/config; in a pod, its service account).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use (default: the current context).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// Audit only objects of these namespaces (comma-separated or repeated). Referents are
    /// still read in every namespace the credentials may list.
    #[arg(
        long,
        short = 'n',
        value_delimiter = ',',
        conflicts_with = "all_namespaces"
    )]
    pub namespace: Vec<String>,
    /// Audit every namespace and the cluster-scoped objects (the default).
    #[arg(long, short = 'A')]
    pub all_namespaces: bool,
    /// Audit only objects whose labels match this selector (kubectl syntax: `app=web`,
    /// `tier!=db`, `env in (a,b)`, `!legacy`). Referents are read whatever their labels.
    #[arg(long, short = 'l', value_name = "SELECTOR")]
    pub selector: Option<String>,
    #[arg(long, short, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Exit 1 when a finding at or above this severity is reported.
    #[arg(long, value_enum, default_value_t = FailLevel::Error)]
    pub fail_level: FailLevel,
    /// Configuration file (default: the nearest .rollgate.yaml in this folder or a parent).
    #[arg(long, conflicts_with = "no_config")]
    pub config: Option<PathBuf>,
    /// Ignore configuration files.
    #[arg(long)]
    pub no_config: bool,
    /// Also show info-level findings.
    #[arg(long)]
    pub show_info: bool,
    /// Run only these rules (comma-separated ids).
    #[arg(long, value_delimiter = ',')]
    pub select: Option<Vec<String>>,
    /// Turn these rules off (comma-separated ids).
    #[arg(long, value_delimiter = ',')]
    pub ignore: Vec<String>,
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Create, update and delete rollgate's PolicyReports (wgpolicyk8s.io/v1alpha2, and
    /// openreports.io/v1alpha1 Reports where that CRD is installed) to match the findings.
    /// Without it, nothing is written.
    #[arg(long)]
    pub write_reports: bool,
    /// Objects per LIST page.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub page_size: u32,
    /// Give up on a request to the apiserver after this many seconds (the kind gets a note).
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub request_timeout: u64,
}

/// Parse a kubectl label selector (`a=b,c!=d,e in (x,y),f notin (z),g,!h`).
pub fn parse_selector(text: &str) -> Result<LabelSelector, String> {
    let mut requirements = Vec::new();
    // Split on commas outside parentheses.
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    let bad = |p: &str, why: &str| Err(format!("--selector: \"{}\": {why}", p.trim()));
    for part in parts {
        let p = part.trim();
        if p.is_empty() {
            if text.trim().is_empty() {
                continue;
            }
            return bad(part, "empty requirement");
        }
        let key_ok = |k: &str| {
            !k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
        };
        let req = if let Some((k, v)) = p.split_once("!=") {
            (k.trim(), Operator::NotIn, vec![v.trim().to_owned()])
        } else if let Some((k, v)) = p.split_once("==").or_else(|| p.split_once('=')) {
            (k.trim(), Operator::Equals, vec![v.trim().to_owned()])
        } else if let Some(k) = p.strip_prefix('!') {
            (k.trim(), Operator::DoesNotExist, Vec::new())
        } else if let Some(open) = p.find('(') {
            let Some(inner) = p[open + 1..].strip_suffix(')') else {
                return bad(p, "missing closing parenthesis");
            };
            let head: Vec<&str> = p[..open].split_whitespace().collect();
            let (k, op) = match head.as_slice() {
                [k, "in"] => (*k, Operator::In),
                [k, "notin"] => (*k, Operator::NotIn),
                _ => return bad(p, "expected `key in (…)` or `key notin (…)`"),
            };
            let values: Vec<String> = inner
                .split(',')
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .collect();
            if values.is_empty() {
                return bad(p, "no values");
            }
            (k, op, values)
        } else {
            (p, Operator::Exists, Vec::new())
        };
        if !key_ok(req.0) {
            return bad(p, "invalid label key");
        }
        requirements.push(Requirement {
            key: req.0.to_owned(),
            operator: req.1,
            values: req.2,
        });
    }
    Ok(LabelSelector { requirements })
}

fn load_config(args: &AuditArgs) -> Result<(Config, Vec<u8>), String> {
    if args.no_config {
        return Ok((Config::default(), Vec::new()));
    }
    let path = match &args.config {
        Some(p) => Some(p.clone()),
        None => std::env::current_dir()
            .ok()
            .and_then(|d| config::discover(&d)),
    };
    match path {
        Some(p) => {
            let bytes = std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            let cfg = Config::from_file(&p, &all_metas()).map_err(|e| e.to_string())?;
            Ok((cfg, bytes))
        }
        None => Ok((Config::default(), Vec::new())),
    }
}

fn usage_error(msg: impl std::fmt::Display) -> io::Result<u8> {
    eprintln!("rollgate: error: {msg}");
    Ok(2)
}

/// `rollgate audit`.
pub fn run(args: AuditArgs, out: &mut dyn Write) -> io::Result<u8> {
    let (mut cfg, cfg_bytes) = match load_config(&args) {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    if let Err(e) = crate::cli::rule_flags(&mut cfg, args.select.as_deref(), &args.ignore) {
        return usage_error(e);
    }
    let selector = match args.selector.as_deref().map(parse_selector).transpose() {
        Ok(s) => s,
        Err(e) => return usage_error(e),
    };
    let engine = Engine::new(crate::rules::REGISTRY, &cfg, args.select.as_deref());
    let namespaces: Option<BTreeSet<String>> =
        (!args.namespace.is_empty()).then(|| args.namespace.iter().cloned().collect());
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return usage_error(format!("cannot start the runtime: {e}")),
    };
    let client = match rt.block_on(client(&args)) {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    let cache = ClusterCache::new(Arc::new(Metrics::new()));
    let read = rt.block_on(fill(&client, &cache, namespaces.as_ref(), args.page_size));
    if read.listed == 0 && read.failed > 0 {
        for n in &read.errors {
            eprintln!("rollgate: error: {n}");
        }
        return usage_error("could not read any kind from the cluster");
    }
    let options = AuditOptions {
        namespaces: namespaces.clone(),
        selector,
        partial: read.partial.clone(),
        ..AuditOptions::default()
    };
    // The store is this command's own: checked in place, no snapshot.
    let availability = cache.availability();
    let mut result =
        cache.read(|s| audit_store(s, &availability, &engine, &cfg.settings, &options));
    let mut failed = result
        .notes
        .iter()
        .any(|n| n.reason == super::audit::NoteReason::Unreadable);
    let mut writes: Option<WriteSummary> = None;
    if args.write_reports {
        let meta = ReportMeta {
            // The flags that change findings count as configuration too.
            config_hash: policyreport::config_hash(
                crate::cli::VERSION,
                &[
                    cfg_bytes.as_slice(),
                    format!("\0{:?}\0{:?}", args.select, args.ignore).as_bytes(),
                ]
                .concat(),
            ),
            owner: None,
        };
        let summary = rt.block_on(async {
            let mut s = WriteSummary::default();
            let flavors = policyreport::served_flavors(&client).await;
            if flavors.is_empty() {
                s.errors.push(
                    "no PolicyReport CRD (wgpolicyk8s.io/v1alpha2 or openreports.io/v1alpha1) is installed; no report written".into(),
                );
            }
            for f in flavors {
                let desired = policyreport::desired(f, &result, &meta);
                policyreport::write_reports(&client, f, &desired, namespaces.as_ref(), &mut s)
                    .await;
            }
            s
        });
        failed |= !summary.errors.is_empty();
        writes = Some(summary);
    }
    drop(rt);

    // The cache is no longer needed (the reports are written): its JSON is freed before the
    // rows become the printer's diagnostics.
    drop(cache);
    let mut run = into_lint_run(&mut result);
    if !args.show_info {
        run.diagnostics
            .retain(|d| d.finding.severity > Severity::Info);
        run.summary.infos = 0;
    }
    // A CRD that is not installed is normal (a cluster without Argo Rollouts): listed with
    // --show-info, counted otherwise. What could not be read is always shown.
    let not_installed = result
        .notes
        .iter()
        .filter(|n| n.reason == super::audit::NoteReason::NotInstalled)
        .count();
    for n in &result.notes {
        if args.show_info || n.reason != super::audit::NoteReason::NotInstalled {
            eprintln!("rollgate: note: {}", n.message);
        }
    }
    if !args.show_info && not_installed > 0 {
        eprintln!(
            "rollgate: note: {not_installed} watched kind(s) not installed in this cluster (--show-info lists them)"
        );
    }
    if let Some(w) = &writes {
        for e in &w.errors {
            eprintln!("rollgate: error: {e}");
        }
        eprintln!(
            "rollgate: reports ({}): {} created, {} updated, {} deleted, {} unchanged",
            if w.flavors.is_empty() {
                "none".to_owned()
            } else {
                w.flavors.join(", ")
            },
            w.created,
            w.updated,
            w.deleted,
            w.unchanged
        );
    }
    let color = crate::cli::use_color(args.color);
    if args.format == Format::Json {
        let mut v = report::json::to_value(&run);
        v["source"] = json!("cluster");
        v["notes"] = json!(result.notes);
        if let Some(w) = &writes {
            v["reports"] = json!({
                "kinds": w.flavors,
                "created": w.created,
                "updated": w.updated,
                "deleted": w.deleted,
                "unchanged": w.unchanged,
                "errors": w.errors,
            });
        }
        serde_json::to_writer_pretty(&mut *out, &v)?;
        writeln!(out)?;
    } else {
        report::write(args.format, &run, &report::Options { color }, out)?;
    }
    out.flush()?;
    if failed {
        return Ok(2);
    }
    Ok(crate::cli::exit_code(&run, args.fail_level))
}

async fn client(args: &AuditArgs) -> Result<Client, String> {
    let options = KubeConfigOptions {
        context: args.context.clone(),
        ..KubeConfigOptions::default()
    };
    let mut config = match &args.kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(path)
                .map_err(|e| format!("--kubeconfig {}: {e}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &options)
                .await
                .map_err(|e| format!("--kubeconfig {}: {e}", path.display()))?
        }
        None if args.context.is_some() => kube::Config::from_kubeconfig(&options)
            .await
            .map_err(|e| format!("kubeconfig: {e}"))?,
        None => kube::Config::infer()
            .await
            .map_err(|e| format!("no cluster configuration (in-cluster or kubeconfig): {e}"))?,
    };
    config.read_timeout = Some(Duration::from_secs(args.request_timeout.max(1)));
    config.write_timeout = Some(Duration::from_secs(args.request_timeout.max(1)));
    Client::try_from(config).map_err(|e| format!("cluster client: {e}"))
}

/// What reading the cluster gave.
#[derive(Debug, Default)]
pub struct Read {
    /// Kinds listed completely.
    pub listed: usize,
    /// Kinds that could not be listed.
    pub failed: usize,
    /// Objects read.
    pub objects: usize,
    /// Kinds read only in some namespaces.
    pub partial: HashMap<(String, String), BTreeSet<String>>,
    pub errors: Vec<String>,
}

/// Fill `cache` with every watched kind (rules look referents up in all of them) with paged
/// LISTs, marking each kind's availability.
pub async fn fill(
    client: &Client,
    cache: &ClusterCache,
    namespaces: Option<&BTreeSet<String>>,
    page_size: u32,
) -> Read {
    let store = Mutex::new(Store::default());
    let mut read = Read::default();
    let mut groups: Vec<&'static str> = WATCHED.iter().map(|(g, _)| *g).collect();
    groups.dedup();
    let mut targets: Vec<(&'static str, &'static str, ApiResource)> = Vec::new();
    for group in groups {
        let found = match discovery::group(client, group).await {
            Ok(g) => Some(g),
            Err(kube::Error::Discovery(_)) => None,
            Err(e) => {
                for (g, k) in WATCHED.iter().filter(|(g, _)| *g == group) {
                    cache.mark(
                        g,
                        k,
                        Availability::Failing(format!("API discovery failed: {e}")),
                    );
                    read.failed += 1;
                    read.errors.push(format!("{k}: API discovery failed: {e}"));
                }
                continue;
            }
        };
        for (g, k) in WATCHED.iter().filter(|(g, _)| *g == group) {
            match found.as_ref().and_then(|x| super::cache::find_kind(x, k)) {
                Some(ar) => targets.push((g, k, ar)),
                None => cache.mark(g, k, Availability::Missing),
            }
        }
    }
    let results: Vec<_> = futures::stream::iter(targets.into_iter().map(|(g, k, ar)| {
        let store = &store;
        async move {
            let r = list_kind(client, &ar, g, k, namespaces, page_size, store).await;
            (g, k, r)
        }
    }))
    .buffer_unordered(CONCURRENT_LISTS)
    .collect()
    .await;
    let store = store.into_inner().unwrap_or_else(|p| p.into_inner());
    read.objects = WATCHED.iter().map(|(g, k)| store.count(g, k)).sum();
    cache.replace_store(store);
    for (g, k, r) in results {
        match r {
            Ok(None) => {
                read.listed += 1;
                cache.mark(g, k, Availability::Synced);
            }
            Ok(Some(only)) => {
                read.listed += 1;
                cache.mark(g, k, Availability::Synced);
                read.partial.insert((g.to_owned(), k.to_owned()), only);
            }
            Err(e) => {
                read.failed += 1;
                read.errors.push(format!("{k}: {e}"));
                cache.mark(g, k, Availability::Failing(e));
            }
        }
    }
    read
}

fn status_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

/// List one kind into `store`: everywhere, or (when that is forbidden and `namespaces` is
/// given) in each of those namespaces. `Ok(Some(namespaces))` when only those were read.
async fn list_kind(
    client: &Client,
    ar: &ApiResource,
    group: &'static str,
    kind: &'static str,
    namespaces: Option<&BTreeSet<String>>,
    page_size: u32,
    store: &Mutex<Store>,
) -> Result<Option<BTreeSet<String>>, String> {
    let all: Api<DynamicObject> = Api::all_with(client.clone(), ar);
    match list_pages(&all, ar, page_size, store).await {
        Ok(()) => return Ok(None),
        Err(e) if status_code(&e) == Some(403) && namespaces.is_some() => {}
        Err(e) => {
            clear(store, group, kind);
            return Err(describe(&e));
        }
    }
    clear(store, group, kind);
    let mut read = BTreeSet::new();
    for ns in namespaces.into_iter().flatten() {
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, ar);
        match list_pages(&api, ar, page_size, store).await {
            Ok(()) => {
                read.insert(ns.clone());
            }
            Err(e) => return Err(describe(&e)),
        }
    }
    Ok(Some(read))
}

fn clear(store: &Mutex<Store>, group: &str, kind: &str) {
    let mut s = store.lock().unwrap_or_else(|p| p.into_inner());
    s.replace_kind(group, kind, Vec::new());
}

fn describe(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) if s.code == 403 => format!("forbidden by RBAC ({})", s.message),
        kube::Error::Api(s) => format!("the apiserver answered {} ({})", s.code, s.message),
        other => format!("request failed: {other}"),
    }
}

/// LIST with `limit` + `continue`, no resourceVersion (a consistent read); restart on 410.
async fn list_pages(
    api: &Api<DynamicObject>,
    ar: &ApiResource,
    page_size: u32,
    store: &Mutex<Store>,
) -> Result<(), kube::Error> {
    let mut restarts = 0;
    'restart: loop {
        let mut token: Option<String> = None;
        let mut got: Vec<crate::engine::Object> = Vec::new();
        loop {
            let mut lp = ListParams::default().limit(page_size);
            if let Some(t) = &token {
                lp = lp.continue_token(t);
            }
            let page = match api.list(&lp).await {
                Ok(p) => p,
                Err(e) if status_code(&e) == Some(410) && restarts < MAX_RESTARTS => {
                    // The pages read so far are of another revision: start over.
                    restarts += 1;
                    continue 'restart;
                }
                Err(e) => return Err(e),
            };
            token = page.metadata.continue_.clone().filter(|t| !t.is_empty());
            got.extend(page.items.into_iter().filter_map(|d| to_object(ar, d)));
            // Into the store as compact JSON page by page: memory stays one page of values.
            {
                let mut s = store.lock().unwrap_or_else(|p| p.into_inner());
                for o in got.drain(..) {
                    s.insert(o);
                }
            }
            if token.is_none() {
                return Ok(());
            }
        }
    }
}

/// The audit as a lint run (no sources: findings are placed by object and JSON pointer).
pub fn to_lint_run(audit: &Audit) -> LintRun {
    lint_run(audit, audit.all_rows().cloned())
}

/// [`to_lint_run`], moving the rows out of `audit` instead of copying them (the command prints
/// them once: at 100,000 objects the rows are tens of MB).
fn into_lint_run(audit: &mut Audit) -> LintRun {
    let rows = std::mem::take(&mut audit.rows);
    lint_run(audit, rows.into_values().flatten())
}

fn lint_run(audit: &Audit, rows: impl Iterator<Item = Row>) -> LintRun {
    let mut summary = Summary {
        objects: audit.objects,
        suppressed: audit.suppressed,
        ..Summary::default()
    };
    let diagnostics: Vec<Located> = rows
        .map(|r| {
            match r.severity {
                Severity::Error => summary.errors += 1,
                Severity::Warning => summary.warnings += 1,
                Severity::Info => summary.infos += 1,
            }
            let related = r
                .related
                .iter()
                .map(|x| LocatedRelated {
                    message: x.message.clone(),
                    object: x.object.clone(),
                    pointer: x.pointer.clone(),
                    source: None,
                    span: None,
                })
                .collect();
            Located {
                finding: Finding {
                    rule: r.rule,
                    severity: r.severity,
                    message: r.message,
                    object: Some(crate::engine::ObjectRef::clone(&r.object)),
                    origin: Origin::Cluster,
                    pointer: r.pointer,
                    scalar_range: None,
                    at_key: false,
                    related: r.related,
                    help: r.help.as_deref().map(str::to_owned),
                    fix: None,
                    outside: false,
                },
                source: None,
                span: None,
                related,
                fix: None,
            }
        })
        .collect();
    LintRun {
        sources: Vec::new(),
        context: Vec::new(),
        context_files: 0,
        outside: 0,
        diagnostics,
        summary,
        world: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kubectl_selectors() {
        let s = parse_selector("app=web, tier!=db,env in (a, b),x notin (y),has,!gone")
            .expect("selector");
        let ops: Vec<Operator> = s.requirements.iter().map(|r| r.operator).collect();
        assert_eq!(
            ops,
            vec![
                Operator::Equals,
                Operator::NotIn,
                Operator::In,
                Operator::NotIn,
                Operator::Exists,
                Operator::DoesNotExist
            ]
        );
        let labels = json!({"app": "web", "env": "b", "has": "1"});
        assert!(s.matches(labels.as_object()));
        let other = json!({"app": "web", "env": "c", "has": "1"});
        assert!(!s.matches(other.as_object()));
        assert!(parse_selector("a in (b").is_err());
        assert!(parse_selector("a b").is_err());
        assert!(parse_selector("").expect("empty").is_everything());
    }
}
