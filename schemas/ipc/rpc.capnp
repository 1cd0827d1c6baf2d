# ipc-trace bundled schema: Bitcoin Core Rpc interface (src/ipc/capnp/rpc.capnp).
# Used by `bitcoin-cli -ipcconnect`: one JSON-RPC request in, JSON reply out.

@0x9c3505dc45e146ac;

using Proxy = import "/mp/proxy.capnp";

interface Rpc $Proxy.wrap("interfaces::Rpc") {
  executeRpc @0 (context :Proxy.Context, request :Text, uri :Text, user :Text) -> (result :Text);
}
