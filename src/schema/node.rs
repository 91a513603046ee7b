//! The compiled form of a structural OpenAPI v3 schema (what a CRD's `openAPIV3Schema` holds):
//! a flat arena of nodes that refer to each other by index, so shared subtrees (the pod spec that
//! Argo's CRDs repeat, Istio's three identical versions) are stored once.
//!
//! Built-in schemas are stored in this form as JSON (`src/schema/builtin/*.json`) and deserialized
//! directly; schemas of user CRDs are compiled from the CRD's JSON with [`compile`].
//!
//! Only what validation reads is kept: descriptions, defaults, CEL rules
//! (`x-kubernetes-validations`), list/map types and string formats are dropped.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::engine::inventory::ValueAt as _;

/// Deeper schema nesting than this is not followed (the subtree accepts anything). Real CRDs
/// nest about 30 levels; the bound only keeps a hostile CRD from exhausting the stack.
pub const MAX_SCHEMA_DEPTH: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ty {
    String,
    Integer,
    Number,
    Boolean,
    Object,
    Array,
}

impl Ty {
    fn parse(s: &str) -> Option<Ty> {
        Some(match s {
            "string" => Ty::String,
            "integer" => Ty::Integer,
            "number" => Ty::Number,
            "boolean" => Ty::Boolean,
            "object" => Ty::Object,
            "array" => Ty::Array,
            _ => return None,
        })
    }

    /// How messages name the type (YAML words: people write mappings and lists).
    pub fn describe(self) -> &'static str {
        match self {
            Ty::String => "string",
            Ty::Integer => "integer",
            Ty::Number => "number",
            Ty::Boolean => "boolean",
            Ty::Object => "mapping",
            Ty::Array => "list",
        }
    }
}

/// The integer formats the apiserver range-checks (go-openapi `IsValueValidAgainstRange`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Int32,
    Int64,
}

/// `additionalProperties`: `true`/`false`, or a schema for every value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Additional {
    Bool(bool),
    Node(u32),
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// One schema node. Field names are short because the built-in files hold thousands of them.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    pub ty: Option<Ty>,
    #[serde(rename = "f", default, skip_serializing_if = "Option::is_none")]
    pub format: Option<Format>,
    #[serde(rename = "null", default, skip_serializing_if = "is_false")]
    pub nullable: bool,
    /// `x-kubernetes-int-or-string`.
    #[serde(rename = "ios", default, skip_serializing_if = "is_false")]
    pub int_or_string: bool,
    /// `x-kubernetes-preserve-unknown-fields`.
    #[serde(rename = "keep", default, skip_serializing_if = "is_false")]
    pub preserve_unknown: bool,
    /// `x-kubernetes-embedded-resource`: apiVersion, kind and metadata are implied.
    #[serde(rename = "emb", default, skip_serializing_if = "is_false")]
    pub embedded: bool,
    /// Validate as Kubernetes ObjectMeta (an object's `metadata`; `x-rollgate-object-meta`).
    #[serde(rename = "meta", default, skip_serializing_if = "is_false")]
    pub object_meta: bool,
    /// The property list is known to be incomplete (a reduced schema): an unknown field is
    /// reported only when it is a near-miss of a known one (`x-rollgate-unknown-fields: typos`).
    #[serde(rename = "typos", default, skip_serializing_if = "is_false")]
    pub typos_only: bool,
    /// The node has a `default`: the apiserver fills the field in before it validates
    /// (apiextensions-apiserver `pkg/apiserver/schema/defaulting/algorithm.go`, run when the
    /// object is decoded), so a required field with a default is never missing.
    #[serde(rename = "def", default, skip_serializing_if = "is_false")]
    pub defaulted: bool,
    #[serde(rename = "p", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<Box<str>, u32>,
    #[serde(rename = "ap", default, skip_serializing_if = "Option::is_none")]
    pub additional: Option<Additional>,
    #[serde(rename = "i", default, skip_serializing_if = "Option::is_none")]
    pub items: Option<u32>,
    #[serde(rename = "r", default, skip_serializing_if = "Vec::is_empty")]
    pub required: Vec<Box<str>>,
    #[serde(rename = "e", default, skip_serializing_if = "Vec::is_empty")]
    pub enumeration: Vec<Value>,
    #[serde(rename = "pat", default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<Box<str>>,
    #[serde(rename = "minL", default, skip_serializing_if = "Option::is_none")]
    pub min_length: Option<u64>,
    #[serde(rename = "maxL", default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u64>,
    #[serde(rename = "min", default, skip_serializing_if = "Option::is_none")]
    pub minimum: Option<f64>,
    #[serde(rename = "max", default, skip_serializing_if = "Option::is_none")]
    pub maximum: Option<f64>,
    #[serde(rename = "xmin", default, skip_serializing_if = "is_false")]
    pub exclusive_minimum: bool,
    #[serde(rename = "xmax", default, skip_serializing_if = "is_false")]
    pub exclusive_maximum: bool,
    #[serde(rename = "minI", default, skip_serializing_if = "Option::is_none")]
    pub min_items: Option<u64>,
    #[serde(rename = "maxI", default, skip_serializing_if = "Option::is_none")]
    pub max_items: Option<u64>,
    #[serde(rename = "any", default, skip_serializing_if = "Vec::is_empty")]
    pub any_of: Vec<u32>,
    #[serde(rename = "one", default, skip_serializing_if = "Vec::is_empty")]
    pub one_of: Vec<u32>,
    #[serde(rename = "all", default, skip_serializing_if = "Vec::is_empty")]
    pub all_of: Vec<u32>,
    #[serde(rename = "not", default, skip_serializing_if = "Option::is_none")]
    pub not: Option<u32>,
    /// The compiled `pattern`, built on first use; `None` inside when the `regex` crate cannot
    /// compile it (Go RE2 and Rust regex differ at the edges): such a pattern is not checked.
    #[serde(skip)]
    regex: OnceLock<Option<regex::Regex>>,
}

impl Node {
    pub fn regex(&self) -> Option<&regex::Regex> {
        let pat = self.pattern.as_deref()?;
        self.regex
            .get_or_init(|| {
                regex::RegexBuilder::new(pat)
                    .size_limit(1 << 20)
                    .build()
                    .ok()
            })
            .as_ref()
    }

    /// Whether this node only requires fields (the shape CRDs use inside `oneOf`/`anyOf`).
    pub fn is_required_only(&self) -> bool {
        !self.required.is_empty()
            && self.ty.is_none()
            && self.properties.is_empty()
            && self.additional.is_none()
            && self.items.is_none()
            && self.enumeration.is_empty()
            && self.pattern.is_none()
            && self.any_of.is_empty()
            && self.one_of.is_empty()
            && self.all_of.is_empty()
            && self.not.is_none()
    }
}

/// Where a schema came from, for messages and for the built-in files' headers.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Provenance {
    /// A short name for messages: "Argo Rollouts v1.10 CRD", "CustomResourceDefinition foo".
    pub label: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub repo: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub commit: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub license: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

/// The schemas of one kind: one root per served version, sharing one node arena.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Arena {
    pub group: String,
    pub kind: String,
    pub source: Provenance,
    /// Version name → root node.
    pub versions: BTreeMap<String, u32>,
    /// `spec.preserveUnknownFields: true` (apiextensions v1beta1 default): nothing is pruned, so
    /// no field is unknown.
    #[serde(default, skip_serializing_if = "is_false")]
    pub preserve_all: bool,
    pub nodes: Vec<Node>,
}

impl Arena {
    pub fn node(&self, id: u32) -> Option<&Node> {
        self.nodes.get(id as usize)
    }

    pub fn root(&self, version: &str) -> Option<u32> {
        self.versions.get(version).copied()
    }

    /// The built-in file format: one node per line, so a regenerated file diffs readably.
    pub fn to_json(&self) -> String {
        let mut s = String::from("{");
        let head = |k: &str, v: String| format!("\"{k}\":{v},\n");
        s.push_str(&head("group", js(&self.group)));
        s.push_str(&head("kind", js(&self.kind)));
        s.push_str(&head("source", js(&self.source)));
        s.push_str(&head("versions", js(&self.versions)));
        if self.preserve_all {
            s.push_str(&head("preserve_all", "true".into()));
        }
        s.push_str("\"nodes\":[\n");
        for (i, n) in self.nodes.iter().enumerate() {
            s.push_str(&js(n));
            s.push_str(if i + 1 < self.nodes.len() {
                ",\n"
            } else {
                "\n"
            });
        }
        s.push_str("]}\n");
        s
    }
}

fn js<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// Compiles schema JSON into an arena, optionally sharing identical subtrees.
pub struct Compiler<'a> {
    pub arena: &'a mut Arena,
    /// Canonical JSON of a node → its index (hash-consing; the generator turns it on).
    dedupe: Option<HashMap<String, u32>>,
}

impl<'a> Compiler<'a> {
    pub fn new(arena: &'a mut Arena, dedupe: bool) -> Compiler<'a> {
        let dedupe = dedupe.then(|| {
            arena
                .nodes
                .iter()
                .enumerate()
                .map(|(i, n)| (serde_json::to_string(n).unwrap_or_default(), i as u32))
                .collect()
        });
        Compiler { arena, dedupe }
    }

    fn push(&mut self, node: Node) -> u32 {
        if let Some(map) = &mut self.dedupe {
            let key = serde_json::to_string(&node).unwrap_or_default();
            if let Some(&i) = map.get(&key) {
                return i;
            }
            let i = self.arena.nodes.len() as u32;
            map.insert(key, i);
            self.arena.nodes.push(node);
            return i;
        }
        let i = self.arena.nodes.len() as u32;
        self.arena.nodes.push(node);
        i
    }

    /// Compile the `openAPIV3Schema` of an object kind: `apiVersion`, `kind` and `metadata` are
    /// implied at the root whatever the schema says, and `metadata` is validated as ObjectMeta
    /// (the apiserver does, for every kind).
    pub fn root(&mut self, schema: &Value) -> u32 {
        let mut root = self.node(schema, 0);
        root.properties.remove("metadata");
        let meta = self.push(Node {
            object_meta: true,
            ..Node::default()
        });
        let string = self.push(Node {
            ty: Some(Ty::String),
            ..Node::default()
        });
        root.properties.insert("metadata".into(), meta);
        root.properties.entry("apiVersion".into()).or_insert(string);
        root.properties.entry("kind".into()).or_insert(string);
        if root.ty.is_none() {
            root.ty = Some(Ty::Object);
        }
        self.push(root)
    }

    /// Compile any schema node.
    pub fn compile(&mut self, schema: &Value) -> u32 {
        let n = self.node(schema, 0);
        self.push(n)
    }

    fn child(&mut self, schema: &Value, depth: usize) -> u32 {
        let n = self.node(schema, depth + 1);
        self.push(n)
    }

    fn node(&mut self, schema: &Value, depth: usize) -> Node {
        let mut n = Node::default();
        let Some(m) = schema.as_object() else {
            // `true`/`{}`/garbage: accepts anything.
            n.preserve_unknown = true;
            return n;
        };
        if depth > MAX_SCHEMA_DEPTH {
            n.preserve_unknown = true;
            return n;
        }
        if m.get("x-rollgate-object-meta").and_then(Value::as_bool) == Some(true) {
            n.object_meta = true;
            return n;
        }
        // One pass over the keys (CRD nodes carry descriptions and other keys we skip; a lookup
        // per keyword costs more than this when compiling a 600 kB CRD).
        for (k, v) in m {
            let flag = || v.as_bool().unwrap_or(false);
            let list = |this: &mut Self| -> Vec<u32> {
                v.as_array()
                    .map(|a| a.iter().map(|s| this.child(s, depth)).collect())
                    .unwrap_or_default()
            };
            match k.as_str() {
                "type" => n.ty = v.as_str().and_then(Ty::parse),
                "format" => {
                    n.format = match v.as_str() {
                        Some("int32") => Some(Format::Int32),
                        Some("int64") => Some(Format::Int64),
                        _ => None,
                    }
                }
                "nullable" => n.nullable = flag(),
                "default" => n.defaulted = !v.is_null(),
                "x-kubernetes-int-or-string" => n.int_or_string = flag(),
                "x-kubernetes-preserve-unknown-fields" => n.preserve_unknown = flag(),
                "x-kubernetes-embedded-resource" => n.embedded = flag(),
                "x-rollgate-unknown-fields" => n.typos_only = v.as_str() == Some("typos"),
                "properties" => {
                    for (pk, pv) in v.as_object().into_iter().flatten() {
                        let c = self.child(pv, depth);
                        n.properties.insert(pk.as_str().into(), c);
                    }
                }
                "additionalProperties" => {
                    n.additional = match v {
                        Value::Bool(b) => Some(Additional::Bool(*b)),
                        Value::Object(_) => Some(Additional::Node(self.child(v, depth))),
                        _ => None,
                    }
                }
                "items" if v.is_object() => n.items = Some(self.child(v, depth)),
                "required" => {
                    n.required = v
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .map(Into::into)
                        .collect();
                }
                "enum" => n.enumeration = v.as_array().cloned().unwrap_or_default(),
                "pattern" => n.pattern = v.as_str().map(Into::into),
                "minLength" => n.min_length = v.as_u64(),
                "maxLength" => n.max_length = v.as_u64(),
                "minItems" => n.min_items = v.as_u64(),
                "maxItems" => n.max_items = v.as_u64(),
                "minimum" => n.minimum = v.as_f64(),
                "maximum" => n.maximum = v.as_f64(),
                "exclusiveMinimum" => n.exclusive_minimum = flag(),
                "exclusiveMaximum" => n.exclusive_maximum = flag(),
                "anyOf" => n.any_of = list(self),
                "oneOf" => n.one_of = list(self),
                "allOf" => n.all_of = list(self),
                "not" => n.not = Some(self.child(v, depth)),
                _ => {}
            }
        }
        if n.int_or_string {
            // `anyOf: [{type: integer}, {type: string}]` restates the int-or-string marker;
            // the validator checks it directly (with a better message).
            let only_types = |ids: &[u32], arena: &Arena| {
                ids.iter().all(|&i| {
                    arena.node(i).is_some_and(|b| {
                        b.ty.is_some() && b.properties.is_empty() && b.enumeration.is_empty()
                    })
                })
            };
            if only_types(&n.any_of, self.arena) {
                n.any_of.clear();
            }
            if only_types(&n.one_of, self.arena) {
                n.one_of.clear();
            }
        }
        n
    }
}

/// Compile the schemas of a CustomResourceDefinition (apiextensions v1 or v1beta1). Returns
/// `None` when it has no group/kind or no schema at all.
pub fn compile_crd(crd: &Value, dedupe: bool) -> Option<Arena> {
    let spec = crd.get("spec")?;
    let group = spec.get("group")?.as_str()?;
    let kind = spec.at("/names/kind")?.as_str()?;
    let name = crd
        .at("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or(kind);
    let mut arena = Arena {
        group: group.to_owned(),
        kind: kind.to_owned(),
        source: Provenance {
            label: format!("CustomResourceDefinition {name}"),
            ..Provenance::default()
        },
        // apiextensions v1beta1 defaults `preserveUnknownFields` to true (no pruning); v1
        // only allows false.
        preserve_all: spec
            .get("preserveUnknownFields")
            .and_then(Value::as_bool)
            .unwrap_or_else(|| {
                crd.get("apiVersion").and_then(Value::as_str)
                    == Some("apiextensions.k8s.io/v1beta1")
            }),
        ..Arena::default()
    };
    // v1beta1: one schema for every version, unless a version has its own.
    let shared = spec.at("/validation/openAPIV3Schema");
    let mut c = Compiler::new(&mut arena, dedupe);
    let mut roots = BTreeMap::new();
    let mut shared_root = None;
    let mut compiled: Vec<(&Value, u32)> = Vec::new();
    let versions: Vec<&Value> = match spec.get("versions").and_then(Value::as_array) {
        Some(v) => v.iter().collect(),
        None => Vec::new(),
    };
    for v in versions {
        let Some(vname) = v.get("name").and_then(Value::as_str) else {
            continue;
        };
        if v.get("served").and_then(Value::as_bool) == Some(false) {
            continue;
        }
        let schema = v.at("/schema/openAPIV3Schema");
        let root = match (schema, shared) {
            // Versions often repeat one schema (Istio's three): compiled once. Comparing the
            // values costs a fraction of compiling one.
            (Some(s), _) => match compiled.iter().find(|(seen, _)| *seen == s) {
                Some(&(_, root)) => root,
                None => {
                    let root = c.root(s);
                    compiled.push((s, root));
                    root
                }
            },
            (None, Some(s)) => *shared_root.get_or_insert_with(|| c.root(s)),
            (None, None) => continue,
        };
        roots.insert(vname.to_owned(), root);
    }
    if roots.is_empty() {
        // v1beta1 with only `spec.version`.
        if let (Some(v), Some(s)) = (spec.get("version").and_then(Value::as_str), shared) {
            let root = c.root(s);
            roots.insert(v.to_owned(), root);
        }
    }
    drop(c);
    if roots.is_empty() {
        return None;
    }
    arena.versions = roots;
    Some(arena)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dedupe_shares_identical_subtrees_and_round_trips() {
        let crd = json!({
            "spec": {"group": "g.io", "names": {"kind": "K"}, "versions": [
                {"name": "v1", "served": true, "schema": {"openAPIV3Schema": {
                    "type": "object", "properties": {"spec": {"type": "object", "properties": {
                        "a": {"type": "string", "description": "x"},
                        "b": {"type": "string"}}}}}}},
                {"name": "v2", "served": true, "schema": {"openAPIV3Schema": {
                    "type": "object", "properties": {"spec": {"type": "object", "properties": {
                        "a": {"type": "string"}, "b": {"type": "string"}}}}}}},
                {"name": "v0", "served": false}
            ]}
        });
        let arena = compile_crd(&crd, true).unwrap();
        assert_eq!(arena.versions.len(), 2);
        assert_eq!(arena.versions["v1"], arena.versions["v2"]);
        let text = arena.to_json();
        let back: Arena = serde_json::from_str(&text).unwrap();
        assert_eq!(back.nodes.len(), arena.nodes.len());
        assert_eq!(back.to_json(), text);
    }

    #[test]
    fn versions_with_the_same_schema_are_compiled_once() {
        let schema = |field: &str| {
            json!({"openAPIV3Schema": {"type": "object", "properties": {
                "spec": {"type": "object", "properties": {field: {"type": "string"}}}}}})
        };
        let crd = json!({
            "spec": {"group": "g.io", "names": {"kind": "K"}, "versions": [
                {"name": "v1", "served": true, "schema": schema("a")},
                {"name": "v1beta1", "served": true, "schema": schema("a")},
                {"name": "v1alpha1", "served": true, "schema": schema("b")}
            ]}
        });
        let arena = compile_crd(&crd, false).unwrap();
        let one = compile_crd(
            &json!({"spec": {"group": "g.io", "names": {"kind": "K"}, "versions": [
                {"name": "v1", "served": true, "schema": schema("a")}]}}),
            false,
        )
        .unwrap();
        assert_eq!(arena.versions["v1"], arena.versions["v1beta1"]);
        assert_ne!(arena.versions["v1"], arena.versions["v1alpha1"]);
        // Two compilations, not three.
        assert_eq!(arena.nodes.len(), 2 * one.nodes.len());
    }

    #[test]
    fn int_or_string_any_of_is_folded() {
        let mut arena = Arena::default();
        let id = Compiler::new(&mut arena, false).compile(&json!({
            "x-kubernetes-int-or-string": true,
            "anyOf": [{"type": "integer"}, {"type": "string"}]
        }));
        let n = arena.node(id).unwrap();
        assert!(n.int_or_string && n.any_of.is_empty());
    }

    #[test]
    fn hostile_depth_is_cut() {
        let mut v = json!({"type": "string"});
        // As deep as the loader lets a document be.
        for _ in 0..256 {
            v = json!({"type": "object", "properties": {"a": v}});
        }
        let mut arena = Arena::default();
        Compiler::new(&mut arena, false).compile(&v);
        assert!(arena.nodes.len() <= MAX_SCHEMA_DEPTH + 3);
    }
}
