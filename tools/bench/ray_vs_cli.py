#!/usr/bin/env python3
"""Ray Data against the command line on the same images, in the same run: ``whycam explain
--out DIR`` (the whole process, model loading included) and ``whycam.ray.explain(..., output=DIR,
num_actors=N)`` on a local Ray cluster of ``ray.init(num_cpus=CPUS)`` (the call, actors starting
and loading their models included; the cluster itself is started once, before timing, as a Ray
user's cluster is already running). Both write the same files (Grad-CAM overlays, batches of 8,
the default model) into empty folders; the runs alternate. Prints the median of
WHYCAM_BENCH_RUNS runs (default 3) of each and the ratio (issue 19's goal: Ray no more than 1.2x
the command line's time).

    target/pyvenv/bin/python tools/bench/ray_vs_cli.py DIR [CPUS]

Needs a Python with the whycam wheel and ``ray[data]`` (tools/test.sh's test venv,
``target/pyvenv``, has both) and the release binary (``cargo build --release``; WHYCAM_BIN
names another).
"""

import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
RUNS = int(os.environ.get("WHYCAM_BENCH_RUNS", "3"))


def main():
    import ray
    import whycam.ray

    folder = pathlib.Path(sys.argv[1])
    cpus = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    binary = os.environ.get("WHYCAM_BIN", str(ROOT / "target" / "release" / "whycam"))
    count = sum(1 for p in folder.rglob("*") if p.is_file())
    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)

    def cli():
        with tempfile.TemporaryDirectory() as out:
            subprocess.run([binary, "explain", "--method", "gradcam", "--out", out, str(folder)],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           env=dict(os.environ, RAYON_NUM_THREADS=str(cpus)))

    def on_ray():
        with tempfile.TemporaryDirectory() as out:
            result = whycam.ray.explain(str(folder), output=out, method="gradcam",
                                        num_actors=cpus)
            assert result.failed == 0 and result.skipped == 0, result

    times = {"whycam explain": [], f"whycam.ray.explain ({cpus} actors)": []}
    for _ in range(RUNS):
        for (name, run) in zip(times, (cli, on_ray)):
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    print(f"{count} images, {cpus} CPUs, Grad-CAM overlays, median of {RUNS}:")
    med = {name: statistics.median(t) for name, t in times.items()}
    for name, t in med.items():
        print(f"  {name:<34}{t:7.2f} s   (runs: {', '.join(f'{v:.2f}' for v in times[name])})")
    cli_time, ray_time = med.values()
    print(f"  Ray takes {ray_time / cli_time:.2f}x the command line's time")
    ray.shutdown()


if __name__ == "__main__":
    main()
