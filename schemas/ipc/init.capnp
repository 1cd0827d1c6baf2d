# ipc-trace bundled schema: Bitcoin Core Init interface (src/ipc/capnp/init.capnp).
#
# Superset of bitcoin/bitcoin master (@0-@4) and the node/wallet split branch
# of PR #10102 (@5-@7). Init is the bootstrap capability every Bitcoin Core
# process serves: construct swaps ThreadMaps, the make* methods hand out the
# other interfaces.

@0xf2c5cfa319406aa6;

using Proxy = import "/mp/proxy.capnp";
using Chain = import "chain.capnp";
using Common = import "common.capnp";
using Echo = import "echo.capnp";
using Mining = import "mining.capnp";
using Node = import "node.capnp";
using Rpc = import "rpc.capnp";
using Wallet = import "wallet.capnp";

interface Init $Proxy.wrap("interfaces::Init") {
  # First call on every connection (no Context): exchange ThreadMaps.
  construct @0 (threadMap :Proxy.ThreadMap) -> (threadMap :Proxy.ThreadMap);

  # --- master ---
  makeEcho @1 (context :Proxy.Context) -> (result :Echo.Echo);
  # Retired v30 ordinal of makeMining; the server answers with an error.
  makeMiningOld2 @2 () -> ();
  makeMining @3 (context :Proxy.Context) -> (result :Mining.Mining);
  makeRpc @4 (context :Proxy.Context) -> (result :Rpc.Rpc);

  # --- node/wallet split (PR #10102) ---
  makeChain @5 (context :Proxy.Context) -> (result :Chain.Chain);
  makeNode @6 (context :Proxy.Context) -> (result :Node.Node);
  makeWalletLoader @7 (context :Proxy.Context, globalArgs :Common.GlobalArgs, chain :Chain.Chain)
      -> (result :Wallet.WalletLoader);
}
