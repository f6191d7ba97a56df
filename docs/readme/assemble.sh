#!/usr/bin/env bash
# Rebuilds README.md from the sections in this folder (edit the sections, then run this).
set -euo pipefail
cd "$(dirname "$0")/../.."
{
  cat docs/readme/00-intro.md; echo
  for f in reader datasets features models engine eval evaluation-results 99-dev; do
    if [ -f "docs/readme/$f.md" ]; then cat "docs/readme/$f.md"; echo; fi
  done
} > README.md
