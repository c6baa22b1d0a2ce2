#!/usr/bin/env bash
# Installs what Weir's tests need (idempotently) and runs them all:
#   formatting, clippy, unit and black-box tests (cargo), then the end-to-end tests against
#   real peers (pytest in integration/: OpenTelemetry SDK clients, StatsD clients, a real
#   Prometheus server and node_exporter).
# This is the command README.md gives and .ci/run calls. Safe to run again: each install
# step is skipped when what it installs is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$(pwd)"
# A fresh checkout gains nothing from incremental compilation; it only costs disk.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

step() { printf '\n==> %s\n' "$*"; }

# --- Debian packages: the real third-party peers --------------------------------------
need_pkgs=()
command -v prometheus >/dev/null 2>&1 || [ -x /usr/bin/prometheus ] || need_pkgs+=(prometheus)
command -v prometheus-node-exporter >/dev/null 2>&1 || [ -x /usr/bin/prometheus-node-exporter ] || need_pkgs+=(prometheus-node-exporter)
# The pipeline page is tested in Debian's headless chromium (Playwright drives it; no browser
# download) and `weir top` in tmux.
[ -x /usr/bin/chromium ] || need_pkgs+=(chromium)
command -v tmux >/dev/null 2>&1 || need_pkgs+=(tmux)
# The kafka components build librdkafka from source against the system's OpenSSL;
# test_packaging.py checks the systemd unit with systemd-analyze.
dpkg -s libssl-dev >/dev/null 2>&1 || need_pkgs+=(libssl-dev)
command -v pkg-config >/dev/null 2>&1 || need_pkgs+=(pkg-config)
command -v systemd-analyze >/dev/null 2>&1 || need_pkgs+=(systemd)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  step "installing Debian packages: ${need_pkgs[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  # Keep the packages' services from being started by the install: tests start their own
  # instances on loopback with temporary storage.
  policy_created=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    policy_created=1
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}"
  if [ "$policy_created" = 1 ]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi
fi

# --- Python venv with the OpenTelemetry SDK and StatsD clients -------------------------
VENV="$REPO/.venv"
if [ ! -x "$VENV/bin/python" ]; then
  step "creating Python venv in .venv"
  python3 -m venv "$VENV"
fi
req_hash="$(sha256sum integration/requirements.txt | cut -d' ' -f1)"
if [ "$(cat "$VENV/.requirements.sha256" 2>/dev/null || true)" != "$req_hash" ]; then
  step "installing Python packages (integration/requirements.txt)"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r integration/requirements.txt
  echo "$req_hash" > "$VENV/.requirements.sha256"
fi

# --- Dependency policy: cargo-deny (licenses, bans, sources; tests/deny.toml) ----------
# Advisories are not checked: the RustSec database cannot be fetched here (README, Security).
if ! command -v cargo-deny >/dev/null 2>&1; then
  step "installing cargo-deny"
  cargo install --locked cargo-deny
fi
step "cargo deny check licenses bans sources"
cargo deny --manifest-path Cargo.toml --config tests/deny.toml check licenses bans sources

# --- Rust: format, lint, build, unit and black-box tests ------------------------------
step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
step "cargo doc (module docs and links must hold)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
step "cargo build"
cargo build --workspace --bins
step "cargo test"
cargo test --workspace
step "fuzz smoke run (tests/fuzz/run.sh: installs cargo-fuzz if missing, builds into target/fuzz, ${FUZZ_SECONDS:-15} s per target)"
tests/fuzz/run.sh "${FUZZ_SECONDS:-15}"
step "cargo build: the storm load generator (bench/otlp/loadgen, its own workspace; for integration/test_storm.py)"
cargo build --release -q --manifest-path bench/otlp/loadgen/Cargo.toml --target-dir "${CARGO_TARGET_DIR:-$REPO/target}/loadgen"
export LOADGEN_BIN="${CARGO_TARGET_DIR:-$REPO/target}/loadgen/release/otlp-loadgen"

# --- End to end against real peers -----------------------------------------------------
step "end-to-end tests (pytest integration/)"
WEIR_BIN="${CARGO_TARGET_DIR:-$REPO/target}/debug/weir" "$VENV/bin/python" -m pytest integration -q -p no:cacheprovider
