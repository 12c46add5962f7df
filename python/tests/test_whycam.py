"""Tests of the whycam Python module (run by run.py beside this file; see its docstring).

The maps must be the command line's: `explain` is compared byte for byte with the `.npy`
that `whycam explain --save-raw` writes for the same photo, so the binary must be built
(`cargo build --release`; WHYCAM_BIN overrides target/release/whycam).
"""

import json
import os
import pathlib
import subprocess
import tempfile
import time

import numpy as np

import whycam

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHELSEA = ROOT / "tests" / "data" / "photos224" / "chelsea.png"
COFFEE = ROOT / "tests" / "data" / "photos224" / "coffee.png"
# ImageNet's cats are classes 281 to 285.
CATS = range(281, 286)

_model = None


def model():
    """The default model, opened once for all tests."""
    global _model
    if _model is None:
        _model = whycam.load()
    return _model


def raises(kind, call):
    """The exception `call()` raises, which must be a `kind`."""
    try:
        call()
    except kind as e:
        return e
    except Exception as e:  # noqa: BLE001 - reported as the wrong kind
        raise AssertionError(f"expected {kind.__name__}, got {type(e).__name__}: {e}") from e
    raise AssertionError(f"expected {kind.__name__}, nothing was raised")


def cli_raw_map(photo, *options, signed=False):
    """The map `whycam explain --save-raw` writes for `photo` (or its signed map), read
    with numpy."""
    binary = os.environ.get("WHYCAM_BIN", str(ROOT / "target" / "release" / "whycam"))
    assert os.path.exists(binary), f"{binary} is missing: run cargo build --release first"
    with tempfile.TemporaryDirectory() as out:
        subprocess.run(
            [binary, "explain", *options, "--save-raw", "--out", out, str(photo)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        method = options[options.index("--method") + 1]
        suffix = "signed.npy" if signed else "npy"
        return np.load(os.path.join(out, f"{photo.stem}.{method}.{suffix}"))


def test_default_model_describes_itself():
    m = model()
    assert m.name == "efficientnet-lite0", m.name
    assert m.num_classes == 1000
    assert m.input_size == 224
    assert m.labels[281] == "tabby", m.labels[281]
    layers = m.layers()
    assert len(layers) > 5 and len(set(layers)) == len(layers), layers


def test_predict_finds_the_cat():
    [top] = model().predict(CHELSEA)
    assert len(top) == 5
    index, label, probability = top[0]
    assert index in CATS, top
    assert label == model().labels[index]
    assert 0.0 < probability <= 1.0
    assert [p for _, _, p in top] == sorted((p for _, _, p in top), reverse=True)


def test_predict_keeps_input_order():
    ranked = model().predict([str(COFFEE), CHELSEA], top_k=1)
    assert len(ranked) == 2
    assert ranked[0][0][0] not in CATS and ranked[1][0][0] in CATS, ranked


def test_gradcam_raw_map_is_the_command_lines_npy_byte_for_byte():
    [e] = model().explain(str(CHELSEA), method="gradcam")
    expected = cli_raw_map(CHELSEA, "--method", "gradcam")
    assert e.raw.dtype == np.float32 and expected.dtype == np.float32
    assert e.raw.shape == expected.shape == (7, 7), (e.raw.shape, expected.shape)
    difference = float(np.abs(e.raw - expected).max())
    print(f"  gradcam raw vs CLI .npy: max |difference| {difference:.3g}")
    assert e.raw.tobytes() == expected.tobytes()
    signed = cli_raw_map(CHELSEA, "--method", "gradcam", signed=True)
    assert e.signed.tobytes() == signed.tobytes()


def test_a_layer_folding_would_remove_matches_the_command_line():
    # `_conv_head` is a convolution a BatchNorm follows: the model is reopened unfolded.
    [e] = model().explain(CHELSEA, layer="_conv_head")
    assert e.layers == ["_conv_head"], e.layers
    expected = cli_raw_map(CHELSEA, "--method", "gradcam", "--layer", "_conv_head")
    assert e.raw.shape == expected.shape, (e.raw.shape, expected.shape)
    print(f"  _conv_head raw vs CLI .npy: max |difference| {float(np.abs(e.raw - expected).max()):.3g}")
    assert e.raw.tobytes() == expected.tobytes()


def test_an_onnx_graph_explains_as_the_command_line_does():
    graph = ROOT / "tests" / "data" / "onnx" / "lcnet_035.torchscript.onnx"
    onnx = whycam.load(graph)
    assert onnx.name == graph.name and onnx.num_classes == 10
    [e] = onnx.explain(CHELSEA, target=3)
    assert (e.target_index, e.target_label) == (3, "class 3")
    expected = cli_raw_map(CHELSEA, "--method", "gradcam", "--weights", str(graph), "--target", "3")
    assert e.raw.tobytes() == expected.tobytes()


def test_explanation_fields():
    [e] = model().explain(CHELSEA)
    assert e.image == str(CHELSEA), e.image
    assert e.method == "gradcam"
    assert e.layers == ["features"], e.layers
    assert e.target_index in CATS
    assert e.target_label == model().labels[e.target_index]
    [top] = model().predict(CHELSEA, top_k=1)
    assert abs(e.probability - top[0][2]) < 1e-6, (e.probability, top)
    assert e.map.shape == (224, 224) and e.map.dtype == np.float32
    assert 0.0 <= float(e.map.min()) and float(e.map.max()) <= 1.0
    assert float(e.raw.max()) > 0.9  # min-max scaled: the top near 1
    assert e.signed is not None and e.signed.shape == e.raw.shape


def test_several_targets_and_methods_come_per_image_target_method():
    out = model().explain([CHELSEA, COFFEE], method="gradcam,gradcam++", top_k=2)
    assert len(out) == 2 * 2 * 2
    assert [e.method for e in out] == ["gradcam", "gradcampp"] * 4, [e.method for e in out]
    assert [e.image for e in out] == [str(CHELSEA)] * 4 + [str(COFFEE)] * 4
    assert out[0].target_index == out[1].target_index != out[2].target_index == out[3].target_index
    assert out[0].probability >= out[2].probability


def test_numpy_array_gives_the_same_map_as_the_file():
    try:
        from PIL import Image
    except ImportError:
        Image = None
    [from_path] = model().explain(CHELSEA)
    if Image is None:
        print("  Pillow missing: comparing the path with the path in a list")
        [again] = model().explain([os.fspath(CHELSEA)])
        assert again.raw.tobytes() == from_path.raw.tobytes()
        return
    pixels = np.asarray(Image.open(CHELSEA).convert("RGB"))
    assert pixels.dtype == np.uint8 and pixels.shape[2] == 3
    [from_array] = model().explain(pixels)
    assert from_array.image == 0
    assert from_array.raw.tobytes() == from_path.raw.tobytes()
    # Floats in [0, 1] are the same pixels.
    [from_float] = model().explain(pixels.astype(np.float32) / 255.0)
    assert from_float.raw.tobytes() == from_path.raw.tobytes()
    # A batch array is a list of images.
    # A batch array is a list of images (two in a batch round unlike one alone: the
    # probabilities agree to float32 precision, not bit for bit).
    ranked = model().predict(np.stack([pixels, pixels]), top_k=1)
    [[(index, label, probability)]] = model().predict(CHELSEA, top_k=1)
    assert ranked[0] == ranked[1], ranked
    assert ranked[0][0][:2] == (index, label), (ranked, index, label)
    assert abs(ranked[0][0][2] - probability) < 1e-5, (ranked, probability)


def write_png(path, pixels):
    """Writes an HxWx3 uint8 array as an 8-bit RGB PNG with the standard library alone."""
    import struct
    import zlib

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    height, width, _ = pixels.shape
    rows = b"".join(b"\x00" + pixels[y].tobytes() for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pathlib.Path(path).write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def test_numpy_array_gives_the_same_map_as_its_png():
    # Without Pillow: a seeded picture of another size (so resizing and cropping run), saved
    # as PNG; the array and the file must give the same maps and classes.
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:300, 0:260]
    pixels = np.stack([x % 256, y % 256, (x * y) % 256], axis=2).astype(np.int64)
    pixels = np.clip(pixels + rng.integers(-20, 21, pixels.shape), 0, 255).astype(np.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        png = pathlib.Path(tmp) / "pattern.png"
        write_png(png, pixels)
        [from_path] = model().explain(png)
        [from_array] = model().explain(pixels)
        assert from_array.target_index == from_path.target_index
        assert from_array.raw.tobytes() == from_path.raw.tobytes()
        assert from_array.map.shape == (224, 224)
        assert model().predict(pixels) == model().predict(png)


def test_corrupt_file_raises_decode_error_naming_it():
    with tempfile.TemporaryDirectory() as tmp:
        broken = pathlib.Path(tmp) / "broken.png"
        broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 8)
        e = raises(whycam.DecodeError, lambda: model().explain(broken))
        assert "broken.png" in str(e), str(e)
        assert isinstance(e, whycam.WhycamError)
        raises(whycam.DecodeError, lambda: model().predict([CHELSEA, broken]))


def test_missing_file_raises_io_error():
    e = raises(whycam.IoError, lambda: model().predict("no/such/photo.png"))
    assert "photo.png" in str(e), str(e)


def test_unknown_method_raises_invalid_argument_listing_methods():
    e = raises(whycam.InvalidArgument, lambda: model().explain(CHELSEA, method="nosuchcam"))
    text = str(e)
    assert "nosuchcam" in text and "gradcam" in text and "fullgrad" in text, text


def test_unknown_layer_and_target_raise_invalid_argument():
    e = raises(whycam.InvalidArgument, lambda: model().explain(CHELSEA, layer="nolayer"))
    assert "nolayer" in str(e), str(e)
    raises(whycam.InvalidArgument, lambda: model().explain(CHELSEA, target="no such class"))


def test_bad_arrays_raise_invalid_argument():
    raises(whycam.InvalidArgument, lambda: model().predict(np.zeros((8, 8), np.uint8)))
    raises(whycam.InvalidArgument, lambda: model().predict(np.full((8, 8, 3), 2.0)))
    raises(whycam.InvalidArgument, lambda: model().predict(np.zeros((8, 8, 3), np.int64)))
    raises(whycam.InvalidArgument, lambda: model().predict(42))
    raises(whycam.InvalidArgument, lambda: model().predict([]))


def test_unknown_architecture_raises_invalid_argument():
    e = raises(whycam.InvalidArgument, lambda: whycam.load("nosuchnet"))
    assert "nosuchnet" in str(e), str(e)


def test_methods_come_from_the_rust_table():
    names = whycam.methods()
    assert "gradcam" in names and "fullgrad" in names, names
    assert len(names) == len(set(names)) >= 20


def test_thread_pool_cannot_be_resized_once_running():
    model().predict(CHELSEA)
    e = raises(whycam.WhycamError, lambda: whycam.set_num_threads(2))
    assert "before the first" in str(e), str(e)


def test_the_gil_is_released_while_explaining():
    # While another thread explains, this one keeps running: the longest pause between its
    # ticks stays far below the explain call's length (holding the GIL would stall it).
    import threading

    photos = [CHELSEA, COFFEE] * 4
    done = threading.Event()
    timing = {}

    def work():
        started = time.perf_counter()
        model().explain(photos, aug_smooth=True)
        timing["explain"] = time.perf_counter() - started
        done.set()

    model()  # opened before timing
    worker = threading.Thread(target=work)
    last = time.perf_counter()
    longest = 0.0
    worker.start()
    while not done.is_set():
        now = time.perf_counter()
        longest = max(longest, now - last)
        last = now
    worker.join()
    print(f"  explain {timing['explain']:.2f}s, longest pause of the other thread {longest:.3f}s")
    assert timing["explain"] > 0.1, timing
    assert longest < timing["explain"] / 2, (longest, timing)


class Skipped(Exception):
    """A test that cannot run here (run.py counts it as ignored, not passed)."""


def test_from_torch_matches_pytorch_grad_cam():
    """A seeded-random torchvision ResNet-18, exported by from_torch and explained with
    Grad-CAM at layer4, against pytorch-grad-cam 1.5.7's Grad-CAM of the same module in float64
    (its map at the layer's resolution, as tools/reference/cam_goldens.py patches it). Needs
    torch, torchvision, grad-cam and Pillow, which CI's environment does not install (torch is
    only for references): there it is ignored."""
    try:
        import torch
        import torchvision
        from PIL import Image
        from pytorch_grad_cam import GradCAM
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    except ImportError as e:
        raise Skipped(f"needs torch, torchvision, grad-cam and Pillow: {e}") from e
    torch.manual_seed(4)
    net = torchvision.models.resnet18(num_classes=10)
    with torch.no_grad():
        # Running statistics that are not the identity, so folding them matters.
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    net.train()
    explained = whycam.from_torch(net)
    assert net.training, "from_torch must put the module back in its mode"
    assert explained.num_classes == 10
    # whycam prepares an image as torchvision does for ImageNet (shorter side to 256, centre
    # crop 224): a 256 x 256 picture whose middle is the 224 x 224 photo is cropped to exactly
    # the photo, the tensor handed to pytorch-grad-cam.
    photo = np.asarray(Image.open(CHELSEA).convert("RGB"))
    framed = np.pad(photo, ((16, 16), (16, 16), (0, 0)), mode="reflect")
    [e] = explained.explain(framed, method="gradcam", layer="layer4")
    mean = np.array([0.485, 0.456, 0.406], np.float32)
    std = np.array([0.229, 0.224, 0.225], np.float32)
    pixels = photo.astype(np.float32) / 255.0
    x = torch.from_numpy(((pixels - mean) / std).transpose(2, 0, 1)[None].copy()).double()
    reference = net.double().eval()
    with torch.no_grad():
        top = int(reference(x)[0].argmax())
    assert e.target_index == top, (e.target_index, top)
    cam = GradCAM(reference, [reference.layer4])
    cam.get_target_width_height = lambda _: None
    try:
        golden = cam(input_tensor=x, targets=[ClassifierOutputTarget(top)])[0]
    finally:
        cam.activations_and_grads.release()
    assert e.raw.shape == golden.shape, (e.raw.shape, golden.shape)
    diff = float(np.abs(e.raw - golden).max())
    print(f"from_torch ResNet-18 Grad-CAM vs pytorch-grad-cam: max |difference| {diff:.2e}")
    assert diff <= 1e-3, diff


def fashion_mnist(count):
    """The first `count` images of Debian's Fashion-MNIST test set (tools/test.sh installs
    dataset-fashion-mnist), as 28x28x3 uint8 arrays."""
    import gzip

    path = pathlib.Path(os.environ.get("WHYCAM_FASHION_MNIST", "/usr/share/datasets/fashion-mnist"))
    with gzip.open(path / "t10k-images-idx3-ubyte.gz", "rb") as f:
        data = f.read()
    pixels = np.frombuffer(data, np.uint8, offset=16).reshape(-1, 28, 28)[:count]
    return [np.repeat(p[:, :, None], 3, axis=2) for p in pixels]


def test_ray_data_gives_the_single_process_maps_and_survives_a_dead_actor():
    """300 Fashion-MNIST images through Ray Data on a local 2-CPU cluster, two actors each
    with its own model: every image comes back once, with the map the module computes in
    this process (batches may be cut differently, so to float32 rounding, though they come out
    bit-identical here). Then again with an actor that dies (its process exits) on its first
    batch past image 100: Ray restarts it and retries the batch, and still every image comes
    back exactly once."""
    try:
        import ray
    except ImportError as e:
        raise Skipped(f"needs ray: {e}") from e
    import logging

    import whycam.ray

    images = fashion_mnist(300)
    alone = model().explain(images, method="gradcam")
    logging.getLogger("ray").setLevel(logging.WARNING)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="warning")
    try:
        ray.data.DataContext.get_current().enable_progress_bars = False
        with tempfile.TemporaryDirectory() as tmp:
            marker = pathlib.Path(tmp) / "died"

            class DiesOnce(whycam.ray.ExplainBatch):
                def __call__(self, batch):
                    if int(batch["index"][0]) >= 100 and not marker.exists():
                        marker.write_text("an actor died here")
                        os._exit(1)
                    return super().__call__(batch)

            for actor in (whycam.ray.ExplainBatch, DiesOnce):
                ds = ray.data.from_items(
                    [{"image": img, "index": i} for i, img in enumerate(images)])
                rows = ds.map_batches(
                    actor,
                    fn_constructor_kwargs={"method": "gradcam"},
                    batch_size=16,
                    batch_format="numpy",
                    compute=ray.data.ActorPoolStrategy(size=2),
                ).take_all()
                indices = sorted(int(r["index"]) for r in rows)
                assert indices == list(range(300)), f"{actor.__name__}: lost or doubled images"
                worst, exact = 0.0, 0
                for row in rows:
                    reference = alone[int(row["index"])]
                    assert int(row["target_index"]) == reference.target_index
                    assert row["method"] == "gradcam"
                    worst = max(worst, float(np.abs(row["raw"] - reference.raw).max()))
                    exact += row["raw"].tobytes() == reference.raw.tobytes()
                print(f"  ray ({actor.__name__}): 300 images, {exact} bit-identical, largest "
                      f"difference {worst:.1e}")
                assert worst < 1e-4, worst
            assert marker.exists(), "the actor never died: the second run tested nothing"
    finally:
        ray.shutdown()


def whycam_binary():
    """The command line the byte-for-byte tests compare with."""
    binary = os.environ.get("WHYCAM_BIN", str(ROOT / "target" / "release" / "whycam"))
    assert os.path.exists(binary), f"{binary} is missing: run cargo build --release first"
    return binary


def fashion_mnist_pngs(folder, count):
    """The first `count` Fashion-MNIST test images written as 28x28 RGB PNGs into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, pixels in enumerate(fashion_mnist(count)):
        write_png(folder / f"item{i:04d}.png", pixels)
    return folder


def outputs(folder):
    """The files a run wrote into `folder` (not its lock), name -> bytes."""
    return {
        p.name: p.read_bytes()
        for p in pathlib.Path(folder).iterdir()
        if p.is_file() and p.name not in ("explanations.json", ".whycam.lock")
    }


def summary_records(folder):
    """`explanations.json` of `folder` with the folder's own path taken out of file names, its
    images sorted by input."""
    text = (pathlib.Path(folder) / "explanations.json").read_text()
    summary = json.loads(text.replace(str(folder) + os.sep, "OUT/"))
    summary["images"].sort(key=lambda i: i["image"])
    return summary


def test_ray_explain_writes_the_command_lines_files_and_resumes():
    """whycam.ray.explain on a local 2-CPU cluster over 300 Fashion-MNIST PNGs and a corrupt one
    writes the files `whycam explain --save-raw` writes (same names, overlays and .npy byte for
    byte) and the same explanations.json records and error. It finishes a run that crashed
    (three batches journalled, one line cut, never joined) without explaining those batches
    again and with every image once, while one of its actors dies on its first batch (Ray
    retries the batch). A second call, given the paths as a Ray Dataset, skips everything but
    the batch of the corrupt file (failures are retried, as --resume retries them)."""
    try:
        import ray
    except ImportError as e:
        raise Skipped(f"needs ray: {e}") from e
    import logging

    import whycam.ray

    count = 300
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        images = fashion_mnist_pngs(tmp / "images", count)
        # Last in sorted order: the last batch holds items 296-299 and it.
        (images / "zzz-broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not a png" * 4)
        cli_out, ray_out = tmp / "cli", tmp / "ray"
        started = time.perf_counter()
        completed = subprocess.run(
            [whycam_binary(), "explain", "--save-raw", "--out", str(cli_out), str(images)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        assert completed.returncode == 1 and b"zzz-broken.png" in completed.stderr, completed
        cli_seconds = time.perf_counter() - started

        # A run that crashed: three batches written by one part, its last line cut.
        crashed = whycam._native.DirectoryRun(
            model(), str(ray_out), written=str(ray_out), save_raw=True)
        pending, skipped = crashed.plan([str(images)])
        assert skipped == 0 and len(pending) == -(-(count + 1) // 8), (skipped, len(pending))
        for batch in pending[:3]:
            assert crashed.explain_part(batch, "crashed") == []
        del crashed  # never finished: no explanations.json, the journal stays
        journal = ray_out / ".whycam-parts" / "crashed" / "explanations.partial.jsonl"
        lines = journal.read_text().splitlines(keepends=True)
        assert len(lines) == 1 + 24, len(lines)
        journal.write_text("".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])
        assert not (ray_out / "explanations.json").exists()

        logging.getLogger("ray").setLevel(logging.WARNING)
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 logging_level="warning")
        try:
            ray.data.DataContext.get_current().enable_progress_bars = False
            marker = tmp / "died"

            class DiesOnce(whycam.ray.ExplainParts):
                def __call__(self, batch):
                    if not marker.exists():
                        marker.write_text("an actor died here")
                        os._exit(1)
                    return super().__call__(batch)

            started = time.perf_counter()
            result = whycam.ray.explain(images, ray_out, save_raw=True, num_actors=2,
                                        _worker=DiesOnce)
            ray_seconds = time.perf_counter() - started
            assert marker.exists(), "the actor never died"
            # Batches 1 and 2 were complete; batch 3 lost its last line, so it is redone.
            assert (result.skipped, result.explained, result.failed) == (16, count - 16, 1), result
            assert not (ray_out / ".whycam-parts").exists()

            cli_files, ray_files = outputs(cli_out), outputs(ray_out)
            assert sorted(cli_files) == sorted(ray_files), set(cli_files) ^ set(ray_files)
            assert len(cli_files) == 3 * count, len(cli_files)
            different = [n for n in cli_files if cli_files[n] != ray_files[n]]
            assert not different, different[:5]
            cli_summary, ray_summary = summary_records(cli_out), summary_records(ray_out)
            assert [i["image"] for i in ray_summary["images"]] == sorted(
                str(p) for p in images.iterdir() if p.name != "zzz-broken.png")
            assert ray_summary == cli_summary
            assert [e["image"] for e in ray_summary["errors"]] == [str(images / "zzz-broken.png")]
            print(f"  ray.explain: {count} images, {len(cli_files)} files identical to the CLI's "
                  f"({ray_seconds:.1f}s on 2 actors with one death, CLI {cli_seconds:.1f}s)")

            # Everything else is done: a second call explains only the corrupt file's batch and
            # rewrites nothing else.
            stamps = {p.name: p.stat().st_mtime_ns for p in ray_out.iterdir()}
            paths = ray.data.from_items([{"path": str(p)} for p in sorted(images.iterdir())])
            again = whycam.ray.explain(paths, str(ray_out), save_raw=True)
            assert (again.skipped, again.explained, again.failed) == (count - 4, 4, 1), again
            redone = {f"item{i:04d}" for i in range(296, 300)}
            unchanged = {n: s for n, s in stamps.items()
                         if n != "explanations.json" and n.split(".")[0] not in redone}
            assert {n: ray_out.joinpath(n).stat().st_mtime_ns for n in unchanged} == unchanged
            assert outputs(ray_out) == cli_files
            assert summary_records(ray_out) == cli_summary
            # Other settings in the same folder are refused, as --resume refuses them.
            raises(whycam.WhycamError,
                   lambda: whycam.ray.explain(images, ray_out, method="gradcam++"))
        finally:
            ray.shutdown()


def test_pil_images_give_the_same_maps_as_their_files():
    try:
        from PIL import Image
    except ImportError as e:
        raise Skipped(f"needs Pillow: {e}") from e
    from_paths = model().explain([CHELSEA, COFFEE])
    with Image.open(CHELSEA) as chelsea, Image.open(COFFEE) as coffee:
        from_pil = model().explain([chelsea, coffee])
        [alone] = model().explain(chelsea)
        # Another mode is converted to RGB as Pillow converts it.
        rgba = model().explain(chelsea.convert("RGBA"))
        assert model().predict(chelsea, top_k=1) == model().predict(CHELSEA, top_k=1)
    assert [e.image for e in from_pil] == [0, 1]
    for path, pil in zip(from_paths, from_pil):
        assert pil.target_index == path.target_index
        assert pil.raw.tobytes() == path.raw.tobytes()
    assert alone.raw.tobytes() == from_paths[0].raw.tobytes()
    assert rgba[0].raw.tobytes() == from_paths[0].raw.tobytes()


class FakeTensor:
    """What whycam reads of a torch tensor, over a numpy array, so the conversion is tested
    without torch (the module is only ever looked up in sys.modules, never imported)."""

    def __init__(self, array):
        self.array = array
        self.shape = array.shape
        self.dtype = f"torch.{array.dtype}"

    def detach(self):
        return self

    def cpu(self):
        return self

    def is_floating_point(self):
        return self.array.dtype.kind == "f"

    def float(self):
        return FakeTensor(self.array.astype(np.float32))

    def numpy(self):
        return self.array


def tensor_batch_gives_the_same_maps_as_arrays(tensor):
    """`tensor(nchw)` makes a tensor of an NCHW numpy array; its maps must be the HWC arrays'."""
    pixels = np.stack(fashion_mnist(2))
    nhwc = pixels.astype(np.float32) / 255.0
    nchw = np.ascontiguousarray(nhwc.transpose(0, 3, 1, 2))
    expected = model().explain(list(nhwc))
    from_batch = model().explain(tensor(nchw))
    [from_one] = model().explain(tensor(nchw[1]))
    assert len(from_batch) == 2 and [e.image for e in from_batch] == [0, 1]
    for a, b in zip(expected, from_batch):
        assert a.raw.tobytes() == b.raw.tobytes()
    assert from_one.raw.tobytes() == expected[1].raw.tobytes()
    raises(whycam.InvalidArgument, lambda: model().explain(tensor(nhwc)))  # NHWC is not NCHW
    raises(whycam.InvalidArgument, lambda: model().explain(tensor(nchw * 2.0 - 1.0)))


def test_tensor_like_objects_are_read_as_torch_tensors_without_importing_torch():
    import sys
    import types

    had_torch = "torch" in sys.modules
    if had_torch:
        raise Skipped("torch is loaded: test_torch_tensor_batch covers it")
    fake = types.ModuleType("torch")
    fake.Tensor = FakeTensor
    sys.modules["torch"] = fake
    try:
        tensor_batch_gives_the_same_maps_as_arrays(FakeTensor)
    finally:
        del sys.modules["torch"]
    # Arrays and paths never import torch.
    model().explain([CHELSEA, np.zeros((32, 32, 3), np.uint8)])
    assert "torch" not in sys.modules


def test_torch_tensor_batch():
    try:
        import torch
    except ImportError as e:
        raise Skipped(f"needs torch: {e}") from e
    tensor_batch_gives_the_same_maps_as_arrays(torch.from_numpy)


def png_size(data):
    """(width, height) from a PNG's header, after checking its signature."""
    import struct

    assert data[:8] == b"\x89PNG\r\n\x1a\n", data[:8]
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def cli_overlay(photo, *options):
    """The overlay PNG `whycam explain` writes for `photo` (Grad-CAM), as bytes."""
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([whycam_binary(), "explain", *options, "--out", out, str(photo)],
                       check=True, stdout=subprocess.DEVNULL)
        return (pathlib.Path(out) / f"{pathlib.Path(photo).stem}.gradcam.png").read_bytes()


def test_overlays_are_the_command_lines_pngs_byte_for_byte():
    [e] = model().explain(CHELSEA)
    assert e.overlay_png() == cli_overlay(CHELSEA)
    assert e._repr_png_() == cli_overlay(CHELSEA)
    styled = e.overlay_png(alpha=0.3, colormap="viridis", gray_background=True)
    assert styled == cli_overlay(CHELSEA, "--alpha", "0.3", "--colormap", "viridis",
                                 "--gray-background")
    assert styled != e.overlay_png()
    raises(whycam.InvalidArgument, lambda: e.overlay_png(alpha=1.5))
    raises(whycam.InvalidArgument, lambda: e.overlay_png(colormap="nosuchmap"))


def test_overlay_as_pil_image_has_the_command_lines_pixels():
    try:
        from PIL import Image
    except ImportError as e:
        raise Skipped(f"needs Pillow: {e}") from e
    import io

    # A picture of another size and shape: the overlay covers the original, not the crop.
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, (300, 260, 3), dtype=np.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        png = pathlib.Path(tmp) / "noise.png"
        write_png(png, pixels)
        [e] = model().explain(png)
        picture = e.overlay(alpha=0.4, colormap="turbo")
        expected = Image.open(io.BytesIO(cli_overlay(png, "--alpha", "0.4", "--colormap", "turbo")))
    assert picture.mode == "RGB" and picture.size == (260, 300), (picture.mode, picture.size)
    assert np.array_equal(np.asarray(picture), np.asarray(expected.convert("RGB")))


def test_explain_batch_takes_image_bytes_and_returns_overlay_pngs():
    # The callable class Ray Data runs, called directly: encoded files in (as
    # ray.data.read_binary_files gives them), maps and the CLI's overlay PNGs out.
    from whycam.ray import ExplainBatch

    explain = ExplainBatch(column="bytes", overlays=True)
    files = np.empty(2, dtype=object)
    files[:] = [CHELSEA.read_bytes(), COFFEE.read_bytes()]
    out = explain({"bytes": files, "path": np.array([str(CHELSEA), str(COFFEE)])})
    assert list(out["path"]) == [str(CHELSEA), str(COFFEE)]
    # The same batch from the files (overlay_png is the CLI's file: tested above).
    for row, e in enumerate(model().explain([CHELSEA, COFFEE])):
        assert np.array_equal(out["raw"][row], e.raw), e.image
        assert out["overlay_png"][row] == e.overlay_png(), e.image
    [single] = model().explain(CHELSEA.read_bytes())
    [from_file] = model().explain(CHELSEA)
    assert single.image == 0 and np.array_equal(single.raw, from_file.raw)
    raises(whycam.DecodeError, lambda: model().explain(b"not an image"))


def test_figures_and_grids_are_the_command_lines_byte_for_byte():
    out = model().explain([CHELSEA, COFFEE], top_k=2)
    assert len(out) == 4
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([whycam_binary(), "explain", "--top-k", "2", "--figure", "--grid", "1x2",
                        "--out", tmp, str(CHELSEA), str(COFFEE)],
                       check=True, stdout=subprocess.DEVNULL)
        folder = pathlib.Path(tmp)
        for photo in (CHELSEA, COFFEE):
            expected = (folder / f"{photo.stem}.gradcam.figure.png").read_bytes()
            assert out.figure_png(image=str(photo)) == expected, photo
        assert out.figure_png() == (folder / "chelsea.gradcam.figure.png").read_bytes()
        assert out.grid_png(rows=1, columns=2) == (folder / "grid.gradcam.png").read_bytes()
    # By default ceil(sqrt(2)) = 2 columns and the one row they need.
    assert png_size(out.grid_png()) == png_size(out.grid_png(rows=1, columns=2))
    raises(ValueError, lambda: out.figure_png(image="no-such-image.png"))
    raises(ValueError, lambda: out.figure_png(method="layercam"))
    raises(whycam.InvalidArgument, lambda: out.grid_png(rows=1, columns=1))  # 2 tiles
    try:
        import PIL  # noqa: F401
    except ImportError:
        return
    assert out.figure().size == png_size(out.figure_png())
    assert out.grid().size == png_size(out.grid_png())


def test_notebook_reprs_render():
    out = model().explain([CHELSEA, COFFEE], method="gradcam,layercam")
    assert isinstance(out, list) and len(out) == 4
    first, *rest = out  # still a list in every way
    assert len(rest) == 3 and out[1:][0] is out[1]
    assert png_size(first._repr_png_()) == (224, 224)
    # An array of another size: the PNG is the original's size.
    [e] = model().explain(np.zeros((90, 120, 3), np.uint8))
    assert png_size(e._repr_png_()) == (120, 90)
    page = out._repr_html_()
    assert page.count("<img ") == 4 and page.count("data:image/png;base64,") == 4, page[:200]
    assert "layercam" in page and "chelsea" in page
    import base64
    import re

    for encoded in re.findall(r"base64,([A-Za-z0-9+/=]+)", page):
        assert png_size(base64.b64decode(encoded)) == (224, 224)
    try:
        from PIL import Image
    except ImportError:
        return
    import io

    with Image.open(io.BytesIO(first._repr_png_())) as decoded:
        assert decoded.size == (224, 224) and decoded.mode == "RGB"


def test_evaluate_reports_what_the_command_line_reports():
    metrics = ["avg-drop", "increase", "deletion", "insertion", "drop", "sparseness"]
    with tempfile.TemporaryDirectory() as tmp:
        # A picture of another size (so resizing and cropping run), as a file and an array.
        rng = np.random.default_rng(11)
        pixels = rng.integers(0, 256, (240, 280, 3), dtype=np.uint8)
        png = pathlib.Path(tmp) / "noise.png"
        write_png(png, pixels)
        completed = subprocess.run(
            [whycam_binary(), "evaluate", "--json", "--method", "gradcam,layercam",
             "--metric", ",".join(metrics), "--steps", "10", str(CHELSEA), str(png)],
            check=True, capture_output=True, text=True)
        expected = json.loads(completed.stdout)
        report = model().evaluate([CHELSEA, png], method="gradcam,layercam", metric=metrics,
                                  steps=10)
        # Alone, as the array is (a batch of two rounds otherwise).
        [from_file] = model().evaluate(png, method="gradcam,layercam", metric=metrics,
                                       steps=10)["images"]
        [from_array] = model().evaluate(pixels, method=["gradcam", "layercam"],
                                        metric=",".join(metrics), steps=10)["images"]
    assert set(report) >= {"model", "metrics", "intervals", "images", "errors"}, set(report)
    assert report["metrics"] == expected["metrics"], (report["metrics"], expected["metrics"])
    assert report["intervals"] == expected["intervals"]
    assert [i["image"] for i in report["images"]] == [str(CHELSEA), str(png)]
    for mine, theirs in zip(report["images"], expected["images"]):
        assert mine["methods"] == theirs["methods"], (mine, theirs)
    assert from_array["methods"] == from_file["methods"], (from_array, from_file)
    assert len(report["metrics"]["gradcam"]) >= len(metrics), report["metrics"]["gradcam"]
    e = raises(whycam.InvalidArgument, lambda: model().evaluate(CHELSEA, metric="nosuchmetric"))
    assert "nosuchmetric" in str(e), str(e)
    raises(whycam.InvalidArgument, lambda: model().evaluate(CHELSEA, metric="pointing-game"))
