# ipc-trace bundled schema: Bitcoin Core Handler interface (node/wallet split
# branch, src/ipc/capnp/handler.capnp). Returned by every handle*() method that
# registers a callback; disconnect/destroy unregisters it.

@0xebd8f46e2f369076;

using Proxy = import "/mp/proxy.capnp";

interface Handler $Proxy.wrap("interfaces::Handler") {
  destroy @0 (context :Proxy.Context) -> ();
  disconnect @1 (context :Proxy.Context) -> ();
}
