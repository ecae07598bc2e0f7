"""What moves AUC on the bank file without `duration`? (reference study, not part of aicall)

Each variant is scored by repeated stratified 5-fold CV (3 fold seeds) with LightGBM; in every
fold the booster stops early on a stratified 1/7 of the fold's training rows, and every
label-dependent transform (target encodings, the logistic blend) is fitted on the fold's
training rows only (target encodings out-of-fold inside them), so no test label leaks in.
Prints one line per variant: mean CV AUC over the 15 folds, the mean per fold seed, log loss.

Two more studies run only when named: `search` (a random search of 40 LightGBM settings:
learning rate, leaves, leaf size, feature/bagging fractions, L2, bins, path smoothing; 2 fold
seeds) and `catboost` (CatBoost with its own ordered target statistics for the categories;
needs `pip install catboost`). Neither beat 0.802 on 2026-12-04.

Usage: .setup/leads-venv/bin/python scripts/leads_experiments.py [FILE] [VARIANT ...]
Needs lightgbm, numpy, pandas, scikit-learn (pip, in the venv of scripts/leads-lightgbm-venv.sh).
"""
import random
import sys

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import OneHotEncoder

args = sys.argv[1:]
path = args.pop(0) if args and args[0].endswith('.csv') else '../shared/data/bank-marketing/train.csv'
df = pd.read_csv(path, sep=';')
y = (df.pop('y') == 'yes').astype(int).values
df = df.drop(columns=['duration'])
cat_cols = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
num_cols = [c for c in df.columns if c not in cat_cols]
for c in cat_cols:
    df[c] = df[c].astype('category')
# A call day: month, weekday and the five macro indicators (which change by day / month /
# quarter) identify it; the file is in date order, so first appearance orders the days.
DAY = ['month', 'day_of_week', 'emp.var.rate', 'cons.price.idx', 'cons.conf.idx', 'euribor3m',
       'nr.employed']
day = df[DAY].astype(str).agg('|'.join, axis=1).values
ym = df[['month', 'cons.price.idx']].astype(str).agg('|'.join, axis=1).values

PARAMS = dict(objective='binary', learning_rate=0.05, num_leaves=15, min_data_in_leaf=50,
              feature_fraction=0.8, verbose=-1, num_threads=1, seed=1)


def oof_te(keys, yy, test_keys, alpha=20, seed=0):
    """Smoothed target encoding: out-of-fold for training rows, full-train for test rows."""
    prior = yy.mean()

    def mapping(k, t):
        s = pd.DataFrame({'k': k, 'y': t}).groupby('k').y.agg(['sum', 'count'])
        return (s['sum'] + alpha * prior) / (s['count'] + alpha)
    test_v = pd.Series(test_keys).map(mapping(keys, yy)).fillna(prior).values
    tr_v = np.empty(len(keys))
    for a, b in StratifiedKFold(5, shuffle=True, random_state=seed).split(keys, yy):
        tr_v[b] = pd.Series(keys[b]).map(mapping(keys[a], yy[a])).fillna(prior).values
    return tr_v, test_v


def features(tr, te, v):
    Xtr, Xte = df.iloc[tr].copy(), df.iloc[te].copy()
    if 'ordinal' in v:
        for X in (Xtr, Xte):
            for c in cat_cols:
                X[c] = X[c].cat.codes
    if 'pdays' in v:
        for X in (Xtr, Xte):
            X['never_contacted'] = (X.pdays == 999).astype(int)
            X.loc[X.pdays == 999, 'pdays'] = np.nan
    if 'daycount' in v:
        cnt = pd.Series(day[tr]).value_counts()
        Xtr['day_calls'] = pd.Series(day[tr]).map(cnt).values
        Xte['day_calls'] = pd.Series(day[te]).map(cnt).fillna(0).values
    if 'dayte' in v:
        Xtr['day_te'], Xte['day_te'] = oof_te(day[tr], y[tr], day[te])
    if 'ymte' in v:
        Xtr['ym_te'], Xte['ym_te'] = oof_te(ym[tr], y[tr], ym[te])
    if 'timeidx' in v:
        for keys, name in ((day, 'day_index'), (ym, 'month_index')):
            order = {k: i for i, k in enumerate(pd.unique(keys[np.sort(tr)]))}
            Xtr[name] = pd.Series(keys[tr]).map(order).values
            Xte[name] = pd.Series(keys[te]).map(order).values
    return Xtr, Xte


def logistic(tr, te):
    """One-hot categories + decile bins and standardised values of the numbers, L2 logistic."""
    oh = OneHotEncoder(handle_unknown='ignore', sparse_output=False)
    A = oh.fit_transform(df.iloc[tr][cat_cols].astype(str))
    B = oh.transform(df.iloc[te][cat_cols].astype(str))
    pa, pb = [A], [B]
    for c in num_cols:
        a, b = df[c].values[tr].astype(float), df[c].values[te].astype(float)
        qs = np.unique(np.quantile(a, np.linspace(0.1, 0.9, 9)))
        pa.append(np.eye(len(qs) + 1)[np.searchsorted(qs, a)])
        pb.append(np.eye(len(qs) + 1)[np.searchsorted(qs, b)])
        m, s = a.mean(), a.std() + 1e-9
        pa.append(((a - m) / s)[:, None])
        pb.append(((b - m) / s)[:, None])
    lr = LogisticRegression(C=0.1, max_iter=3000).fit(np.hstack(pa), y[tr])
    return lr.predict_proba(np.hstack(pb))[:, 1]


def run(v):
    per_seed, losses = [], []
    for rs in (2024, 1, 2):
        aucs = []
        for tr, te in StratifiedKFold(5, shuffle=True, random_state=rs).split(df, y):
            Xtr, Xte = features(tr, te, v)
            a, b = next(StratifiedKFold(7, shuffle=True, random_state=1).split(Xtr, y[tr]))
            preds = []
            for seed in range(5 if 'bag5' in v else 1):
                m = lgb.train(dict(PARAMS, seed=seed + 1), lgb.Dataset(Xtr.iloc[a], y[tr][a]), 4000,
                              valid_sets=[lgb.Dataset(Xtr.iloc[b], y[tr][b])],
                              callbacks=[lgb.early_stopping(100, verbose=False)])
                preds.append(m.predict(Xte, num_iteration=m.best_iteration))
            p = np.mean(preds, axis=0)
            if 'blend' in v:
                q = logistic(tr, te)
                logit = lambda x: np.log(x / (1 - x))
                p = 1 / (1 + np.exp(-(0.8 * logit(p) + 0.2 * logit(q))))
            aucs.append(roc_auc_score(y[te], p))
            losses.append(log_loss(y[te], p))
        per_seed.append(np.mean(aucs))
    print(f"{v:32s} cv_auc={np.mean(per_seed):.4f} per_fold_seed="
          f"{' '.join(f'{a:.4f}' for a in per_seed)} logloss={np.mean(losses):.4f}", flush=True)


def search():
    """Random search over LightGBM settings, ordinal categories, 2 fold seeds x 5 folds."""
    X = df.copy()
    for c in cat_cols:
        X[c] = X[c].cat.codes
    rnd = random.Random(0)
    results = []
    for _ in range(40):
        p = dict(PARAMS, learning_rate=rnd.choice([0.01, 0.02, 0.03]),
                 num_leaves=rnd.choice([4, 6, 8, 12, 16, 24]),
                 min_data_in_leaf=rnd.choice([20, 50, 100, 200, 400]),
                 feature_fraction=rnd.choice([0.5, 0.7, 0.9]),
                 bagging_fraction=rnd.choice([0.7, 0.9, 1.0]), bagging_freq=1,
                 lambda_l2=rnd.choice([0, 1, 10, 50]), max_bin=rnd.choice([63, 255]),
                 path_smooth=rnd.choice([0, 10, 50]))
        aucs = []
        for rs in (2024, 1):
            for tr, te in StratifiedKFold(5, shuffle=True, random_state=rs).split(X, y):
                a, b = next(StratifiedKFold(7, shuffle=True, random_state=1).split(tr, y[tr]))
                m = lgb.train(p, lgb.Dataset(X.iloc[tr[a]], y[tr[a]]), 5000,
                              valid_sets=[lgb.Dataset(X.iloc[tr[b]], y[tr[b]])],
                              callbacks=[lgb.early_stopping(150, verbose=False)])
                aucs.append(roc_auc_score(y[te], m.predict(X.iloc[te],
                                                           num_iteration=m.best_iteration)))
        results.append((np.mean(aucs), p))
        print(f"search {len(results):2d}/40 cv_auc={np.mean(aucs):.4f}", flush=True)
    best = max(results, key=lambda r: r[0])
    print(f"search best cv_auc={best[0]:.4f} {best[1]}")


def catboost():
    from catboost import CatBoostClassifier
    X = df.copy()
    for c in cat_cols:
        X[c] = X[c].astype(str)
    aucs = []
    for tr, te in StratifiedKFold(5, shuffle=True, random_state=2024).split(X, y):
        a, b = next(StratifiedKFold(7, shuffle=True, random_state=1).split(tr, y[tr]))
        m = CatBoostClassifier(iterations=3000, learning_rate=0.03, depth=6, eval_metric='AUC',
                               od_type='Iter', od_wait=200, verbose=0, thread_count=2,
                               cat_features=cat_cols, allow_writing_files=False)
        m.fit(X.iloc[tr[a]], y[tr[a]], eval_set=(X.iloc[tr[b]], y[tr[b]]))
        aucs.append(roc_auc_score(y[te], m.predict_proba(X.iloc[te])[:, 1]))
    print(f"catboost cv_auc={np.mean(aucs):.4f} folds={' '.join(f'{a:.4f}' for a in aucs)}")


for v in args or ['native', 'ordinal', 'ordinal,pdays', 'ordinal,daycount', 'ordinal,dayte',
                  'ordinal,ymte', 'ordinal,timeidx', 'ordinal,daycount,dayte,ymte,timeidx',
                  'ordinal,bag5', 'ordinal,blend']:
    {'search': search, 'catboost': catboost}.get(v, lambda: run(v))()
