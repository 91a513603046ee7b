//! Decoding an AdmissionReview in one pass over the request body.
//!
//! The apiserver sends the whole object, `metadata.managedFields` included: on the objects
//! rollgate reviews that is a fifth of the bytes and, being a tree of small maps, most of the
//! nodes. No rule reads it (the cluster cache strips it too), so it is skipped while decoding
//! instead of being built and dropped. The rest of the request is decoded straight into kube's
//! typed `AdmissionRequest`, with its required fields and types checked as before; the object
//! becomes the JSON value the rules read.

use std::borrow::Cow;

use kube::core::admission::{AdmissionRequest, META_API_VERSION_V1, META_KIND};
use kube::core::{DynamicResourceScope, ObjectMeta, Resource};
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::engine::inventory::ValueAt as _;

/// The fields of `metadata` that are skipped while decoding.
const SKIPPED_METADATA: &[&str] = &["managedFields"];
/// The annotations that are skipped while decoding: `kubectl apply`'s copy of the whole
/// manifest, one long escaped string (a quarter of a MetricTemplate's AdmissionReview).
const SKIPPED_ANNOTATIONS: &[&str] = &["kubectl.kubernetes.io/last-applied-configuration"];

/// `request.object` / `request.oldObject` as the rules read it: a JSON value (anything but a
/// mapping is treated as "no object" by the decision).
#[derive(Debug, Clone, Default)]
pub struct AdmittedObject {
    pub value: Value,
    /// Unused: `AdmissionRequest<T>` wants `T: Resource`, whose trait hands out metadata.
    meta: ObjectMeta,
}

impl Resource for AdmittedObject {
    type DynamicType = ();
    type Scope = DynamicResourceScope;

    fn kind(_: &()) -> Cow<'_, str> {
        Cow::Borrowed("")
    }
    fn group(_: &()) -> Cow<'_, str> {
        Cow::Borrowed("")
    }
    fn version(_: &()) -> Cow<'_, str> {
        Cow::Borrowed("")
    }
    fn plural(_: &()) -> Cow<'_, str> {
        Cow::Borrowed("")
    }
    fn meta(&self) -> &ObjectMeta {
        &self.meta
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.meta
    }
}

impl<'de> Deserialize<'de> for AdmittedObject {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(AdmittedObject {
            value: d.deserialize_any(ObjectVisitor {
                level: Level::Object,
            })?,
            meta: ObjectMeta::default(),
        })
    }
}

/// A mapping decoded into a `Value`; at the top level its `metadata` is decoded with
/// [`SKIPPED_METADATA`] left out, and `metadata.annotations` with [`SKIPPED_ANNOTATIONS`].
struct ObjectVisitor {
    level: Level,
}

/// Which mapping an [`ObjectVisitor`] decodes.
#[derive(Clone, Copy, PartialEq)]
enum Level {
    Object,
    Metadata,
    Annotations,
}

impl Level {
    fn skips(self, key: &str) -> bool {
        match self {
            Level::Object => false,
            Level::Metadata => SKIPPED_METADATA.contains(&key),
            Level::Annotations => SKIPPED_ANNOTATIONS.contains(&key),
        }
    }

    /// How the value under `key` is decoded: `None`, as a plain `Value`.
    fn child(self, key: &str) -> Option<Level> {
        match (self, key) {
            (Level::Object, "metadata") => Some(Level::Metadata),
            (Level::Metadata, "annotations") => Some(Level::Annotations),
            _ => None,
        }
    }
}

impl<'de> DeserializeSeed<'de> for ObjectVisitor {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ObjectVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if self.level.skips(&key) {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let value = match self.level.child(&key) {
                Some(level) => map.next_value_seed(ObjectVisitor { level })?,
                None => map.next_value::<Value>()?,
            };
            // A repeated key: the last one wins, as when decoding into a `Value`.
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }

    // Anything but a mapping is kept as it is (`metadata: 5` still reaches the rules as 5).
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element::<Value>()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::from(n))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::from(n))
    }
    fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
        Ok(Value::from(n))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }
    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

/// An AdmissionReview, decoded in one pass. When this fails, [`diagnose`] finds out why.
#[derive(Deserialize)]
pub struct Envelope {
    #[serde(rename = "apiVersion", default)]
    pub api_version: Option<Value>,
    #[serde(default)]
    pub kind: Option<Value>,
    #[serde(default)]
    pub request: Option<AdmissionRequest<AdmittedObject>>,
}

pub fn envelope(body: &[u8]) -> Result<Envelope, serde_json::Error> {
    serde_json::from_slice(body)
}

/// Why `body` is not an AdmissionReview (`admission.k8s.io/v1`) — the answer for a body
/// [`envelope`] refused with `typed` or whose envelope is wrong — and the request's uid when it
/// can be read, so the apiserver can match the answer. Only refused requests pay for decoding
/// the body a second time, leniently.
pub fn diagnose(body: &[u8], typed: Option<serde_json::Error>) -> (String, String) {
    let top: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return (String::new(), format!("request body is not JSON: {e}")),
    };
    let uid = top
        .at("/request/uid")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let Some(fields) = top.as_object() else {
        return (uid, "AdmissionReview must be a JSON object".into());
    };
    let api_version = fields.get("apiVersion").and_then(Value::as_str);
    if api_version != Some(META_API_VERSION_V1) {
        let reason = format!(
            "unsupported AdmissionReview apiVersion {}: rollgate serves {META_API_VERSION_V1} \
             (set admissionReviewVersions: [v1])",
            api_version.map_or_else(
                || "(none)".to_owned(),
                |v| format!("{:?}", super::logs::cap(v, 64))
            )
        );
        return (uid, reason);
    }
    if fields.get("kind").and_then(Value::as_str) != Some(META_KIND) {
        return (uid, format!("expected kind {META_KIND}"));
    }
    if !fields.get("request").is_some_and(Value::is_object) {
        return (uid, "AdmissionReview has no request".into());
    }
    let reason = match typed {
        Some(e) => format!("cannot decode AdmissionReview request: {e}"),
        None => "cannot decode AdmissionReview request".into(),
    };
    (uid, reason)
}

/// Who a request is about, read without decoding the objects (they are skipped as
/// `IgnoredAny`, which allocates nothing): for answering a request that is not decoded at all
/// (over the value budget) and for logging it.
#[derive(Debug, Default, Deserialize)]
pub struct Identity {
    #[serde(default)]
    pub uid: String,
    #[serde(default)]
    pub kind: IdentityKind,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub operation: String,
    #[serde(rename = "subResource", default)]
    pub sub_resource: Option<String>,
    #[serde(rename = "dryRun", default)]
    pub dry_run: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
pub struct IdentityKind {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub kind: String,
}

/// [`Identity`] of an AdmissionReview, when its envelope reads as one.
pub fn identity(body: &[u8]) -> Option<Identity> {
    #[derive(Deserialize)]
    struct Top {
        request: Option<Identity>,
    }
    serde_json::from_slice::<Top>(body).ok()?.request
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(json: &str) -> Value {
        serde_json::from_str::<AdmittedObject>(json)
            .expect("decodes")
            .value
    }

    #[test]
    fn managed_fields_are_skipped_and_the_rest_kept() {
        let v = object(
            r#"{"kind":"X","metadata":{"name":"a","managedFields":[{"manager":"kubectl","fieldsV1":{"f:spec":{}}}],
                "annotations":{"a":"b"}},"spec":{"metadata":{"managedFields":1}}}"#,
        );
        assert_eq!(
            v,
            serde_json::json!({"kind":"X","metadata":{"name":"a","annotations":{"a":"b"}},
                "spec":{"metadata":{"managedFields":1}}})
        );
    }

    #[test]
    fn repeated_keys_keep_the_last_value_and_other_json_is_kept() {
        assert_eq!(object(r#"{"a":1,"a":2}"#), serde_json::json!({"a":2}));
        for j in [
            "[1,[2]]",
            "1",
            r#""s""#,
            "null",
            "true",
            "-1.5",
            r#"{"metadata":5}"#,
            r#"{"metadata":{"annotations":[1]}}"#,
            r#"{"metadata":{"annotations":{"a":"b"},"managedField":{"x":1}}}"#,
        ] {
            let plain: Value = serde_json::from_str(j).expect("json");
            assert_eq!(object(j), plain, "{j}");
        }
    }

    #[test]
    fn last_applied_configuration_is_skipped() {
        let v = object(
            r#"{"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"a\":1}",
                "ignore-check.rollgate.dev/x":"why"}},
                "spec":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"kept"}}}"#,
        );
        assert_eq!(
            v,
            serde_json::json!({"metadata":{"annotations":{"ignore-check.rollgate.dev/x":"why"}},
                "spec":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"kept"}}})
        );
    }

    #[test]
    fn refused_bodies_are_explained_with_their_uid() {
        let cases: [(&[u8], &str, &str); 6] = [
            (b"{not json", "", "not JSON"),
            (b"[]", "", "must be a JSON object"),
            (br#"{"apiVersion":"admission.k8s.io/v1beta1","request":{"uid":"a"}}"#, "a", "unsupported"),
            (br#"{"apiVersion":"admission.k8s.io/v1","kind":"X","request":{"uid":"b"}}"#, "b", "expected kind"),
            (br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":7}"#, "", "has no request"),
            (br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"c","operation":"EXPLODE"}}"#, "c", "cannot decode"),
        ];
        for (body, uid, why) in cases {
            let typed = envelope(body).err();
            let (u, reason) = diagnose(body, typed);
            assert_eq!(u, uid, "{reason}");
            assert!(reason.contains(why), "{reason}");
        }
    }
}
