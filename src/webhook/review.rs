//! The admission decision: AdmissionReview bytes + engine + world → AdmissionReview response.
//!
//! A plain function (the kube-rs `admission_controller` pattern): no HTTP, no clock, no I/O, so
//! it is tested with captured AdmissionReviews (`testdata/admission/`) and fuzzed as is.
//!
//! - `error` findings deny; the message names each rule and the field as a dotted path
//!   (`istio-weights-not-100 at spec.http[0].route: …`), which kubectl prints after
//!   `admission webhook "…" denied the request:`.
//! - `warning` findings become `AdmissionResponse.warnings` (`<rule-id>: <message>`), which
//!   kubectl prints as `Warning: …` lines, also when the request is denied.
//! - Suppression annotations and configured severities apply exactly as in the linter
//!   (`Engine::check`).
//! - dryRun requests are validated the same way (the webhook has no side effects).
//! - DELETE/CONNECT, subresources (`/status`) and kinds no enabled rule looks at are allowed
//!   without building a world.
//! - UPDATEs that leave `spec` unchanged (a controller adding a finalizer, a label change) and
//!   objects being deleted are never denied: their errors are reported as warnings, so an object
//!   admitted before the webhook was installed can still be updated by its controller and
//!   deleted (validation ratcheting, like the apiserver's own for CRDs).
//! - Anything that cannot be decoded gets a valid AdmissionReview whose response is
//!   `allowed: false` with the reason, echoing `request.uid` when it can be read. Never a panic.

use std::fmt::Write as _;

use kube::core::admission::{
    AdmissionResponse, AdmissionReview, META_API_VERSION_V1, META_KIND, Operation,
};
use kube::core::response::{StatusCause, StatusDetails};
use kube::core::{DynamicObject, TypeMeta};
use serde_json::Value;

use super::decode;
use super::world::World;
use crate::engine::inventory::ValueAt as _;
use crate::engine::{Context, Engine, Finding, Object, Origin, Settings, Severity};

/// How many findings are spelled out in a deny message or in warnings; the rest are counted.
pub const MAX_LISTED: usize = 10;
/// The apiserver may truncate longer warnings; kubectl prints each on one line.
pub const MAX_WARNING_CHARS: usize = 200;
/// Longest message of one error in a denial (a route of 10,000 destinations made one of
/// 200 KB), and most errors listed as status causes (each is one JSON object of the response).
pub const MAX_ERROR_CHARS: usize = 1000;
pub const MAX_CAUSES: usize = 100;
/// Longest `request.uid` accepted: the apiserver sends UUIDs (36 characters). A longer one is
/// refused (400) and echoed cut to this length.
pub const MAX_UID_CHARS: usize = 128;
/// Longest reason in a refusal (a decoding error can quote the offending value).
pub const MAX_REASON_CHARS: usize = 1000;

/// What happened to a request, for metrics and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Checked, no finding at warning or above.
    Allowed,
    /// Checked and admitted with warnings.
    Warned,
    /// Checked and denied.
    Denied,
    /// Admitted without checking (DELETE, a subresource, a kind no rule looks at).
    Skipped,
    /// The AdmissionReview could not be decoded.
    Invalid,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allowed => "allowed",
            Verdict::Warned => "warned",
            Verdict::Denied => "denied",
            Verdict::Skipped => "skipped",
            Verdict::Invalid => "invalid",
        }
    }
}

/// Identity of the request, for logs (no object contents).
#[derive(Debug, Clone, Default)]
pub struct RequestInfo {
    pub uid: String,
    pub operation: &'static str,
    pub group: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub dry_run: bool,
}

/// The decision and what the server needs to account for it.
#[derive(Debug)]
pub struct Outcome {
    pub review: AdmissionReview<DynamicObject>,
    pub verdict: Verdict,
    /// The request could not be decoded (the server answers 400 with the review as body).
    pub malformed: bool,
    /// Reported findings at warning or error, with the severity they had in the response
    /// (`Error` = denied by it).
    pub findings: Vec<(&'static str, Severity)>,
    pub suppressed: usize,
    pub request: Option<RequestInfo>,
}

/// Decide one AdmissionReview (`admission.k8s.io/v1`).
pub fn review(body: &[u8], engine: &Engine, settings: &Settings, world: &dyn World) -> Outcome {
    // One pass: the envelope and kube's typed request, with the object decoded as the JSON
    // value the rules read, less what no rule reads (`decode`).
    let top = match decode::envelope(body) {
        Ok(t) => t,
        Err(e) => {
            let (uid, reason) = decode::diagnose(body, Some(e));
            return invalid(&uid, reason);
        }
    };
    let v1 = top.api_version.as_ref().and_then(Value::as_str) == Some(META_API_VERSION_V1)
        && top.kind.as_ref().and_then(Value::as_str) == Some(META_KIND);
    let mut req = match top.request {
        Some(r) if v1 => r,
        _ => {
            let (uid, reason) = decode::diagnose(body, None);
            return invalid(&uid, reason);
        }
    };
    if req.uid.len() > MAX_UID_CHARS {
        let reason = format!(
            "request.uid is {} bytes long: the apiserver sends UUIDs (at most {MAX_UID_CHARS} characters accepted)",
            req.uid.len()
        );
        return invalid(&req.uid, reason);
    }
    let object = req.object.take().map(|o| o.value);
    let old_object = req.old_object.take().map(|o| o.value);
    req.types = TypeMeta {
        api_version: META_API_VERSION_V1.to_owned(),
        kind: META_KIND.to_owned(),
    };
    let info = RequestInfo {
        uid: req.uid.clone(),
        operation: match req.operation {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
            Operation::Connect => "CONNECT",
        },
        group: req.kind.group.clone(),
        kind: req.kind.kind.clone(),
        namespace: req.namespace.clone().unwrap_or_default(),
        name: req.name.clone(),
        dry_run: req.dry_run,
    };
    let response = AdmissionResponse::from(&req);
    let skip = |verdict| Outcome {
        review: response.clone().into_review(),
        verdict,
        malformed: false,
        findings: Vec::new(),
        suppressed: 0,
        request: Some(info.clone()),
    };
    let checked_operation = matches!(req.operation, Operation::Create | Operation::Update);
    if !checked_operation
        || req.sub_resource.as_deref().is_some_and(|s| !s.is_empty())
        || !engine.wants(&req.kind.group, &req.kind.kind)
    {
        return skip(Verdict::Skipped);
    }
    let Some(mut object) = object.filter(Value::is_object) else {
        return skip(Verdict::Skipped);
    };
    // The apiserver always sends apiVersion and kind; fill them from the request if a client
    // did not, so the object is identified the same way.
    if let Some(m) = object.as_object_mut() {
        let gvk = &req.kind;
        let av = if gvk.group.is_empty() {
            gvk.version.clone()
        } else {
            format!("{}/{}", gvk.group, gvk.version)
        };
        m.entry("apiVersion").or_insert(Value::String(av));
        m.entry("kind")
            .or_insert_with(|| Value::String(gvk.kind.clone()));
    }
    let default_ns = req
        .namespace
        .as_deref()
        .filter(|s| !s.is_empty())
        .unwrap_or(&settings.default_namespace);
    let ratchet = being_deleted(&object)
        || (req.operation == Operation::Update
            && old_object
                .as_ref()
                .is_some_and(|old| old.get("spec") == object.get("spec")));
    let Some(object) = Object::from_value(object, Origin::Admission, default_ns) else {
        return invalid(&req.uid, "request.object has no apiVersion or kind".into());
    };

    let mut findings = Vec::new();
    let mut suppressed = 0;
    world.with_world(&object, &mut |w| {
        let cx = Context::new(w, settings);
        suppressed = engine.check(&object, &cx, &mut findings);
    });
    respond(response, info, findings, suppressed, ratchet)
}

/// Build the response from the object's findings.
fn respond(
    mut response: AdmissionResponse,
    info: RequestInfo,
    mut findings: Vec<Finding>,
    suppressed: usize,
    ratchet: bool,
) -> Outcome {
    findings.retain(|f| f.severity >= Severity::Warning);
    if ratchet {
        for f in &mut findings {
            if f.severity == Severity::Error {
                f.severity = Severity::Warning;
                f.message = format!("[not enforced: spec unchanged] {}", f.message);
            }
        }
    }
    // Errors first, then by field, so the message reads in document order.
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.pointer.cmp(&b.pointer))
            .then_with(|| a.rule.cmp(b.rule))
    });
    let errors: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .collect();
    let warnings: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.severity == Severity::Warning)
        .collect();

    if !warnings.is_empty() {
        let mut w: Vec<String> = warnings
            .iter()
            .take(MAX_LISTED)
            .map(|f| fit_warning(f.rule, &f.message))
            .collect();
        if warnings.len() > MAX_LISTED {
            w.push(format!(
                "rollgate: {} more warnings (run `rollgate lint` on the manifest)",
                warnings.len() - MAX_LISTED
            ));
        }
        response.warnings = Some(w);
    }

    let verdict = if !errors.is_empty() {
        let mut msg = String::new();
        for (i, f) in errors.iter().take(MAX_LISTED).enumerate() {
            if i > 0 {
                msg.push_str("; ");
            }
            let path = dotted_path(&f.pointer);
            let message = shorten(&f.message, MAX_ERROR_CHARS);
            if path.is_empty() {
                let _ = write!(msg, "{}: {message}", f.rule);
            } else {
                let _ = write!(msg, "{} at {path}: {message}", f.rule);
            }
        }
        if errors.len() > MAX_LISTED {
            let _ = write!(msg, "; and {} more errors", errors.len() - MAX_LISTED);
        }
        let mut causes: Vec<StatusCause> = errors
            .iter()
            .take(MAX_CAUSES)
            .map(|f| StatusCause {
                reason: "FieldValueInvalid".into(),
                message: shorten(&format!("{}: {}", f.rule, f.message), MAX_ERROR_CHARS),
                field: dotted_path(&f.pointer),
            })
            .collect();
        if errors.len() > MAX_CAUSES {
            causes.push(StatusCause {
                reason: "FieldValueInvalid".into(),
                message: format!(
                    "rollgate: {} more errors (run `rollgate lint` on the manifest)",
                    errors.len() - MAX_CAUSES
                ),
                field: String::new(),
            });
        }
        response = response.deny(msg);
        response.result.code = 403;
        response.result.reason = "Forbidden".into();
        response.result.details = Some(StatusDetails {
            name: crate::webhook::logs::cap(&info.name, crate::webhook::logs::MAX_FIELD_CHARS)
                .into_owned(),
            group: info.group.clone(),
            kind: info.kind.clone(),
            uid: String::new(),
            causes,
            retry_after_seconds: 0,
        });
        Verdict::Denied
    } else if !warnings.is_empty() {
        Verdict::Warned
    } else {
        Verdict::Allowed
    };
    Outcome {
        review: response.into_review(),
        verdict,
        malformed: false,
        findings: findings.iter().map(|f| (f.rule, f.severity)).collect(),
        suppressed,
        request: Some(info),
    }
}

fn being_deleted(object: &Value) -> bool {
    object
        .at("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
}

/// A valid AdmissionReview (`admission.k8s.io/v1`) that refuses a request rollgate could not
/// read, echoing `uid` (empty when unknown; cut to [`MAX_UID_CHARS`]), with `code` as the HTTP
/// status it is sent with (400, 408, 413, 415, 500).
pub fn error_review(uid: &str, reason: &str, code: u16) -> AdmissionReview<DynamicObject> {
    let mut response = AdmissionResponse::invalid(shorten(reason, MAX_REASON_CHARS));
    response.uid = shorten(uid, MAX_UID_CHARS);
    response.result.code = code;
    response.result.reason = match code {
        408 => "Timeout",
        413 => "RequestEntityTooLarge",
        415 => "UnsupportedMediaType",
        500 => "InternalError",
        _ => "BadRequest",
    }
    .into();
    response.into_review()
}

/// What a review the budget does not allow checking is answered (`--over-budget`): admitted
/// with a warning, or denied. Never a late answer.
pub fn over_budget(
    id: &super::decode::Identity,
    why: &str,
    outcome: super::budget::OverBudget,
) -> Outcome {
    let mut response = AdmissionResponse::invalid("");
    response.uid = id.uid.clone();
    let verdict = match outcome {
        super::budget::OverBudget::Allow => {
            response.allowed = true;
            response.result = Default::default();
            response.warnings = Some(vec![format!(
                "rollgate: not checked: {why} (run `rollgate lint` on the manifest)"
            )]);
            Verdict::Warned
        }
        super::budget::OverBudget::Deny => {
            response = response.deny(format!("rollgate: too large to check: {why}"));
            response.result.code = 403;
            response.result.reason = "Forbidden".into();
            Verdict::Denied
        }
    };
    Outcome {
        review: response.into_review(),
        verdict,
        malformed: false,
        findings: Vec::new(),
        suppressed: 0,
        request: Some(RequestInfo {
            uid: id.uid.clone(),
            operation: match id.operation.as_str() {
                "CREATE" => "CREATE",
                "UPDATE" => "UPDATE",
                "DELETE" => "DELETE",
                "CONNECT" => "CONNECT",
                _ => "",
            },
            group: id.kind.group.clone(),
            kind: id.kind.kind.clone(),
            namespace: id.namespace.clone().unwrap_or_default(),
            name: id.name.clone(),
            dry_run: id.dry_run.unwrap_or(false),
        }),
    }
}

/// `<rule>: <message>` in at most [`MAX_WARNING_CHARS`] characters: a message too long is cut
/// after its last whole sentence or clause that fits, else after its last whole word, with an
/// ellipsis; the rule id is always kept whole.
pub fn fit_warning(rule: &str, message: &str) -> String {
    let room = MAX_WARNING_CHARS.saturating_sub(rule.chars().count() + 2);
    format!("{rule}: {}", fit(message, room))
}

/// `s` in at most `max` characters, cut at a sentence, clause or word boundary with `…`.
fn fit(s: &str, max: usize) -> String {
    if s.chars().count() <= max || max < 3 {
        return shorten(s, max);
    }
    // The longest prefix that leaves room for " …".
    let end = s.char_indices().nth(max - 2).map_or(s.len(), |(i, _)| i);
    let head = &s[..end];
    // A sentence or clause end in the second half of the room; else a space in the last third.
    let clause = [". ", "; ", ": ", ", ", " (", " — "]
        .iter()
        .filter_map(|sep| {
            head.rfind(sep)
                .map(|i| i + if sep.starts_with(' ') { 0 } else { 1 })
        })
        .max()
        .filter(|&i| i >= end / 2);
    let word = head.rfind(' ').filter(|&i| i >= end * 2 / 3);
    let cut = clause.or(word).unwrap_or(end);
    let kept = head[..cut].trim_end_matches([' ', ',', ';', ':', '(']);
    format!("{kept} …")
}

fn invalid(uid: &str, reason: String) -> Outcome {
    Outcome {
        review: error_review(uid, &reason, 400),
        verdict: Verdict::Invalid,
        malformed: true,
        findings: Vec::new(),
        suppressed: 0,
        request: None,
    }
}

/// `/spec/http/0/route/1/weight` → `spec.http[0].route[1].weight`; keys that are not plain
/// identifiers are quoted: `metadata.annotations["example.com/x"]`.
pub fn dotted_path(pointer: &str) -> String {
    let mut out = String::new();
    if pointer.is_empty() {
        return out;
    }
    for raw in pointer.trim_start_matches('/').split('/') {
        let seg = raw.replace("~1", "/").replace("~0", "~");
        if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
            let _ = write!(out, "[{seg}]");
        } else if !seg.is_empty()
            && seg
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&seg);
        } else {
            let _ = write!(out, "[{}]", Value::String(seg));
        }
    }
    out
}

/// At most `max` characters, cut at a character boundary with an ellipsis.
fn shorten(s: &str, max: usize) -> String {
    let mut starts = s.char_indices().map(|(i, _)| i);
    // Where the ellipsis goes (the start of character `max - 1`), if the text is longer.
    let cut = match max {
        0 => starts.next(),
        m => starts.nth(m - 1).filter(|_| starts.next().is_some()),
    };
    match cut {
        None => s.to_owned(),
        Some(c) => format!("{}…", &s[..c]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_become_dotted_paths() {
        assert_eq!(
            dotted_path("/spec/http/0/route/1/weight"),
            "spec.http[0].route[1].weight"
        );
        assert_eq!(
            dotted_path("/metadata/annotations/ignore-check.rollgate.dev~1x"),
            "metadata.annotations[\"ignore-check.rollgate.dev/x\"]"
        );
        assert_eq!(dotted_path(""), "");
        assert_eq!(dotted_path("/0"), "[0]");
    }

    #[test]
    fn warnings_are_cut_between_words_and_keep_the_rule() {
        let m = "the canary's analysis interval 30s is shorter than the scrape interval 60s of \
                 ServiceMonitor podinfo; the gate query then sees one sample or none, and the \
                 threshold compares a rate over a window that may hold no points at all, so the \
                 rollout is promoted or aborted on missing data";
        let w = fit_warning("flagger-interval-below-scrape", m);
        assert!(w.chars().count() <= MAX_WARNING_CHARS, "{w}");
        assert!(
            w.starts_with("flagger-interval-below-scrape: the canary's"),
            "{w}"
        );
        assert!(w.ends_with(" …"), "{w}");
        // Cut after a clause, not inside a word.
        let body = w.trim_end_matches(" …");
        assert!(
            m.starts_with(body.split_once(": ").map_or("", |x| x.1)),
            "{w}"
        );
        let next = &m[body.len() - "flagger-interval-below-scrape: ".len()..];
        assert!(next.starts_with([' ', ';', ',']), "cut mid-word: {w}");
        let short = fit_warning("r", "fits");
        assert_eq!(short, "r: fits");
        let word = fit_warning("r", &"x".repeat(300));
        assert!(word.chars().count() <= MAX_WARNING_CHARS, "{word}");
    }

    #[test]
    fn shorten_cuts_at_char_boundaries() {
        assert_eq!(shorten("abc", 5), "abc");
        assert_eq!(shorten("abc", 3), "abc");
        assert_eq!(shorten("abcd", 3), "ab…");
        assert_eq!(shorten("ééé", 3), "ééé");
        assert_eq!(shorten("ééééé", 3), "éé…");
        assert_eq!(shorten("abc", 0), "…");
    }
}
