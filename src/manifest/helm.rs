//! `helm template` output: findings go back to the chart's template files.
//!
//! Helm writes each rendered manifest as `---\n# Source: <chart>/templates/<file>\n<content>`
//! (`helm/pkg/action/action.go`, `renderResources`: `fmt.Fprintf(b, "---\n# Source: %s\n%s\n",
//! m.Name, m.Content)`; a template that renders several documents gets one header per document).
//! A YAML document whose first line is such a comment is a *segment*: a finding in it is reported
//! under the path of the comment, at the line counted from the line after the comment (line 1 is
//! the first line of the rendered document), column unchanged. Everything else keeps the name and
//! the lines of the input.
//!
//! Only chart paths count (relative, no spaces, no `://`, with a `templates/` or `crds/` folder),
//! so a hand-written `# Source: https://…` note at the top of a manifest changes nothing.

use super::source::{Pos, Source, Span};

/// One rendered document: lines `first..end` of the stream (1-based, `end` exclusive) came from
/// the template file `name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub name: String,
    pub first: u32,
    pub end: u32,
}

impl Segment {
    pub fn contains(&self, line: u32) -> bool {
        (self.first..self.end).contains(&line)
    }

    /// The position inside the rendered document of a position of the stream.
    pub fn map(&self, pos: Pos) -> Pos {
        Pos::new(pos.line + 1 - self.first, pos.column)
    }

    /// The span inside the document; an end past the document (cannot happen for a node of
    /// the document) collapses onto the start.
    pub fn map_span(&self, span: Span) -> Span {
        let start = self.map(span.start);
        let end = if self.contains(span.end.line) {
            self.map(span.end)
        } else {
            start
        };
        Span::new(start, end)
    }

    /// The document's text, as a source named after the template, for reporters that show it.
    pub fn source(&self, stream: &Source) -> Source {
        let mut text = String::new();
        for line in self.first..self.end {
            if let Some(l) = stream.line(line) {
                text.push_str(l);
                text.push('\n');
            }
        }
        Source::new(self.name.clone(), text)
    }
}

/// The segments of a stream, in order; empty for anything that is not `helm template` output.
pub fn segments(source: &Source) -> Vec<Segment> {
    let mut out: Vec<Segment> = Vec::new();
    if !source.text.contains("# Source: ") {
        return out;
    }
    let mut open: Option<Segment> = None;
    let mut doc_start = true;
    let last = source.line_count() as u32;
    for n in 1..=last {
        let line = source.line(n).unwrap_or("");
        if is_separator(line) {
            if let Some(mut s) = open.take() {
                s.end = n;
                out.push(s);
            }
            doc_start = true;
            continue;
        }
        if doc_start {
            doc_start = false;
            open = line
                .strip_prefix("# Source: ")
                .map(str::trim)
                .filter(|name| is_chart_path(name))
                .map(|name| Segment {
                    name: name.to_owned(),
                    first: n + 1,
                    end: n + 1,
                });
        }
    }
    if let Some(mut s) = open {
        s.end = last + 1;
        out.push(s);
    }
    out
}

/// Where the template file `template` (a `# Source:` path, relative to the folder `helm
/// template` ran in) is, for the rendered file named `rendered`: relative to the rendered
/// file's folder or one of the folders above it, the nearest first (the working directory for
/// standard input, whose name has no folder). `None` when it exists nowhere there.
pub fn resolve(rendered: &str, template: &str) -> Option<String> {
    let rendered = std::path::Path::new(rendered);
    let dir = rendered.parent().unwrap_or(std::path::Path::new(""));
    // At most this many folders up: a chart is near its rendered output, and an absolute path
    // should not walk the whole file system.
    for folder in dir.ancestors().take(8) {
        let candidate = folder.join(template);
        if candidate.is_file() {
            return Some(candidate.to_string_lossy().into_owned());
        }
    }
    None
}

fn is_separator(line: &str) -> bool {
    line.strip_prefix("---")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
}

fn is_chart_path(p: &str) -> bool {
    !p.is_empty()
        && !p.starts_with('/')
        && !p.contains("://")
        && !p.contains(char::is_whitespace)
        && p.split('/')
            .rev()
            .skip(1)
            .any(|c| c == "templates" || c == "crds")
}

#[cfg(test)]
mod tests {
    use super::*;

    const RENDERED: &str = "---\n# Source: app/templates/svc.yaml\napiVersion: v1\nkind: Service\n---\n# Source: app/charts/db/templates/vs.yaml\napiVersion: x/v1\nkind: A\n---\n# Source: https://example.com/x.yaml\nkind: B\n";

    #[test]
    fn documents_after_a_source_comment_are_segments() {
        let s = Source::new("-", RENDERED);
        let segs = segments(&s);
        assert_eq!(
            segs,
            vec![
                Segment {
                    name: "app/templates/svc.yaml".into(),
                    first: 3,
                    end: 5
                },
                Segment {
                    name: "app/charts/db/templates/vs.yaml".into(),
                    first: 7,
                    end: 9
                },
            ]
        );
        assert_eq!(segs[1].map(Pos::new(8, 7)), Pos::new(2, 7));
        assert_eq!(segs[1].source(&s).text, "apiVersion: x/v1\nkind: A\n");
    }

    #[test]
    fn ordinary_manifests_have_no_segments() {
        for text in [
            "# Source: https://github.com/x/y/blob/main/a.yaml\nkind: A\n",
            "kind: A\n# Source: app/templates/a.yaml\n",
            "# Source: templates.yaml\nkind: A\n",
        ] {
            assert!(segments(&Source::new("-", text)).is_empty(), "{text}");
        }
    }
}
