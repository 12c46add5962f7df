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

To write files instead, exactly those ``whycam explain --out DIR`` writes (overlays, ``--save-raw``
arrays, ``explanations.json``), use :func:`explain`; it is resumable, so a run that crashed is
finished by calling it again.
"""

import json
import os
import uuid
from typing import Any, NamedTuple

import numpy as np

from ._memory import keep_freed_memory
from ._native import DirectoryRun, load


class ExplainBatch:
    """A callable class for ``Dataset.map_batches`` (``batch_format="numpy"``): the model is
    opened once per actor, in ``__init__``; each call explains a batch of images.

    - ``model``, ``weights``, ``labels``, ``mean``, ``std``, ``size``: as for
      :func:`whycam.load`.
    - ``method``, ``layer``, ``target``, ``top_k``, ``aug_smooth``, ``eigen_smooth``: as for
      ``Model.explain``.
    - ``column``: the column holding the images: HxWx3 arrays, uint8 or floats in [0, 1]
      (``ray.data.read_images(..., mode="RGB")`` gives them), or the bytes of image files
      (``ray.data.read_binary_files(...)``'s ``bytes``), decoded by whycam as it decodes files.
    - ``batch_size``: how many images whycam runs through the network at once.
    - ``overlays``: also return each map's overlay as PNG bytes (column ``overlay_png``, the
      bytes ``whycam explain`` writes for the same image; ``alpha``, ``colormap``,
      ``gray_background`` as for :meth:`whycam.Explanation.overlay_png`)."""

    def __init__(self, model=None, weights=None, labels=None, mean=None, std=None, size=None,
                 method="gradcam", layer=None, target="auto", top_k=1, aug_smooth=False,
                 eigen_smooth=False, column="image", batch_size=8, overlays=False, alpha=0.5,
                 colormap="jet", gray_background=False):
        # An actor's process only explains: its buffers are kept for the next batch.
        keep_freed_memory()
        self.model = load(model, weights=weights, labels=labels, mean=mean, std=std, size=size)
        self.options = dict(method=method, layer=layer, target=target, top_k=top_k,
                            aug_smooth=aug_smooth, eigen_smooth=eigen_smooth,
                            batch_size=batch_size)
        self.column = column
        self.overlays = (alpha, colormap, gray_background) if overlays else None

    def __call__(self, batch):
        images = [bytes(image) if isinstance(image, (bytes, bytearray)) else np.asarray(image)
                  for image in batch[self.column]]
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
        if self.overlays is not None:
            out["overlay_png"] = np.empty(len(explanations), dtype=object)
            out["overlay_png"][:] = [e.overlay_png(*self.overlays) for e in explanations]
        raws = [e.raw for e in explanations]
        if len({r.shape for r in raws}) == 1:
            out["raw"] = np.stack(raws)
        else:  # maps of several resolutions (a pixel attribution beside a layer's map)
            out["raw"] = np.empty(len(raws), dtype=object)
            out["raw"][:] = raws
        return out


class RunResult(NamedTuple):
    """What :func:`explain` did."""

    output: str
    """The output directory, as given."""
    explained: int
    """Images explained by this call."""
    skipped: int
    """Images complete in ``output`` already (a finished or crashed earlier run), not explained
    again."""
    failed: int
    """Inputs that could not be explained (``summary["errors"]`` says why)."""
    summary: Any
    """``explanations.json``, parsed."""


def explain(data, output, *, model=None, weights=None, labels=None, mean=None, std=None,
            size=None, method="gradcam", layer=None, target="auto", top_k=1, aug_smooth=False,
            eigen_smooth=False, save_raw=False, signed=False, figure=False, colormap="jet",
            alpha=0.5, gray_background=False, groups=None, truth=None, seed=0, batch_size=8,
            num_actors=2, num_cpus=1, column="path", _worker=None):
    """Explains every image of ``data`` on Ray Data and writes into ``output`` exactly what
    ``whycam explain --out output`` writes for the same inputs and options: the same files
    under the same names (``<stem>.<method>.png``; with ``save_raw``, ``.npy`` and
    ``.signed.npy`` byte for byte as ``--save-raw`` writes them; ``signed``, ``figure``: as
    ``--signed``, ``--figure``) and the same ``explanations.json``.

    - ``data``: a path (an image file, a directory searched recursively in sorted order, an
      http(s) URL), a list of them, or a Ray ``Dataset`` whose ``column`` holds them (such as
      ``ray.data.read_images(..., include_paths=True)``'s ``path``; the pixels are read again by
      whycam, so that they are decoded as the command line decodes them). Every actor must reach
      the files (on a cluster: a shared file system) and ``output``.
    - ``model``, ``weights``, ``labels``, ``mean``, ``std``, ``size``: as for
      :func:`whycam.load`; ``method``, ``layer``, ``target``, ``top_k``, ``aug_smooth``,
      ``eigen_smooth``, ``batch_size``: as for ``Model.explain``; ``colormap``, ``alpha``,
      ``gray_background``, ``groups``, ``truth``, ``seed``: as the options of ``whycam explain``
      of the same names.
    - ``num_actors``: actors, each with its own model; ``num_cpus``: CPUs Ray reserves for each.

    The inputs are explained in the command line's batches (``batch_size`` consecutive
    inputs), one batch at a time per actor, so every map is computed with the same rounding.
    Each actor appends the entries of the images it wrote to its own journal under
    ``output/.whycam-parts/``; at the end they are joined into ``explanations.json`` (written
    atomically, in input order, each image once) and removed. It resumes: a batch whose images
    are complete in ``output`` (listed there, files present), from an earlier call or from
    ``whycam explain``, is not explained again, so a crashed run is finished by calling this
    again; an actor that dies mid-run has its batch retried by Ray. Settings that differ from
    those of the run already in ``output`` raise :class:`whycam.WhycamError`.

    Returns a :class:`RunResult`. Raises whycam's errors for bad options before Ray is used."""
    import ray  # noqa: PLC0415 - Ray is the caller's, not a dependency of whycam

    load_options = dict(model=model, weights=weights, labels=labels, mean=mean, std=std,
                        size=size)
    run_options = dict(
        output=os.fspath(output), written=os.path.abspath(output), method=method, layer=layer,
        target=target, top_k=top_k, aug_smooth=aug_smooth, eigen_smooth=eigen_smooth,
        batch_size=batch_size, save_raw=save_raw, signed=signed, figure=figure,
        colormap=colormap, alpha=alpha, gray_background=gray_background,
        groups=None if groups is None else os.fspath(groups),
        truth=None if truth is None else os.fspath(truth), seed=seed)
    driver = DirectoryRun(load(**load_options), **run_options)
    pending, skipped = driver.plan(_inputs(data, column))
    errors = []
    if pending:
        batches = ray.data.from_items([{"batch": json.dumps(b)} for b in pending])
        done = batches.map_batches(
            _worker or ExplainParts,
            fn_constructor_kwargs={"load_options": load_options, "run_options": run_options},
            batch_size=1,
            batch_format="numpy",
            # No more actors (each loading a model) than batches.
            compute=ray.data.ActorPoolStrategy(size=max(1, min(num_actors, len(pending)))),
            num_cpus=num_cpus,
        )
        for row in done.take_all():
            errors.extend(json.loads(str(row["errors"])))
    summary = json.loads(driver.finish(errors))
    images = len(summary["images"])
    return RunResult(output=os.fspath(output), explained=images - skipped, skipped=skipped,
                     failed=len(summary["errors"]), summary=summary)


def _inputs(data, column):
    """The paths of ``data``: one path, a list of paths, or a Dataset's ``column``."""
    if isinstance(data, (str, bytes, os.PathLike)):
        return [os.fsdecode(data)]
    if hasattr(data, "select_columns") and hasattr(data, "iter_rows"):
        return [os.fsdecode(row[column]) for row in data.select_columns([column]).iter_rows()]
    return [os.fsdecode(item) for item in data]


class ExplainParts:
    """The actor of :func:`explain`: opens the model once, then explains the planned batches
    it is given (rows ``{"batch": JSON}``), writing files into the output directory and
    entries into its own journal. Returns the inputs that failed (rows ``{"errors": JSON}``)."""

    def __init__(self, load_options, run_options):
        keep_freed_memory()  # this process only explains: buffers kept for the next batch
        self.run = DirectoryRun(load(**load_options), **run_options)
        # A restarted actor starts a journal of its own.
        self.part = uuid.uuid4().hex

    def __call__(self, batch):
        errors = []
        for text in batch["batch"]:
            planned = [tuple(item) for item in json.loads(str(text))]
            errors.extend(self.run.explain_part(planned, self.part))
        return {"errors": np.array([json.dumps(errors)])}
