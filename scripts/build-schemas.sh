#!/bin/sh
# Regenerates the precompiled schema bundles under schemas/compiled/ with the
# capnp compiler (Debian: capnproto, libcapnp-dev). Run: npm run schemas
#   bitcoin.cgr  the bundled Bitcoin Core + libmultiprocess schemas
#   rpc.cgr      Cap'n Proto's rpc.capnp (the RPC envelope every message is in)
set -e
cd "$(dirname "$0")/.."
command -v capnp >/dev/null || { echo "capnp not found: install Debian's capnproto and libcapnp-dev" >&2; exit 1; }
RPC=${CAPNP_RPC_SCHEMA:-/usr/include/capnp/rpc.capnp}
[ -f "$RPC" ] || { echo "$RPC not found: install libcapnp-dev" >&2; exit 1; }
mkdir -p schemas/compiled
capnp compile -o- -I schemas --src-prefix=schemas schemas/mp/proxy.capnp schemas/ipc/*.capnp > schemas/compiled/bitcoin.cgr
capnp compile -o- --src-prefix="$(dirname "$RPC")" "$RPC" > schemas/compiled/rpc.cgr
ls -l schemas/compiled
