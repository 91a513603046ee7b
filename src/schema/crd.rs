//! Schemas from the user's own CustomResourceDefinitions: given with `--crd PATH`, or present in
//! the lint input (the webhook: in the cluster cache). They take precedence over built-ins.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;

use super::node::{Arena, compile_crd};
use crate::engine::Object;
use crate::manifest::input::{expand_paths, read_file};
use crate::manifest::{Limits, load};

/// CRDs loaded from `--crd` paths; compiled on first use.
#[derive(Clone, Default)]
pub struct CrdSet {
    defs: Arc<Vec<CrdDef>>,
}

struct CrdDef {
    group: String,
    kind: String,
    crd: Value,
    compiled: OnceLock<Option<Arc<Arena>>>,
}

impl std::fmt::Debug for CrdSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.defs.iter().map(|d| format!("{}/{}", d.group, d.kind)))
            .finish()
    }
}

/// Whether a value is a CustomResourceDefinition (apiextensions v1 or v1beta1).
pub fn is_crd(v: &Value) -> bool {
    v.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition")
        && v.get("apiVersion")
            .and_then(Value::as_str)
            .is_some_and(|a| a.starts_with("apiextensions.k8s.io/"))
}

fn group_kind(crd: &Value) -> Option<(&str, &str)> {
    // `get` chains, not `Value::pointer`: this runs for every CRD and every object checked,
    // and `pointer` allocates while unescaping each segment.
    let spec = crd.get("spec")?;
    Some((
        spec.get("group")?.as_str()?,
        spec.get("names")?.get("kind")?.as_str()?,
    ))
}

impl CrdSet {
    /// Read every CustomResourceDefinition in `paths` (files, or directories walked for
    /// `.yaml`/`.yml`/`.json`). Other documents are ignored. Errors name the file and position.
    pub fn load(paths: &[PathBuf]) -> Result<CrdSet, String> {
        let (files, errors) = expand_paths(paths);
        if let Some((p, e)) = errors.first() {
            return Err(format!("--crd {}: {e}", p.display()));
        }
        let mut defs = Vec::new();
        for f in &files {
            let input = read_file(f, crate::manifest::input::DEFAULT_MAX_FILE_SIZE)
                .map_err(|e| format!("--crd {}: {e}", f.display()))?;
            if let Some((pos, msg)) = input.unusable {
                return Err(format!(
                    "--crd {}:{}:{}: {msg}",
                    f.display(),
                    pos.line,
                    pos.column
                ));
            }
            let loaded = load(&input.source.text, Limits::default());
            if let Some(p) = loaded.problems.first() {
                return Err(format!(
                    "--crd {}:{}:{}: {}",
                    f.display(),
                    p.span.start.line,
                    p.span.start.column,
                    p.message
                ));
            }
            for doc in loaded.documents {
                let mut push = |v: Value| {
                    if is_crd(&v) {
                        if let Some((g, k)) = group_kind(&v) {
                            defs.push(CrdDef {
                                group: g.to_owned(),
                                kind: k.to_owned(),
                                crd: v,
                                compiled: OnceLock::new(),
                            });
                        }
                    }
                };
                match doc.value {
                    Value::Object(mut m) if m.get("items").is_some_and(Value::is_array) => {
                        if let Some(Value::Array(items)) = m.remove("items") {
                            items.into_iter().for_each(&mut push);
                        }
                    }
                    v => push(v),
                }
            }
        }
        if defs.is_empty() && !paths.is_empty() {
            let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
            return Err(format!(
                "--crd {}: no CustomResourceDefinition found",
                shown.join(", ")
            ));
        }
        Ok(CrdSet {
            defs: Arc::new(defs),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.defs.is_empty()
    }

    pub fn len(&self) -> usize {
        self.defs.len()
    }

    /// The schemas for a kind, the last definition winning (like applying the files in order).
    pub fn lookup(&self, group: &str, kind: &str) -> Option<Arc<Arena>> {
        let def = self
            .defs
            .iter()
            .rev()
            .find(|d| d.group == group && d.kind == kind)?;
        def.compiled
            .get_or_init(|| compile_crd(&def.crd, false).map(Arc::new))
            .clone()
    }
}

/// Compiled schemas of CRDs read from a cluster, keyed by `uid` and `resourceVersion` (the
/// apiserver's identity of a content: every update changes it; the webhook's cache may copy
/// objects). CRDs from files arrive compiled ([`compile_in_place`]).
static WORLD_CACHE: Mutex<Vec<(u64, Arc<Arena>)>> = Mutex::new(Vec::new());
const WORLD_CACHE_MAX: usize = 64;

fn cluster_identity(o: &Object) -> Option<u64> {
    let meta = o.value.get("metadata")?;
    let uid = meta.get("uid")?.as_str()?;
    let rv = meta.get("resourceVersion")?.as_str()?;
    let mut h = DefaultHasher::new();
    (uid, rv).hash(&mut h);
    Some(h.finish())
}

/// Compile a CustomResourceDefinition's schemas into `object.crd_schemas` and drop its
/// `openAPIV3Schema` trees from `object.value`: the offline world keeps what rules read, and
/// the trees (most of a CRD's bytes) are freed while still in cache, right after parsing, instead
/// of being held for the whole run. Other objects, and CRDs without a group, kind or schema,
/// are left as they are.
pub fn compile_in_place(object: &mut Object) {
    if !is_crd(&object.value) {
        return;
    }
    let Some(arena) = super::node::compile_crd(&object.value, false) else {
        return;
    };
    object.crd_schemas = Some(Arc::new(arena));
    let Some(spec) = object.value.get_mut("spec") else {
        return;
    };
    let schema_of = |v: &mut Value, key: &str| {
        if let Some(m) = v.get_mut(key).and_then(Value::as_object_mut) {
            m.remove("openAPIV3Schema");
        }
    };
    schema_of(spec, "validation");
    if let Some(versions) = spec.get_mut("versions").and_then(Value::as_array_mut) {
        for version in versions {
            schema_of(version, "schema");
        }
    }
}

/// The compiled schemas of a CRD object from the world.
pub fn world_crd(crd: &Object) -> Option<Arc<Arena>> {
    if let Some(compiled) = &crd.crd_schemas {
        return Some(compiled.clone());
    }
    // Neither compiled on entry nor identified by the apiserver: compiled here, once per run
    // and kind (`Context::world_schemas`).
    let Some(key) = cluster_identity(crd) else {
        return compile_crd(&crd.value, false).map(Arc::new);
    };
    let mut cache = WORLD_CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, a)) = cache.iter().find(|(k, _)| *k == key) {
        return Some(a.clone());
    }
    let arena = Arc::new(compile_crd(&crd.value, false)?);
    if cache.len() >= WORLD_CACHE_MAX {
        cache.remove(0);
    }
    cache.push((key, arena.clone()));
    Some(arena)
}

/// The CRD objects of the world that define `group`/`kind`, last one first.
pub fn world_crds_for<'w>(
    world: &'w dyn crate::engine::Inventory,
    group: &str,
    kind: &str,
) -> Vec<&'w Object> {
    let mut v: Vec<&Object> = world
        .list("apiextensions.k8s.io", "CustomResourceDefinition", None)
        .into_iter()
        .filter(|o| group_kind(&o.value) == Some((group, kind)))
        .collect();
    v.reverse();
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Origin;
    use serde_json::json;

    fn crd(rv: &str, field: &str) -> Object {
        let v = json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "things.cache.test", "uid": "u-1", "resourceVersion": rv},
            "spec": {"group": "cache.test", "names": {"kind": "Thing"}, "versions": [
                {"name": "v1", "served": true, "schema": {"openAPIV3Schema": {
                    "type": "object", "properties": {"spec": {"type": "object",
                        "properties": {field: {"type": "string"}}}}}}}]}
        });
        Object::from_value(v, Origin::Cluster, "default").unwrap()
    }

    #[test]
    fn compiled_in_place_the_schema_trees_leave_the_value() {
        let mut o = crd("1", "a");
        o.origin = Origin::File {
            source: 0,
            document: 0,
            base: String::new(),
        };
        compile_in_place(&mut o);
        let compiled = o.crd_schemas.clone().expect("compiled");
        assert!(o.at("/spec/versions/0/schema/openAPIV3Schema").is_none());
        // What rules read of a CRD stays.
        assert_eq!(group_kind(&o.value), Some(("cache.test", "Thing")));
        assert_eq!(o.at("/spec/versions/0/name"), Some(&json!("v1")));
        // The world's lookup hands out the compiled schemas, not a compilation of the rest.
        let found = world_crd(&o).unwrap();
        assert!(Arc::ptr_eq(&found, &compiled));
        let spec = found.node(found.root("v1").unwrap()).unwrap().properties["spec"];
        assert!(found.node(spec).unwrap().properties.contains_key("a"));
        // Not a CRD: untouched.
        let mut other = crd("1", "a");
        other.value["kind"] = json!("Thing");
        let before = other.value.clone();
        compile_in_place(&mut other);
        assert!(other.crd_schemas.is_none() && other.value == before);
    }

    #[test]
    fn cluster_crds_are_cached_by_uid_and_resource_version() {
        let a = world_crd(&crd("1", "a")).unwrap();
        // A copy of the same version elsewhere in memory: the same compiled schema.
        let b = world_crd(&Box::new(crd("1", "a"))).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        // An update gets a new resourceVersion and is compiled again.
        let c = world_crd(&crd("2", "b")).unwrap();
        assert!(!Arc::ptr_eq(&a, &c));
        let root = c.root("v1").unwrap();
        let spec = c.node(root).unwrap().properties["spec"];
        assert!(c.node(spec).unwrap().properties.contains_key("b"));
    }
}
