// A lane is what a thread is in libmultiprocess, for single-threaded JS: a
// serial executor with a name. Tasks posted to it run one at a time, in
// order. A task that is blocked in an outgoing IPC call (Lane.block) lets the
// lane run the next posted task on top of it, as libmultiprocess's Waiter
// runs posted work while its thread waits for a response; the blocked task
// resumes only once everything started above it has finished (the same
// stack discipline as a real thread). A task awaiting anything else (a
// timer, a mutex) keeps the lane busy: posted work queues behind it.
//
// The current lane/task travels with the async context (AsyncLocalStorage),
// so code running in a task finds its lane without passing it around.

import { AsyncLocalStorage } from 'node:async_hooks';

export interface Frame {
  readonly lane: Lane;
  readonly label: string;
  /** Outgoing IPC calls this task is blocked in. */
  blocks: number;
  /** Blocked calls whose result is in, waiting for the task to be on top again. */
  readonly ready: (() => void)[];
  /** What the task waits for besides IPC (e.g. a mutex), for display. */
  waitingFor: string | null;
}

interface Task {
  label: string;
  fn: () => unknown;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

const als = new AsyncLocalStorage<Frame>();

/** The task the calling code runs in, if any. */
export function currentFrame(): Frame | undefined {
  return als.getStore();
}

export function currentLane(): Lane | undefined {
  return als.getStore()?.lane;
}

/** Runs `fn` outside any lane (as the event loop does). */
export function outsideLanes<T>(fn: () => T): T {
  return als.exit(fn);
}

export interface LaneState {
  name: string;
  /** Started tasks, bottom first: what each is doing. */
  stack: { label: string; state: 'running' | 'blocked in IPC' | 'ready' | string }[];
  queued: string[];
}

export class Lane {
  private readonly queue: Task[] = [];
  private readonly stack: Frame[] = [];
  private scheduled = false;

  constructor(
    /** Full thread name, e.g. `bitcoin-wallet-100/bitcoin-wallet-103 (from bitcoin-node-90/b-http-93)`. */
    readonly name: string,
    /** Synthetic thread id (the number after the last `-` in the name). */
    readonly tid: number,
  ) {}

  /** Queues `fn` to run on this lane; resolves with its result. */
  post<T>(fn: () => T | Promise<T>, label = 'task'): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ label, fn, resolve: resolve as (v: unknown) => void, reject });
      this.schedule();
    });
  }

  /** Runs `fn` as code of this thread (same as post). */
  run<T>(fn: () => T | Promise<T>, label = 'run'): Promise<T> {
    return this.post(fn, label);
  }

  /**
   * Blocks the task `frame` in an outgoing IPC call until `p` settles. While
   * blocked, the lane runs other posted tasks; the task resumes when `p` has
   * settled and it is the top of the lane's stack again.
   */
  async block<T>(frame: Frame, p: Promise<T>): Promise<T> {
    if (!this.stack.includes(frame)) return p; // the task is over: nothing to block
    frame.blocks++;
    this.schedule();
    let result: { ok: true; value: T } | { ok: false; error: unknown };
    try {
      result = { ok: true, value: await p };
    } catch (error) {
      result = { ok: false, error };
    }
    await new Promise<void>((resume) => {
      frame.ready.push(resume);
      this.schedule();
    });
    if (result.ok) return result.value;
    throw result.error;
  }

  /** True when no task has started and none is queued. */
  get idle(): boolean {
    return this.stack.length === 0 && this.queue.length === 0;
  }

  state(): LaneState {
    return {
      name: this.name,
      stack: this.stack.map((f) => ({
        label: f.label,
        state: f.waitingFor ?? (f.blocks > 0 ? (f.ready.length > 0 ? 'ready' : 'blocked in IPC') : 'running'),
      })),
      queued: this.queue.map((t) => t.label),
    };
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    const top = this.stack[this.stack.length - 1];
    if (top) {
      if (top.blocks === 0) return; // running, or waiting for something that is not IPC
      const resume = top.ready.shift();
      if (resume) {
        top.blocks--;
        resume();
        if (top.ready.length > 0) this.schedule();
        return;
      }
    }
    const task = this.queue.shift();
    if (task) this.start(task);
  }

  private start(task: Task): void {
    const frame: Frame = { lane: this, label: task.label, blocks: 0, ready: [], waitingFor: null };
    this.stack.push(frame);
    als.run(frame, () => {
      let r: unknown;
      try {
        r = task.fn();
      } catch (e) {
        this.finish(frame);
        task.reject(e);
        return;
      }
      Promise.resolve(r).then(
        (v) => {
          this.finish(frame);
          task.resolve(v);
        },
        (e) => {
          this.finish(frame);
          task.reject(e);
        },
      );
    });
  }

  private finish(frame: Frame): void {
    const i = this.stack.lastIndexOf(frame);
    if (i >= 0) this.stack.splice(i, 1);
    // Calls the task left behind (not awaited) must not wait for it forever.
    for (const resume of frame.ready.splice(0)) resume();
    frame.blocks = 0;
    this.schedule();
  }
}
