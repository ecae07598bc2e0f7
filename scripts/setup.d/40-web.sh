#!/usr/bin/env bash
# The web dashboard's chart library: uPlot from the npm registry (`npm pack`, pinned version
# and checksum), unpacked into the gitignored
#   .setup/web/uplot/dist/uPlot.iife.min.js, uPlot.min.css
# build.rs embeds those two files in the binary (app::web serves them as /assets/uplot.*);
# nothing is loaded from a CDN at run time. Without them the dashboard works and says that
# its charts need this set-up. Idempotent: a second run finds the pinned version and stops.
set -euo pipefail
cd "$(dirname "$0")/../.."

UPLOT_VERSION=1.6.32
# The registry's sha512 of uplot-1.6.32.tgz (`npm view uplot@1.6.32 dist.integrity`).
UPLOT_INTEGRITY=sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxBuLyW1AHtpm6IKTXImkbLgkMy+jabjLgSLMasNuGGzQm/ep3tOkyTxpiQIw==
dest=.setup/web/uplot
stamp="$dest/.aicall-version"

if [ "$(cat "$stamp" 2>/dev/null)" = "$UPLOT_VERSION" ] \
  && [ -s "$dest/dist/uPlot.iife.min.js" ] && [ -s "$dest/dist/uPlot.min.css" ]; then
  echo "web: uPlot $UPLOT_VERSION present ($dest)"
  exit 0
fi

if ! command -v npm >/dev/null; then
  if [ "$(id -u)" -eq 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends npm >/dev/null
    echo "web: npm installed from Debian"
  else
    echo "web: npm is missing; install it as root: apt-get install -y npm" >&2
    exit 1
  fi
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "web: fetching uplot@$UPLOT_VERSION from the npm registry"
(cd "$tmp" && npm pack --silent "uplot@$UPLOT_VERSION" >/dev/null)
tgz="$tmp/uplot-$UPLOT_VERSION.tgz"
got=$(python3 -c 'import base64, hashlib, sys
print("sha512-" + base64.b64encode(hashlib.sha512(open(sys.argv[1], "rb").read()).digest()).decode())' "$tgz")
if [ "$got" != "$UPLOT_INTEGRITY" ]; then
  echo "web: uplot-$UPLOT_VERSION.tgz has checksum $got, expected $UPLOT_INTEGRITY" >&2
  exit 1
fi
rm -rf "$dest"
mkdir -p "$dest"
tar -xzf "$tgz" -C "$dest" --strip-components=1 package/dist package/LICENSE
echo "$UPLOT_VERSION" >"$stamp"
echo "web: uPlot $UPLOT_VERSION unpacked into $dest"
