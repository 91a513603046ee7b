//! AdmissionReview decoding and the admission decision (`rollgate::webhook::review`): never a
//! panic, always a well-formed `admission.k8s.io/v1` response that echoes the request's uid.
//!
//! First byte even: the rest is the request body as the apiserver would send it. Odd: the rest
//! is a manifest (YAML or JSON); each document becomes `request.object` of a CREATE (and, with
//! the previous document as `oldObject`, an UPDATE), so the rules see fuzzed objects.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rollgate::engine::{Config, Engine, Settings};
use rollgate::manifest::{Limits, load};
use rollgate::webhook::{NoCluster, Verdict, review};
use serde_json::{Value, json};

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::new(rollgate::rules::REGISTRY, &Config::default(), None))
}

fn decide(body: &[u8], uid: Option<&str>) {
    let out = review(body, engine(), &Settings::default(), &NoCluster);
    let r = serde_json::to_value(&out.review).expect("the review serializes");
    assert_eq!(r["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(r["kind"], "AdmissionReview");
    let resp = &r["response"];
    assert!(resp["allowed"].is_boolean(), "{r}");
    assert!(resp["uid"].is_string(), "{r}");
    if let Some(uid) = uid {
        assert_eq!(resp["uid"], uid);
    }
    assert_eq!(out.malformed, out.verdict == Verdict::Invalid);
    if resp["allowed"] == false {
        assert!(
            resp["status"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "a denial says why: {r}"
        );
    }
}

fn request(object: &Value, old: Option<&Value>) -> Value {
    let (group, version, kind) = {
        let av = object["apiVersion"].as_str().unwrap_or("");
        let (g, v) = av.rsplit_once('/').unwrap_or(("", av));
        (
            g.to_owned(),
            v.to_owned(),
            object["kind"].as_str().unwrap_or("").to_owned(),
        )
    };
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "fuzz-uid",
            "kind": {"group": group, "version": version, "kind": kind},
            "resource": {"group": group, "version": version, "resource": kind.to_lowercase() + "s"},
            "namespace": object.pointer("/metadata/namespace").cloned().unwrap_or(json!("default")),
            "name": object.pointer("/metadata/name").cloned().unwrap_or(json!("x")),
            "operation": if old.is_some() { "UPDATE" } else { "CREATE" },
            "userInfo": {"username": "fuzz"},
            "object": object,
            "oldObject": old,
            "dryRun": false,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        decide(rest, None);
        return;
    }
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let loaded = load(text, Limits::default());
    let mut prev: Option<Value> = None;
    for doc in loaded.documents.into_iter().take(8) {
        let body = serde_json::to_vec(&request(&doc.value, None)).expect("json");
        decide(&body, Some("fuzz-uid"));
        if let Some(old) = &prev {
            let body = serde_json::to_vec(&request(&doc.value, Some(old))).expect("json");
            decide(&body, Some("fuzz-uid"));
        }
        prev = Some(doc.value);
    }
});
