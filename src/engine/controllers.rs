//! Settings of the controllers that run the configs: Flagger's command-line flags. Each is read
//! from `.rollgate.yaml` (`flagger.mesh-provider`, `flagger.namespace`: they win), else from a
//! Flagger Deployment in the world, else unknown (`None`): a rule that depends on an unknown
//! setting says what it assumed and reports at most `info`.
//!
//! Flagger parses its flags with Go's `flag` package (`cmd/flagger/main.go`): `-name=value`,
//! `--name=value`, `-name value` and `--name value` are the same flag; `-mesh-provider`
//! defaults to `istio` and `-namespace` to "" (every namespace).

use std::cell::OnceCell;

use serde_json::Value;

use super::config::Settings;
use super::inventory::{Facet, Inventory};
use super::object::Object;

/// A setting's value and where it comes from, for messages
/// (`-mesh-provider=nginx of Deployment flagger-system/flagger`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub value: String,
    pub source: String,
}

/// The controller settings of a run, discovered in the world on first use.
pub struct Controllers<'w> {
    world: &'w dyn Inventory,
    config_mesh_provider: Option<String>,
    config_namespace: Option<String>,
    flagger: OnceCell<Flagger>,
}

/// What the world's Flagger Deployments say.
#[derive(Debug, Default, Clone)]
struct Flagger {
    mesh_provider: Option<Setting>,
    namespace: Option<Setting>,
}

impl<'w> Controllers<'w> {
    /// No configured values: only what the world holds.
    pub fn new(world: &'w dyn Inventory) -> Self {
        Controllers {
            world,
            config_mesh_provider: None,
            config_namespace: None,
            flagger: OnceCell::new(),
        }
    }

    pub fn with_settings(world: &'w dyn Inventory, settings: &Settings) -> Self {
        Controllers {
            config_mesh_provider: settings.flagger_mesh_provider.clone(),
            config_namespace: settings.flagger_namespace.clone(),
            ..Controllers::new(world)
        }
    }

    /// A world that keeps facets is asked on every call, not once per run: its lookups are
    /// recorded per checked object (the background audit's re-checks, src/webhook/deps.rs).
    fn flagger(&self) -> std::borrow::Cow<'_, Flagger> {
        if let Some(flaggers) = self.world.facet(&FLAGGER_DEPLOYMENTS, FLAGGER) {
            return std::borrow::Cow::Owned(discover_flagger(&mut |visit| {
                flaggers.iter().for_each(|d| visit(d));
            }));
        }
        std::borrow::Cow::Borrowed(self.flagger.get_or_init(|| {
            // `scan`, not `list`: only the flags are kept, so a view that parses on demand
            // need not hold every Deployment parsed (~9 KB each) for the rest of the run.
            discover_flagger(&mut |visit| self.world.scan("apps", "Deployment", None, visit))
        }))
    }

    /// Flagger's `-mesh-provider`: the configured value, else the one of the world's Flagger
    /// Deployments (when they agree), else unknown.
    pub fn flagger_mesh_provider(&self) -> Option<Setting> {
        match &self.config_mesh_provider {
            Some(v) => Some(Setting {
                value: v.clone(),
                source: "flagger.mesh-provider in .rollgate.yaml".into(),
            }),
            None => self.flagger().mesh_provider.clone(),
        }
    }

    /// Flagger's `-namespace` (the only namespace whose Canaries it reconciles): the configured
    /// value, else the world's Flagger Deployments' (when they agree and set it), else unknown.
    pub fn flagger_namespace(&self) -> Option<Setting> {
        match &self.config_namespace {
            Some(v) => Some(Setting {
                value: v.clone(),
                source: "flagger.namespace in .rollgate.yaml".into(),
            }),
            None => self.flagger().namespace.clone(),
        }
    }
}

/// Whether `object` is a Deployment running Flagger (its flags are settings of every Canary:
/// the language server's workspace re-checks everything when one changes).
pub fn runs_flagger(object: &Object) -> bool {
    object.is("apps", "Deployment") && containers(object).any(is_flagger)
}

/// Whether a container runs Flagger: its image's repository is `…/flagger` (not
/// `flagger-loadtester`), or it is named `flagger` and passes Flagger's `-mesh-provider` flag
/// (a kustomize patch or a Deployment without an image).
fn is_flagger(container: &Value) -> bool {
    let image = container.get("image").and_then(Value::as_str).unwrap_or("");
    // `ghcr.io/fluxcd/flagger:1.41.0`, `weaveworks/flagger@sha256:…`.
    let repo = image.split('@').next().unwrap_or("");
    let last = repo.rsplit('/').next().unwrap_or("");
    let name = last.split(':').next().unwrap_or("");
    name == "flagger"
        || (container.get("name").and_then(Value::as_str) == Some("flagger")
            && flag(container, "mesh-provider").is_some())
}

/// The value of the Go flag `name` in the container's command and args (the last one wins,
/// as with Go's `flag`); `Some("")` for a flag given without a value.
fn flag<'a>(container: &'a Value, name: &str) -> Option<&'a str> {
    let args = ["command", "args"]
        .into_iter()
        .filter_map(|k| container.get(k).and_then(Value::as_array))
        .flatten()
        .filter_map(Value::as_str);
    let mut found = None;
    let mut want_value = false;
    for a in args {
        if want_value {
            found = Some(a);
            want_value = false;
            continue;
        }
        // Go's flag stops at the first non-flag argument; Flagger is run with flags only.
        let Some(body) = a.strip_prefix("--").or_else(|| a.strip_prefix('-')) else {
            continue;
        };
        match body.split_once('=') {
            Some((n, v)) if n == name => found = Some(v),
            None if body == name => {
                found = Some("");
                want_value = true;
            }
            _ => {}
        }
    }
    found
}

fn containers(d: &Object) -> impl Iterator<Item = &Value> {
    d.at("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// The key of the Deployments that run Flagger ([`FLAGGER_DEPLOYMENTS`]).
const FLAGGER: &str = "flagger";

/// Deployments with a Flagger container, under the one key [`FLAGGER`]: a world that keeps
/// facets finds them without parsing every Deployment of the cluster.
pub static FLAGGER_DEPLOYMENTS: Facet = Facet {
    id: "flagger-deployments",
    group: "apps",
    kind: "Deployment",
    keys: flagger_keys,
};

fn flagger_keys(d: &Object, out: &mut Vec<String>) {
    if containers(d).any(is_flagger) {
        out.push(FLAGGER.to_owned());
    }
}

/// Passes Deployments to its visitor (the world's Flagger Deployments, however found).
type Deployments<'a> = dyn FnMut(&mut dyn FnMut(&Object)) + 'a;

/// Flagger's settings from the Deployments `deployments` passes to its visitor.
fn discover_flagger(deployments: &mut Deployments<'_>) -> Flagger {
    let mut providers: Vec<Setting> = Vec::new();
    let mut namespaces: Vec<Setting> = Vec::new();
    let mut visit = |d: &Object| {
        for c in containers(d).filter(|c| is_flagger(c)) {
            let at = format!("Deployment {}/{}", d.ns(), d.name);
            providers.push(match flag(c, "mesh-provider").filter(|v| !v.is_empty()) {
                Some(v) => Setting {
                    value: v.to_owned(),
                    source: format!("-mesh-provider={v} of {at}"),
                },
                None => Setting {
                    value: "istio".into(),
                    source: format!("{at} sets no -mesh-provider: Flagger's default istio"),
                },
            });
            if let Some(v) = flag(c, "namespace").filter(|v| !v.is_empty()) {
                namespaces.push(Setting {
                    value: v.to_owned(),
                    source: format!("-namespace={v} of {at}"),
                });
            }
        }
    };
    deployments(&mut visit);
    // Several Flagger installs that disagree (a repository with one per mesh): unknown.
    let agreed = |v: Vec<Setting>| match v.first() {
        Some(first) if v.iter().all(|s| s.value == first.value) => Some(first.clone()),
        _ => None,
    };
    let mesh_provider = agreed(providers);
    let namespace = agreed(namespaces);
    Flagger {
        mesh_provider,
        namespace,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn go_flags() {
        let c = json!({"args": ["-log-level=info", "--mesh-provider", "nginx", "-namespace=apps"]});
        assert_eq!(flag(&c, "mesh-provider"), Some("nginx"));
        assert_eq!(flag(&c, "namespace"), Some("apps"));
        assert_eq!(flag(&c, "metrics-server"), None);
        let c = json!({"command": ["./flagger", "-mesh-provider=kuma"], "args": ["-mesh-provider=linkerd"]});
        assert_eq!(flag(&c, "mesh-provider"), Some("linkerd"));
        assert!(is_flagger(
            &json!({"image": "ghcr.io/fluxcd/flagger:1.41.0"})
        ));
        assert!(is_flagger(
            &json!({"image": "weaveworks/flagger@sha256:abc"})
        ));
        assert!(!is_flagger(
            &json!({"image": "ghcr.io/fluxcd/flagger-loadtester:0.34.0"})
        ));
        assert!(!is_flagger(&json!({"name": "flagger", "image": "nginx"})));
        assert!(is_flagger(
            &json!({"name": "flagger", "args": ["-mesh-provider=nginx"]})
        ));
    }
}
