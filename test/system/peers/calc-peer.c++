// C++ peer for the RPC interop suite, built against the system Cap'n Proto
// library (0.9.2 on Debian/Ubuntu, the version Bitcoin Core uses here).
//
//   calc-peer server <socket>   serves Calculator on a Unix socket; prints "listening"
//   calc-peer client <socket>   connects, bootstraps Calculator, runs the scenarios,
//                               prints one line per result and "done"

#include "calc.capnp.h"

#include <capnp/rpc-twoparty.h>
#include <kj/async-io.h>
#include <kj/debug.h>
#include <kj/exception.h>

#include <cstring>
#include <iostream>

namespace {

class CounterImpl final : public Counter::Server {
public:
  explicit CounterImpl(int32_t start) : value(start) {}

protected:
  kj::Promise<void> next(NextContext ctx) override {
    ctx.getResults().setValue(++value);
    return kj::READY_NOW;
  }

private:
  int32_t value;
};

class CalculatorImpl final : public Calculator::Server {
protected:
  kj::Promise<void> add(AddContext ctx) override {
    auto p = ctx.getParams();
    ctx.getResults().setSum(p.getA() + p.getB());
    return kj::READY_NOW;
  }

  kj::Promise<void> makeCounter(MakeCounterContext ctx) override {
    ctx.getResults().setCounter(kj::heap<CounterImpl>(ctx.getParams().getStart()));
    return kj::READY_NOW;
  }

  kj::Promise<void> readCounter(ReadCounterContext ctx) override {
    return ctx.getParams().getCounter().nextRequest().send().then(
        [ctx](capnp::Response<Counter::NextResults>&& r) mutable { ctx.getResults().setValue(r.getValue()); });
  }

  kj::Promise<void> callBack(CallBackContext ctx) override {
    auto req = ctx.getParams().getCb().invokeRequest();
    req.setX(ctx.getParams().getX());
    return req.send().then(
        [ctx](capnp::Response<Callback::InvokeResults>&& r) mutable { ctx.getResults().setResult(r.getY() + 1); });
  }

  kj::Promise<void> echoCap(EchoCapContext ctx) override {
    ctx.getResults().setCap(ctx.getParams().getCap());
    return kj::READY_NOW;
  }

  kj::Promise<void> keep(KeepContext ctx) override {
    kept = ctx.getParams().getCb();
    return kj::READY_NOW;
  }

  kj::Promise<void> poke(PokeContext ctx) override {
    KJ_IF_MAYBE(cb, kept) {
      auto req = cb->invokeRequest();
      req.setX(ctx.getParams().getX());
      return req.send().then(
          [ctx](capnp::Response<Callback::InvokeResults>&& r) mutable { ctx.getResults().setResult(r.getY()); });
    }
    KJ_FAIL_REQUIRE("nothing kept");
  }

  kj::Promise<void> drop(DropContext ctx) override {
    kept = nullptr;
    return kj::READY_NOW;
  }

  kj::Promise<void> fail(FailContext ctx) override {
    kj::throwFatalException(KJ_EXCEPTION(FAILED, "calc failed", ctx.getParams().getReason()));
  }

  kj::Promise<void> values(ValuesContext ctx) override {
    ctx.getResults().setV(ctx.getParams().getV());
    return kj::READY_NOW;
  }

  kj::Promise<void> nested(NestedContext ctx) override {
    int32_t depth = ctx.getParams().getDepth();
    auto req = ctx.getParams().getCb().recurseRequest();
    req.setCalc(thisCap());
    req.setDepth(depth);
    return req.send().then([ctx, depth](capnp::Response<Callback::RecurseResults>&& r) mutable {
      ctx.getResults().setTrace(kj::str("cpp-calc(", depth, ")>", r.getTrace()));
    });
  }

private:
  kj::Maybe<Callback::Client> kept;
};

class CallbackImpl final : public Callback::Server {
protected:
  kj::Promise<void> invoke(InvokeContext ctx) override {
    ctx.getResults().setY(ctx.getParams().getX() * 10);
    return kj::READY_NOW;
  }

  kj::Promise<void> recurse(RecurseContext ctx) override {
    int32_t depth = ctx.getParams().getDepth();
    if (depth <= 0) {
      ctx.getResults().setTrace("cpp-leaf");
      return kj::READY_NOW;
    }
    auto req = ctx.getParams().getCalc().nestedRequest();
    req.setCb(thisCap());
    req.setDepth(depth - 1);
    return req.send().then([ctx, depth](capnp::Response<Calculator::NestedResults>&& r) mutable {
      ctx.getResults().setTrace(kj::str("cpp-cb(", depth, ")>", r.getTrace()));
    });
  }
};

void fillValues(Values::Builder v) {
  v.setB(false);
  v.setI8(-5);
  v.setU16(0);
  v.setI32(123456);
  v.setU64(18446744073709551615ull);
  v.setF32(0.25f);
  v.setF64(-2.5);
  v.setT("h\xc3\xa9llo");
  kj::byte data[] = {0, 1, 254, 255};
  v.setD(kj::arrayPtr(data, sizeof(data)));
  auto lb = v.initLb(3);
  lb.set(0, true);
  lb.set(2, true);
  auto li = v.initLi16(2);
  li.set(0, -32768);
  li.set(1, 32767);
  auto lf = v.initLf64(1);
  lf.set(0, 1e300);
  auto lt = v.initLt(2);
  lt.set(0, "a");
  lt.set(1, "");
  auto ls = v.initLs(2);
  ls[0].setK("one");
  ls[0].setV(1);
  ls[1].setK("minus");
  ls[1].setV(-9000000000LL);
  v.setName("union member");
  v.getGrp().setX(0);
  v.getGrp().setY("group y");
  v.setE(Color::RED);
  auto ll = v.initLl(2);
  auto l0 = ll.init(0, 2);
  l0.set(0, 7);
  l0.set(1, 8);
  ll.init(1, 0);
}

int runClient(kj::AsyncIoContext& io, kj::StringPtr path) {
  auto& ws = io.waitScope;
  auto addr = io.provider->getNetwork().parseAddress(kj::str("unix:", path)).wait(ws);
  auto stream = addr->connect().wait(ws);
  capnp::TwoPartyClient client(*stream);
  auto calc = client.bootstrap().castAs<Calculator>();

  {
    auto req = calc.addRequest();
    req.setA(2);
    req.setB(40);
    std::cout << "add " << req.send().wait(ws).getSum() << std::endl;
  }
  {
    // Pipelining: two calls on the counter before makeCounter returns.
    auto req = calc.makeCounterRequest();
    req.setStart(10);
    auto counter = req.send().getCounter();
    auto n1 = counter.nextRequest().send();
    auto n2 = counter.nextRequest().send();
    auto v1 = n1.wait(ws).getValue();
    auto v2 = n2.wait(ws).getValue();
    std::cout << "next " << v1 << " " << v2 << std::endl;
    // A pipelined capability as a param (receiverAnswer).
    auto req2 = calc.makeCounterRequest();
    req2.setStart(100);
    auto rc = calc.readCounterRequest();
    rc.setCounter(req2.send().getCounter());
    std::cout << "readCounter " << rc.send().wait(ws).getValue() << std::endl;
  }
  Callback::Client cb = kj::heap<CallbackImpl>();
  {
    auto req = calc.callBackRequest();
    req.setCb(cb);
    req.setX(4);
    std::cout << "callBack " << req.send().wait(ws).getResult() << std::endl;
  }
  {
    // The callee hands our own capability back; a call pipelined on it loops back here.
    auto req = calc.echoCapRequest();
    req.setCap(cb);
    auto p = req.send();
    auto piped = p.getCap().invokeRequest();
    piped.setX(6);
    auto pr = piped.send();
    auto back = p.wait(ws).getCap();
    auto direct = back.invokeRequest();
    direct.setX(7);
    std::cout << "echoCap " << pr.wait(ws).getY() << " " << direct.send().wait(ws).getY() << std::endl;
  }
  {
    auto k = calc.keepRequest();
    k.setCb(cb);
    k.send().wait(ws);
    auto p = calc.pokeRequest();
    p.setX(5);
    std::cout << "poke " << p.send().wait(ws).getResult() << std::endl;
    calc.dropRequest().send().wait(ws);
    std::cout << "dropped" << std::endl;
  }
  {
    auto req = calc.failRequest();
    req.setReason("on purpose");
    try {
      req.send().wait(ws);
      std::cout << "fail did not throw" << std::endl;
    } catch (const kj::Exception& e) {
      std::cout << "fail " << (int)e.getType() << " " << e.getDescription().cStr() << std::endl;
    }
  }
  {
    auto req = calc.valuesRequest();
    fillValues(req.initV());
    std::cout << "values-sent " << kj::str(req.asReader().getV()).cStr() << std::endl;
    auto r = req.send().wait(ws);
    std::cout << "values-got " << kj::str(r.getV()).cStr() << std::endl;
  }
  {
    auto req = calc.nestedRequest();
    req.setCb(cb);
    req.setDepth(2);
    std::cout << "nested " << req.send().wait(ws).getTrace().cStr() << std::endl;
  }
  std::cout << "done" << std::endl;
  return 0;
}

int runServer(kj::AsyncIoContext& io, kj::StringPtr path) {
  auto& ws = io.waitScope;
  auto addr = io.provider->getNetwork().parseAddress(kj::str("unix:", path)).wait(ws);
  auto listener = addr->listen();
  capnp::TwoPartyServer server(kj::heap<CalculatorImpl>());
  std::cout << "listening" << std::endl;
  server.listen(*listener).wait(ws);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 || (strcmp(argv[1], "server") != 0 && strcmp(argv[1], "client") != 0)) {
    std::cerr << "usage: calc-peer server|client <unix socket path>" << std::endl;
    return 2;
  }
  auto io = kj::setupAsyncIo();
  return strcmp(argv[1], "server") == 0 ? runServer(io, argv[2]) : runClient(io, argv[2]);
}
