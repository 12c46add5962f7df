#!/usr/bin/env bash
# The README's test command: installs from Debian what the tests need and is missing
# (chromium, which opens the HTML report headless; Fashion-MNIST, the real dataset the
# readers and training are tested on), then runs every test of the workspace.
# Extra arguments go to cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
[ -d /usr/share/datasets/fashion-mnist ] || missing+=(dataset-fashion-mnist)
if ((${#missing[@]})); then
    echo "installing ${missing[*]} from Debian" >&2
    sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
exec cargo test --workspace --release "$@"
