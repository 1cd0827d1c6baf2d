# ipc-trace bundled schema: Bitcoin Core shared structs (common.capnp).
#
# Superset of two upstream states of src/ipc/capnp/common.capnp (same file id):
#   * bitcoin/bitcoin master: BlockRef (used by mining.capnp);
#   * the unmerged node/wallet split (PR #10102 branch): settings, translated
#     strings, util::Result wrappers and the generic Pair helpers used by
#     chain/node/wallet.capnp.
# Struct ids are derived from the names, so names must not change.

@0xcd2c6232cb484a28;

using Proxy = import "/mp/proxy.capnp";

# --- master -------------------------------------------------------------------

# interfaces::BlockRef - a block hash (32 raw bytes) and its height.
struct BlockRef $Proxy.wrap("interfaces::BlockRef") {
  hash @0 :Data;
  height @1 :Int32;
}

# --- split branch ---------------------------------------------------------------

# common::Settings - all setting sources of a node, as key/value lists with
# values as JSON text.
struct Settings $Proxy.wrap("common::Settings") {
  forcedSettings @0 :List(Pair(Text, Text)) $Proxy.name("forced_settings");
  commandLineOptions @1 :List(Pair(Text, List(Text))) $Proxy.name("command_line_options");
  rwSettings @2 :List(Pair(Text, Text)) $Proxy.name("rw_settings");
  roConfig @3 :List(Pair(Text, List(Pair(Text, List(Text))))) $Proxy.name("ro_config");
}

# The parent's whole configuration (gArgs), passed to spawned processes
# (Node.baseInitialize, Init.makeWalletLoader).
struct GlobalArgs $Proxy.count(0) {
  settings @0 :Settings;
  configPath @1 :Text;
}

# bilingual_str - untranslated and translated text of a user message.
struct BilingualStr $Proxy.wrap("bilingual_str") {
  original @0 :Text;
  translated @1 :Text;
}

# util::Result<T>: either value or error is set.
struct Result(Value) {
  value @0 :Value;
  error @1 :BilingualStr;
}

# util::Result<void>: only an optional error.
struct ResultVoid(Value) {
  error @0 :BilingualStr;
}

# std::pair / map entry.
struct Pair(Key, Value) {
  key @0 :Key;
  value @1 :Value;
}

# Map entry with an Int64 value (e.g. txid -> fee).
struct PairInt64(Key) {
  key @0 :Key;
  value @1 :Int64;
}

# Map entry with a UInt64 value (e.g. message type -> byte count).
struct PairUInt64(Key) {
  key @0 :Key;
  value @1 :UInt64;
}
