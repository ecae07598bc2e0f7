#!/usr/bin/env bash
# Media: what the `silero` cargo feature (the second VAD detector) needs, from the package
# registries only, into gitignored folders:
#   models/silero/silero_vad.onnx   from the PyPI wheel silero-vad==5.1.2 (checksum pinned in
#                                   src/media/silero.rs)
#   .setup/sherpa/sherpa_onnx/lib/  sherpa-onnx 1.12.9 shared libraries (C API + onnxruntime)
#                                   from the PyPI wheel sherpa-onnx-core==1.12.9; the build
#                                   finds them through SHERPA_LIB_PATH (.cargo/config.toml)
#   libclang                        Debian's libclang-dev, for sherpa-rs-sys's bindgen
# Idempotent: a second run checks and does nothing new.
set -euo pipefail
cd "$(dirname "$0")/../.."

SILERO_VERSION=5.1.2
SILERO_SHA256=2623a2953f6ff3d2c1e61740c6cdb7168133479b267dfef114a4a3cc5bdd788f
SHERPA_VERSION=1.12.9
model=models/silero/silero_vad.onnx
sherpa=.setup/sherpa/sherpa_onnx
tmp=.setup/tmp-media
mkdir -p models/silero .setup
trap 'rm -rf "$tmp"' EXIT

extract() { # wheel member destination
  python3 - "$1" "$2" "$3" <<'PY'
import sys, zipfile, shutil
wheel, member, dest = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if n == member or n.startswith(member.rstrip('/') + '/')]
    if not names:
        sys.exit(f"{wheel}: {member} not found")
    for n in names:
        if n.endswith('/'):
            continue
        out = dest + n[len(member):] if member.endswith('/') else dest
        import os
        os.makedirs(os.path.dirname(out) or '.', exist_ok=True)
        with z.open(n) as src, open(out, 'wb') as dst:
            shutil.copyfileobj(src, dst)
PY
}

if [ -f "$model" ] && echo "$SILERO_SHA256  $model" | sha256sum -c --quiet - 2>/dev/null; then
  echo "silero_vad.onnx $SILERO_VERSION present"
else
  rm -rf "$tmp" && mkdir -p "$tmp"
  python3 -m pip download --quiet --no-deps "silero-vad==$SILERO_VERSION" -d "$tmp"
  extract "$tmp"/silero_vad-"$SILERO_VERSION"-*.whl silero_vad/data/silero_vad.onnx "$model"
  echo "$SILERO_SHA256  $model" | sha256sum -c --quiet -
  echo "silero_vad.onnx $SILERO_VERSION fetched"
fi

if [ -f "$sherpa/lib/libsherpa-onnx-c-api.so" ] && [ -f "$sherpa/lib/libonnxruntime.so" ]; then
  echo "sherpa-onnx $SHERPA_VERSION shared libraries present"
else
  rm -rf "$tmp" "$sherpa" && mkdir -p "$tmp" "$sherpa"
  python3 -m pip download --quiet --no-deps --only-binary=:all: \
    --platform manylinux2014_x86_64 "sherpa-onnx-core==$SHERPA_VERSION" -d "$tmp"
  extract "$tmp"/sherpa_onnx_core-"$SHERPA_VERSION"-*.whl sherpa_onnx/lib/ "$sherpa/lib/"
  extract "$tmp"/sherpa_onnx_core-"$SHERPA_VERSION"-*.whl sherpa_onnx/include/ "$sherpa/include/"
  # sherpa-rs-sys links every lib*.so it finds; the C++ API wrapper is not needed.
  rm -f "$sherpa/lib/libsherpa-onnx-cxx-api.so"
  echo "sherpa-onnx $SHERPA_VERSION shared libraries fetched"
fi

if compgen -G '/usr/lib/llvm-*/lib/libclang.so' >/dev/null; then
  echo "libclang present"
else
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends libclang-dev >/dev/null
  echo "libclang installed"
fi
