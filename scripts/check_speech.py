#!/usr/bin/env python3
"""Check rendered speech with aicall's own Whisper and intent model, at 16 kHz and over a
telephone round trip (8 kHz, G.711 mu-law).

For every clip in SPEECH_DIR/index.tsv (written by render_speech.py) it prints the transcript
of `aicall transcribe --lang zh` and its CER against the text, at both rates; for the clips named
in CHECKS_TSV (clip<TAB>bot prompt clip before it<TAB>expected intents, `a|b` or `*`) also the
intent `aicall intent TRANSCRIPT --prompt "PROMPT TEXT"` gives. Run with the set-up venv:

    .setup/tts/venv/bin/python scripts/check_speech.py .setup/speech examples/insurance/speech-checks.tsv

CER counts letters, digits and CJK characters only (as `aicall bench asr` does), so "39" for
"三十九" counts as errors.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np

NOW = "2026-11-23T10:00:00+08:00"  # a fixed call time, so callback slots are comparable


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("speech_dir", type=Path, help="folder with index.tsv and the WAVs")
    p.add_argument("checks", type=Path, nargs="?", help="clip<TAB>prompt clip<TAB>expected intents")
    target = os.environ.get("CARGO_TARGET_DIR", "target")
    p.add_argument("--aicall", type=Path, default=Path(target) / "debug" / "aicall",
                   help="aicall binary (default: $CARGO_TARGET_DIR/debug/aicall; `cargo build` first)")
    return p.parse_args()


def read_tsv(path, columns):
    rows = []
    for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) < columns:
            sys.exit(f"check_speech: {path}:{no}: expected {columns} tab-separated columns")
        rows.append(cols)
    return rows


def units(text):
    return [c.lower() for c in text if c.isalnum()]


def cer(reference, hypothesis):
    """Character edit distance over the reference's length, in percent."""
    r, h = units(reference), units(hypothesis)
    prev = list(range(len(h) + 1))
    for i, x in enumerate(r, 1):
        cur = [i]
        for j, y in enumerate(h, 1):
            cur.append(min(prev[j - 1] + (x != y), prev[j] + 1, cur[j - 1] + 1))
        prev = cur
    return 100.0 * prev[-1] / max(1, len(r))


def telephone_copy(src, dst):
    """Resamples to 8 kHz and companders through G.711 mu-law, as a phone call would."""
    import soxr

    with wave.open(str(src)) as w:
        rate = w.getframerate()
        audio = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768
    audio = soxr.resample(audio, rate, 8000)
    mu = 255.0
    y = np.round(np.sign(audio) * np.log1p(mu * np.abs(audio)) / np.log1p(mu) * 127) / 127
    audio = np.sign(y) * ((1 + mu) ** np.abs(y) - 1) / mu
    with wave.open(str(dst), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(np.clip(np.round(audio * 32767), -32768, 32767).astype("<i2").tobytes())


def run(aicall, *args):
    out = subprocess.run([str(aicall), *args], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"check_speech: aicall {args[0]} failed: {out.stderr.strip()[-500:]}")
    return out.stdout


def transcribe(aicall, wav):
    return json.loads(run(aicall, "transcribe", str(wav), "--lang", "zh", "--json"))["text"]


def intent(aicall, text, prompt):
    if not units(text):
        return "(empty)"  # nothing to classify (aicall intent refuses an empty reply)
    out = run(aicall, "intent", text, "--prompt", prompt, "--now", NOW)
    label = re.search(r"^label: (\S+)", out, re.M)
    slot = re.search(r"^callback: (.+)$", out, re.M)
    label = label.group(1) if label else "?"
    return label + (f" [{slot.group(1)}]" if slot and slot.group(1) != "none" else "")


def matches(label, expected):
    return expected == "*" or label.split()[0] in expected.split("|")


def main():
    args = parse_args()
    if not args.aicall.exists():
        sys.exit(f"check_speech: {args.aicall} not found; run `cargo build` or pass --aicall")
    clips = {r[0]: r[3] for r in read_tsv(args.speech_dir / "index.tsv", 6)[1:]}
    checks = {r[0]: (r[1], r[2]) for r in read_tsv(args.checks, 3)} if args.checks else {}
    totals = {}  # (folder, band) -> [errors, characters]
    good, tried = 0, 0
    print("clip\tCER 16k\ttranscript 16k\tintent 16k\tCER 8k\ttranscript 8k\tintent 8k")
    with tempfile.TemporaryDirectory() as tmp:
        for file, text in clips.items():
            narrow = Path(tmp) / "8k.wav"
            telephone_copy(args.speech_dir / file, narrow)
            cells = []
            for band, wav in (("16k", args.speech_dir / file), ("8k", narrow)):
                hyp = transcribe(args.aicall, wav)
                e = cer(text, hyp)
                if file in checks and checks[file][1] == "*":
                    label = intent(args.aicall, hyp, clips[checks[file][0]])
                    cells += [f"{e:.0f}%", hyp, label]
                    continue  # a backchannel: not counted in the CER
                total = totals.setdefault((Path(file).parts[0], band), [0.0, 0])
                total[0] += e * len(units(text)) / 100
                total[1] += len(units(text))
                label = ""
                if file in checks:
                    prompt_file, expected = checks[file]
                    label = intent(args.aicall, hyp, clips[prompt_file])
                    tried += 1
                    good += matches(label, expected)
                    label += "" if matches(label, expected) else f" (want {expected})"
                cells += [f"{e:.0f}%", hyp, label]
            print("\t".join([file, *cells]), flush=True)
    for (folder, band), (errors, n) in sorted(totals.items()):
        print(f"CER {folder}/ {band}: {100 * errors / max(1, n):.1f}% over {n} characters")
    if tried:
        print(f"intents as expected: {good}/{tried}")


if __name__ == "__main__":
    main()
