#!/usr/bin/env bash
# The README's test command: installs from Debian what the tests need and is missing
# (chromium, which opens the HTML report headless; Fashion-MNIST, the real dataset the
# readers and training are tested on; on x86-64, qemu-user, which runs the parity tests at
# lower SIMD levels), then runs every test of the workspace at the CPU's own SIMD level, and
# the numerical parity tests again at each lower x86-64 level (see below).
#
# Every test binary runs even when an earlier one fails (--no-fail-fast); the failures of all
# runs are listed together at the end, and the exit status is non-zero if there was one.
# Extra arguments go to the full run's cargo test. WHYCAM_SIMD_LEVELS=native skips the
# emulated levels (for a quick local run; CI runs them all).
set -uo pipefail
cd "$(dirname "$0")/.."

arch=$(uname -m)
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
[ -d /usr/share/datasets/fashion-mnist ] || missing+=(dataset-fashion-mnist)
# The Python module's tests build its wheel in a virtual environment.
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
if [ "$arch" = x86_64 ] && ! command -v qemu-x86_64 >/dev/null 2>&1; then
    missing+=(qemu-user)
fi
if ((${#missing[@]})); then
    echo "installing ${missing[*]} from Debian" >&2
    sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq || exit 1
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >&2 || exit 1
fi

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
runs=()
failed_runs=0

# run NAME COMMAND...: runs a cargo test command, keeping its output for the summary.
run() {
    local name=$1
    shift
    runs+=("$name")
    echo "=== $name: $*" >&2
    "$@" 2>&1 | tee "$logs/$name.log"
    local rc=${PIPESTATUS[0]}
    if ((rc != 0)); then
        failed_runs=$((failed_runs + 1))
        echo "=== $name: exit $rc" >&2
    fi
}

run native cargo test --workspace --release --no-fail-fast "$@"

# The Python module (python/ and crates/whycam-py): its wheel built by maturin (from PyPI) in
# a virtual environment under target/ (with Ray Data, for whycam.ray's test on a local
# cluster), installed there, and python/tests/run.py run, which
# compares its maps with the files the binary just built writes and ends with a line in
# cargo's format. maturin must run in python/, where pyproject.toml is.
python_tests() {
    local venv=$PWD/target/pyvenv
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv" || return 1
    "$venv/bin/pip" install -q --disable-pip-version-check maturin numpy pillow "ray[data]" || return 1
    rm -rf target/wheels
    (cd python && CARGO_TARGET_DIR="$PWD/../target" "$venv/bin/maturin" build --release \
        -o ../target/wheels) || return 1
    "$venv/bin/pip" install -q --disable-pip-version-check --no-deps --force-reinstall \
        target/wheels/whycam-*.whl || return 1
    "$venv/bin/python" python/tests/run.py
}
run python python_tests

# The kernel libraries (burn-flex's macerator, gemm, faer's pulp, fast_image_resize) choose
# AVX-512, AVX2 + FMA or SSE at run time and offer no switch to cap that choice, so the numerical
# tests run again under qemu-x86_64 with a CPU model whose CPUID reports a lower level: Haswell
# (x86-64-v3: AVX2 and FMA) and Nehalem (x86-64-v2: SSE4.2 without FMA, where gemm falls back to
# its scalar kernels). Emulation is 90 to 240 times slower than the CPU, so of the network parity
# tests only the cases most sensitive to rounding run there (cam_parity's worst_conditioned: per
# ill-conditioned method the case where PyTorch's own float32 lands farthest from float64, on the
# default model and on ResNet-50's 64x64 crops at layer4; about 70 s on 2 cores); the resizing,
# colour-map, golden-image and PCA tests and the libraries' unit tests, the kernels' included,
# run whole (about 5 minutes). The CAM test checks that it sees the level it was asked for
# (WHYCAM_EXPECT_SIMD).
# (--workspace keeps the features of the full run, so nothing is compiled again, and lets
# --test name a target of any package: cam_parity is whycam-cam's, colormaps and golden_images
# whycam-render's, pca_sklearn whycam-embed's.)
emulated_tests() {
    local rc=0
    cargo test --workspace --release --no-fail-fast --test cam_parity -- worst_conditioned || rc=1
    cargo test --workspace --release --no-fail-fast --lib \
        --test colormaps --test golden_images --test pca_sklearn || rc=1
    return $rc
}

# Entries are name:qemu CPU model:level number.
levels=("v3:Haswell-noTSX,-pcid,-x2apic,-tsc-deadline,-invpcid:3" "v2:Nehalem:2")
if [ "$arch" = x86_64 ] && [ "${WHYCAM_SIMD_LEVELS:-all}" != native ]; then
    native_rank=1
    grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo && native_rank=3
    grep -qw avx512f /proc/cpuinfo && native_rank=4
    for entry in "${levels[@]}"; do
        IFS=: read -r level model rank <<<"$entry"
        ((rank < native_rank)) || continue
        CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER="qemu-x86_64 -cpu $model" \
            WHYCAM_EXPECT_SIMD="$level" run "simd-$level" emulated_tests
    done
fi

# Summary: every failing test of every run, with its test binary and its panic message (up to
# six lines), then cargo's own error lines.
echo
echo "=== summary"
for name in "${runs[@]}"; do
    awk -v run="$name" '
        /^ *Running / {
            binary = $0
            sub(/^ *Running /, "", binary)
            if (match(binary, /deps\/[^)]*/)) {
                target = substr(binary, RSTART + 5, RLENGTH - 5)
                sub(/-[0-9a-f]+$/, "", target)
                sub(/ \(.*/, "", binary)
                binary = target ", " binary
            }
        }
        /^---- .* stdout ----$/ { current = $2; lines = -1; next }
        lines < 0 && /panicked at/ { lines = 0; next }
        lines >= 0 && current != "" {
            if ($0 == "" || /^note: / || /^stack backtrace:/ || lines == 6) {
                current = ""; lines = -1; next
            }
            panics[current] = panics[current] "\n      " $0
            lines++
        }
        /^test .* \.\.\. FAILED$/ { failed[++n] = $2; where[n] = binary }
        /^test result:/ { passed += $4; failures += $6 }
        /^error: / { errors = errors "\n  " $0; next }
        /^    `/ { errors = errors "\n  " $0 }
        END {
            printf "%s: %d passed, %d failed\n", run, passed, failures
            for (i = 1; i <= n; i++)
                printf "  FAILED %s (%s)%s\n", failed[i], where[i], panics[failed[i]]
            if (errors != "") print substr(errors, 2)
        }' "$logs/$name.log"
done
if ((failed_runs)); then
    echo "$failed_runs of ${#runs[@]} runs failed"
    exit 1
fi
echo "all ${#runs[@]} runs passed"
