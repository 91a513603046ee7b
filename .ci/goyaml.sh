#!/usr/bin/env bash
# Builds .ci/goyaml/main.go (go-yaml v2 as kubectl and the apiserver decode YAML) offline from
# Debian packages, in GOPATH mode, and caches the binary outside the repository. Prints its path.
# tests/goyaml.rs runs it (ROLLGATE_GOYAML names the binary; .ci/run requires the test).
#
#   ROLLGATE_CACHE  cache folder (default ~/.cache/rollgate)
set -euo pipefail
CACHE=${ROLLGATE_CACHE:-$HOME/.cache/rollgate}
BIN="$CACHE/goyaml-decode"
SRC="$(cd "$(dirname "$0")" && pwd)/goyaml/main.go"
if [ -x "$BIN" ] && [ "$BIN" -nt "$SRC" ]; then
  echo "$BIN"
  exit 0
fi
if ! command -v go >/dev/null || [ ! -d /usr/share/gocode/src/gopkg.in/yaml.v2 ] \
   || [ ! -d /usr/share/gocode/src/github.com/ghodss/yaml ]; then
  echo "[goyaml] installing golang-go, golang-gopkg-yaml.v2-dev, golang-github-ghodss-yaml-dev" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go golang-gopkg-yaml.v2-dev \
    golang-github-ghodss-yaml-dev >&2
fi
mkdir -p "$CACHE/goyaml-build/src/goyaml-decode" "$CACHE/goyaml-build/cache"
cp "$SRC" "$CACHE/goyaml-build/src/goyaml-decode/main.go"
(cd "$CACHE/goyaml-build/src/goyaml-decode" \
  && GO111MODULE=off GOPROXY=off GOCACHE="$CACHE/goyaml-build/cache" \
     GOPATH="$CACHE/goyaml-build:/usr/share/gocode" go build -o "$BIN.tmp" .) >&2
mv "$BIN.tmp" "$BIN"
echo "$BIN"
