// Feeds a hexlog capture through the recording pipeline, as one connection.

import { readFileSync } from 'node:fs';
import { parseHexlog } from '../../src/decoder/hexlog.js';
import { Pipeline, Sink } from '../../src/session/pipeline.js';
import { bundledSchemaSet, rpcSchemaSet } from '../../src/decoder/sources.js';
import type { SchemaSet } from '../../src/decoder/schema.js';

/** Chunks get the capture's open time plus one microsecond per chunk (the hexlog has no per-chunk times). */
export function feedHexlog(path: string, sinks: Sink[], schemas: SchemaSet = bundledSchemaSet(), connId = 1, pipeline?: Pipeline): Pipeline {
  const h = parseHexlog(readFileSync(path, 'latin1'), path);
  const p = pipeline ?? new Pipeline(schemas, rpcSchemaSet(), sinks);
  const open = h.comments.find((c) => c.timeMicros !== undefined)?.timeMicros ?? 0;
  let t = open / 1000;
  p.open({ id: connId, time: t, label: path.split('/').pop()! });
  for (const c of h.chunks) {
    t += 0.001;
    p.chunk(connId, c.dir, c.bytes, t);
  }
  p.close(connId, t + 0.001, null);
  return p;
}
