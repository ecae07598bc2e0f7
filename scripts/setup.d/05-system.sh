#!/usr/bin/env bash
# System packages from Debian that the tests and the dashboard need:
#   chromium, chromium-driver   tests/web.rs drives the dashboard in a real headless Chromium
#                               over WebDriver (chromedriver)
#   fonts-wqy-microhei          a Chinese font, so the dashboard's Mandarin labels render in
#                               Chromium (and in docs/dashboard.png) instead of empty boxes
# Installed with apt-get when missing and running as root; otherwise prints the command to run
# and fails. Idempotent: a second run finds them installed and does nothing.
set -euo pipefail

packages=(chromium chromium-driver fonts-wqy-microhei)
missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "system: ${packages[*]} present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "system: missing ${missing[*]}; install them as root:" >&2
  echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "system: installing ${missing[*]} from Debian"
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "system: ${missing[*]} installed"
