// pinYoungGeneration (src/cli/heap.ts): a thread's young generation stays
// at its size, even after a worker thread started (V8 resets the flag when it
// makes the worker's isolate; workerOnline sets it again). Each case runs in
// a fresh node process, whose young generation starts small.

import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const heapJs = pathToFileURL(join(__dirname, '../../dist/cli/heap.js')).href;

/** The main thread's new space (MB) after a churn whose survivors make V8 grow it, in a process that `pin`s (or not) and starts a worker first. */
function newSpaceAfterChurn(pin: 'no' | 'yes' | 'without-online'): { before: number; after: number } {
  const script = `
    import { pinYoungGeneration, workerOnline } from ${JSON.stringify(heapJs)};
    import { getHeapSpaceStatistics } from 'node:v8';
    import { Worker } from 'node:worker_threads';
    const newSpace = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size / 1e6;
    if (${JSON.stringify(pin)} !== 'no') pinYoungGeneration();
    const before = newSpace();
    const w = new Worker('setTimeout(() => {}, 60000)', { eval: true });
    if (${JSON.stringify(pin)} === 'yes') workerOnline(w);
    w.once('online', () => setImmediate(() => {
      const keep = [];
      for (let i = 0; i < 3e6; i++) {
        const o = { a: i, b: [i] };
        if (i % 10 === 0) keep.push(o);
        if (keep.length > 50000) keep.splice(0, 25000);
      }
      console.log(JSON.stringify({ before, after: newSpace() }));
      process.exit(0);
    }));
  `;
  return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }));
}

describe('pinYoungGeneration', () => {
  it('keeps the young generation at its size, with a worker started', () => {
    // The churn grows an unpinned young generation (else this test could not fail)...
    const free = newSpaceAfterChurn('no');
    expect(free.after).toBeGreaterThan(8 * free.before);
    // ...and the worker's isolate undoes a pin that is not set again once it is online...
    const lost = newSpaceAfterChurn('without-online');
    expect(lost.after).toBeGreaterThan(8 * lost.before);
    // ...which workerOnline does (one doubling may come before the worker is seen online).
    const pinned = newSpaceAfterChurn('yes');
    expect(pinned.after).toBeLessThanOrEqual(2 * pinned.before);
  }, 60000);
});
