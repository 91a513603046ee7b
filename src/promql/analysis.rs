//! One query, rendered and parsed as its controller does, with the maps back to the template.
//! Pure in its inputs (template text, dialect, bindings), so results are memoized: every query
//! rule asks for the same analysis of the same gate, and many Canaries share a builtin query.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::Range;
use std::rc::Rc;

use super::query::{ParseError, ParseErrorKind, Query};
use super::srcmap::{SourceMap, collapse_whitespace};
use super::template::{Dialect, Env, Rendered, render};

/// A rendered and parsed query.
#[derive(Debug)]
pub struct Analysis {
    pub dialect: Dialect,
    /// The template as written.
    pub template: String,
    pub rendered: Rendered,
    /// The text the controller sends to Prometheus and the map to `rendered.text` (Flagger
    /// collapses white space, `pkg/metrics/providers/prometheus.go` `trimQuery`).
    pub sent: String,
    sent_map: Option<SourceMap>,
    /// The parse of `sent`; `None` when it was not parsed (rendering failed, or the query is
    /// not PromQL because the provider is not Prometheus).
    pub parsed: Option<Result<Query, ParseError>>,
}

impl Analysis {
    /// Render and (when `promql`) parse `template` in `env`.
    pub fn new(template: &str, env: &Env, promql: bool) -> Analysis {
        let dialect = env.dialect();
        let rendered = render(template, env);
        let (sent, sent_map) = if dialect == Dialect::Flagger {
            let (t, m) = collapse_whitespace(&rendered.text);
            (t, Some(m))
        } else {
            (rendered.text.clone(), None)
        };
        let mut a = Analysis {
            dialect,
            template: template.to_owned(),
            rendered,
            sent,
            sent_map,
            parsed: None,
        };
        if promql && a.rendered.ok() {
            let mut parsed = Query::parse(&a.sent);
            if let Err(e) = &mut parsed {
                a.explain_comment(e);
            }
            a.parsed = Some(parsed);
        }
        a
    }

    /// The parsed query, when rendering and parsing succeeded.
    pub fn query(&self) -> Option<&Query> {
        self.parsed.as_ref()?.as_ref().ok()
    }

    pub fn parse_error(&self) -> Option<&ParseError> {
        self.parsed.as_ref()?.as_ref().err()
    }

    /// A range of the parsed text → the range of the rendered text.
    pub fn to_rendered(&self, r: &Range<usize>) -> Range<usize> {
        match &self.sent_map {
            Some(m) => m.to_source(r),
            None => r.clone(),
        }
    }

    /// A range of the parsed text → the range of the template it came from.
    pub fn to_template(&self, r: &Range<usize>) -> Range<usize> {
        self.rendered.map.to_source(&self.to_rendered(r))
    }

    /// Whether a range of the parsed text is exactly what the controller evaluates (no
    /// placeholder value in it).
    pub fn is_exact(&self, r: &Range<usize>) -> bool {
        self.rendered.is_exact(&self.to_rendered(r))
    }

    /// Whether structural findings hold whatever the placeholders stand for.
    pub fn structure_known(&self) -> bool {
        !self.rendered.has_bare_placeholder()
    }

    /// Flagger joins a multi-line query into one line, so a `# comment` swallows everything
    /// after it. When the query parses with its line breaks but not without, say so.
    fn explain_comment(&self, e: &mut ParseError) {
        if self.dialect != Dialect::Flagger || e.kind != ParseErrorKind::Invalid {
            return;
        }
        let Some(hash) = comment_start(&self.rendered.text) else {
            return;
        };
        if !self.rendered.text[hash..].contains('\n') || Query::parse(&self.rendered.text).is_err()
        {
            return;
        }
        let sent_hash = self
            .sent
            .char_indices()
            .find(|(i, _)| self.to_rendered(&(*i..*i + 1)).start == hash)
            .map_or(0, |(i, _)| i);
        e.span = sent_hash..self.sent.len();
        e.message = format!(
            "Flagger joins the query into one line before sending it (white space collapsed), so this `#` comment swallows the rest of the query: {}",
            e.message
        );
    }
}

/// Byte offset of the first `#` outside a string.
fn comment_start(text: &str) -> Option<usize> {
    let mut quote = None;
    let mut escape = false;
    for (i, b) in text.bytes().enumerate() {
        match quote {
            Some(q) => {
                if escape {
                    escape = false;
                } else if b == b'\\' && q != b'`' {
                    escape = true;
                } else if b == q {
                    quote = None;
                }
            }
            None => match b {
                b'"' | b'\'' | b'`' => quote = Some(b),
                b'#' => return Some(i),
                _ => {}
            },
        }
    }
    None
}

type Entry = (String, Env, bool, Rc<Analysis>);

thread_local! {
    /// Hash of (template, env, promql) → entries with that hash.
    static MEMO: RefCell<HashMap<u64, Vec<Entry>>> = RefCell::new(HashMap::new());
}

/// Entries kept per thread before the memo starts over.
const MEMO_LIMIT: usize = 4096;

/// Forget the memoized analyses of this thread (benchmarks measure cold runs with it).
pub fn clear_memo() {
    MEMO.with(|m| m.borrow_mut().clear());
}

fn key_hash(template: &str, env: &Env, promql: bool) -> u64 {
    use std::hash::{BuildHasher as _, Hash, Hasher};
    // Every gate of every run asks (entries are compared in full on a hit): a fast hash.
    let mut h = foldhash::fast::FixedState::default().build_hasher();
    template.hash(&mut h);
    env.hash(&mut h);
    promql.hash(&mut h);
    h.finish()
}

/// The analysis of `template` in `env`, memoized per thread (results depend only on the
/// inputs, so a cached one is always right).
pub fn analyse(template: &str, env: &Env, promql: bool) -> Rc<Analysis> {
    let h = key_hash(template, env, promql);
    let hit = MEMO.with(|m| {
        m.borrow().get(&h).and_then(|v| {
            v.iter()
                .find(|(t, e, p, _)| t == template && e == env && *p == promql)
                .map(|(_, _, _, a)| a.clone())
        })
    });
    if let Some(a) = hit {
        return a;
    }
    let a = Rc::new(Analysis::new(template, env, promql));
    MEMO.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() >= MEMO_LIMIT {
            m.clear();
        }
        m.entry(h)
            .or_default()
            .push((template.to_owned(), env.clone(), promql, a.clone()));
    });
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promql::template::FlaggerModel;

    #[test]
    fn comment_swallows_the_rest_in_flagger() {
        let t = "# p99\nhistogram_quantile(0.99, sum by (le) (rate(x_bucket[1m])))";
        let a = Analysis::new(t, &Env::Flagger(FlaggerModel::placeholders()), true);
        let e = a.parse_error().expect("parse error");
        assert!(e.message.contains("comment"), "{e:?}");
        assert_eq!(a.to_template(&e.span).start, 0);
        let a = Analysis::new(t, &Env::Plain, true);
        assert!(a.query().is_some());
    }

    #[test]
    fn positions_through_collapse_and_render() {
        let t = "sum(\n  rate(x{pod=~\"{{ target }}-.*\"}[{{ interval }}])\n)";
        let a = Analysis::new(t, &Env::Flagger(FlaggerModel::placeholders()), true);
        let q = a.query().unwrap();
        let sel = &q.selectors()[0];
        let m = &sel.loc.unwrap().matchers[0];
        let r = a.to_template(&m.value_span);
        assert_eq!(&t[r], "\"{{ target }}-.*\"");
        assert!(!a.is_exact(&m.value_span));
        let r = a.to_template(sel.range_span.as_ref().unwrap());
        assert_eq!(&t[r], "[{{ interval }}]");
    }
}
