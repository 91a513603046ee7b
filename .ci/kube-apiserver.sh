#!/usr/bin/env bash
# Builds a real kube-apiserver from Debian bookworm's `kubernetes` source package (1.20.2 with
# vendor/), as described in shared/spec/real-components.md, and caches the binary outside the
# repository. Prints the binary's path. Nothing from the Kubernetes tree is committed here.
#
#   ROLLGATE_CACHE  cache folder (default ~/.cache/rollgate)
set -euo pipefail
CACHE=${ROLLGATE_CACHE:-$HOME/.cache/rollgate}
BIN="$CACHE/kube-apiserver"
if [ -x "$BIN" ] && "$BIN" --version >/dev/null 2>&1; then
  echo "$BIN"
  exit 0
fi
mkdir -p "$CACHE/build"
log() { echo "[kube-apiserver] $*" >&2; }

export DEBIAN_FRONTEND=noninteractive
if ! grep -qs deb-src /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null; then
  log "adding deb-src entries"
  sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources \
    > /etc/apt/sources.list.d/rollgate-deb-src.sources
  apt-get update -qq >&2
fi
if ! command -v etcd >/dev/null || [ ! -x /usr/lib/go-1.19/bin/go ] \
   || [ ! -d /usr/share/gocode/src/github.com/modern-go/reflect2 ]; then
  log "installing golang-1.19, etcd-server, rsync and the reflect2/json-iterator packages"
  apt-get install -y -qq golang-1.19 etcd-server rsync dpkg-dev \
    golang-github-modern-go-reflect2-dev golang-github-json-iterator-go-dev >&2
fi

cd "$CACHE/build"
SRC=$(ls -d kubernetes-*/ 2>/dev/null | head -n1 || true)
if [ -z "$SRC" ]; then
  log "fetching the source package"
  apt-get source kubernetes >&2
  SRC=$(ls -d kubernetes-*/ | head -n1)
fi
cd "$SRC"

# The vendored reflect2 1.0.1 segfaults under Go >= 1.18 on the first custom-object create.
log "replacing vendored reflect2 and json-iterator with Debian's"
rm -rf vendor/github.com/modern-go/reflect2 vendor/github.com/json-iterator/go
cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 vendor/github.com/modern-go/reflect2
cp -r /usr/share/gocode/src/github.com/json-iterator/go vendor/github.com/json-iterator/go

export PATH=/usr/lib/go-1.19/bin:$PATH GO111MODULE=off
log "generating openapi (make gen_openapi)"
make gen_openapi >&2
GOPATH_DIR="$PWD/_output/local/go"
PKG_DIR="$GOPATH_DIR/src/k8s.io/kubernetes"
if [ ! -e "$PKG_DIR" ]; then
  mkdir -p "$(dirname "$PKG_DIR")"
  ln -s "$PWD" "$PKG_DIR"
fi
log "compiling (about 3 minutes on 2 cores)"
(cd "$PKG_DIR" && GOPATH="$GOPATH_DIR" CGO_ENABLED=0 go build -o "$BIN.tmp" ./cmd/kube-apiserver) >&2
mv "$BIN.tmp" "$BIN"
echo "$BIN"
