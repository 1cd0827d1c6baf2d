# ipc-trace bundled schema: libmultiprocess core definitions.
#
# Wire-compatible rewrite of bitcoin-core/libmultiprocess include/mp/proxy.capnp.
# Only the file id, type names, ordinals and field types matter for decoding;
# everything here is kept identical to upstream in those respects. The C++
# namespace annotation of the original is left out (it never reaches the wire).

@0xcc316e3f71a040fb;

# --- Code-generator annotations (mpgen). They are never serialized in RPC
# traffic, but their ids are derived from the names below, so they match the
# constants hard-coded in libmultiprocess's src/mp/gen.cpp.

annotation include(file) :Text;       # extra #include for generated headers
annotation includeTypes(file) :Text;  # extra #include of *-types.h helpers

annotation wrap(interface, struct) :Text;
# Name of the C++ class this capnp interface / struct mirrors.

annotation count(param, struct, interface) :Int32;
# Number of C++ arguments represented by one capnp field (0 = implicit field
# filled from context, e.g. Context or ThreadMap).

annotation exception(param) :Text;
# Result field that carries a serialized C++ exception of the named type.

annotation name(field, method) :Text;
# C++ name for a capnp field or method when it differs.

annotation skip(field) :Void;
# Same as count(0).

# --- Threading model ---------------------------------------------------------

# Handed over in Init.construct. A client asks the peer for a dedicated worker
# thread (makeThread, passing its own thread name) or pre-creates a pool of
# workers that serve calls whose Context.thread is null (makePool).
interface ThreadMap $count(0) {
  makeThread @0 (name :Text) -> (result :Thread);
  makePool @1 (count :UInt32) -> ();
}

# Handle for one thread (a server worker, or a caller's own thread used as
# Context.callbackThread).
interface Thread {
  getName @0 () -> (result :Text);
}

# Implicit first parameter of most generated methods: which server thread runs
# the call, and which caller thread receives callbacks made while serving it.
struct Context $count(0) {
  thread @0 :Thread;
  callbackThread @1 :Thread;
}
