"""Runs every `test_*` function of test_whycam.py and ends with one line in cargo's format,
which CI counts; the exit status is 1 if a test failed.

Build and run (from the repository root; the byte-for-byte tests run the CLI, so build it
first with `cargo build --release`):

    python3 -m venv /tmp/pyvenv && /tmp/pyvenv/bin/pip install maturin numpy
    (cd python && CARGO_TARGET_DIR=$PWD/../target /tmp/pyvenv/bin/maturin build --release -o /tmp/wheels)
    /tmp/pyvenv/bin/pip install --force-reinstall /tmp/wheels/whycam-*.whl
    /tmp/pyvenv/bin/python python/tests/run.py

or, in one step, `/tmp/pyvenv/bin/pip install ./python` instead of the two middle lines.
maturin must run in python/ (where pyproject.toml names the crate and the Python sources):
`maturin build -m crates/whycam-py/Cargo.toml` from the root would miss pyproject.toml and
build a wheel without the `whycam` package. The workspace's target/ is used either way, but
the module's dependencies are compiled once more than the CLI's: pyo3 and numpy enable
features of shared crates (syn, matrixmultiply) and the CLI enables others (libc, tracing),
so burn is built for each set (about 10 minutes on 2 cores the first time; afterwards a change
to the Rust code rebuilds the wheel in ~10-20 s).
"""

import pathlib
import sys
import time
import traceback

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import test_whycam  # noqa: E402


def main():
    tests = [
        (name, getattr(test_whycam, name))
        for name in sorted(vars(test_whycam))
        if name.startswith("test_") and callable(getattr(test_whycam, name))
    ]
    print(f"running {len(tests)} tests")
    started = time.perf_counter()
    failed = []
    ignored = 0
    for name, test in tests:
        try:
            test()
        except test_whycam.Skipped as why:
            print(f"test {name} ... ignored ({why})")
            ignored += 1
        except Exception:  # noqa: BLE001 - every failure is reported, the rest still run
            print(f"test {name} ... FAILED")
            failed.append((name, traceback.format_exc()))
        else:
            print(f"test {name} ... ok")
    elapsed = time.perf_counter() - started
    for name, trace in failed:
        print(f"\n---- {name} ----\n{trace}")
    passed = len(tests) - len(failed) - ignored
    status = "FAILED" if failed else "ok"
    print(
        f"\ntest result: {status}. {passed} passed; {len(failed)} failed; {ignored} ignored; "
        f"0 measured; 0 filtered out; finished in {elapsed:.2f}s"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
