//! Kubernetes label selectors, evaluated exactly as apimachinery does
//! (`k8s.io/apimachinery/pkg/apis/meta/v1/helpers.go` `LabelSelectorAsSelector`,
//! `pkg/labels/selector.go` `Requirement.Matches`):
//!
//! - `matchLabels` and `matchExpressions` are ANDed; `key: value` in `matchLabels` is `key = value`;
//! - `In` needs the label present with one of the values; `NotIn` matches when the label is absent
//!   or has another value; `Exists` / `DoesNotExist` test presence only;
//! - `In`/`NotIn` need a non-empty `values`, `Exists`/`DoesNotExist` an empty one, any other
//!   operator is invalid: those are errors (a `SelectorError`), never a panic;
//! - an empty selector (`{}`, no requirement) selects everything. What an *absent* or `null`
//!   selector means depends on its consumer (a ServiceMonitor's `spec.selector` is a struct: absent
//!   is empty; a Prometheus' `serviceMonitorSelector` is a pointer: nil selects nothing), so the
//!   caller decides before building a selector.
//!
//! Label values written as YAML numbers or booleans are compared by their text (`1`, `true`): the
//! apiserver rejects them anyway, and schema checks report that; here they must not add noise.

use std::borrow::Cow;
use std::fmt;

use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// From `matchLabels` (apimachinery's `=`).
    Equals,
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub operator: Operator,
    /// One value for `Equals`, one or more for `In`/`NotIn`, none otherwise.
    pub values: Vec<String>,
}

/// A parsed label selector: requirements that must all hold. No requirement: selects everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelSelector {
    pub requirements: Vec<Requirement>,
}

/// Why a selector is invalid, at a JSON pointer relative to the selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectorError {
    pub pointer: String,
    pub message: String,
}

/// The text of a label value or selector value; `None` for mappings and lists.
pub fn label_text(v: &Value) -> Option<Cow<'_, str>> {
    match v {
        Value::String(s) => Some(Cow::Borrowed(s)),
        // `app:` with no value is null; the apiserver decodes it as "".
        Value::Null => Some(Cow::Borrowed("")),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(Cow::Owned(b.to_string())),
        _ => None,
    }
}

impl LabelSelector {
    /// The selector with no requirement: selects everything.
    pub fn everything() -> LabelSelector {
        LabelSelector::default()
    }

    /// A selector from a plain label map (a Service's `spec.selector`, a `matchLabels`).
    /// Entries whose value is a mapping or list are skipped (they can match no label).
    pub fn from_map(map: &Map<String, Value>) -> LabelSelector {
        let requirements = map
            .iter()
            .filter_map(|(k, v)| {
                Some(Requirement {
                    key: k.clone(),
                    operator: Operator::Equals,
                    values: vec![label_text(v)?.into_owned()],
                })
            })
            .collect();
        LabelSelector { requirements }
    }

    /// Parse a `metav1.LabelSelector` (`{matchLabels, matchExpressions}`). `null` parses as the
    /// empty selector: callers for which null means "nothing" check for it first.
    pub fn parse(v: &Value) -> Result<LabelSelector, SelectorError> {
        let err = |pointer: String, message: String| SelectorError { pointer, message };
        let map = match v {
            Value::Null => return Ok(LabelSelector::everything()),
            Value::Object(m) => m,
            _ => {
                return Err(err(
                    String::new(),
                    "must be a mapping with matchLabels and/or matchExpressions".into(),
                ));
            }
        };
        let mut requirements = Vec::new();
        for (k, val) in map {
            match k.as_str() {
                "matchLabels" => match val {
                    Value::Null => {}
                    Value::Object(labels) => {
                        for (lk, lv) in labels {
                            let Some(text) = label_text(lv) else {
                                let mut p = String::from("/matchLabels");
                                crate::manifest::push_segment(&mut p, lk);
                                return Err(err(p, "must be a string".into()));
                            };
                            requirements.push(Requirement {
                                key: lk.clone(),
                                operator: Operator::Equals,
                                values: vec![text.into_owned()],
                            });
                        }
                    }
                    _ => {
                        return Err(err(
                            "/matchLabels".into(),
                            "must be a mapping of label keys to values".into(),
                        ));
                    }
                },
                "matchExpressions" => match val {
                    Value::Null => {}
                    Value::Array(exprs) => {
                        for (i, e) in exprs.iter().enumerate() {
                            requirements.push(parse_expression(e, i)?);
                        }
                    }
                    _ => {
                        return Err(err("/matchExpressions".into(), "must be a list".into()));
                    }
                },
                other => {
                    let mut p = String::new();
                    crate::manifest::push_segment(&mut p, other);
                    return Err(err(
                        p,
                        "is not a field of a label selector (labels go under matchLabels)".into(),
                    ));
                }
            }
        }
        Ok(LabelSelector { requirements })
    }

    /// Whether the selector has no requirement (selects everything).
    pub fn is_everything(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether an object with these labels is selected. `None` (no labels) is an empty label set.
    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        self.requirements.iter().all(|r| {
            let value = labels.and_then(|l| l.get(&r.key)).and_then(label_text);
            match r.operator {
                Operator::Equals | Operator::In => {
                    value.is_some_and(|v| r.values.iter().any(|x| *x == *v))
                }
                Operator::NotIn => value.is_none_or(|v| !r.values.iter().any(|x| *x == *v)),
                Operator::Exists => value.is_some(),
                Operator::DoesNotExist => value.is_none(),
            }
        })
    }
}

fn parse_expression(e: &Value, i: usize) -> Result<Requirement, SelectorError> {
    let base = format!("/matchExpressions/{i}");
    let err = |suffix: &str, message: String| SelectorError {
        pointer: format!("{base}{suffix}"),
        message,
    };
    let Some(m) = e.as_object() else {
        return Err(err(
            "",
            "must be a mapping with key, operator and values".into(),
        ));
    };
    let key = match m.get("key") {
        Some(Value::String(k)) if !k.is_empty() => k.clone(),
        Some(_) => return Err(err("/key", "must be a non-empty string".into())),
        None => return Err(err("", "has no key".into())),
    };
    let operator = match m.get("operator") {
        Some(Value::String(op)) => match op.as_str() {
            "In" => Operator::In,
            "NotIn" => Operator::NotIn,
            "Exists" => Operator::Exists,
            "DoesNotExist" => Operator::DoesNotExist,
            other => {
                return Err(err(
                    "/operator",
                    format!(
                        "is \"{other}\", not a valid label selector operator (In, NotIn, Exists, DoesNotExist)"
                    ),
                ));
            }
        },
        Some(other) => {
            return Err(err(
                "/operator",
                format!(
                    "is {other}, not a valid label selector operator (In, NotIn, Exists, DoesNotExist)"
                ),
            ));
        }
        None => return Err(err("", "has no operator".into())),
    };
    let values = match m.get("values") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(vs)) => {
            let mut out = Vec::with_capacity(vs.len());
            for (j, v) in vs.iter().enumerate() {
                let Some(t) = label_text(v).filter(|_| !v.is_null()) else {
                    return Err(err(&format!("/values/{j}"), "must be a string".into()));
                };
                out.push(t.into_owned());
            }
            out
        }
        Some(_) => return Err(err("/values", "must be a list of strings".into())),
    };
    match operator {
        Operator::In | Operator::NotIn if values.is_empty() => Err(err(
            "",
            format!(
                "has operator {} and no values (In and NotIn need at least one)",
                if operator == Operator::In {
                    "In"
                } else {
                    "NotIn"
                }
            ),
        )),
        Operator::Exists | Operator::DoesNotExist if !values.is_empty() => Err(err(
            "/values",
            format!(
                "must be empty with operator {}",
                if operator == Operator::Exists {
                    "Exists"
                } else {
                    "DoesNotExist"
                }
            ),
        )),
        _ => Ok(Requirement {
            key,
            operator,
            values,
        }),
    }
}

/// kubectl's notation: `app=web,tier in (a,b),!canary`; `<everything>` for the empty selector.
impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.requirements.is_empty() {
            return f.write_str("<everything>");
        }
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match r.operator {
                Operator::Equals => write!(f, "{}={}", r.key, r.values.join(""))?,
                Operator::In => write!(f, "{} in ({})", r.key, r.values.join(","))?,
                Operator::NotIn => write!(f, "{} notin ({})", r.key, r.values.join(","))?,
                Operator::Exists => write!(f, "{}", r.key)?,
                Operator::DoesNotExist => write!(f, "!{}", r.key)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    fn sel(v: Value) -> LabelSelector {
        LabelSelector::parse(&v).expect("valid selector")
    }

    #[test]
    fn empty_and_null_select_everything() {
        let l = labels(json!({"app": "web"}));
        assert!(sel(json!({})).matches(Some(&l)));
        assert!(sel(json!({})).matches(None));
        assert!(sel(Value::Null).matches(Some(&l)));
        assert!(sel(json!({"matchLabels": {}, "matchExpressions": []})).is_everything());
        assert!(sel(json!({"matchLabels": null})).is_everything());
    }

    #[test]
    fn match_labels_are_anded() {
        let s = sel(json!({"matchLabels": {"app": "web", "tier": "front"}}));
        assert!(s.matches(Some(&labels(
            json!({"app": "web", "tier": "front", "x": "y"})
        ))));
        assert!(!s.matches(Some(&labels(json!({"app": "web"})))));
        assert!(!s.matches(None));
    }

    #[test]
    fn operators() {
        let web = labels(json!({"app": "web", "env": "prod"}));
        let none = labels(json!({}));
        let check = |expr: Value, on: &Map<String, Value>| {
            sel(json!({ "matchExpressions": [expr] })).matches(Some(on))
        };
        let in_ = json!({"key": "app", "operator": "In", "values": ["web", "api"]});
        assert!(check(in_.clone(), &web));
        assert!(!check(in_, &none));
        let not_in = json!({"key": "app", "operator": "NotIn", "values": ["web"]});
        assert!(!check(not_in.clone(), &web));
        // NotIn matches when the label is absent.
        assert!(check(not_in, &none));
        assert!(check(json!({"key": "env", "operator": "Exists"}), &web));
        assert!(!check(json!({"key": "env", "operator": "Exists"}), &none));
        assert!(!check(
            json!({"key": "env", "operator": "DoesNotExist"}),
            &web
        ));
        assert!(check(
            json!({"key": "env", "operator": "DoesNotExist"}),
            &none
        ));
    }

    #[test]
    fn match_labels_and_expressions_are_anded() {
        let s = sel(json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["dev"]}]
        }));
        assert!(s.matches(Some(&labels(json!({"app": "web", "env": "prod"})))));
        assert!(s.matches(Some(&labels(json!({"app": "web"})))));
        assert!(!s.matches(Some(&labels(json!({"app": "web", "env": "dev"})))));
        assert!(!s.matches(Some(&labels(json!({"env": "prod"})))));
    }

    #[test]
    fn empty_value_and_non_string_labels() {
        // `app:` (null) is the empty string, like the apiserver decodes it.
        let s = sel(json!({"matchLabels": {"app": ""}}));
        assert!(s.matches(Some(&labels(json!({"app": null})))));
        let s = sel(json!({"matchLabels": {"version": 1}}));
        assert!(s.matches(Some(&labels(json!({"version": "1"})))));
        assert!(!s.matches(Some(&labels(json!({"version": "2"})))));
    }

    #[test]
    fn invalid_selectors_are_errors() {
        let bad = |v: Value| LabelSelector::parse(&v).expect_err("invalid");
        let e = bad(json!({"matchExpressions": [{"key": "a", "operator": "in", "values": ["x"]}]}));
        assert_eq!(e.pointer, "/matchExpressions/0/operator");
        assert!(
            e.message.contains("is \"in\", not a valid"),
            "{}",
            e.message
        );
        let e = bad(json!({"matchExpressions": [{"key": "a", "operator": "In"}]}));
        assert!(e.message.contains("no values"), "{}", e.message);
        let e = bad(json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]}));
        assert!(e.message.contains("no values"), "{}", e.message);
        let e =
            bad(json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}));
        assert_eq!(e.pointer, "/matchExpressions/0/values");
        let e = bad(json!({"matchExpressions": [{"operator": "Exists"}]}));
        assert_eq!(e.message, "has no key");
        let e = bad(json!({"app": "web"}));
        assert_eq!(e.pointer, "/app");
        assert!(e.message.contains("matchLabels"), "{}", e.message);
        bad(json!({"matchLabels": ["app"]}));
        bad(json!({"matchLabels": {"app": {"x": 1}}}));
        bad(json!({"matchExpressions": {"key": "a"}}));
        bad(json!("app=web"));
    }

    #[test]
    fn from_map_and_display() {
        let s = LabelSelector::from_map(&labels(json!({"app": "web", "tier": "front"})));
        assert_eq!(s.to_string(), "app=web,tier=front");
        let s = sel(json!({"matchExpressions": [
            {"key": "a", "operator": "In", "values": ["x", "y"]},
            {"key": "b", "operator": "NotIn", "values": ["z"]},
            {"key": "c", "operator": "Exists"},
            {"key": "d", "operator": "DoesNotExist"}
        ]}));
        assert_eq!(s.to_string(), "a in (x,y),b notin (z),c,!d");
        assert_eq!(LabelSelector::everything().to_string(), "<everything>");
    }
}
