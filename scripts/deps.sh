#!/usr/bin/env bash
# Installs the Debian packages StreamTune builds and tests with, if any is missing.
# Sourced or run by demo.sh and test.sh; safe to run again (does nothing when all are there).
set -euo pipefail

STN_DEBIAN_PACKAGES=(
  build-essential cmake pkg-config
  libzmq3-dev libmsgpack-dev libopenblas-dev libsqlite3-dev libcmocka-dev fonts-dejavu-core
  clang libclang-rt-14-dev   # libFuzzer and the sanitizer runtimes
  binutils                   # nm, for the ABI test
)

missing=()
for p in "${STN_DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "== installing Debian packages: ${missing[*]}"
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  else
    echo "error: Rust (cargo >= 1.86) is needed: install it with rustup" >&2
    exit 1
  fi
fi
