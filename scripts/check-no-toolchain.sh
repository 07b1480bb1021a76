#!/usr/bin/env bash
# `npm ci && npm start` where no C++ toolchain is: a fresh clone of a commit (default HEAD) in a temp dir, `npm ci`
# with a PATH that holds only node, npm and sh (no compiler, no make, no python, so node-gyp cannot build the
# optional addon pkcs11js), then `npm start`, `unwrapd status` against it, and `unwrapd keys check pkcs11:…`,
# which must say how to enable PKCS#11; then times the CLI's forms (`node bin/unwrapd.js`, `unwrapd` after
# `npm link`, `npx unwrapd`). Exits non-zero on the first check that fails.
#
#   scripts/check-no-toolchain.sh [COMMIT]
#
# Needs the npm registry (or a warm npm cache) and a few minutes; not part of `npm test` or .ci/run.
# docs/testing.md ("Installing without a C++ toolchain") describes it.
set -euo pipefail

repo=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
commit=$(git -C "$repo" rev-parse --verify "${1:-HEAD}^{commit}")
work=$(mktemp -d "${TMPDIR:-/tmp}/unwrapd-no-toolchain.XXXXXX")
daemon=''
started=$SECONDS

cleanup() {
  local status=$?
  if [ -n "$daemon" ]; then kill -TERM -- "-$daemon" 2>/dev/null || true; fi
  if [ "$status" = 0 ]; then rm -rf "$work"; else echo "check-no-toolchain: logs left in $work" >&2; fi
}
trap cleanup EXIT

step() { printf '\n== %s (%ds)\n' "$*" $((SECONDS - started)); }
fail() {
  printf 'check-no-toolchain: FAILED: %s\n' "$*" >&2
  exit 1
}

# A PATH with node, npm, npx and sh only: what a machine without build tools has.
bin="$work/bin"
mkdir -p "$bin"
for tool in node npm npx sh; do
  ln -s "$(command -v "$tool")" "$bin/$tool"
done
bare() { env PATH="$bin" npm_config_python=/nonexistent "$@"; }

step "toolchain hidden: PATH=$bin"
for tool in cc gcc c++ g++ make python3 python; do
  if bare sh -c "command -v $tool" >/dev/null 2>&1; then fail "$tool is still on the PATH"; fi
done
echo "no cc, gcc, c++, g++, make, python3 or python on the PATH"

step "fresh clone of $commit"
git clone --quiet --no-checkout "$repo" "$work/unwrapd"
git -C "$work/unwrapd" checkout --quiet --detach "$commit"
cd "$work/unwrapd"

step "npm ci (log: npm-ci.log)"
# --foreground-scripts: the install scripts' output (node-gyp's) in the log; --prefer-offline: the npm cache
# when it has a package, the registry otherwise.
if ! bare npm ci --no-audit --no-fund --prefer-offline --foreground-scripts --loglevel=verbose >"$work/npm-ci.log" 2>&1; then
  tail -n 40 "$work/npm-ci.log" >&2
  fail "npm ci exited non-zero"
fi
# npm drops an optional dependency whose install script failed; the verbose log says why.
grep -E 'gyp ERR! (stack Error|not ok)|failed optional dependency' "$work/npm-ci.log" || true
grep -q 'failed optional dependency .*/node_modules/pkcs11js$' "$work/npm-ci.log" ||
  fail "npm's log shows no failed optional dependency pkcs11js"
grep -q 'gyp ERR! find Python' "$work/npm-ci.log" || fail "node-gyp did not fail for want of a Python"
[ ! -e node_modules/pkcs11js ] || fail "node_modules/pkcs11js exists: the addon was not skipped"
echo "npm ci succeeded; node-gyp failed; pkcs11js skipped"
[ -e dist/.build-stamp ] || fail "npm ci (prepare) did not build dist/"
echo "dist/ built by prepare"

step "npm start"
export UNWRAPD_DATA_DIR="$work/data"
# In a process group of its own (npm, the shell npm runs the script in, the daemon), stopped as one below.
set -m
env PATH="$bin" npm start >"$work/serve.log" 2>&1 &
daemon=$!
set +m
for _ in $(seq 1 1200); do
  grep -q 'is listening on' "$work/serve.log" && break
  kill -0 "$daemon" 2>/dev/null || {
    cat "$work/serve.log" >&2
    fail "npm start exited"
  }
  sleep 0.1
done
grep -q 'is listening on' "$work/serve.log" || fail "the daemon did not start within 120 s"
grep 'is listening on' "$work/serve.log"

step "unwrapd status"
bare node bin/unwrapd.js status | tee "$work/status.out"
grep -q ', serving, ' "$work/status.out" || fail "status does not say serving"

step "unwrapd keys check pkcs11:… (no PKCS#11 module configured)"
out=$(bare node bin/unwrapd.js keys check 'pkcs11:token=demo;object=key' 2>&1) && fail "keys check succeeded"
echo "$out"
grep -q 'the PKCS#11 provider is not configured: set pkcs11Module' <<<"$out" || fail "no word on enabling PKCS#11"
grep -q 'install a C++ toolchain (make, g++, python3) and re-run npm ci: the optional native addon pkcs11js' <<<"$out" ||
  fail "no word on installing the addon"

step "unwrapd keys check pkcs11:… (a module configured, the addon missing)"
out=$(UNWRAPD_PKCS11_MODULE="$work/bin/node" UNWRAPD_PKCS11_PIN=1 \
  bare node bin/unwrapd.js keys check 'pkcs11:token=demo;object=key' 2>&1) && fail "keys check succeeded"
echo "$out"
grep -q 'needs the optional native addon pkcs11js, which is not installed: install a C++ toolchain' <<<"$out" ||
  fail "no word on installing the addon"

step "the CLI's forms, timed (wall seconds; informative)"
ms() {
  local start=$(date +%s%N)
  "$@" >/dev/null 2>&1 || fail "$* failed"
  echo $((($(date +%s%N) - start) / 1000000))
}
# npm link with a prefix of its own: the link and the `unwrapd` command on it stay in the temp dir.
env PATH="$bin" npm_config_prefix="$work/global" npm link --no-audit --no-fund >"$work/npm-link.log" 2>&1 ||
  fail "npm link failed (npm-link.log)"
linked() { env PATH="$work/global/bin:$bin" "$@"; }
for _ in 1 2 3; do
  echo "node -e 0: $(ms bare node -e 0) ms; node bin/unwrapd.js status: $(ms bare node bin/unwrapd.js status) ms;" \
    "unwrapd status (npm link): $(ms linked unwrapd status) ms; npx unwrapd status: $(ms bare npx unwrapd status) ms"
done

step "stop the daemon (SIGTERM)"
kill -TERM -- "-$daemon"
wait "$daemon" || true # npm's own status on a signal (143); the daemon's log says how it stopped
for _ in $(seq 1 300); do
  grep -q '"msg":"stopped"' "$work/serve.log" && break
  sleep 0.1
done
grep '"msg":"stopped"' "$work/serve.log" || fail "the daemon did not log a graceful stop within 30 s"
daemon=''

printf '\ncheck-no-toolchain: OK in %ds (npm ci, npm start, status, keys check without pkcs11js)\n' $((SECONDS - started))
