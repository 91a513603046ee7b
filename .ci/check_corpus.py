#!/usr/bin/env python3
"""Check `rollgate lint <corpus> --format json` against testdata/corpus-known-errors.tsv.

usage: check_corpus.py CORPUS_DIR KNOWN_TSV EXIT_CODE JSON_FILE STDERR_FILE

Fails (exit 1) when rollgate crashed (exit code other than 0/1, or a panic on stderr), when not
every manifest file of the corpus was linted, when an error finding is not listed in the TSV, or
when a listed entry no longer occurs (stale). Uses only the standard library.
"""

import json
import os
import sys


def rel(corpus, name):
    corpus = os.path.normpath(corpus)
    name = os.path.normpath(name)
    if name.startswith(corpus + os.sep):
        return name[len(corpus) + 1:]
    return name


def main():
    corpus, known_tsv, code, json_file, stderr_file = sys.argv[1:6]
    problems = []

    code = int(code)
    stderr = open(stderr_file, encoding="utf-8", errors="replace").read()
    if code not in (0, 1):
        problems.append(f"rollgate exited {code} (want 0 or 1)")
    if "panicked" in stderr or "RUST_BACKTRACE" in stderr:
        problems.append("rollgate panicked:\n" + stderr)
    elif stderr.strip():
        print("rollgate stderr:\n" + stderr)

    try:
        out = json.load(open(json_file, encoding="utf-8"))
    except ValueError as e:
        print(f"FAIL: output is not JSON: {e}")
        return 1

    manifests = 0
    for _, dirs, files in os.walk(corpus):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        manifests += sum(
            1 for f in files
            if not f.startswith(".") and f.endswith((".yaml", ".yml", ".json"))
        )
    summary = out["summary"]
    if summary["files"] != manifests:
        problems.append(f"linted {summary['files']} files, the corpus has {manifests}")

    known = {}
    for i, line in enumerate(open(known_tsv, encoding="utf-8"), 1):
        line = line.rstrip("\n")
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) != 4 or not cols[3].strip() or not cols[1].isdigit():
            problems.append(f"{known_tsv}:{i}: want file, line, rule, reason (tab-separated)")
            continue
        key = (cols[0], int(cols[1]), cols[2])
        if key in known:
            problems.append(f"{known_tsv}:{i}: duplicate entry")
        known[key] = cols[3]

    seen = set()
    unexpected = []
    for f in out["findings"]:
        if f["severity"] != "error":
            continue
        key = (rel(corpus, f["file"] or "-"), f["line"] or 0, f["rule"])
        if key in known:
            seen.add(key)
        else:
            unexpected.append(f"{key[0]}:{key[1]}:{f['column']}: {f['message']} [{key[2]}]")
    stale = sorted(set(known) - seen)
    if unexpected:
        problems.append(
            "error findings not in testdata/corpus-known-errors.tsv (a rollgate bug, or an "
            "upstream bug to check by reading the file and then list with its reason):\n  "
            + "\n  ".join(unexpected)
        )
    if stale:
        problems.append(
            "entries of testdata/corpus-known-errors.tsv that no longer occur (remove them):\n  "
            + "\n  ".join(f"{f}:{l} [{r}]" for f, l, r in stale)
        )

    print(
        "corpus: {files} files, {documents} documents, {objects} objects; "
        "{errors} errors ({known} known), {warnings} warnings, {infos} infos, "
        "{suppressed} suppressed".format(known=len(seen), **summary)
    )
    if problems:
        for p in problems:
            print("FAIL: " + p)
        return 1
    print("corpus lint: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
