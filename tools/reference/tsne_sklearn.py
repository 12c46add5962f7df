"""scikit-learn's t-SNE and PCA on the features `whycam embed` saved, for comparison.

    python tools/reference/tsne_sklearn.py RUN/features.npy [--perplexity 30] [--pca-dims 50]

Reads the labels from RUN/samples.csv, runs PCA (explained variance ratio) and
TSNE(perplexity, init="pca", learning_rate="auto", max_iter=1000, method="barnes_hut",
angle=0.5) on the features reduced to --pca-dims principal components as whycam does,
and prints one JSON line: the seconds t-SNE took, the 10-nearest-neighbour label agreement
in feature space and in the t-SNE plane, and the first explained variance ratios.
"""

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from sklearn.neighbors import NearestNeighbors


def agreement(x, labels, k=10):
    idx = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x, return_distance=False)
    return float((labels[idx[:, 1:]] == labels[:, None]).mean())


def main():
    p = argparse.ArgumentParser()
    p.add_argument("features")
    p.add_argument("--perplexity", type=float, default=30.0)
    p.add_argument("--pca-dims", type=int, default=50)
    p.add_argument("--threads", type=int, default=None)
    a = p.parse_args()
    x = np.load(a.features).astype(np.float32)
    with open(Path(a.features).with_name("samples.csv")) as f:
        names = [row["label"] for row in csv.DictReader(f)]
    labels = np.unique(names, return_inverse=True)[1]
    ratio = PCA(svd_solver="full").fit(x.astype(np.float64)).explained_variance_ratio_
    reduced = x
    if 0 < a.pca_dims < min(x.shape):
        reduced = PCA(n_components=a.pca_dims, svd_solver="full").fit_transform(x)
    start = time.perf_counter()
    y = TSNE(perplexity=a.perplexity, init="pca", learning_rate="auto", max_iter=1000,
             method="barnes_hut", angle=0.5, random_state=0, n_jobs=a.threads).fit_transform(reduced)
    seconds = time.perf_counter() - start
    print(json.dumps({
        "points": int(x.shape[0]),
        "tsne_seconds": seconds,
        "feature_agreement": agreement(x, labels),
        "tsne_agreement": agreement(y, labels),
        "explained_variance_ratio": ratio[:10].tolist(),
    }))


if __name__ == "__main__":
    main()
