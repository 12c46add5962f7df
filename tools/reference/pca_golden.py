"""Golden values for whycam-embed's PCA: scikit-learn's PCA on two fixtures.

Writes tests/data/embed/pca_<name>.npy (the float32 input) and pca_<name>.json (what
scikit-learn finds: explained variance and its ratio, components, and the 2-D projection).

- `tall`: 400 points of 24 correlated features with well-separated variances, all
  components kept.
- `wide`: 30 points of 50 features (fewer points than features), 10 components kept.

Run: python tools/reference/pca_golden.py  (numpy, scikit-learn)
"""

import json
from pathlib import Path

import numpy as np
import sklearn
from sklearn.decomposition import PCA

OUT = Path(__file__).resolve().parents[2] / "tests" / "data" / "embed"


def fixture(name, n, d, k, seed):
    rng = np.random.default_rng(seed)
    scales = np.geomspace(10.0, 0.05, d)
    mixing = np.linalg.qr(rng.normal(size=(d, d)))[0]
    x = (rng.normal(size=(n, d)) * scales) @ mixing.T + rng.normal(size=d) * 3.0
    x = x.astype(np.float32)
    np.save(OUT / f"pca_{name}.npy", x)
    pca = PCA(n_components=k, svd_solver="full").fit(x.astype(np.float64))
    two = PCA(n_components=2, svd_solver="full").fit(x.astype(np.float64))
    golden = {
        "sklearn": sklearn.__version__,
        "n": n,
        "d": d,
        "k": k,
        "explained_variance": pca.explained_variance_.tolist(),
        "explained_variance_ratio": pca.explained_variance_ratio_.tolist(),
        "components": pca.components_.tolist(),
        "projection": two.transform(x.astype(np.float64)).tolist(),
    }
    (OUT / f"pca_{name}.json").write_text(json.dumps(golden) + "\n")
    print(name, "ratio", np.round(pca.explained_variance_ratio_[:4], 5))


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    fixture("tall", 400, 24, 24, seed=1)
    fixture("wide", 30, 50, 10, seed=2)
