//! The rule trait. A rule is a unit struct in `src/rules/<id>.rs`, registered with one line in
//! `src/rules/mod.rs`, documented by `rules/<id>.md` (which is also its test).

use std::borrow::Cow;
use std::cell::{OnceCell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use super::config::Settings;
use super::controllers::{Controllers, Setting};
use super::finding::{Finding, Severity};
use super::inventory::{Facet, Inventory};
use super::object::Object;
use crate::promql::gates::{Gate, Referrers, gates_with};
use crate::promql::scrape::Monitors;
use crate::regexlang::{FlaggerNames, Language, NameKind};
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
        match sentence_end(&text) {
            Some(i) => text[..=i].trim_end_matches('.').to_owned(),
            None => text.trim_end_matches('.').to_owned(),
        }
    }

    /// The documentation as a reader sees it (`rollgate explain`): the `# expect: <rule-id>`
    /// markers of the examples, which are `tests/rule_docs.rs`'s, are left out (a line that
    /// holds only a marker is dropped; a trailing marker is cut with the spaces before it).
    pub fn reader_doc(&self) -> String {
        strip_expect_markers(self.doc)
    }
}

/// Byte index of the period that ends the first sentence: a `.` followed by a space, not the
/// period of an abbreviation such as "e.g." or "i.e.".
fn sentence_end(text: &str) -> Option<usize> {
    const ABBREVIATIONS: [&str; 5] = ["e.g", "i.e", "etc", "vs", "cf"];
    let mut from = 0;
    while let Some(rel) = text.get(from..)?.find(". ") {
        let i = from + rel;
        let word = text[..i].rsplit([' ', '(']).next().unwrap_or("");
        if !ABBREVIATIONS.contains(&word) {
            return Some(i);
        }
        from = i + 2;
    }
    None
}

/// The marker `tests/rule_docs.rs` reads in the examples of `rules/<id>.md`.
pub const EXPECT_MARKER: &str = "# expect:";

/// `doc` without the `# expect: …` markers inside its fenced code blocks.
pub fn strip_expect_markers(doc: &str) -> String {
    let mut out = String::with_capacity(doc.len());
    let mut in_code = false;
    for line in doc.split_inclusive('\n') {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            out.push_str(line);
            continue;
        }
        let marker = if in_code {
            line.find(EXPECT_MARKER)
        } else {
            None
        };
        match marker {
            None => out.push_str(line),
            Some(i) => {
                let kept = line[..i].trim_end();
                if !kept.is_empty() {
                    out.push_str(kept);
                    out.push('\n');
                }
            }
        }
    }
    out
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
    /// [`Context::reported`] means "in the file of the object being checked" (the language
    /// server: opening a file is `rollgate lint` of that file, the rest of the workspace its
    /// context).
    by_file: bool,
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
    /// Mesh-bound VirtualServices by resolved host ([`Context::mesh_virtualservices`]).
    mesh_hosts: OnceCell<crate::FastMap<String, Vec<&'a Object>>>,
    /// A Flagger MetricTemplate's gates (one per referencing Canary metric), by the template's
    /// address ([`Context::template_gates`]): the template's own check and every Canary that
    /// references it (five threshold rules read them) share one rendering per run.
    template_gates: elsa::FrozenMap<usize, Vec<Gate<'a>>>,
    /// The primary's and the canary's names per Canary and label kind
    /// ([`Context::name_languages`]).
    name_languages: RefCell<crate::FastMap<(FlaggerNames, NameKind), (Language, Language)>>,
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
                mesh_hosts: OnceCell::new(),
                template_gates: elsa::FrozenMap::new(),
                name_languages: RefCell::default(),
            }),
            memo: None,
            by_file: false,
        }
    }

    /// This context, with [`Context::reported`] true only for objects in the file of the object
    /// being checked.
    pub(crate) fn reporting_by_file(mut self) -> Self {
        self.by_file = true;
        self
    }

    /// Whether findings about `object` are reported ([`Inventory::reported`]); with
    /// [`Context::reporting_by_file`]: whether it is in the checked object's file.
    pub fn reported(&self, object: &Object) -> bool {
        match (&self.memo, self.by_file) {
            (Some(m), true) => match (&m.object.origin, &object.origin) {
                (
                    crate::engine::object::Origin::File { source: a, .. },
                    crate::engine::object::Origin::File { source: b, .. },
                ) => a == b,
                _ => self.world.reported(object),
            },
            _ => self.world.reported(object),
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
            by_file: self.by_file,
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

    /// The world's Istio VirtualServices bound to the mesh (no `gateways`, or `mesh` among them)
    /// by host, resolved to an FQDN in each one's namespace; indexed once per run, in world
    /// order.
    pub fn mesh_virtualservices(&self, fqdn: &str) -> Cow<'_, [&'a Object]> {
        if let Some(v) = self.world.facet(&MESH_VIRTUALSERVICE_HOSTS, fqdn) {
            return Cow::Owned(v);
        }
        let index = self.run.mesh_hosts.get_or_init(|| {
            let mut m: crate::FastMap<String, Vec<&'a Object>> = crate::FastMap::default();
            let mut keys = Vec::new();
            for vs in self
                .world
                .list("networking.istio.io", "VirtualService", None)
            {
                keys.clear();
                mesh_hosts(vs, &mut keys);
                for key in keys.drain(..) {
                    m.entry(key).or_default().push(vs);
                }
            }
            m
        });
        Cow::Borrowed(index.get(fqdn).map_or(&[], Vec::as_slice))
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
        if object.is("flagger.app", "MetricTemplate") {
            return Cow::Borrowed(self.template_gates(object));
        }
        match &self.memo {
            Some(m) if std::ptr::eq(m.object, object) => {
                Cow::Borrowed(m.gates.get_or_init(|| gates_with(object, self.referrers())))
            }
            _ => Cow::Owned(gates_with(object, self.referrers())),
        }
    }

    /// The gates of a Flagger MetricTemplate ([`gates_with`]: one per Canary metric that
    /// references it, else one with placeholders), computed once per run: the template's own
    /// check and the threshold rules of each Canary that references it read the same list.
    pub fn template_gates<'s>(&'s self, template: &'a Object) -> &'s [Gate<'a>] {
        let key = std::ptr::from_ref(template) as usize;
        match self.run.template_gates.get(&key) {
            Some(gates) => gates,
            None => self
                .run
                .template_gates
                .insert(key, gates_with(template, self.referrers())),
        }
    }

    /// `(names.primary(kind), names.canary(kind))`, computed once per run: the same for every
    /// gate of a Canary and for every Canary of a target, and building a pod-name language
    /// formats a regex per hash length.
    pub fn name_languages(&self, names: &FlaggerNames, kind: NameKind) -> (Language, Language) {
        let key = (names.clone(), kind);
        if let Some(hit) = self.run.name_languages.borrow().get(&key) {
            return hit.clone();
        }
        let sides = (names.primary(kind), names.canary(kind));
        self.run
            .name_languages
            .borrow_mut()
            .insert(key, sides.clone());
        sides
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

/// Istio VirtualServices bound to the mesh by host ([`Context::mesh_virtualservices`]).
pub static MESH_VIRTUALSERVICE_HOSTS: Facet = Facet {
    id: "mesh-virtualservice-hosts",
    group: "networking.istio.io",
    kind: "VirtualService",
    keys: mesh_hosts,
};

/// The hosts of a VirtualService bound to the mesh (no `gateways`, or `mesh` among them),
/// resolved to an FQDN in its namespace.
fn mesh_hosts(vs: &Object, out: &mut Vec<String>) {
    let gateways = vs
        .at("/spec/gateways")
        .and_then(serde_json::Value::as_array);
    let mesh =
        gateways.is_none_or(|g| g.is_empty() || g.iter().any(|x| x.as_str() == Some("mesh")));
    if !mesh {
        return;
    }
    let hosts = vs.at("/spec/hosts").and_then(serde_json::Value::as_array);
    for h in hosts
        .into_iter()
        .flatten()
        .filter_map(serde_json::Value::as_str)
    {
        let key = crate::rules::common::istio_fqdn(h, vs.ns());
        if !out.contains(&key) {
            out.push(key);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_end_at_a_sentence_not_at_an_abbreviation() {
        assert_eq!(
            sentence_end("Warns (after scaling, e.g. `* 1000`). Then more"),
            Some(36)
        );
        assert_eq!(sentence_end("One, i.e. two. Three"), Some(13));
        assert_eq!(sentence_end("No period here"), None);
        assert_eq!(sentence_end("Ends with e.g. nothing"), None);
    }

    #[test]
    fn every_summary_is_whole() {
        for m in crate::engine::all_metas() {
            let s = m.summary();
            for abbr in ["e.g", "i.e"] {
                assert!(
                    !s.ends_with(abbr),
                    "rule {}: summary cut after {abbr:?}: {s}",
                    m.id
                );
            }
        }
    }

    #[test]
    fn reader_doc_drops_the_test_markers_only_in_code() {
        let doc = "Say `# expect: x` in prose.\n\n```yaml\nroute: # expect: a, b\n# expect: c\n  weight: 1\n```\n";
        assert_eq!(
            strip_expect_markers(doc),
            "Say `# expect: x` in prose.\n\n```yaml\nroute:\n  weight: 1\n```\n"
        );
        for m in crate::engine::all_metas() {
            assert!(
                !m.reader_doc().contains("\n# expect:") && !m.reader_doc().contains(" # expect:"),
                "rule {}",
                m.id
            );
        }
    }
}
