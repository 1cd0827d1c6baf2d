// A mutex for lanes. Waiting for it keeps the lane busy (like a thread
// blocked in pthread_mutex_lock): the lane does not serve posted requests
// meanwhile, so a lock cycle across processes really hangs, which is what a
// deadlock demo needs. With `recursive`, the lane holding it may lock it
// again (Bitcoin Core's RecursiveMutex, e.g. cs_wallet), so a callback that
// comes back on the waiting lane gets in while one on another lane blocks.

import { currentFrame, Lane } from './lane.js';

interface Waiter {
  owner: Lane | symbol;
  grant: () => void;
}

export class AsyncMutex {
  private owner: Lane | symbol | null = null;
  private depth = 0;
  private readonly waiting: Waiter[] = [];

  constructor(
    readonly name = 'mutex',
    private readonly options: { recursive?: boolean } = {},
  ) {}

  /** Locks; resolves when held. Outside lanes every caller is a distinct owner. */
  async lock(): Promise<void> {
    const frame = currentFrame();
    const me: Lane | symbol = frame?.lane ?? Symbol('event loop');
    if (this.owner === null) {
      this.owner = me;
      this.depth = 1;
      return;
    }
    if (this.owner === me && this.options.recursive) {
      this.depth++;
      return;
    }
    if (this.owner === me) throw new Error(`${this.name}: locked twice by ${describe(me)} (not recursive)`);
    if (frame) frame.waitingFor = `waiting for ${this.name}`;
    try {
      await new Promise<void>((grant) => this.waiting.push({ owner: me, grant }));
    } finally {
      if (frame) frame.waitingFor = null;
    }
  }

  unlock(): void {
    if (this.owner === null) throw new Error(`${this.name}: unlock of an unlocked mutex`);
    if (--this.depth > 0) return;
    const next = this.waiting.shift();
    if (next) {
      this.owner = next.owner;
      this.depth = 1;
      next.grant();
    } else {
      this.owner = null;
    }
  }

  /** Runs `fn` holding the lock. */
  async withLock<T>(fn: () => T | Promise<T>): Promise<T> {
    await this.lock();
    try {
      return await fn();
    } finally {
      this.unlock();
    }
  }

  /** Name of the holding lane (or 'event loop'), null when free. */
  get holder(): string | null {
    return this.owner === null ? null : describe(this.owner);
  }

  /** Names of the lanes waiting, in order. */
  get waiters(): string[] {
    return this.waiting.map((w) => describe(w.owner));
  }
}

function describe(o: Lane | symbol): string {
  return o instanceof Lane ? o.name : 'event loop';
}
