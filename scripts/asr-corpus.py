#!/usr/bin/env python3
"""Speaks labelled replies over a telephone line, for intent training and evaluation on what
aicall's recogniser really hears.

Reads an intent TSV (a header with text and label; source and prompt kept when present),
picks its Mandarin rows (all, or --sample N spread over labels, seeded), speaks each with one
of Kokoro's five voices at a varied speed (the renderer of scripts/render_speech.py), and
sends it through a telephone band: 8 kHz, G.711 mu-law companding, 8-bit. Writes the 8 kHz
WAVs and OUT_DIR/spoken.tsv (source, prompt, text, label, audio), which
`aicall eval intent OUT_DIR/spoken.tsv --transcribe` scores and, with --write-transcripts,
turns into training rows of transcripts (models/corpus/asr.tsv is made that way and
committed, so nothing here runs in CI).

    .setup/tts/venv/bin/python scripts/asr-corpus.py models/corpus/train.tsv /tmp/asr --sample 1400
    .setup/tts/venv/bin/python scripts/asr-corpus.py models/corpus/eval/test-phrasing.tsv /tmp/spoken

English rows are skipped: the offline voices speak Mandarin only.
"""
import argparse
import random
import re
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import render_speech as rs  # noqa: E402

VOICES = ["jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo"]
RATE = 8_000
MU = 255.0


def read_rows(path):
    rows, cols = [], None
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        cells = line.split("\t")
        if cols is None:
            if "text" not in cells or "label" not in cells:
                sys.exit(f"{path}: the first line must be a header naming text and label")
            cols = cells
            continue
        rows.append(dict(zip(cols, cells)))
    return rows


def speakable(text):
    return re.search(r"[\u4e00-\u9fff]", text) and not re.search(r"[A-Za-z]", text)


def telephone(audio):
    """mu-law round trip of 8 kHz audio in [-1, 1]: 8 bits, as G.711 carries it."""
    x = np.clip(audio, -1.0, 1.0)
    y = np.sign(x) * np.log1p(MU * np.abs(x)) / np.log1p(MU)
    y = np.round(y * 127.0) / 127.0
    return np.sign(y) * ((1.0 + MU) ** np.abs(y) - 1.0) / MU


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("tsv", type=Path)
    p.add_argument("out_dir", type=Path)
    p.add_argument("--sample", type=int, default=0, help="rows to pick (0 = all)")
    p.add_argument("--seed", type=int, default=20261205)
    p.add_argument("--sources", default="", help="comma-separated sources to draw from")
    args = p.parse_args()
    rng = random.Random(args.seed)
    rows = [r for r in read_rows(args.tsv) if speakable(r["text"])]
    if args.sources:
        keep = set(args.sources.split(","))
        rows = [r for r in rows if r.get("source", "") in keep]
    if args.sample and args.sample < len(rows):
        by_label = {}
        for r in rows:
            by_label.setdefault(r["label"], []).append(r)
        for v in by_label.values():
            rng.shuffle(v)
        picked, i = [], 0
        while len(picked) < args.sample:
            for v in by_label.values():
                if i < len(v) and len(picked) < args.sample:
                    picked.append(v[i])
            i += 1
        rows = picked
    args.out_dir.mkdir(parents=True, exist_ok=True)
    tts = rs.Kokoro()
    out = ["source\tprompt\ttext\tlabel\taudio"]
    started = time.monotonic()
    for n, r in enumerate(rows):
        voice = VOICES[n % len(VOICES)]
        speed = round(rng.uniform(0.9, 1.2), 2)
        name = f"{n:05d}_{voice}.wav"
        try:
            audio = tts.speak(r["text"], voice, speed)
        except rs.SpeechError as e:
            print(f"skipped {r['text']!r}: {e}", file=sys.stderr)
            continue
        audio = rs.normalise(rs.trim_silence(rs.resample(audio, RATE), RATE), RATE)
        rs.write_wav(args.out_dir / name, telephone(audio), RATE)
        out.append("\t".join([r.get("source", ""), r.get("prompt", ""), r["text"], r["label"],
                              name]))
        if n % 50 == 0:
            print(f"{n}/{len(rows)} {time.monotonic() - started:.0f} s", flush=True)
    (args.out_dir / "spoken.tsv").write_text("\n".join(out) + "\n", encoding="utf-8")
    print(f"{args.out_dir}: {len(out) - 1} clips in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
