"""whycam on Ray Data: maps for a whole dataset, one model per actor.

>>> import ray, whycam.ray
>>> ds = ray.data.read_images("s3://bucket/photos/", mode="RGB", include_paths=True)
>>> maps = ds.map_batches(
...     whycam.ray.ExplainBatch,
...     fn_constructor_kwargs={"method": "gradcam"},
...     batch_size=32,
...     batch_format="numpy",
...     compute=ray.data.ActorPoolStrategy(size=4),   # actors, each with its own model
... )
>>> maps.write_parquet("s3://bucket/maps/")

Each output row is one map (one image, target and method): the input's other columns (such as
``path``) repeated, and ``method``, ``target_index``, ``target_label``, ``probability``,
``score`` and ``raw`` (the map at the layer's resolution, float32, exactly what
``whycam explain --save-raw`` writes for the same pixels). Ray itself is not a dependency of
whycam; this module imports nothing from it, Ray imports this.

On an existing cluster, run the same script as a job: ``ray job submit --address
http://HEAD:8265 --working-dir . -- python explain_maps.py`` (KubeRay: a ``RayJob`` whose
entrypoint is that command; the image needs ``pip install whycam`` from this repository's
``python/``). If an actor dies mid-run, Ray restarts it and retries its batch: no image is
lost or explained twice (``python/tests/test_whycam.py`` kills one).
"""

import numpy as np

from ._native import load


class ExplainBatch:
    """A callable class for ``Dataset.map_batches`` (``batch_format="numpy"``): the model is
    opened once per actor, in ``__init__``; each call explains a batch of images.

    - ``model``, ``weights``, ``labels``, ``mean``, ``std``, ``size``: as for
      :func:`whycam.load`.
    - ``method``, ``layer``, ``target``, ``top_k``, ``aug_smooth``, ``eigen_smooth``: as for
      ``Model.explain``.
    - ``column``: the column holding the images (HxWx3 arrays, uint8 or floats in [0, 1];
      ``ray.data.read_images(..., mode="RGB")`` gives them).
    - ``batch_size``: how many images whycam runs through the network at once."""

    def __init__(self, model=None, weights=None, labels=None, mean=None, std=None, size=None,
                 method="gradcam", layer=None, target="auto", top_k=1, aug_smooth=False,
                 eigen_smooth=False, column="image", batch_size=8):
        self.model = load(model, weights=weights, labels=labels, mean=mean, std=std, size=size)
        self.options = dict(method=method, layer=layer, target=target, top_k=top_k,
                            aug_smooth=aug_smooth, eigen_smooth=eigen_smooth,
                            batch_size=batch_size)
        self.column = column

    def __call__(self, batch):
        images = [np.asarray(image) for image in batch[self.column]]
        if not images:
            return {"raw": np.zeros((0, 0, 0), np.float32)}
        explanations = self.model.explain(images, **self.options)
        rows = [e.image for e in explanations]
        out = {
            name: np.asarray(values)[rows]
            for name, values in batch.items()
            if name != self.column
        }
        out["method"] = np.array([e.method for e in explanations])
        out["target_index"] = np.array(
            [-1 if e.target_index is None else e.target_index for e in explanations])
        out["target_label"] = np.array([e.target_label for e in explanations])
        out["probability"] = np.array([e.probability for e in explanations], np.float32)
        out["score"] = np.array([e.score for e in explanations], np.float32)
        raws = [e.raw for e in explanations]
        if len({r.shape for r in raws}) == 1:
            out["raw"] = np.stack(raws)
        else:  # maps of several resolutions (a pixel attribution beside a layer's map)
            out["raw"] = np.empty(len(raws), dtype=object)
            out["raw"][:] = raws
        return out
