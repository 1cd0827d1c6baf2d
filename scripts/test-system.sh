#!/usr/bin/env bash
# Suites that need system packages: capnp (compiler), libcapnp-dev and g++
# (the C++ reference decoder in ../shared/tools/capnp-oracle, C++ peers, the
# native relay pump, built here if `npm install` could not: the relay's own
# suites run again with IPC_TRACE_RELAY=pump, see vitest.system.config.ts).
# Extra arguments go to vitest.
set -u
cd "$(dirname "$0")/.."
for tool in capnp g++ pkg-config tmux; do
  command -v "$tool" >/dev/null || { echo "test-system: $tool not found (apt-get install capnproto libcapnp-dev g++ pkg-config tmux)" >&2; exit 1; }
done
node scripts/build-pump.mjs --required || exit 1
exec npx vitest run --config vitest.system.config.ts "$@"
