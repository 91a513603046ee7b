//! What a rule reports. Findings name JSON pointers, never line numbers: the front end (linter or
//! webhook) places them.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use super::object::{Object, ObjectRef, Origin};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    #[default]
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        match s {
            "info" => Some(Severity::Info),
            "warning" | "warn" => Some(Severity::Warning),
            "error" => Some(Severity::Error),
            _ => None,
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Another place that explains a finding (each weight of a route, the Service a monitor should
/// have selected, the first occurrence of a duplicate key).
#[derive(Debug, Clone, PartialEq)]
pub struct Related {
    pub origin: Origin,
    pub object: Option<ObjectRef>,
    pub pointer: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub rule: &'static str,
    pub severity: Severity,
    pub message: String,
    /// The object the finding is about (`None` for file-level findings such as parse errors).
    pub object: Option<ObjectRef>,
    pub origin: Origin,
    /// JSON pointer relative to the object.
    pub pointer: String,
    /// Byte range inside the string value at `pointer` (e.g. a matcher inside a PromQL query).
    pub scalar_range: Option<Range<usize>>,
    /// Point at the key that introduces `pointer` rather than at its value (an unknown field).
    pub at_key: bool,
    pub related: Vec<Related>,
    pub help: Option<String>,
}

impl Finding {
    /// A finding about `object` at `pointer` (relative to the object).
    pub fn new(
        rule: &'static str,
        severity: Severity,
        object: &Object,
        pointer: impl Into<String>,
        message: impl Into<String>,
    ) -> Finding {
        Finding {
            rule,
            severity,
            message: message.into(),
            object: Some(object.reference()),
            origin: object.origin.clone(),
            pointer: pointer.into(),
            scalar_range: None,
            at_key: false,
            related: Vec::new(),
            help: None,
        }
    }

    /// Place the finding at the key of `pointer` (its value when it has no key).
    pub fn at_key(mut self) -> Finding {
        self.at_key = true;
        self
    }

    /// The finding at `severity` instead of its rule's default (an assumption lowers it).
    pub fn with_severity(mut self, severity: Severity) -> Finding {
        self.severity = severity;
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Finding {
        self.help = Some(help.into());
        self
    }

    pub fn with_range(mut self, range: Range<usize>) -> Finding {
        self.scalar_range = Some(range);
        self
    }

    /// Add a related location in `object` (which may be another object than the finding's).
    pub fn with_related(
        mut self,
        object: &Object,
        pointer: impl Into<String>,
        message: impl Into<String>,
    ) -> Finding {
        self.related.push(Related {
            origin: object.origin.clone(),
            object: Some(object.reference()),
            pointer: pointer.into(),
            message: message.into(),
        });
        self
    }
}
