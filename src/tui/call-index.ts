// The view's call index: every call's id, the call it is nested in, and
// its send and return times, in typed arrays (a million calls take 24 MB, no
// object per call), growable as live calls arrive; and binary searches over
// sorted arrays.

import type { CallIndex } from '../store/reader.js';

/** The first index whose value is not less than x (a sorted array). */
export function lowerBound(a: ArrayLike<number>, n: number, x: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const m = (lo + hi) >> 1;
    if (a[m]! < x) lo = m + 1;
    else hi = m;
  }
  return lo;
}

/** The first index whose value is greater than x (a sorted array). */
export function upperBound(a: ArrayLike<number>, n: number, x: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const m = (lo + hi) >> 1;
    if (a[m]! <= x) lo = m + 1;
    else hi = m;
  }
  return lo;
}

/** A growable CallIndex (live calls are appended). */
export class Index {
  n = 0;
  ids: Int32Array = new Int32Array(0);
  parents: Int32Array = new Int32Array(0);
  sent: Float64Array = new Float64Array(0);
  returned: Float64Array = new Float64Array(0);

  static from(ix: CallIndex): Index {
    const x = new Index();
    x.n = ix.n;
    x.ids = ix.ids;
    x.parents = ix.parents;
    x.sent = ix.sent;
    x.returned = ix.returned;
    return x;
  }

  push(id: number, parent: number, sent: number, returned: number): void {
    if (this.n >= this.ids.length) {
      const cap = Math.max(1024, this.n * 2);
      const grow = <T extends Int32Array | Float64Array>(a: T, make: (n: number) => T): T => {
        const b = make(cap);
        b.set(a.subarray(0, this.n));
        return b;
      };
      this.ids = grow(this.ids, (k) => new Int32Array(k));
      this.parents = grow(this.parents, (k) => new Int32Array(k));
      this.sent = grow(this.sent, (k) => new Float64Array(k));
      this.returned = grow(this.returned, (k) => new Float64Array(k));
    }
    this.ids[this.n] = id;
    this.parents[this.n] = parent;
    this.sent[this.n] = sent;
    this.returned[this.n] = returned;
    this.n++;
  }

  pos(id: number): number {
    const i = lowerBound(this.ids, this.n, id);
    return i < this.n && this.ids[i] === id ? i : -1;
  }

  last(): number {
    return this.n ? this.ids[this.n - 1]! : 0;
  }
}
