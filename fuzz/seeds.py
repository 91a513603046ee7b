#!/usr/bin/env python3
"""Seed inputs for the fuzz targets, from testdata/ and the upstream corpus (../shared/corpus).

    python3 fuzz/seeds.py OUT_DIR [CORPUS_DIR]

writes OUT_DIR/<target>/<n> files in each target's input format (see fuzz/fuzz_targets/*.rs).
`.ci/fuzz` merges them with the committed corpus (fuzz/corpus/<target>) before each run; the
committed corpus is the minimized result (`cargo fuzz cmin`).
"""
import hashlib
import os
import re
import sys

try:
    import yaml  # PyYAML, only to pull queries and conditions out of manifests
except ImportError:  # pragma: no cover
    yaml = None

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def manifests(dirs):
    for d in dirs:
        for base, subdirs, files in os.walk(d):
            subdirs[:] = sorted(s for s in subdirs if not s.startswith("."))
            for f in sorted(files):
                if f.endswith((".yaml", ".yml", ".json")):
                    yield os.path.join(base, f)


def walk(v, out):
    """Queries, conditions and label regexes found anywhere in a loaded document."""
    if isinstance(v, dict):
        for k, x in v.items():
            if isinstance(x, str):
                if k == "query":
                    out["query"].add(x)
                elif k in ("successCondition", "failureCondition"):
                    out["cond"].add(x)
            walk(x, out)
    elif isinstance(v, list):
        for x in v:
            walk(x, out)


def main():
    out_dir = sys.argv[1]
    corpus = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "..", "shared", "corpus")
    dirs = [os.path.join(ROOT, "testdata"), os.path.join(ROOT, "rules")]
    if os.path.isdir(corpus):
        dirs.append(corpus)
    seeds = {t: set() for t in ("manifest_load", "lint", "promql_template", "regexlang",
                                "argo_condition", "admission_review", "fix")}
    found = {"query": set(), "cond": set()}
    for path in manifests(dirs):
        with open(path, "rb") as f:
            data = f.read()
        if len(data) > 64 * 1024:
            continue
        seeds["manifest_load"].add(data)
        seeds["lint"].add(data)
        seeds["fix"].add(data)
        seeds["admission_review"].add(b"\x01" + data)
        if path.endswith(".json") and "/admission/" in path:
            seeds["admission_review"].add(b"\x00" + data)
        if yaml is not None:
            try:
                for doc in yaml.safe_load_all(data):
                    walk(doc, found)
            except Exception:
                pass
    # The rule docs' YAML examples are in Markdown.
    for path in sorted(os.listdir(os.path.join(ROOT, "rules"))):
        text = open(os.path.join(ROOT, "rules", path), encoding="utf-8").read()
        for block in re.findall(r"```yaml\n(.*?)```", text, re.S):
            b = block.encode()
            seeds["manifest_load"].add(b)
            seeds["lint"].add(b)
            seeds["fix"].add(b)
            seeds["admission_review"].add(b"\x01" + b)
            if yaml is not None:
                try:
                    for doc in yaml.safe_load_all(block):
                        walk(doc, found)
                except Exception:
                    pass
    for q in found["query"]:
        for sel in range(5):
            seeds["promql_template"].add(bytes([sel]) + q.encode())
        for m in re.finditer(r'([a-z_]+)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"', q):
            op = {"=~": "~", "!~": "^", "!=": "!", "=": "="}[m.group(2)]
            seeds["regexlang"].add(f"podinfo\n{op}{m.group(3)}".encode())
    for c in found["cond"]:
        seeds["argo_condition"].add(c.encode())
    for t, items in seeds.items():
        d = os.path.join(out_dir, t)
        os.makedirs(d, exist_ok=True)
        for data in items:
            name = hashlib.sha1(data).hexdigest()
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        print(f"{t}: {len(items)} seeds")


if __name__ == "__main__":
    main()
