# Echo service for the relay latency benchmark (src/bench/relay.ts) and its
# system test: the C++ client calls echo with a payload, the server returns it.

@0xb6c3f1e2a4d59081;

interface Echo {
  echo @0 (data :Data) -> (data :Data);
}
