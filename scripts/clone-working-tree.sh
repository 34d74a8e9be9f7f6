#!/usr/bin/env bash
# Clones this repository's working tree as it is (committed or not, untracked files included, ignored ones such as
# node_modules, dist and .wacloud left out) into DEST, a directory that must not exist yet. Used by .ci/run (the
# suite runs from such a clone, alone in an empty temporary directory) and by test/integration/repo-stands-alone.test.ts.
# The working tree becomes a commit object through a private index: the real index, branch and files are untouched.
#
#   scripts/clone-working-tree.sh DEST
set -euo pipefail
dest="${1:?usage: scripts/clone-working-tree.sh DEST}"
if [ -e "$dest" ]; then
  echo "clone-working-tree: $dest already exists; give a path that does not exist yet" >&2
  exit 2
fi
cd "$(dirname "$0")/.."
index="$(mktemp)"
trap 'rm -f "$index"' EXIT
cp "$(git rev-parse --git-path index)" "$index"
GIT_INDEX_FILE="$index" git add -A
tree="$(GIT_INDEX_FILE="$index" git write-tree)"
snapshot="$(git commit-tree "$tree" -p HEAD -m "working tree snapshot")"
# A local clone links the whole object store, so the unreferenced snapshot commit is there to check out.
git clone -q --no-checkout . "$dest"
git -C "$dest" checkout -q --detach "$snapshot"
echo "$snapshot"
