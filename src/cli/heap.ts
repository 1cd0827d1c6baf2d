// V8's heap sizing for ipc-trace's long-running threads (the relay, the
// recording worker, the terminal UI's workers).
//
// Left to itself, V8 lets a heap grow to up to four times what survived its
// last full collection before it collects again, and a thread's young
// generation to 32 MB. For a relay that records, that was most of its memory:
// the recording worker's heap reached 75-115 MB holding 25-45 MB of live
// objects, the relay's 27-44 MB (see docs/store.md, "Memory"). Growth is
// bounded here to 30% over the live size for every thread of the process
// (measured: no change in recording speed per CPU second), and the recording
// worker's young generation to 8 MB (recording.ts).
//
// The flag is read at each full collection, so setting it once the process
// runs takes effect (for threads started later as well).
//
// The young generation: V8 doubles a thread's (two semi-spaces, up to 16 MB
// each) whenever enough has survived its scavenges since it last grew, which
// a long session always reaches. With the native pump relaying (docs/pump.md)
// the main thread only passes on copies, tens of thousands of small events a
// second, and its young generation doubled twice within a minute of soak step
// 2 (new space 8.4 -> 33.6 MB, RSS 167-177 MB against the 150 MB goal).
// pinYoungGeneration() keeps every thread's young generation at the size it
// has (--semi-space-growth-factor=1; V8 reads it at each growth). V8 resets
// that flag to 2 whenever it makes an isolate, i.e. whenever a worker thread
// starts, so it is set again once each worker is online (workerOnline()).
// Not for the JavaScript relay: its main thread relays, and a small young
// generation there means more scavenges on the relay's path.

import { setFlagsFromString } from 'node:v8';
import type { Worker } from 'node:worker_threads';

/** How much a heap may grow past its live size before V8 collects it again. */
export const HEAP_GROWING_PERCENT = 30;

let done = false;

/** Bounds heap growth for every thread of this process (once, before the workers start). */
export function boundHeapGrowth(): void {
  if (done) return;
  done = true;
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}

const PIN = '--semi-space-growth-factor=1';
/** Set once pinned: in the environment, so that threads started later (which get a copy of it) pin their own workers too. */
const PINNED = 'IPC_TRACE_YOUNG_PINNED';

/** Keeps every thread's young generation at the size it has now, for the rest of the process (see above). */
export function pinYoungGeneration(): void {
  process.env[PINNED] = '1';
  setFlagsFromString(PIN);
}

/** Call for every worker started: once it is online (its isolate made, which reset the flag), pins again if pinned. */
export function workerOnline(worker: Worker): void {
  worker.once('online', () => {
    if (process.env[PINNED] === '1') setFlagsFromString(PIN);
  });
}
