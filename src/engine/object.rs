//! A Kubernetes object as rules see it, wherever it came from (a file, the cluster, an
//! admission request).

use serde::Serialize;
use serde_json::Value;

/// Where an object came from. Rules never look at this; reporters use it to place findings.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Origin {
    /// Document `document` of source `source`; `base` is the object's JSON pointer inside the
    /// document (empty, or `/items/3` for an item of a `kind: List`).
    File {
        source: usize,
        document: usize,
        base: String,
    },
    /// A place in a source's text with no object (syntax errors, unreadable content).
    Text {
        source: usize,
        span: crate::manifest::Span,
    },
    /// The object under admission.
    Admission,
    /// An object from the cluster cache.
    Cluster,
}

/// Identity of an object in messages and in output: apiVersion, kind, namespace, name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Default)]
pub struct ObjectRef {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {}/{}", self.kind, ns, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// Kinds with no namespace: their `metadata.namespace` is ignored by the apiserver.
const CLUSTER_SCOPED: &[&str] = &[
    "Namespace",
    "Node",
    "PersistentVolume",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "StorageClass",
    "PriorityClass",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
    "APIService",
    "IngressClass",
    "RuntimeClass",
    "ClusterAnalysisTemplate",
    "ClusterIssuer",
    "GatewayClass",
    "ClusterServingRuntime",
];

#[derive(Debug, Clone)]
pub struct Object {
    pub api_version: String,
    /// API group (`networking.istio.io`; empty for the core group).
    pub group: String,
    pub version: String,
    pub kind: String,
    pub name: String,
    /// Effective namespace: `metadata.namespace`, else the default one (`--namespace`, like
    /// kubectl). `None` for cluster-scoped kinds.
    pub namespace: Option<String>,
    pub value: Value,
    pub origin: Origin,
    /// A CustomResourceDefinition's schemas, compiled when it entered the world
    /// ([`crate::schema::crd::compile_in_place`]); its `value` then lacks the
    /// `openAPIV3Schema` trees, which are most of a CRD's size and which rules only read
    /// through these. `None` for every other object, and for CRDs compiled on first use.
    pub crd_schemas: Option<std::sync::Arc<crate::schema::Arena>>,
}

impl Object {
    /// Build an object from a JSON value that has string `apiVersion` and `kind`.
    pub fn from_value(value: Value, origin: Origin, default_namespace: &str) -> Option<Object> {
        let api_version = value.get("apiVersion")?.as_str()?.to_owned();
        let kind = value.get("kind")?.as_str()?.to_owned();
        let (group, version) = match api_version.rsplit_once('/') {
            Some((g, v)) => (g.to_owned(), v.to_owned()),
            None => (String::new(), api_version.clone()),
        };
        let meta = value.get("metadata");
        let name = meta
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .or_else(|| {
                meta.and_then(|m| m.get("generateName"))
                    .and_then(Value::as_str)
            })
            .unwrap_or("")
            .to_owned();
        let namespace = if CLUSTER_SCOPED.contains(&kind.as_str()) {
            None
        } else {
            Some(
                meta.and_then(|m| m.get("namespace"))
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .unwrap_or(default_namespace)
                    .to_owned(),
            )
        };
        Some(Object {
            api_version,
            group,
            version,
            kind,
            name,
            namespace,
            value,
            origin,
            crd_schemas: None,
        })
    }

    pub fn reference(&self) -> ObjectRef {
        ObjectRef {
            api_version: self.api_version.clone(),
            kind: self.kind.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }

    /// The namespace, or "" for cluster-scoped objects.
    pub fn ns(&self) -> &str {
        self.namespace.as_deref().unwrap_or("")
    }

    /// The value at a JSON pointer relative to the object.
    pub fn at(&self, pointer: &str) -> Option<&Value> {
        super::inventory::walk(&self.value, pointer)
    }

    pub fn labels(&self) -> Option<&serde_json::Map<String, Value>> {
        self.value.get("metadata")?.get("labels")?.as_object()
    }

    pub fn annotations(&self) -> Option<&serde_json::Map<String, Value>> {
        self.value.get("metadata")?.get("annotations")?.as_object()
    }

    pub fn spec(&self) -> Option<&Value> {
        self.value.get("spec")
    }

    pub fn is(&self, group: &str, kind: &str) -> bool {
        self.group == group && self.kind == kind
    }
}
