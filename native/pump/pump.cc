// The native relay pump (src/proxy/pump.ts is its JavaScript side): one
// thread per process relays both directions of every connection handed to it
// with an epoll loop and non-blocking reads and writes, as socat does, so the
// relay's latency does not depend on the JavaScript thread (its event loop,
// its garbage collector, the recorder).
//
// Per direction (bytes read from side S go to its peer D):
//   * S is read while fewer than LOW bytes wait for D (at most BUF held per
//     direction); each chunk read is written to D at once, unchanged and in
//     order; what D does not take waits, and S is not read again until it drops
//     below LOW (flow control: bounded memory);
//   * a copy of each chunk, with its time, goes to the handoff queue (an area
//     of bytes shared with JavaScript, plus a list of events); when the queue
//     is full the copy is dropped (never the relayed bytes) and the drop is
//     reported as a gap event with its size before the direction's next event;
//   * EOF on S: an end event, then shutdown(SHUT_WR) on D once what waits for
//     D is written;
// and per connection, the rules of src/proxy/splice.ts (the JavaScript
// relay), which this mirrors: a side is closed once it read EOF and was shut
// down (clean), or on an error (read or write); a write that fails with EPIPE
// or ECONNRESET after the side read EOF is a clean close (gone after end); a
// side closed otherwise makes the connection abrupt and its peer is "finished
// off" (not read any more, what waits for it flushed within a budget, then
// closed); the connection's close event carries the first reason seen.
//
// JavaScript is woken through a thread-safe function at most once per
// WAKE_MS while it has not drained the queue (take()); the pump never waits
// for it.

#include <node_api.h>
#include <pthread.h>

#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

namespace {

constexpr size_t BUF = 256 * 1024;
constexpr size_t LOW = 64 * 1024;
constexpr double WAKE_MS = 10.0;
constexpr double DEFAULT_FLUSH_MS = 2000;
constexpr size_t MAX_EVENTS = 1 << 16;
// The handoff area: reserved address space, memory only where touched. The
// queue starts again at 0 whenever JavaScript has taken everything, so a
// recorder that keeps up touches little of it; after a burst, what lies beyond
// AREA_KEEP is given back (at most once per TRIM_MS).
constexpr size_t AREA_BYTES = 64 << 20;
constexpr size_t AREA_KEEP = 4 << 20;
constexpr double TRIM_MS = 1000;

enum EvKind { EV_DATA = 1, EV_END = 2, EV_CLOSE = 3, EV_GAP = 4 };
enum Reason { R_NONE = 0, R_ERROR = 1, R_ABRUPT = 2, R_STOPPED = 3 };

struct Ev {
  uint8_t kind;
  uint8_t dir;  // 0: '>' (read from the client), 1: '<'
  uint32_t conn;
  double time;
  double a, b;  // data: offset, length; gap: bytes; close: see pushClose
  double c, d;
};

struct Conn;

struct Side {
  Conn* conn = nullptr;
  int idx = 0;
  int fd = -1;
  bool readable = false;
  bool hup = false;  // epoll saw the peer hang up: read until EOF (a short read does not mean drained)
  bool writable = true;
  bool wantOut = false;  // EPOLLOUT asked for (only while bytes wait for it: a peer reading would wake us for nothing)
  bool rdDone = false;      // EOF read
  bool wrEnded = false;     // shutdown wanted once what waits for it is written
  bool wrFinished = false;  // shut down
  bool closed = false;
  bool finishing = false;
  bool goneAfterEnd = false;
  double deadline = 0;  // finishing: destroy at this time (0: none)
};

struct Pipe {  // bytes read from side idx, waiting for the other side
  char* buf = nullptr;
  size_t off = 0, len = 0;
  uint64_t lost = 0;   // copies dropped and not reported yet
  double lostAt = 0;   // time of the first of them
  size_t pending() const { return len - off; }
};

struct Conn {
  uint32_t id = 0;
  Side s[2];
  Pipe p[2];
  bool stopping = false;
  bool done = false;
  int reason = R_NONE, reasonSide = 0, reasonSys = 0, reasonErrno = 0;
  std::atomic<int64_t> buffered{0};
};

double monoMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

enum CommandKind { CMD_ADD = 1, CMD_STOP = 2, CMD_DESTROY = 3 };

struct Command {
  int kind;  // CommandKind
  uint32_t id;
  int fd0, fd1;
  double ms;
};

class Pump {
 public:
  // JavaScript's view
  napi_threadsafe_function tsfn = nullptr;
  uint8_t* area = nullptr;
  size_t highWater = 0;  // area touched since the last trim
  double lastTrim = 0;
  size_t areaSize = 0;
  double offset = 0;  // added to CLOCK_MONOTONIC ms: JavaScript's now()

  std::mutex m;  // guards everything below, and conns (inserted/erased by the pump thread)
  std::deque<Ev> evs;
  size_t head = 0, tail = 0;  // area: pump writes at head, JavaScript releases up to tail
  long heldEnd = -1;          // end of the area JavaScript holds since its last take()
  bool wakePending = false;
  std::vector<Command> cmds;
  std::unordered_map<uint32_t, Conn*> conns;

  int ep = -1, evfd = -1;
  std::thread thread;
  std::atomic<bool> quit{false};
  double lastWake = 0;
  std::vector<Conn*> dirty, graveyard;
  std::vector<Side*> timed;  // sides being finished off with a deadline

  double now() const { return monoMs() + offset; }

  bool start() {
    ep = epoll_create1(EPOLL_CLOEXEC);
    evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (ep < 0 || evfd < 0) return false;
    epoll_event e{};
    e.events = EPOLLIN;
    e.data.ptr = nullptr;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, evfd, &e) < 0) return false;
    thread = std::thread([this] {
      pthread_setname_np(pthread_self(), "ipc-trace-pump");  // found by name in /proc (src/bench/relay.ts)
      loop();
    });
    return true;
  }

  void command(const Command& c) {
    {
      std::lock_guard<std::mutex> g(m);
      cmds.push_back(c);
    }
    uint64_t one = 1;
    ssize_t r = write(evfd, &one, 8);
    (void)r;
  }

  void shutdownThread() {
    if (!thread.joinable()) return;
    quit = true;
    uint64_t one = 1;
    ssize_t r = write(evfd, &one, 8);
    (void)r;
    thread.join();
    for (auto& kv : conns) {
      Conn* c = kv.second;
      for (auto& s : c->s)
        if (!s.closed && s.fd >= 0) close(s.fd);
      for (auto& p : c->p) free(p.buf);
      delete c;
    }
    conns.clear();
    if (ep >= 0) close(ep);
    if (evfd >= 0) close(evfd);
  }

  // ---- the handoff queue (pump thread; m held) ----

  void pushLocked(const Ev& e) { evs.push_back(e); }

  // Reserves n contiguous bytes of the area; -1 when there is no room.
  long reserve(size_t n) {
    if (evs.size() >= MAX_EVENTS) return -1;
    if (head == tail && evs.empty() && heldEnd < 0 && head != 0) {
      // Empty and nothing handed out: start again at 0.
      head = tail = 0;
      double t = monoMs();
      if (highWater > AREA_KEEP && t - lastTrim >= TRIM_MS) {
        madvise(area + AREA_KEEP, highWater - AREA_KEEP, MADV_DONTNEED);
        highWater = AREA_KEEP;
        lastTrim = t;
      }
    }
    if (head >= tail) {
      if (areaSize - head > n || (areaSize - head == n && tail > 0)) return (long)head;
      if (n < tail) return 0;
      return -1;
    }
    return tail - head > n ? (long)head : -1;
  }

  void flushGap(Conn* c, int dir) {
    Pipe& p = c->p[dir];
    if (p.lost == 0) return;
    Ev e{EV_GAP, (uint8_t)dir, c->id, p.lostAt, (double)p.lost, 0, 0, 0};
    pushLocked(e);
    p.lost = 0;
  }

  void pushData(Conn* c, int dir, const char* bytes, size_t n, double t) {
    std::lock_guard<std::mutex> g(m);
    Pipe& p = c->p[dir];
    long at = reserve(n);
    if (at < 0) {
      if (p.lost == 0) p.lostAt = t;
      p.lost += n;
      return;
    }
    flushGap(c, dir);
    memcpy(area + at, bytes, n);
    head = at + n;
    if (head > highWater) highWater = head;
    if (head == areaSize) head = 0;
    Ev e{EV_DATA, (uint8_t)dir, c->id, t, (double)at, (double)n, 0, 0};
    pushLocked(e);
  }

  void pushEnd(Conn* c, int dir, double t) {
    std::lock_guard<std::mutex> g(m);
    flushGap(c, dir);
    Ev e{EV_END, (uint8_t)dir, c->id, t, 0, 0, 0, 0};
    pushLocked(e);
  }

  void pushClose(Conn* c, double t) {
    std::lock_guard<std::mutex> g(m);
    flushGap(c, 0);
    flushGap(c, 1);
    Ev e{EV_CLOSE, 0, c->id, t, (double)c->reason, (double)c->reasonSide, (double)c->reasonSys, (double)c->reasonErrno};
    pushLocked(e);
    conns.erase(c->id);
  }

  // ---- relaying (pump thread) ----

  void setReason(Conn* c, int kind, int side, int sys = 0, int err = 0) {
    if (c->reason != R_NONE) return;
    c->reason = kind;
    c->reasonSide = side;
    c->reasonSys = sys;
    c->reasonErrno = err;
  }

  void updateBuffered(Conn* c) { c->buffered.store((int64_t)(c->p[0].pending() + c->p[1].pending()), std::memory_order_relaxed); }

  // Closes a side (Node: socket destroyed); hadError: an error closed it.
  void destroySide(Side& s, bool hadError) {
    if (s.closed) return;
    Conn* c = s.conn;
    epoll_ctl(ep, EPOLL_CTL_DEL, s.fd, nullptr);
    close(s.fd);
    s.closed = true;
    if (s.deadline != 0) {
      s.deadline = 0;
      for (size_t k = 0; k < timed.size(); k++)
        if (timed[k] == &s) {
          timed[k] = timed.back();
          timed.pop_back();
          break;
        }
    }
    Pipe& in = c->p[1 - s.idx];  // what waited for it is lost with it
    in.off = in.len = 0;
    updateBuffered(c);
    bool clean = (s.goneAfterEnd || (!hadError && s.wrFinished)) && s.rdDone;
    if (!clean) {
      setReason(c, R_ABRUPT, s.idx);
      finishOff(c->s[1 - s.idx], DEFAULT_FLUSH_MS);
    }
    if (c->s[0].closed && c->s[1].closed && !c->done) {
      c->done = true;
      pushClose(c, now());
      graveyard.push_back(c);
    }
  }

  // Stops reading a side, flushes what waits for it, then closes it (at the latest after ms).
  void finishOff(Side& s, double ms) {
    if (s.finishing || s.closed) return;
    s.finishing = true;
    Conn* c = s.conn;
    if (s.wrFinished || c->p[1 - s.idx].pending() == 0) {
      destroySide(s, false);
      return;
    }
    s.wrEnded = true;
    s.deadline = now() + ms;
    timed.push_back(&s);
  }

  void afterShutdown(Side& s) {
    if (s.finishing || s.rdDone) destroySide(s, false);
  }

  static constexpr uint32_t BASE_EVENTS = EPOLLIN | EPOLLRDHUP | EPOLLET;

  void setOut(Side& s, bool on) {
    if (s.wantOut == on || s.closed) return;
    s.wantOut = on;
    epoll_event e{};
    e.events = BASE_EVENTS | (on ? (uint32_t)EPOLLOUT : 0u);
    e.data.ptr = &s;
    epoll_ctl(ep, EPOLL_CTL_MOD, s.fd, &e);
  }

  // Writes what waits for side d (from pipe 1 - d); shuts it down when due.
  bool flush(Conn* c, int d) {
    Side& dst = c->s[d];
    Pipe& p = c->p[1 - d];
    if (dst.closed) return false;
    bool progress = false;
    while (p.pending() > 0 && dst.writable) {
      ssize_t n = send(dst.fd, p.buf + p.off, p.pending(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          dst.writable = false;
          break;
        }
        int err = errno;
        if (dst.rdDone && (err == EPIPE || err == ECONNRESET)) dst.goneAfterEnd = true;
        else setReason(c, R_ERROR, d, 1, err);
        destroySide(dst, true);
        return true;
      }
      progress = true;
      if ((size_t)n < p.pending()) dst.writable = false;
      p.off += n;
      if (p.off == p.len) p.off = p.len = 0;
    }
    if (progress) updateBuffered(c);
    setOut(dst, p.pending() > 0);
    if (p.pending() == 0 && dst.wrEnded && !dst.wrFinished) {
      shutdown(dst.fd, SHUT_WR);
      dst.wrFinished = true;
      afterShutdown(dst);
      progress = true;
    }
    return progress;
  }

  bool canRead(Conn* c, Side& s) {
    return !s.closed && s.readable && !s.rdDone && !s.finishing && !c->stopping && c->p[s.idx].pending() < LOW;
  }

  // Reads side i while it may be read; relays what it reads.
  bool readSide(Conn* c, int i) {
    Side& src = c->s[i];
    Side& dst = c->s[1 - i];
    Pipe& p = c->p[i];
    bool progress = false;
    while (canRead(c, src)) {
      if (p.off > 0) {
        memmove(p.buf, p.buf + p.off, p.pending());
        p.len -= p.off;
        p.off = 0;
      }
      size_t want = BUF - p.len;
      ssize_t n = read(src.fd, p.buf + p.len, want);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          src.readable = false;
          break;
        }
        setReason(c, R_ERROR, i, 0, errno);
        destroySide(src, true);
        return true;
      }
      progress = true;
      double t = now();
      if (n == 0) {
        src.rdDone = true;
        src.readable = false;
        pushEnd(c, i, t);
        if (!dst.closed && !dst.wrEnded) {
          dst.wrEnded = true;
          flush(c, 1 - i);
        }
        if (!src.closed && src.wrFinished) destroySide(src, false);
        return true;
      }
      if ((size_t)n < want && !src.hup) src.readable = false;
      if (dst.closed || dst.wrEnded) continue;  // nowhere to relay to (as splice.ts: not reported either)
      pushData(c, i, p.buf + p.len, n, t);
      p.len += n;
      updateBuffered(c);
      flush(c, 1 - i);
      if (c->s[i].closed) return true;
    }
    return progress;
  }

  // Relays what can be relayed now; false when the connection has more to do
  // than one turn gives it (the other connections get their turn first).
  bool progress(Conn* c) {
    for (int round = 0; round < 64 && !c->done; round++) {
      bool any = false;
      // Reads first, as libuv does: a peer that reset is reported as the read error.
      for (int i = 0; i < 2 && !c->done; i++) any |= readSide(c, i);
      for (int d = 0; d < 2 && !c->done; d++) any |= flush(c, d);
      if (!any) return true;
    }
    return c->done;
  }

  void markDirty(Conn* c) { dirty.push_back(c); }

  void runCommands() {
    std::vector<Command> todo;
    {
      std::lock_guard<std::mutex> g(m);
      todo.swap(cmds);
    }
    for (auto& cmd : todo) {
      if (cmd.kind == CMD_ADD) {
        Conn* c = new Conn();
        c->id = cmd.id;
        int fds[2] = {cmd.fd0, cmd.fd1};
        for (int i = 0; i < 2; i++) {
          Side& s = c->s[i];
          s.conn = c;
          s.idx = i;
          s.fd = fds[i];
          s.readable = true;  // edge-triggered: find out by reading
          c->p[i].buf = (char*)malloc(BUF);
        }
        {
          std::lock_guard<std::mutex> g(m);
          conns[c->id] = c;
        }
        for (auto& s : c->s) {
          epoll_event e{};
          e.events = BASE_EVENTS;
          e.data.ptr = &s;
          epoll_ctl(ep, EPOLL_CTL_ADD, s.fd, &e);
        }
        markDirty(c);
        continue;
      }
      Conn* c = nullptr;
      {
        std::lock_guard<std::mutex> g(m);
        auto it = conns.find(cmd.id);
        if (it != conns.end()) c = it->second;
      }
      if (!c || c->done) continue;
      if (cmd.kind == CMD_STOP) {
        c->stopping = true;
        setReason(c, R_STOPPED, 0);
        finishOff(c->s[0], cmd.ms);
        finishOff(c->s[1], cmd.ms);
      } else if (cmd.kind == CMD_DESTROY) {
        setReason(c, R_STOPPED, 0);
        destroySide(c->s[0], false);
        destroySide(c->s[1], false);
      }
      if (!c->done) markDirty(c);
    }
  }

  void maybeWake(double t, int* timeout) {
    bool want;
    {
      std::lock_guard<std::mutex> g(m);
      want = !evs.empty() && !wakePending;
      if (want && t - lastWake >= WAKE_MS) {
        wakePending = true;
        lastWake = t;
        napi_call_threadsafe_function(tsfn, nullptr, napi_tsfn_nonblocking);
        return;
      }
    }
    if (want) {
      int ms = (int)(lastWake + WAKE_MS - t) + 1;
      if (*timeout < 0 || ms < *timeout) *timeout = ms;
    }
  }

  void loop() {
    epoll_event evsOut[256];
    int timeout = -1;
    while (!quit) {
      int n = epoll_wait(ep, evsOut, 256, timeout);
      if (n < 0 && errno != EINTR) break;
      for (int i = 0; i < n; i++) {
        Side* s = (Side*)evsOut[i].data.ptr;
        if (!s) {
          uint64_t v;
          ssize_t r = read(evfd, &v, 8);
          (void)r;
          runCommands();
          continue;
        }
        if (s->closed) continue;
        uint32_t ev = evsOut[i].events;
        if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) s->readable = true;
        if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) s->hup = true;
        if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) s->writable = true;
        markDirty(s->conn);
      }
      // Edge-triggered: a connection not finished in its turn gets no new event; it goes again next turn.
      std::vector<Conn*> again;
      for (size_t k = 0; k < dirty.size(); k++)
        if (!dirty[k]->done && !progress(dirty[k])) again.push_back(dirty[k]);
      dirty.swap(again);
      // Finish-off deadlines (after relaying, which may have set some).
      double t = now();
      std::vector<Side*> expired;
      for (Side* s : timed)
        if (s->deadline <= t) expired.push_back(s);
      for (Side* s : expired) destroySide(*s, false);  // may close its peer too
      timeout = -1;
      for (Side* s : timed) {
        int ms = (int)(s->deadline - t) + 1;
        if (timeout < 0 || ms < timeout) timeout = ms;
      }
      if (!graveyard.empty()) {
        size_t k = 0;
        for (Conn* c : dirty)
          if (!c->done) dirty[k++] = c;
        dirty.resize(k);
      }
      for (Conn* c : graveyard) {
        for (auto& p : c->p) free(p.buf);
        delete c;
      }
      graveyard.clear();
      if (!dirty.empty()) timeout = 0;
      maybeWake(monoMs() + offset, &timeout);
    }
  }
};

Pump* pumpOf(napi_env env) {
  void* d = nullptr;
  napi_get_instance_data(env, &d);
  return (Pump*)d;
}

#define CHECK(call)                                        \
  do {                                                     \
    if ((call) != napi_ok) {                               \
      napi_throw_error(env, nullptr, "pump: " #call);      \
      return nullptr;                                      \
    }                                                      \
  } while (0)

void callJs(napi_env env, napi_value fn, void*, void*) {
  if (!env || !fn) return;
  napi_value undef;
  napi_get_undefined(env, &undef);
  napi_call_function(env, undef, fn, 0, nullptr, nullptr);
}

void cleanup(napi_env, void* data, void*) {
  Pump* p = (Pump*)data;
  if (!p) return;
  p->shutdownThread();
  delete p;
}

// init(onWake: () => void, offsetMs: number): ArrayBuffer, the handoff area
// (never unmapped: the pump thread may write to it until the process ends).
napi_value Init(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  if (pumpOf(env)) {
    napi_throw_error(env, nullptr, "pump: init called twice");
    return nullptr;
  }
  void* mem = mmap(nullptr, AREA_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) {
    napi_throw_error(env, nullptr, "pump: cannot map its handoff area");
    return nullptr;
  }
  Pump* p = new Pump();
  p->area = (uint8_t*)mem;
  p->areaSize = AREA_BYTES;
  napi_value ab;
  CHECK(napi_create_external_arraybuffer(env, mem, AREA_BYTES, nullptr, nullptr, &ab));
  CHECK(napi_get_value_double(env, argv[1], &p->offset));
  napi_value name;
  CHECK(napi_create_string_utf8(env, "ipc-trace pump", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_create_threadsafe_function(env, argv[0], nullptr, name, 0, 1, nullptr, nullptr, nullptr, callJs, &p->tsfn));
  CHECK(napi_unref_threadsafe_function(env, p->tsfn));
  if (!p->start()) {
    napi_throw_error(env, nullptr, "pump: cannot start its thread");
    return nullptr;
  }
  CHECK(napi_set_instance_data(env, p, cleanup, nullptr));
  return ab;
}

// The pump and a call's first n arguments (n <= 3), for the functions below;
// null (a JavaScript exception pending) when the pump is not initialised or
// the arguments cannot be read.
Pump* call(napi_env env, napi_callback_info info, size_t n, napi_value* argv) {
  Pump* p = pumpOf(env);
  if (!p) {
    napi_throw_error(env, nullptr, "pump: not initialised");
    return nullptr;
  }
  size_t argc = n;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok) {
    napi_throw_error(env, nullptr, "pump: napi_get_cb_info");
    return nullptr;
  }
  return p;
}

// add(id, fd0, fd1): the pump relays on duplicates of the two descriptors (the caller closes its own).
napi_value Add(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  Pump* thePump = call(env, info, 3, argv);
  if (!thePump) return nullptr;
  uint32_t id;
  int32_t fd0, fd1;
  CHECK(napi_get_value_uint32(env, argv[0], &id));
  CHECK(napi_get_value_int32(env, argv[1], &fd0));
  CHECK(napi_get_value_int32(env, argv[2], &fd1));
  int d0 = fcntl(fd0, F_DUPFD_CLOEXEC, 3);
  int d1 = d0 < 0 ? -1 : fcntl(fd1, F_DUPFD_CLOEXEC, 3);
  if (d0 < 0 || d1 < 0) {
    int err = errno;
    if (d0 >= 0) close(d0);
    napi_throw_error(env, nullptr, (std::string("pump: dup: ") + strerror(err)).c_str());
    return nullptr;
  }
  for (int fd : {d0, d1}) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  thePump->command({CMD_ADD, id, d0, d1, 0});
  return nullptr;
}

// stop(id, flushMs) / destroy(id)
napi_value Stop(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  Pump* thePump = call(env, info, 2, argv);
  if (!thePump) return nullptr;
  uint32_t id;
  double ms;
  CHECK(napi_get_value_uint32(env, argv[0], &id));
  CHECK(napi_get_value_double(env, argv[1], &ms));
  thePump->command({CMD_STOP, id, -1, -1, ms});
  return nullptr;
}

napi_value Destroy(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  Pump* thePump = call(env, info, 1, argv);
  if (!thePump) return nullptr;
  uint32_t id;
  CHECK(napi_get_value_uint32(env, argv[0], &id));
  thePump->command({CMD_DESTROY, id, -1, -1, 0});
  return nullptr;
}

// take(table: Float64Array): releases the area handed out by the previous
// take(), copies up to table.length / 8 events into table (kind, dir, conn,
// time, a, b, c, d) and returns how many.
napi_value Take(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  Pump* thePump = call(env, info, 1, argv);
  if (!thePump) return nullptr;
  napi_typedarray_type type;
  size_t length;
  void* data;
  CHECK(napi_get_typedarray_info(env, argv[0], &type, &length, &data, nullptr, nullptr));
  if (type != napi_float64_array) {
    napi_throw_type_error(env, nullptr, "pump: take() wants a Float64Array");
    return nullptr;
  }
  double* t = (double*)data;
  size_t cap = length / 8, k = 0;
  Pump* p = thePump;
  {
    std::lock_guard<std::mutex> g(p->m);
    if (p->heldEnd >= 0) {
      p->tail = (size_t)p->heldEnd == p->areaSize ? 0 : (size_t)p->heldEnd;
      p->heldEnd = -1;
    }
    while (k < cap && !p->evs.empty()) {
      const Ev& e = p->evs.front();
      double* r = t + 8 * k;
      r[0] = e.kind;
      r[1] = e.dir;
      r[2] = e.conn;
      r[3] = e.time;
      r[4] = e.a;
      r[5] = e.b;
      r[6] = e.c;
      r[7] = e.d;
      if (e.kind == EV_DATA) p->heldEnd = (long)(e.a + e.b);
      p->evs.pop_front();
      k++;
    }
    if (k == 0) p->wakePending = false;
  }
  napi_value out;
  CHECK(napi_create_uint32(env, (uint32_t)k, &out));
  return out;
}

napi_value Buffered(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  Pump* thePump = call(env, info, 1, argv);
  if (!thePump) return nullptr;
  uint32_t id;
  CHECK(napi_get_value_uint32(env, argv[0], &id));
  double n = 0;
  {
    std::lock_guard<std::mutex> g(thePump->m);
    auto it = thePump->conns.find(id);
    if (it != thePump->conns.end()) n = (double)it->second->buffered.load(std::memory_order_relaxed);
  }
  napi_value out;
  CHECK(napi_create_double(env, n, &out));
  return out;
}

// ref(on): whether the pump keeps the event loop alive (while it relays connections).
napi_value Ref(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  Pump* thePump = call(env, info, 1, argv);
  if (!thePump) return nullptr;
  bool on;
  CHECK(napi_get_value_bool(env, argv[0], &on));
  if (on) CHECK(napi_ref_threadsafe_function(env, thePump->tsfn));
  else CHECK(napi_unref_threadsafe_function(env, thePump->tsfn));
  return nullptr;
}

// clock(): CLOCK_MONOTONIC in ms (the pump's times are this plus init's offsetMs).
napi_value Clock(napi_env env, napi_callback_info info) {
  napi_value out;
  CHECK(napi_create_double(env, monoMs(), &out));
  return out;
}

napi_value Module(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"init", nullptr, Init, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"add", nullptr, Add, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"stop", nullptr, Stop, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"destroy", nullptr, Destroy, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"take", nullptr, Take, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"buffered", nullptr, Buffered, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"clock", nullptr, Clock, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"ref", nullptr, Ref, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Module)
