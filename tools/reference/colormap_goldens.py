"""matplotlib's colour maps at sample points, for whycam-render's colour map tests.

    python tools/reference/colormap_goldens.py > crates/whycam-render/tests/data/colormaps.json

For each map whycam offers, `cmap(x)` (RGBA floats, alpha dropped) scaled to 0-255 and
rounded, at x = 0, 1/255, ..., 1 plus points between LUT entries and outside [0, 1].
"""
import json

import matplotlib
import numpy as np

NAMES = ["jet", "turbo", "magma", "inferno", "viridis", "gray", "bwr"]
xs = sorted(set([i / 255 for i in range(256)] + [0.0005, 0.1234, 0.5, 0.50196, 0.7777, 0.9995, -0.5, 1.5]))
out = {"matplotlib": matplotlib.__version__, "x": xs, "maps": {}}
for name in NAMES:
    cmap = matplotlib.colormaps[name]
    rgb = np.asarray(cmap(np.asarray(xs, dtype=np.float64)))[:, :3]
    out["maps"][name] = np.rint(rgb * 255).astype(int).tolist()
print(json.dumps(out))
