#!/usr/bin/env python3
"""Precision of rollgate on real repositories: what a maintainer sees, judged by hand.

Nothing third-party is committed: the repositories are named (with the commit measured) in
`repos.tsv`; this script extracts them from local git mirrors (the `fetch` tool's
/work/.mirror/OWNER+NAME/repo, or any bare clone given with --mirrors), lints each one as a
whole (`rollgate lint .` from its root, as a CI job does) and each relevant file alone (as
pre-commit and editors do: `rollgate lint path/one.yaml`, the default context), and writes:

- `OUT/findings.json`: every error and warning of the whole-repository pass;
- `OUT/perfile.json`: per file, the findings of the file alone that differ from what the
  whole-repository pass reports on that file (both ways), with counts;
- `OUT/report.md`: the judgement table (verdicts from `verdicts.tsv`, by repo, file, rule and
  line) with totals, and the findings that still lack a verdict.

Verdicts (`verdicts.tsv`, tab-separated: repo, file, rule, line, verdict, reason):
  act      true, and a maintainer would act on it (worth a minute)
  useless  true, but nobody would act on it (a deliberate test fixture, a generated file, …)
  false    not true
A verdict with line `*` covers every line of that rule in that file.

Usage:
  scripts/precision/measure.py --bin target/debug/rollgate [--extract] [--per-file]
      [--mirrors /work/.mirror] [--repos /tmp/repos] [--out /tmp/precision] [ARGS…]
Extra lint arguments after `--` are passed to every run (e.g. `-- --no-context`).
"""

import argparse
import collections
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# Kinds whose files the per-file pass lints alone: what the cross-resource rules read. A file
# with none of these (and no finding in the whole-repository pass) cannot find anything
# different alone.
RELEVANT_KINDS = (
    "kind: Canary",
    "kind: MetricTemplate",
    "kind: AlertProvider",
    "kind: Rollout",
    "kind: AnalysisTemplate",
    "kind: ClusterAnalysisTemplate",
    "kind: VirtualService",
    "kind: DestinationRule",
    "kind: ServiceMonitor",
    "kind: PodMonitor",
    "kind: Prometheus\n",
    "kind: PrometheusRule",
)


def read_repos():
    rows = []
    for line in (HERE / "repos.tsv").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        repo, commit = line.split("\t")[:2]
        rows.append((repo, commit))
    return rows


def extract(mirror: Path, commit: str, dest: Path):
    """Write the tree of `commit` into `dest`, skipping blobs the mirror does not hold (large
    files a snapshot leaves out). A `.git` folder marks the project root, as in a clone."""
    if dest.exists():
        subprocess.run(["rm", "-rf", str(dest)], check=True)
    dest.mkdir(parents=True)
    (dest / ".git").mkdir()
    tree = subprocess.run(
        ["git", "--git-dir", str(mirror), "ls-tree", "-r", "-z", commit],
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    entries = []
    for e in tree:
        if not e:
            continue
        meta, path = e.split(b"\t", 1)
        mode, kind, sha = meta.split()
        if kind != b"blob" or mode == b"120000":
            continue
        entries.append((sha.decode(), path.decode("utf-8", "replace")))
    cat = subprocess.Popen(
        ["git", "--git-dir", str(mirror), "cat-file", "--batch"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    missing = 0
    for sha, path in entries:
        cat.stdin.write(sha.encode() + b"\n")
        cat.stdin.flush()
        header = cat.stdout.readline().split()
        if len(header) < 3 or header[1] == b"missing":
            missing += 1
            continue
        size = int(header[2])
        data = cat.stdout.read(size)
        cat.stdout.read(1)
        out = dest / path
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
    cat.stdin.close()
    cat.wait()
    return len(entries), missing


def lint(binary, cwd: Path, paths, extra):
    cmd = [str(binary), "lint", *paths, "--format", "json", "--show-info", *extra]
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if p.returncode not in (0, 1):
        return None, p.stderr
    try:
        return json.loads(p.stdout), p.stderr
    except json.JSONDecodeError:
        return None, p.stderr + p.stdout[:500]


def norm(path: str) -> str:
    return path[2:] if path.startswith("./") else path


def key(f):
    return (f["rule"], f["severity"], f["line"], f["column"])


def candidates(root: Path, folder_files):
    """Files to lint alone: every file the whole pass reported on, and every manifest holding
    a kind the cross-resource rules read."""
    out = set(folder_files)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for n in filenames:
            if not n.endswith((".yaml", ".yml", ".json")):
                continue
            p = Path(dirpath) / n
            try:
                if p.stat().st_size > 2 * 1024 * 1024:
                    continue
                text = p.read_text(errors="replace")
            except OSError:
                continue
            if any(k in text for k in RELEVANT_KINDS):
                out.add(str(p.relative_to(root)))
    return sorted(out)


def read_verdicts():
    v = {}
    path = HERE / "verdicts.tsv"
    if not path.exists():
        return v
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) < 6:
            continue
        repo, file, rule, ln, verdict, reason = parts[:6]
        v[(repo, file, rule, ln)] = (verdict, reason)
    return v


def verdict_of(verdicts, repo, f):
    return verdicts.get((repo, f["file"], f["rule"], str(f["line"]))) or verdicts.get(
        (repo, f["file"], f["rule"], "*")
    )


def totals_of(findings, verdicts):
    t = collections.Counter()
    for f in findings:
        v = verdict_of(verdicts, f["repo"], f)
        t[(f["severity"], v[0] if v else "?")] += 1
    return t


def tables(before_dir: Path, after_dir: Path) -> str:
    """Markdown: totals before/after, the after findings one per row, the before findings
    grouped by repository, rule, verdict and reason."""
    verdicts = read_verdicts()
    before = json.loads((before_dir / "findings.json").read_text())
    after = json.loads((after_dir / "findings.json").read_text())
    tb, ta = totals_of(before, verdicts), totals_of(after, verdicts)
    out = [
        "| | before: errors | after: errors | before: warnings | after: warnings |",
        "|---|---|---|---|---|",
    ]
    for v, label in (("act", "true, worth acting on"), ("useless", "true, nobody acts"), ("false", "false"), ("?", "not judged")):
        out.append(
            f"| {label} | {tb[('error', v)]} | {ta[('error', v)]} | {tb[('warning', v)]} | {ta[('warning', v)]} |"
        )
    out.append(
        f"| **total** | {sum(n for (s, _), n in tb.items() if s == 'error')} | {sum(n for (s, _), n in ta.items() if s == 'error')} "
        f"| {sum(n for (s, _), n in tb.items() if s == 'warning')} | {sum(n for (s, _), n in ta.items() if s == 'warning')} |"
    )
    out += ["", "### After: every error and warning", "", "| repo | file | line | rule | severity | verdict | reason |", "|---|---|---|---|---|---|---|"]
    for f in sorted(after, key=lambda f: (f["repo"], f["file"], f["line"], f["rule"])):
        v = verdict_of(verdicts, f["repo"], f) or ("?", "")
        out.append(f"| {f['repo']} | `{f['file']}` | {f['line']} | `{f['rule']}` | {f['severity']} | {v[0]} | {v[1]} |")
    out += ["", "### Before: every error and warning, grouped", "", "| repo | rule | severity | verdict | reason | count | example file |", "|---|---|---|---|---|---|---|"]
    groups = collections.OrderedDict()
    for f in sorted(before, key=lambda f: (f["repo"], f["rule"], f["severity"], f["file"], f["line"])):
        v = verdict_of(verdicts, f["repo"], f) or ("?", "")
        k = (f["repo"], f["rule"], f["severity"], v[0], v[1])
        groups.setdefault(k, []).append(f)
    for (repo, rule, sev, verdict, reason), fs in groups.items():
        out.append(f"| {repo} | `{rule}` | {sev} | {verdict} | {reason} | {len(fs)} | `{fs[0]['file']}` |")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--mirrors", default="/work/.mirror")
    ap.add_argument("--repos", default="/tmp/repos")
    ap.add_argument("--out", default="/tmp/precision")
    ap.add_argument("--extract", action="store_true")
    ap.add_argument("--per-file", action="store_true")
    ap.add_argument("--only", help="comma-separated repo names (owner/name)")
    ap.add_argument(
        "--tables",
        nargs=2,
        metavar=("BEFORE_DIR", "AFTER_DIR"),
        help="write the tables of docs/precision.md from two earlier runs' findings.json and exit",
    )
    ap.add_argument("extra", nargs="*")
    a = ap.parse_args()
    if a.tables:
        print(tables(Path(a.tables[0]), Path(a.tables[1])))
        return
    binary = Path(a.bin).resolve()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    repos = read_repos()
    if a.only:
        keep = set(a.only.split(","))
        repos = [r for r in repos if r[0] in keep]
    verdicts = read_verdicts()
    all_findings = []
    perfile = []
    counts = collections.Counter()
    for repo, commit in repos:
        dest = Path(a.repos) / repo.replace("/", "+")
        if a.extract or not dest.exists():
            mirror = Path(a.mirrors) / repo.replace("/", "+") / "repo"
            n, missing = extract(mirror, commit, dest)
            print(f"{repo}: {n} files extracted, {missing} blobs absent from the mirror", file=sys.stderr)
        res, err = lint(binary, dest, ["."], a.extra)
        if res is None:
            print(f"{repo}: whole-repository lint failed: {err[:300]}", file=sys.stderr)
            continue
        by_file = collections.defaultdict(list)
        for f in res["findings"]:
            f["file"] = norm(f["file"])
            by_file[f["file"]].append(f)
            if f["severity"] in ("error", "warning"):
                f["repo"] = repo
                all_findings.append(f)
                counts[(f["severity"], repo)] += 1
        if a.per_file:
            files = candidates(dest, by_file.keys())
            for rel in files:
                alone, err = lint(binary, dest, [rel], a.extra)
                if alone is None:
                    perfile.append({"repo": repo, "file": rel, "failed": err[:300]})
                    continue
                mine = [f for f in alone["findings"] if norm(f["file"]) == rel]
                # By design, not a difference: a named template gets one info saying it is not
                # linted, where the walk leaves it out (docs/configuration.md, "Excludes").
                mine = [
                    f
                    for f in mine
                    if not (
                        f["rule"] == "not-kubernetes-object"
                        and f["message"].startswith(("Helm chart template", "Ansible role template"))
                        and not by_file.get(rel)
                    )
                ]
                folder = by_file.get(rel, [])
                a_keys = collections.Counter(key(f) for f in mine)
                b_keys = collections.Counter(key(f) for f in folder)
                only_alone = a_keys - b_keys
                only_folder = b_keys - a_keys
                if only_alone or only_folder:
                    def pick(fs, ks):
                        return [
                            {k: f[k] for k in ("rule", "severity", "line", "message")}
                            for f in fs
                            if key(f) in ks
                        ]

                    perfile.append(
                        {
                            "repo": repo,
                            "file": rel,
                            "only_alone": pick(mine, only_alone),
                            "only_folder": pick(folder, only_folder),
                        }
                    )
                counts[("perfile-files", repo)] += 1
    (out / "findings.json").write_text(json.dumps(all_findings, indent=1))
    (out / "perfile.json").write_text(json.dumps(perfile, indent=1))

    # The judgement table.
    lines = ["| repo | file | line | rule | severity | verdict | reason |", "|---|---|---|---|---|---|---|"]
    totals = collections.Counter()
    unjudged = []
    for f in sorted(all_findings, key=lambda f: (f["repo"], f["file"], f["line"], f["rule"])):
        v = verdict_of(verdicts, f["repo"], f)
        if v is None:
            unjudged.append(f)
            verdict, reason = "?", ""
        else:
            verdict, reason = v
        totals[(f["severity"], verdict)] += 1
        lines.append(
            f"| {f['repo']} | `{f['file']}` | {f['line']} | `{f['rule']}` | {f['severity']} | {verdict} | {reason} |"
        )
    summary = ["| severity | act | useless | false | unjudged |", "|---|---|---|---|---|"]
    for sev in ("error", "warning"):
        summary.append(
            f"| {sev} | {totals[(sev, 'act')]} | {totals[(sev, 'useless')]} | {totals[(sev, 'false')]} | {totals[(sev, '?')]} |"
        )
    pf_files = sum(v for (k, _), v in counts.items() if k == "perfile-files")
    pf_alone = sum(len(d.get("only_alone", [])) for d in perfile)
    pf_folder = sum(len(d.get("only_folder", [])) for d in perfile)
    pf_failed = sum(1 for d in perfile if "failed" in d)
    report = [
        f"repositories: {len(repos)}",
        "",
        *summary,
        "",
        f"per-file pass: {pf_files} files linted alone; findings only alone: {pf_alone}; "
        f"only in the whole-repository pass: {pf_folder}; files whose lint failed: {pf_failed}",
        "",
        *lines,
    ]
    (out / "report.md").write_text("\n".join(report) + "\n")
    print("\n".join(report[:8]))
    if unjudged:
        print(f"{len(unjudged)} finding(s) without a verdict (see {out}/report.md)", file=sys.stderr)


if __name__ == "__main__":
    main()
