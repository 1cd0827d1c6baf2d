# ipc-trace bundled schema: Bitcoin Core Echo interface (src/ipc/capnp/echo.capnp).
# Test interface behind the `echoipc` RPC: returns its argument unchanged.

@0x888b4f7f51e691f7;

using Proxy = import "/mp/proxy.capnp";

interface Echo $Proxy.wrap("interfaces::Echo") {
  destroy @0 (context :Proxy.Context) -> ();
  echo @1 (context :Proxy.Context, echo :Text) -> (result :Text);
}
