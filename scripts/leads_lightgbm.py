"""LightGBM reference for `aicall leads bench` (not a dependency of aicall).

Reads the same CSV, encodes text columns as pandas-free category codes, and prints one JSON
line: best-of-3 fit time with 1 and 2 threads at the bench setting, scoring rows/s, and
stratified 5-fold CV AUC / log loss with early stopping on a 1/7 split of each fold's
training rows (aicall uses 15 %). Needs only lightgbm and numpy.
Usage: python leads_lightgbm.py FILE TARGET EXCLUDE_COMMA_LIST ROUNDS
"""
import csv, io, json, sys, time

import lightgbm as lgb
import numpy as np

path, target, exclude, rounds = sys.argv[1], sys.argv[2], sys.argv[3].split(','), int(sys.argv[4])
text = open(path, newline='', encoding='utf-8-sig').read()
dialect = csv.Sniffer().sniff(text.splitlines()[0], delimiters=';,\t')
rows = list(csv.reader(io.StringIO(text), dialect))
header, rows = rows[0], [r for r in rows[1:] if r]
ti = header.index(target)
y = np.array([1 if r[ti].strip().lower() in ('yes', 'y', 'true', '1') else 0 for r in rows])
cols, cats = [], []
for j, name in enumerate(header):
    if j == ti or name in exclude:
        continue
    vals = [r[j] for r in rows]
    try:
        cols.append(np.array([float(v) if v.strip() else np.nan for v in vals]))
    except ValueError:
        levels = {v: i for i, v in enumerate(sorted(set(vals)))}
        cols.append(np.array([levels[v] for v in vals], dtype=float))
        cats.append(len(cols) - 1)
X = np.column_stack(cols)

def auc(t, s):
    order = np.argsort(s, kind='mergesort')
    ranks = np.empty(len(s)); ranks[order] = np.arange(1, len(s) + 1)
    # average ranks of ties
    ss = s[order]; i = 0
    while i < len(ss):
        j = i
        while j + 1 < len(ss) and ss[j + 1] == ss[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1; i = j + 1
    npos = t.sum(); nneg = len(t) - npos
    return (ranks[t == 1].sum() - npos * (npos + 1) / 2) / (npos * nneg)

def logloss(t, p):
    p = np.clip(p, 1e-15, 1 - 1e-15)
    return float(-np.mean(t * np.log(p) + (1 - t) * np.log(1 - p)))

def strat_folds(t, k, seed):
    rng = np.random.default_rng(seed)
    fold = np.empty(len(t), dtype=int)
    for c in (1, 0):
        idx = np.flatnonzero(t == c); rng.shuffle(idx)
        fold[idx] = np.arange(len(idx)) % k
    return fold

base = dict(objective='binary', learning_rate=0.05, num_leaves=15, min_data_in_leaf=50,
            feature_fraction=0.8, feature_fraction_seed=1, verbose=-1, max_bin=255)
def dataset(idx):
    return lgb.Dataset(X[idx], y[idx], categorical_feature=cats, free_raw_data=False)
out = {'version': lgb.__version__}
allrows = np.arange(len(y))
for threads in (1, 2):
    best = 1e9
    for _ in range(3):
        t0 = time.perf_counter()
        lgb.train(dict(base, num_threads=threads), dataset(allrows), num_boost_round=rounds)
        best = min(best, time.perf_counter() - t0)
    out[f'fit_{threads}t'] = best
model = lgb.train(dict(base, num_threads=2), dataset(allrows), num_boost_round=rounds)
t0 = time.perf_counter(); model.predict(X); out['rows_per_s'] = len(y) / (time.perf_counter() - t0)
fold = strat_folds(y, 5, 2024)
aucs, lls = [], []
for f in range(5):
    tr, te = np.flatnonzero(fold != f), np.flatnonzero(fold == f)
    inner = strat_folds(y[tr], 7, f)
    fit, val = tr[inner != 0], tr[inner == 0]
    m = lgb.train(dict(base, num_threads=2), dataset(fit), num_boost_round=1500,
                  valid_sets=[dataset(val)], callbacks=[lgb.early_stopping(60, verbose=False)])
    p = m.predict(X[te], num_iteration=m.best_iteration)
    aucs.append(auc(y[te], p)); lls.append(logloss(y[te], p))
out['cv_auc'] = float(np.mean(aucs)); out['cv_logloss'] = float(np.mean(lls))
print(json.dumps(out))
