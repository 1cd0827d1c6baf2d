# Test schema for the RPC interop suite (test/system/rpc-interop.test.ts): a
# calculator with counters (capabilities returned and pipelined on) and
# callbacks (capabilities passed in and called back, also recursively).

@0xd0a4e1c9b3f25a77;

interface Calculator {
  add @0 (a :Int64, b :Int64) -> (sum :Int64);
  makeCounter @1 (start :Int32) -> (counter :Counter);
  readCounter @2 (counter :Counter) -> (value :Int32);
  callBack @3 (cb :Callback, x :Int32) -> (result :Int32);
  echoCap @4 (cap :Callback) -> (cap :Callback);
  keep @5 (cb :Callback) -> ();
  poke @6 (x :Int32) -> (result :Int32);
  drop @7 () -> ();
  fail @8 (reason :Text) -> ();
  values @9 (v :Values) -> (v :Values);
  nested @10 (cb :Callback, depth :Int32) -> (trace :Text);
}

interface Counter {
  next @0 () -> (value :Int32);
}

interface Callback {
  invoke @0 (x :Int32) -> (y :Int32);
  recurse @1 (calc :Calculator, depth :Int32) -> (trace :Text);
}

enum Color {
  red @0;
  green @1;
  blue @2;
}

struct Item {
  k @0 :Text;
  v @1 :Int64;
}

struct Values {
  b @0 :Bool = true;
  i8 @1 :Int8;
  u16 @2 :UInt16 = 7;
  i32 @3 :Int32;
  u64 @4 :UInt64;
  f32 @5 :Float32;
  f64 @6 :Float64 = 1.5;
  t @7 :Text;
  d @8 :Data;
  lb @9 :List(Bool);
  li16 @10 :List(Int16);
  lf64 @11 :List(Float64);
  lt @12 :List(Text);
  ls @13 :List(Item);
  union {
    none @14 :Void;
    num @15 :Int32;
    name @16 :Text;
  }
  grp :group {
    x @17 :Int32 = 3;
    y @18 :Text;
  }
  e @19 :Color = blue;
  ll @20 :List(List(UInt8));
}
