# ipc-trace bundled schema: Bitcoin Core mining interface (src/ipc/capnp/mining.capnp),
# as on bitcoin/bitcoin master (58a7869f). Served on `bitcoin-node -ipcbind`
# to Stratum v2 template providers and other external mining clients.
#
# Several fields have non-zero defaults. Primitive values travel XORed with
# their default, so a decoder must know them (e.g. an all-zero `timeout` on the
# wire means maxDouble).

@0xc77d03df6a41b505;

using Proxy = import "/mp/proxy.capnp";
using Common = import "common.capnp";

const maxMoney :Int64 = 2100000000000000;                 # 21M BTC in satoshis
const maxDouble :Float64 = 1.7976931348623157e308;        # "wait forever"
const defaultBlockReservedWeight :UInt32 = 8000;
const defaultCoinbaseOutputMaxAdditionalSigops :UInt32 = 400;

# Entry point returned by Init.makeMining.
interface Mining $Proxy.wrap("interfaces::Mining") {
  isTestChain @0 (context :Proxy.Context) -> (result :Bool);
  isInitialBlockDownload @1 (context :Proxy.Context) -> (result :Bool);
  getTip @2 (context :Proxy.Context) -> (result :Common.BlockRef, hasResult :Bool);
  # Blocks until the tip differs from currentTip or the timeout (ms) passes.
  waitTipChanged @3 (context :Proxy.Context, currentTip :Data, timeout :Float64 = .maxDouble)
      -> (result :Common.BlockRef);
  createNewBlock @4 (context :Proxy.Context, options :BlockCreateOptions, cooldown :Bool = true)
      -> (result :BlockTemplate);
  checkBlock @5 (context :Proxy.Context, block :Data, options :BlockCheckOptions)
      -> (reason :Text, debug :Text, result :Bool);
  # No Context: runs on the server's event-loop thread, wakes waitTipChanged.
  interrupt @6 () -> ();
  submitBlock @7 (context :Proxy.Context, block :Data) -> (reason :Text, debug :Text, result :Bool);
  getTransactionsByTxID @8 (context :Proxy.Context, txids :List(Data)) -> (result :List(Data));
  getTransactionsByWitnessID @9 (context :Proxy.Context, wtxids :List(Data)) -> (result :List(Data));
}

# A block template held by the node for the client; destroy releases it.
interface BlockTemplate $Proxy.wrap("interfaces::BlockTemplate") {
  destroy @0 (context :Proxy.Context) -> ();
  getBlockHeader @1 (context :Proxy.Context) -> (result :Data);
  getBlock @2 (context :Proxy.Context) -> (result :Data);
  getTxFees @3 (context :Proxy.Context) -> (result :List(Int64));
  getTxSigops @4 (context :Proxy.Context) -> (result :List(Int64));
  getCoinbaseTx @5 (context :Proxy.Context) -> (result :CoinbaseTx);
  getCoinbaseMerklePath @6 (context :Proxy.Context) -> (result :List(Data));
  # Deprecated predecessor of submitSolution @10 (the server rejects it).
  submitSolutionOld7 @7 (context :Proxy.Context, version :UInt32, timestamp :UInt32,
                         nonce :UInt32, coinbase :Data) -> (result :Bool);
  # Blocks until a better template exists (or timeout); null result on timeout.
  waitNext @8 (context :Proxy.Context, options :BlockWaitOptions) -> (result :BlockTemplate);
  # No Context: event-loop thread, aborts a pending waitNext.
  interruptWait @9 () -> ();
  submitSolution @10 (context :Proxy.Context, version :UInt32, timestamp :UInt32,
                      nonce :UInt32, coinbase :Data) -> (reason :Text, debug :Text, result :Bool);
}

# node::BlockCreateOptions
struct BlockCreateOptions $Proxy.wrap("node::BlockCreateOptions") {
  useMempool @0 :Bool = true $Proxy.name("use_mempool");
  blockReservedWeight @1 :UInt64 = .defaultBlockReservedWeight $Proxy.name("block_reserved_weight");
  coinbaseOutputMaxAdditionalSigops @2 :UInt64 = .defaultCoinbaseOutputMaxAdditionalSigops
      $Proxy.name("coinbase_output_max_additional_sigops");
}

# node::BlockWaitOptions (timeout in milliseconds, fee threshold in satoshis)
struct BlockWaitOptions $Proxy.wrap("node::BlockWaitOptions") {
  timeout @0 :Float64 = .maxDouble $Proxy.name("timeout");
  feeThreshold @1 :Int64 = .maxMoney $Proxy.name("fee_threshold");
}

# node::BlockCheckOptions
struct BlockCheckOptions $Proxy.wrap("node::BlockCheckOptions") {
  checkMerkleRoot @0 :Bool = true $Proxy.name("check_merkle_root");
  checkPow @1 :Bool = true $Proxy.name("check_pow");
}

# node::CoinbaseTx - the pieces a client needs to build its own coinbase.
struct CoinbaseTx $Proxy.wrap("node::CoinbaseTx") {
  version @0 :UInt32 $Proxy.name("version");
  sequence @1 :UInt32 $Proxy.name("sequence");
  scriptSigPrefix @2 :Data $Proxy.name("script_sig_prefix");
  witness @3 :Data $Proxy.name("witness");
  blockRewardRemaining @4 :Int64 $Proxy.name("block_reward_remaining");
  requiredOutputs @5 :List(Data) $Proxy.name("required_outputs");
  lockTime @6 :UInt32 $Proxy.name("lock_time");
}
