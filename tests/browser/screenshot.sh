#!/bin/sh
# Screenshot an HTML report with headless Chromium, as tests/report_browser.rs does.
# Usage: tests/browser/screenshot.sh REPORT.html OUT.png [WIDTH,HEIGHT]
# Used to look at the report while changing it and to make README images; the test itself
# does not call this script.
set -eu
page=$(realpath "$1")
out=$(realpath -m "$2")
size=${3:-1280,2400}
browser=${CHROMIUM:-/usr/bin/chromium}
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
"$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --disable-dev-shm-usage --hide-scrollbars --user-data-dir="$profile" \
  --screenshot="$out" --window-size="$size" "file://$page" >/dev/null 2>&1
echo "$out"
