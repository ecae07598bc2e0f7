"""LightGBM reference for `aicall bench leads` (not a dependency of aicall).

Usage: python leads_lightgbm.py SPEC.json
SPEC (written by `aicall bench leads`): the CSV path, target, excluded columns, the rounds of
the timing fits, the grid (aicall's GbmParams), and the exact row indices aicall used: for each
CV fold its fit / early-stopping validation / test rows, and the hold-out's fit / validation /
test rows. So both engines see the same folds, the same validation rows and the same settings.

Prints one JSON line: best-of-3 fit time (wall, and the CPU seconds of that run) with 1 and 2
threads at the first grid setting and the fixed rounds, scoring rows/s, per-setting CV AUC (mean, sd) and log loss, and the hold-out
AUC / log loss of the setting LightGBM's own CV picked. Needs only lightgbm and numpy.
"""
import csv, io, json, sys, time

import lightgbm as lgb
import numpy as np

spec = json.load(open(sys.argv[1]))
path, target, exclude = spec['file'], spec['target'], set(spec['exclude'])
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
    ranks = np.empty(len(s))
    ss = s[order]
    i = 0
    while i < len(ss):  # average ranks of ties
        j = i
        while j + 1 < len(ss) and ss[j + 1] == ss[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    npos = t.sum()
    nneg = len(t) - npos
    return float((ranks[t == 1].sum() - npos * (npos + 1) / 2) / (npos * nneg))


def logloss(t, p):
    p = np.clip(p, 1e-15, 1 - 1e-15)
    return float(-np.mean(t * np.log(p) + (1 - t) * np.log(1 - p)))


def lgb_params(g, threads):
    p = dict(objective='binary', verbose=-1, num_threads=threads,
             learning_rate=g['learning_rate'], num_leaves=g['num_leaves'],
             max_depth=g['max_depth'] if g['max_depth'] > 0 else -1,
             min_data_in_leaf=g['min_data_in_leaf'], min_sum_hessian_in_leaf=g['min_sum_hessian'],
             lambda_l2=g['lambda_l2'], min_gain_to_split=g['min_gain'], max_bin=g['max_bins'],
             feature_fraction=g['feature_fraction'], feature_fraction_seed=g['seed'],
             cat_smooth=g['cat_smooth'], cat_l2=g['cat_l2'],
             min_data_per_group=g['min_data_per_group'], max_cat_threshold=g['max_cat_threshold'],
             max_cat_to_onehot=g['max_cat_to_onehot'], seed=g['seed'])
    if g['bagging_fraction'] < 1.0:
        p.update(bagging_fraction=g['bagging_fraction'], bagging_freq=1, bagging_seed=g['seed'])
    return p


def dataset(idx):
    return lgb.Dataset(X[idx], y[idx], categorical_feature=cats, free_raw_data=False)


# One thread for the CV fits: the scores do not depend on it, and LightGBM's OpenMP threads
# spin badly when the cores are shared (2-thread fits measured 10x slower under load).
def fit_eval(g, split, threads=1):
    fit, val, test = (np.array(split[k]) for k in ('fit', 'val', 'test'))
    m = lgb.train(lgb_params(g, threads), dataset(fit), num_boost_round=g['num_rounds'],
                  valid_sets=[dataset(val)],
                  callbacks=[lgb.early_stopping(g['early_stopping_rounds'], verbose=False)])
    p = m.predict(X[test], num_iteration=m.best_iteration)
    return auc(y[test], p), logloss(y[test], p), m.best_iteration


grid = spec['grid']
out = {'version': lgb.__version__}
allrows = np.arange(len(y))
timing = dict(lgb_params(grid[0], 1))
for threads in (1, 2):
    best, cpu = 1e9, 0.0
    for _ in range(3):
        c0, t0 = time.process_time(), time.perf_counter()
        lgb.train(dict(timing, num_threads=threads), dataset(allrows), num_boost_round=spec['rounds'])
        wall = time.perf_counter() - t0
        if wall < best:
            best, cpu = wall, time.process_time() - c0
    out[f'fit_{threads}t'] = best
    out[f'cpu_{threads}t'] = cpu
model = lgb.train(dict(timing, num_threads=2), dataset(allrows), num_boost_round=spec['rounds'])
out['rows_per_s'] = 0.0
for _ in range(3):  # best of 3, like aicall's
    t0 = time.perf_counter()
    model.predict(X)
    out['rows_per_s'] = max(out['rows_per_s'], len(y) / (time.perf_counter() - t0))
out['cv'] = []
for g in grid:
    res = [fit_eval(g, f) for f in spec['cv']]
    aucs = [r[0] for r in res]
    out['cv'].append({'auc_mean': float(np.mean(aucs)), 'auc_std': float(np.std(aucs)),
                      'logloss_mean': float(np.mean([r[1] for r in res])),
                      'rounds_mean': float(np.mean([r[2] for r in res]))})
best = max(range(len(grid)), key=lambda i: out['cv'][i]['auc_mean'])
a, l, r = fit_eval(grid[best], spec['holdout'])
out['holdout'] = {'setting': best, 'auc': a, 'logloss': l, 'rounds': r}
print(json.dumps(out))
