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

import { setFlagsFromString } from 'node:v8';

/** How much a heap may grow past its live size before V8 collects it again. */
export const HEAP_GROWING_PERCENT = 30;

let done = false;

/** Bounds heap growth for every thread of this process (once, before the workers start). */
export function boundHeapGrowth(): void {
  if (done) return;
  done = true;
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}
