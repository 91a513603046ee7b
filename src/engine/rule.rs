//! The rule trait. A rule is a unit struct in `src/rules/<id>.rs`, registered with one line in
//! `src/rules/mod.rs`, documented by `rules/<id>.md` (which is also its test).

use std::borrow::Cow;
use std::cell::{OnceCell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use super::config::Settings;
use super::controllers::{Controllers, Setting};
use super::finding::{Finding, Severity};
use super::inventory::Inventory;
use super::object::Object;
use crate::promql::gates::{Gate, Referrers, gates_with};
use crate::promql::scrape::Monitors;
use crate::rules::common::wiring::{self, Namespaces, Svc};
use crate::schema::Arena;

/// What the engine needs to know about a rule without running it.
#[derive(Debug)]
pub struct RuleMeta {
    /// Stable kebab-case id; users put it in suppressions and config.
    pub id: &'static str,
    pub severity: Severity,
    /// `(api group, kind)` pairs the rule looks at; empty means every object.
    pub kinds: &'static [(&'static str, &'static str)],
    /// The rule's documentation (`rules/<id>.md`), shown by `rollgate explain`.
    pub doc: &'static str,
    /// Option names accepted under `rules.<id>` in `.rollgate.yaml` (besides `severity`).
    pub options: &'static [&'static str],
    /// Reported by the engine itself (parse errors, suppressions), not by `check`.
    pub builtin: bool,
}

impl RuleMeta {
    /// The first sentence of the "What it does" section.
    pub fn summary(&self) -> String {
        let mut lines = self
            .doc
            .lines()
            .skip_while(|l| !l.starts_with("## What it does"));
        lines.next();
        let para: Vec<&str> = lines
            .skip_while(|l| l.trim().is_empty())
            .take_while(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .map(str::trim)
            .collect();
        let text = para.join(" ");
        match text.find(". ") {
            Some(i) => text[..=i].trim_end_matches('.').to_owned(),
            None => text.trim_end_matches('.').to_owned(),
        }
    }
}

/// What a rule may look at besides the object: the world and the settings. Rules do not know
/// whether the linter or the webhook called them.
///
/// While the engine checks one object, the context also holds what several rules derive from
/// that object (its gate queries, rendered and parsed): computed by the first rule that asks,
/// shared by the rest.
pub struct Context<'a> {
    pub world: &'a dyn Inventory,
    pub settings: &'a Settings,
    /// Indexes over the world, built on first use and shared by every object of the run.
    run: Rc<RunMemo<'a>>,
    /// What rules derive from the object being checked.
    memo: Option<Memo<'a>>,
}

/// The world's compiled CRD schemas for one kind, last CRD first.
pub type WorldSchemas = Rc<[Arc<Arena>]>;

/// Indexes over the world shared by the objects of a run.
struct RunMemo<'a> {
    referrers: Referrers<'a>,
    monitors: Monitors<'a>,
    /// (group, kind) → the world's compiled CRD schemas for it.
    /// A list: a run sees a few dozen kinds.
    schemas: RefCell<Vec<(String, String, WorldSchemas)>>,
}

/// Per-object results shared by the rules checking that object.
struct Memo<'a> {
    object: &'a Object,
    gates: OnceCell<Vec<Gate<'a>>>,
    services: OnceCell<Vec<Svc<'a>>>,
}

impl<'a> Context<'a> {
    pub fn new(world: &'a dyn Inventory, settings: &'a Settings) -> Self {
        Context {
            world,
            settings,
            run: Rc::new(RunMemo {
                referrers: Referrers::with_controllers(
                    world,
                    Controllers::with_settings(world, settings),
                ),
                monitors: Monitors::with_settings(world, settings),
                schemas: RefCell::default(),
            }),
            memo: None,
        }
    }

    /// This run's context for checking `object`.
    pub(crate) fn for_object(&self, object: &'a Object) -> Context<'a> {
        Context {
            world: self.world,
            settings: self.settings,
            run: self.run.clone(),
            memo: Some(Memo {
                object,
                gates: OnceCell::new(),
                services: OnceCell::new(),
            }),
        }
    }

    /// Who references which template in the world (indexed once per run).
    pub fn referrers(&self) -> &Referrers<'a> {
        &self.run.referrers
    }

    /// Flagger's `-mesh-provider`: `flagger.mesh-provider` in `.rollgate.yaml`, else the flag of
    /// the world's Flagger Deployment(s) when they agree, else `None` (unknown: Flagger's
    /// default istio is then an assumption). A Canary's `spec.provider` wins over it.
    pub fn flagger_mesh_provider(&self) -> Option<Setting> {
        self.run.referrers.controllers().flagger_mesh_provider()
    }

    /// Flagger's `-namespace` (the only namespace it watches): `flagger.namespace` in
    /// `.rollgate.yaml`, else the world's Flagger Deployment's flag, else `None` (unknown, or
    /// every namespace).
    pub fn flagger_namespace(&self) -> Option<Setting> {
        self.run.referrers.controllers().flagger_namespace()
    }

    /// Which monitors watch which namespace (indexed once per run).
    pub fn monitors(&self) -> &Monitors<'a> {
        &self.run.monitors
    }

    /// The compiled schemas of the world's CustomResourceDefinitions for `group`/`kind`
    /// ([`crate::schema::world_schemas`]), looked up once per kind and run.
    pub fn world_schemas(&self, group: &str, kind: &str) -> WorldSchemas {
        let known = self
            .run
            .schemas
            .borrow()
            .iter()
            .find_map(|(g, k, s)| (g == group && k == kind).then(|| s.clone()));
        known.unwrap_or_else(|| {
            let s: WorldSchemas = crate::schema::world_schemas(self.world, group, kind).into();
            let entry = (group.to_owned(), kind.to_owned(), s.clone());
            self.run.schemas.borrow_mut().push(entry);
            s
        })
    }

    /// The gate queries whose findings belong on `object` ([`crate::promql::gates::gates`]),
    /// computed once per checked object.
    pub fn gates<'s>(&'s self, object: &'a Object) -> Cow<'s, [Gate<'a>]> {
        match &self.memo {
            Some(m) if std::ptr::eq(m.object, object) => {
                Cow::Borrowed(m.gates.get_or_init(|| gates_with(object, self.referrers())))
            }
            _ => Cow::Owned(gates_with(object, self.referrers())),
        }
    }

    /// The Services a ServiceMonitor's or PodMonitor's selector selects in the namespaces it
    /// covers ([`wiring::services`]; none when the selector is invalid), computed once per
    /// checked object: several rules ask.
    pub fn monitor_services<'s>(&'s self, object: &'a Object) -> Cow<'s, [Svc<'a>]> {
        let compute = || match wiring::monitor_selector(object) {
            Ok(selector) => wiring::services(self, &Namespaces::of_monitor(object), &selector),
            Err(_) => Vec::new(),
        };
        match &self.memo {
            Some(m) if std::ptr::eq(m.object, object) => {
                Cow::Borrowed(m.services.get_or_init(compute))
            }
            _ => Cow::Owned(compute()),
        }
    }
}

pub trait Rule: Send + Sync + 'static {
    fn meta(&self) -> &'static RuleMeta;

    /// Report problems of `object` into `out`. Findings carry the rule's default severity unless
    /// the rule knows better (e.g. a contradiction is an error, an absence a warning).
    fn check<'a>(&self, object: &'a Object, cx: &Context<'a>, out: &mut Vec<Finding>);
}

/// Helper for rules: a finding with this rule's id and default severity.
pub fn finding(
    meta: &'static RuleMeta,
    object: &Object,
    pointer: impl Into<String>,
    message: impl Into<String>,
) -> Finding {
    Finding::new(meta.id, meta.severity, object, pointer, message)
}
