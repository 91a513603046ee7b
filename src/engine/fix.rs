//! Fixes: what a rule proposes to change, as values at JSON pointers of its object (rules never
//! see bytes or lines). The manifest layer (`manifest::edit`) lowers them to text edits that keep
//! the file's style and comments; `lint --fix` applies them (`engine::apply`), the language
//! server offers them as code actions, SARIF and JSON carry them.
//!
//! The shape follows ruff (`crates/ruff_diagnostics/src/fix.rs`): an applicability ordered
//! `DisplayOnly < Unsafe < Safe`, a fix is a list of edits applied together or not at all.

use std::ops::Range;

use serde::Serialize;
use serde_json::Value;

/// How sure a fix is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Applicability {
    /// Shown (and offered by an editor) but never applied by `--fix`: a suppression, or an edit
    /// the manifest layer could not place exactly (through an alias, in rendered helm output).
    DisplayOnly,
    /// Changes what the running system does, in the way the finding says is intended (the
    /// isolating regex, aggregating `by (le)`, a "did you mean" rename): `--unsafe-fixes`.
    Unsafe,
    /// Behaviour-preserving: the system does the same thing afterwards (writing out the weights
    /// Istio already applies): `--fix`.
    Safe,
}

impl Applicability {
    pub fn as_str(self) -> &'static str {
        match self {
            Applicability::DisplayOnly => "display-only",
            Applicability::Unsafe => "unsafe",
            Applicability::Safe => "safe",
        }
    }
}

impl std::fmt::Display for Applicability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One change, relative to the finding's object (pointers are relative like
/// [`super::Finding::pointer`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    /// Replace the value at `pointer` (a scalar) by `value`, written in the node's style.
    Set { pointer: String, value: Value },
    /// Replace the bytes `range` of the string value at `pointer` (a range of the decoded
    /// value, as in [`super::Finding::with_range`]) by `text`: a matcher inside a PromQL query.
    InScalar {
        pointer: String,
        range: Range<usize>,
        text: String,
    },
    /// Add `key: value` to the mapping at `parent` (which must not have `key`), in the
    /// mapping's style (block or flow) and its indentation.
    Insert {
        parent: String,
        key: String,
        value: Value,
    },
    /// Rename the key of the mapping member at `pointer` to `key` (the value stays).
    RenameKey { pointer: String, key: String },
    /// Remove the mapping member or sequence item at `pointer` (not lowered yet: refused).
    Remove { pointer: String },
}

impl Edit {
    pub fn set(pointer: impl Into<String>, value: impl Into<Value>) -> Edit {
        Edit::Set {
            pointer: pointer.into(),
            value: value.into(),
        }
    }

    pub fn in_scalar(
        pointer: impl Into<String>,
        range: Range<usize>,
        text: impl Into<String>,
    ) -> Edit {
        Edit::InScalar {
            pointer: pointer.into(),
            range,
            text: text.into(),
        }
    }

    pub fn insert(
        parent: impl Into<String>,
        key: impl Into<String>,
        value: impl Into<Value>,
    ) -> Edit {
        Edit::Insert {
            parent: parent.into(),
            key: key.into(),
            value: value.into(),
        }
    }

    pub fn rename_key(pointer: impl Into<String>, key: impl Into<String>) -> Edit {
        Edit::RenameKey {
            pointer: pointer.into(),
            key: key.into(),
        }
    }

    pub fn remove(pointer: impl Into<String>) -> Edit {
        Edit::Remove {
            pointer: pointer.into(),
        }
    }

    /// The pointer the edit changes (the parent mapping for an insertion).
    pub fn pointer(&self) -> &str {
        match self {
            Edit::Set { pointer, .. }
            | Edit::InScalar { pointer, .. }
            | Edit::RenameKey { pointer, .. }
            | Edit::Remove { pointer } => pointer,
            Edit::Insert { parent, .. } => parent,
        }
    }
}

/// A fix: edits applied together (all or none), with what they do.
#[derive(Debug, Clone, PartialEq)]
pub struct Fix {
    /// What the fix does, imperative and lowercase ("set the weight of route 1 to 0").
    pub message: String,
    pub applicability: Applicability,
    pub edits: Vec<Edit>,
}

impl Fix {
    pub fn safe(message: impl Into<String>, edits: Vec<Edit>) -> Fix {
        Fix {
            message: message.into(),
            applicability: Applicability::Safe,
            edits,
        }
    }

    pub fn unsafe_edits(message: impl Into<String>, edits: Vec<Edit>) -> Fix {
        Fix {
            message: message.into(),
            applicability: Applicability::Unsafe,
            edits,
        }
    }

    pub fn display_only(message: impl Into<String>, edits: Vec<Edit>) -> Fix {
        Fix {
            message: message.into(),
            applicability: Applicability::DisplayOnly,
            edits,
        }
    }

    /// Whether `--fix` applies it when fixes of `required` applicability are asked for.
    pub fn applies(&self, required: Applicability) -> bool {
        self.applicability >= required
    }
}

/// A fix lowered to text: byte ranges of the source (`LintRun::sources[source].text`, which has
/// no byte order mark) and replacements. Positions are computed from the source when shown.
#[derive(Debug, Clone, PartialEq)]
pub struct TextFix {
    pub message: String,
    /// `DisplayOnly` when the manifest layer refused to place an edit (see `refused`).
    pub applicability: Applicability,
    /// Sorted by start; do not overlap.
    pub edits: Vec<TextEdit>,
    /// Why the fix cannot be applied as text (an alias, a merge key, helm output); its edits
    /// are then empty.
    pub refused: Option<String>,
}

/// Replace `range` (bytes of the source text) by `content`: insertion when the range is empty,
/// deletion when the content is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TextEdit {
    pub range: Range<usize>,
    pub content: String,
}

impl Ord for TextEdit {
    /// By start, then end, then content.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.range.start, self.range.end, &self.content).cmp(&(
            other.range.start,
            other.range.end,
            &other.content,
        ))
    }
}

impl PartialOrd for TextEdit {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl TextEdit {
    pub fn replace(range: Range<usize>, content: impl Into<String>) -> TextEdit {
        TextEdit {
            range,
            content: content.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applicability_order() {
        assert!(Applicability::Safe > Applicability::Unsafe);
        assert!(Applicability::Unsafe > Applicability::DisplayOnly);
        let f = Fix::unsafe_edits("x", vec![]);
        assert!(f.applies(Applicability::Unsafe));
        assert!(!f.applies(Applicability::Safe));
        assert!(!Fix::display_only("x", vec![]).applies(Applicability::Unsafe));
    }
}
