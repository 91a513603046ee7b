//! Derives the built-in schema files (`src/schema/builtin/*.json`) from the upstream CRDs in the
//! shared corpus (`<corpus>/_crds/`) and from the hand-written sources in
//! `src/schema/builtin/src/`, which may splice subtrees of those CRDs with
//! `$from: "<corpus _crds file>#<kind>#<JSON pointer into that CRD document>"` (sibling keys
//! override the spliced ones).
//!
//! Not used at run time: the test `builtin_schemas_are_up_to_date` (tests/schema.rs) runs it when
//! the corpus is present and fails when a checked-in file differs; `ROLLGATE_UPDATE_SCHEMAS=1`
//! rewrites them. The build never reads the corpus.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::node::{Arena, Compiler, Provenance, compile_crd};
use crate::manifest::{Limits, load};

/// An upstream CRD file of the corpus, with what we know of its origin (corpus MANIFEST.tsv).
struct Upstream {
    file: &'static str,
    label: &'static str,
    repo: &'static str,
    path: &'static str,
    commit: &'static str,
    version: &'static str,
}

const ARGO_COMMIT: &str = "9f8d111d8f8e3e88b6d7f8bbdf62fd3cd863ef9d";
const ARGO_VERSION: &str = "v1.10.0-rc1-70-g9f8d111d8 (master after v1.10.0-rc1)";
const PROM_COMMIT: &str = "6adcebc5076c34f4f55f8f5f7b1e528929373ac7";
const PROM_VERSION: &str = "v0.93.0-24-g6adcebc50 (operator 0.93.0)";
const ISTIO_COMMIT: &str = "86c9f01fd735fb01d8192f5bcaf0d424afb7f14c";

const UPSTREAM: &[Upstream] = &[
    Upstream {
        file: "fluxcd__flagger__artifacts__flagger__crd.yaml",
        label: "Flagger v1.44.0 CRD",
        repo: "fluxcd/flagger",
        path: "artifacts/flagger/crd.yaml",
        commit: "15bd6ad555e6c935da55f0ab95977be74c149bd6",
        version: "v1.44.0",
    },
    Upstream {
        file: "argoproj__argo-rollouts__manifests__crds__rollout-crd.yaml",
        label: "Argo Rollouts v1.10 CRD",
        repo: "argoproj/argo-rollouts",
        path: "manifests/crds/rollout-crd.yaml",
        commit: ARGO_COMMIT,
        version: ARGO_VERSION,
    },
    Upstream {
        file: "argoproj__argo-rollouts__manifests__crds__analysis-template-crd.yaml",
        label: "Argo Rollouts v1.10 CRD",
        repo: "argoproj/argo-rollouts",
        path: "manifests/crds/analysis-template-crd.yaml",
        commit: ARGO_COMMIT,
        version: ARGO_VERSION,
    },
    Upstream {
        file: "istio__istio__manifests__charts__base__files__crd-all.gen.yaml__VirtualService.yaml",
        label: "Istio CRD (master at 86c9f01)",
        repo: "istio/istio",
        path: "manifests/charts/base/files/crd-all.gen.yaml (document virtualservices.networking.istio.io)",
        commit: ISTIO_COMMIT,
        version: "master at 86c9f01",
    },
    Upstream {
        file: "istio__istio__manifests__charts__base__files__crd-all.gen.yaml__DestinationRule.yaml",
        label: "Istio CRD (master at 86c9f01)",
        repo: "istio/istio",
        path: "manifests/charts/base/files/crd-all.gen.yaml (document destinationrules.networking.istio.io)",
        commit: ISTIO_COMMIT,
        version: "master at 86c9f01",
    },
    Upstream {
        file: "prometheus-operator__prometheus-operator__example__prometheus-operator-crd__monitoring.coreos.com_servicemonitors.yaml",
        label: "Prometheus Operator v0.93 CRD",
        repo: "prometheus-operator/prometheus-operator",
        path: "example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml",
        commit: PROM_COMMIT,
        version: PROM_VERSION,
    },
    Upstream {
        file: "prometheus-operator__prometheus-operator__example__prometheus-operator-crd__monitoring.coreos.com_podmonitors.yaml",
        label: "Prometheus Operator v0.93 CRD",
        repo: "prometheus-operator/prometheus-operator",
        path: "example/prometheus-operator-crd/monitoring.coreos.com_podmonitors.yaml",
        commit: PROM_COMMIT,
        version: PROM_VERSION,
    },
];

enum Recipe {
    /// A kind's CRD document of an upstream file, as is.
    Crd {
        out: &'static str,
        file: &'static str,
        kind: &'static str,
    },
    /// A hand-written source in `src/schema/builtin/src/`.
    Hand {
        out: &'static str,
        source: &'static str,
    },
}

const RECIPES: &[Recipe] = &[
    Recipe::Hand {
        out: "meta_ObjectMeta.json",
        source: "objectmeta.yaml",
    },
    Recipe::Crd {
        out: "flagger.app_Canary.json",
        file: "fluxcd__flagger__artifacts__flagger__crd.yaml",
        kind: "Canary",
    },
    Recipe::Crd {
        out: "flagger.app_MetricTemplate.json",
        file: "fluxcd__flagger__artifacts__flagger__crd.yaml",
        kind: "MetricTemplate",
    },
    Recipe::Crd {
        out: "flagger.app_AlertProvider.json",
        file: "fluxcd__flagger__artifacts__flagger__crd.yaml",
        kind: "AlertProvider",
    },
    Recipe::Crd {
        out: "argoproj.io_Rollout.json",
        file: "argoproj__argo-rollouts__manifests__crds__rollout-crd.yaml",
        kind: "Rollout",
    },
    Recipe::Crd {
        out: "argoproj.io_AnalysisTemplate.json",
        file: "argoproj__argo-rollouts__manifests__crds__analysis-template-crd.yaml",
        kind: "AnalysisTemplate",
    },
    Recipe::Hand {
        out: "argoproj.io_AnalysisRun.json",
        source: "analysisrun.yaml",
    },
    Recipe::Hand {
        out: "argoproj.io_Experiment.json",
        source: "experiment.yaml",
    },
    Recipe::Crd {
        out: "networking.istio.io_VirtualService.json",
        file: "istio__istio__manifests__charts__base__files__crd-all.gen.yaml__VirtualService.yaml",
        kind: "VirtualService",
    },
    Recipe::Crd {
        out: "networking.istio.io_DestinationRule.json",
        file: "istio__istio__manifests__charts__base__files__crd-all.gen.yaml__DestinationRule.yaml",
        kind: "DestinationRule",
    },
    Recipe::Crd {
        out: "monitoring.coreos.com_ServiceMonitor.json",
        file: "prometheus-operator__prometheus-operator__example__prometheus-operator-crd__monitoring.coreos.com_servicemonitors.yaml",
        kind: "ServiceMonitor",
    },
    Recipe::Crd {
        out: "monitoring.coreos.com_PodMonitor.json",
        file: "prometheus-operator__prometheus-operator__example__prometheus-operator-crd__monitoring.coreos.com_podmonitors.yaml",
        kind: "PodMonitor",
    },
    Recipe::Hand {
        out: "monitoring.coreos.com_Prometheus.json",
        source: "prometheus.yaml",
    },
    Recipe::Hand {
        out: "apps_Deployment.json",
        source: "deployment.yaml",
    },
    Recipe::Hand {
        out: "core_Service.json",
        source: "service.yaml",
    },
];

/// A generated file: its name in `src/schema/builtin/` and its content.
pub struct Generated {
    pub file: &'static str,
    pub text: String,
}

/// The folder of the hand-written sources, in this crate.
pub fn hand_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/schema/builtin/src")
}

/// The folder of the built-in files, in this crate.
pub fn out_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/schema/builtin")
}

/// Loaded upstream CRD documents, by file.
struct Crds {
    dir: PathBuf,
    files: HashMap<String, Vec<Value>>,
}

impl Crds {
    fn docs(&mut self, file: &str) -> Result<&Vec<Value>, String> {
        if !self.files.contains_key(file) {
            let path = self.dir.join(file);
            let text =
                std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let loaded = load(&text, Limits::default());
            if let Some(p) = loaded.problems.first() {
                return Err(format!(
                    "{}:{}:{}: {}",
                    path.display(),
                    p.span.start.line,
                    p.span.start.column,
                    p.message
                ));
            }
            let docs = loaded
                .documents
                .into_iter()
                .map(|d| d.value)
                .filter(super::crd::is_crd)
                .collect();
            self.files.insert(file.to_owned(), docs);
        }
        self.files
            .get(file)
            .ok_or_else(|| format!("{file}: not loaded"))
    }

    fn crd(&mut self, file: &str, kind: &str) -> Result<Value, String> {
        self.docs(file)?
            .iter()
            .find(|d| d.pointer("/spec/names/kind").and_then(Value::as_str) == Some(kind))
            .cloned()
            .ok_or_else(|| format!("{file}: no CRD of kind {kind}"))
    }

    /// Replace every `{"$from": "file#Kind#/pointer", ...overrides}` in `v`.
    fn splice(&mut self, v: &mut Value, depth: usize) -> Result<(), String> {
        if depth > 64 {
            return Err("$from nesting too deep".into());
        }
        match v {
            Value::Object(m) => {
                if let Some(Value::String(from)) = m.remove("$from") {
                    let mut parts = from.splitn(3, '#');
                    let (Some(file), Some(kind), Some(ptr)) =
                        (parts.next(), parts.next(), parts.next())
                    else {
                        return Err(format!("bad $from {from:?} (file#Kind#/pointer)"));
                    };
                    let crd = self.crd(file, kind)?;
                    let mut base = crd
                        .pointer(ptr)
                        .cloned()
                        .ok_or_else(|| format!("$from {from:?}: pointer not found"))?;
                    if let Value::Object(b) = &mut base {
                        for (k, val) in std::mem::take(m) {
                            b.insert(k, val);
                        }
                    }
                    *v = base;
                }
                if let Value::Object(m) = v {
                    for val in m.values_mut() {
                        self.splice(val, depth + 1)?;
                    }
                }
            }
            Value::Array(a) => {
                for val in a {
                    self.splice(val, depth + 1)?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

fn upstream(file: &str) -> Option<&'static Upstream> {
    UPSTREAM.iter().find(|u| u.file == file)
}

/// Generate every built-in file from `crds_dir` (the corpus `_crds` folder).
pub fn generate(crds_dir: &Path) -> Result<Vec<Generated>, String> {
    let mut crds = Crds {
        dir: crds_dir.to_path_buf(),
        files: HashMap::new(),
    };
    let mut out = Vec::new();
    for r in RECIPES {
        let (file, arena) = match r {
            Recipe::Crd { out, file, kind } => {
                let crd = crds.crd(file, kind)?;
                let mut arena = compile_crd(&crd, true)
                    .ok_or_else(|| format!("{file}: {kind} has no schema"))?;
                let u = upstream(file).ok_or_else(|| format!("{file}: provenance unknown"))?;
                arena.source = Provenance {
                    label: u.label.to_owned(),
                    repo: u.repo.to_owned(),
                    path: u.path.to_owned(),
                    commit: u.commit.to_owned(),
                    version: u.version.to_owned(),
                    license: "Apache-2.0".to_owned(),
                    note: format!(
                        "derived by rollgate from the {kind} CustomResourceDefinition (descriptions, defaults, CEL rules and list/map types dropped)"
                    ),
                };
                (*out, arena)
            }
            Recipe::Hand { out, source } => (*out, hand(&mut crds, source)?),
        };
        out.push(Generated {
            file,
            text: arena.to_json(),
        });
    }
    Ok(out)
}

/// Compile a hand-written source.
fn hand(crds: &mut Crds, source: &str) -> Result<Arena, String> {
    let path = hand_dir().join(source);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let loaded = load(&text, Limits::default());
    if let Some(p) = loaded.problems.first() {
        return Err(format!(
            "{}:{}:{}: {}",
            path.display(),
            p.span.start.line,
            p.span.start.column,
            p.message
        ));
    }
    let mut doc = loaded
        .documents
        .into_iter()
        .next()
        .map(|d| d.value)
        .ok_or_else(|| format!("{source}: empty"))?;
    crds.splice(&mut doc, 0)?;
    let s = |k: &str| {
        doc.get(k)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("{source}: `{k}` missing"))
    };
    let source_meta: Provenance = serde_json::from_value(
        doc.get("source")
            .cloned()
            .ok_or_else(|| format!("{source}: `source` missing"))?,
    )
    .map_err(|e| format!("{source}: source: {e}"))?;
    let mut arena = Arena {
        group: s("group")?,
        kind: s("kind")?,
        source: source_meta,
        ..Arena::default()
    };
    let schema = doc
        .get("schema")
        .ok_or_else(|| format!("{source}: `schema` missing"))?;
    let is_root = doc.get("root").and_then(Value::as_bool).unwrap_or(true);
    let versions: Vec<String> = doc
        .get("versions")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if versions.is_empty() {
        return Err(format!("{source}: `versions` missing"));
    }
    let mut c = Compiler::new(&mut arena, true);
    let root = if is_root {
        c.root(schema)
    } else {
        c.compile(schema)
    };
    drop(c);
    arena.versions = versions
        .into_iter()
        .map(|v| (v, root))
        .collect::<BTreeMap<_, _>>();
    Ok(arena)
}
