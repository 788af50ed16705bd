#!/usr/bin/env bash
# go-install.sh DEST PACKAGE VERSION: install a Go tool at a pinned version as DEST (e.g.
# bin/controller-gen-v0.21.0). The version is part of DEST, so changing it rebuilds the tool.
set -euo pipefail
dest=$1 pkg=$2 version=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "installing ${pkg}@${version}"
GOBIN="$tmp" GOFLAGS= go install -trimpath "${pkg}@${version}"
mkdir -p "$(dirname "$dest")"
mv "$tmp/$(basename "$pkg")" "$dest"
