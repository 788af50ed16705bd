#!/usr/bin/env bash
# verify-generated.sh: regenerate code and manifests (make generate manifests) and fail if that
# changed any file. Works on a dirty tree: it compares checksums before and after, not git state.
set -euo pipefail
cd "$(dirname "$0")/.."
paths=(api config charts)
sums() { find "${paths[@]}" -type f 2>/dev/null | LC_ALL=C sort | xargs sha256sum; }
before=$(sums)
make --no-print-directory generate manifests >/dev/null
after=$(sums)
if [ "$before" != "$after" ]; then
  echo "generated files were out of date (now regenerated; review and commit them):"
  diff <(echo "$before") <(echo "$after") | sed -n 's/^> [0-9a-f]*  /  /p'
  exit 1
fi
echo "generated files are up to date"
