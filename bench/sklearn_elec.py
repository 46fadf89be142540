"""scikit-learn side of the end-to-end Elec2 comparison (bench/compare.sh).

Window prequential protocol, as relearn's stateful run: window 0 trains the initial model;
then for each window t the model trained through window t-1 scores window t, then
`partial_fit` runs `--epochs` passes over window t (MLPClassifier keeps its Adam state
across calls). MLPClassifier(hidden (64, 64), lr 1e-3, batch 32), as the shared data
README's reference figures.

Prints one line: `sklearn elec windows=N seconds=... accuracy=...` (N: windows scored, the
initial one excluded) where seconds is the
wall time of the loop (scoring and training; reading the CSV excluded).

  python3 bench/sklearn_elec.py --csv ../shared/data/elec.csv [--window 1000] [--epochs 5]
"""
import argparse
import time

import numpy as np
from sklearn.neural_network import MLPClassifier

p = argparse.ArgumentParser()
p.add_argument("--csv", required=True)
p.add_argument("--window", type=int, default=1000)
p.add_argument("--epochs", type=int, default=5)
p.add_argument("--seed", type=int, default=0)
a = p.parse_args()

data = np.genfromtxt(a.csv, delimiter=",", skip_header=1, dtype=np.float64)
X, y = data[:, :-1], data[:, -1].astype(int)
classes = np.unique(y)
n_windows = len(X) // a.window

model = MLPClassifier(hidden_layer_sizes=(64, 64), learning_rate_init=1e-3, batch_size=32, random_state=a.seed)
started = time.perf_counter()
hits, scored = 0, 0
for t in range(n_windows):
    xw, yw = X[t * a.window:(t + 1) * a.window], y[t * a.window:(t + 1) * a.window]
    if t > 0:
        hits += int((model.predict(xw) == yw).sum())
        scored += len(yw)
    for _ in range(a.epochs):
        model.partial_fit(xw, yw, classes=classes)
seconds = time.perf_counter() - started
print(f"sklearn elec windows={n_windows - 1} seconds={seconds:.3f} accuracy={hits / max(scored, 1):.4f}")
