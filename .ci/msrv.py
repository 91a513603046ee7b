#!/usr/bin/env python3
"""The declared minimum Rust (`rust-version` in Cargo.toml) must be at least every locked
dependency's own `rust-version`: otherwise `cargo install --locked` on the declared toolchain
fails inside a dependency. Run from the repository root:

    python3 .ci/msrv.py            # reads `cargo metadata --format-version 1 --locked`
    python3 .ci/msrv.py FILE.json  # reads saved metadata (the tests use this)

Every package of Cargo.lock counts (normal, build and dev dependencies, on every platform):
the tests and `cargo install` on another OS build them too. This is metadata only: the project's
machines have one toolchain, so nothing is compiled with the declared minimum itself.
Exit 0 when the declaration holds, 1 when a dependency needs more (each one listed), 2 when
the metadata cannot be read or the workspace declares no rust-version.
"""
import json
import subprocess
import sys


def version(text):
    parts = text.strip().split(".")
    nums = []
    for p in parts[:3]:
        if not p.isdigit():
            raise ValueError(f"not a Rust version: {text!r}")
        nums.append(int(p))
    while len(nums) < 3:
        nums.append(0)
    return tuple(nums)


def main(argv):
    if len(argv) > 1:
        with open(argv[1], encoding="utf-8") as f:
            meta = json.load(f)
    else:
        out = subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--locked"],
            check=False,
            capture_output=True,
            text=True,
        )
        if out.returncode != 0:
            sys.stderr.write(out.stderr)
            print("error: cargo metadata --locked failed (is Cargo.lock up to date?)", file=sys.stderr)
            return 2
        meta = json.loads(out.stdout)
    members = set(meta.get("workspace_members", []))
    ours = [p for p in meta["packages"] if p["id"] in members]
    declared = [(p["name"], p.get("rust_version")) for p in ours]
    missing = [name for name, rv in declared if not rv]
    if missing:
        print(f"error: no rust-version in Cargo.toml of {', '.join(missing)}", file=sys.stderr)
        return 2
    ours_min = min(version(rv) for _, rv in declared)
    ours_text = min((rv for _, rv in declared), key=version)
    too_new = []
    highest = ((0, 0, 0), "")
    for p in meta["packages"]:
        if p["id"] in members or not p.get("rust_version"):
            continue
        v = version(p["rust_version"])
        if v > highest[0]:
            highest = (v, f"{p['name']} {p['version']} ({p['rust_version']})")
        if v > ours_min:
            too_new.append((v, f"{p['name']} {p['version']} needs Rust {p['rust_version']}"))
    if too_new:
        print(f"error: rust-version is {ours_text}, but locked dependencies need more:", file=sys.stderr)
        for _, line in sorted(too_new, reverse=True):
            print(f"  {line}", file=sys.stderr)
        print("raise rust-version in Cargo.toml (and README.md \"Install\") to the highest", file=sys.stderr)
        return 1
    print(
        f"ok: rust-version {ours_text} >= every locked dependency's "
        f"({len(meta['packages']) - len(ours)} packages; highest: {highest[1] or 'none declared'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
