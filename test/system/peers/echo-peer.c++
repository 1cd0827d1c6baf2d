// C++ Cap'n Proto echo peer (Debian's libcapnp-dev) for the relay benchmark
// and its system test.
//
//   echo-peer server <socket>
//       serves Echo on a Unix socket (every connection); prints "listening"
//   echo-peer client <socket> <calls> <in-flight> <payload-bytes>
//       connects, bootstraps Echo, warms up, then makes <calls> sequential
//       calls (latency of each) and <calls> calls with <in-flight> outstanding
//       (throughput); checks every answer; prints one JSON line:
//       {"p50":us,"p99":us,"rate":calls_per_s,"ok":true}

#include "echo.capnp.h"

#include <capnp/rpc-twoparty.h>
#include <kj/async-io.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <vector>

namespace {

class EchoImpl final : public Echo::Server {
protected:
  kj::Promise<void> echo(EchoContext ctx) override {
    ctx.getResults().setData(ctx.getParams().getData());
    return kj::READY_NOW;
  }
};

using Clock = std::chrono::steady_clock;

struct Run {
  Echo::Client echo;
  std::vector<kj::byte> payload;
  int remaining;
  bool ok = true;

  capnp::RemotePromise<Echo::EchoResults> call() {
    auto req = echo.echoRequest();
    req.setData(kj::arrayPtr(payload.data(), payload.size()));
    return req.send();
  }

  bool check(capnp::Response<Echo::EchoResults>& r) {
    auto d = r.getData();
    return d.size() == payload.size() && std::memcmp(d.begin(), payload.data(), d.size()) == 0;
  }

  kj::Promise<void> chain() {
    if (remaining <= 0) return kj::READY_NOW;
    --remaining;
    return call().then([this](capnp::Response<Echo::EchoResults>&& r) {
      if (!check(r)) ok = false;
      return chain();
    });
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: echo-peer server SOCKET | client SOCKET CALLS IN_FLIGHT PAYLOAD" << std::endl;
    return 2;
  }
  auto io = kj::setupAsyncIo();
  auto addr = io.provider->getNetwork().parseAddress(kj::str("unix:", argv[2])).wait(io.waitScope);
  if (std::strcmp(argv[1], "server") == 0) {
    auto listener = addr->listen();
    std::cout << "listening" << std::endl;
    capnp::TwoPartyServer server(kj::heap<EchoImpl>());
    server.listen(*listener).wait(io.waitScope);
    return 0;
  }
  if (argc < 6) return 2;
  int calls = std::atoi(argv[3]);
  int inflight = std::atoi(argv[4]);
  int size = std::atoi(argv[5]);
  auto conn = addr->connect().wait(io.waitScope);
  capnp::TwoPartyClient client(*conn);
  Run run{client.bootstrap().castAs<Echo>(), std::vector<kj::byte>(size), 0};
  for (int i = 0; i < size; i++) run.payload[i] = kj::byte(i * 7 + 1);

  for (int i = 0; i < 200; i++) {
    auto r = run.call().wait(io.waitScope);
    if (!run.check(r)) run.ok = false;
  }
  std::vector<double> lat;
  lat.reserve(calls);
  for (int i = 0; i < calls; i++) {
    auto t0 = Clock::now();
    auto r = run.call().wait(io.waitScope);
    lat.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    if (!run.check(r)) run.ok = false;
  }
  std::sort(lat.begin(), lat.end());
  double p50 = lat[lat.size() / 2], p99 = lat[std::min(lat.size() - 1, lat.size() * 99 / 100)];

  run.remaining = calls;
  auto t0 = Clock::now();
  kj::Vector<kj::Promise<void>> chains;
  for (int i = 0; i < inflight; i++) chains.add(run.chain());
  kj::joinPromises(chains.releaseAsArray()).wait(io.waitScope);
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();

  std::printf("{\"p50\":%.1f,\"p99\":%.1f,\"rate\":%.0f,\"ok\":%s}\n", p50, p99, calls / secs, run.ok ? "true" : "false");
  return run.ok ? 0 : 1;
}
