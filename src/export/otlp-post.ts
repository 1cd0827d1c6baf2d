// Posting OTLP/JSON to an OTLP/HTTP collector (POST {endpoint}/v1/traces,
// Content-Type: application/json), in batches, with retries on network
// errors and on 429/502/503/504, and a one-line error when it cannot be
// reached.

import { UserError } from '../decoder/sources.js';
import { otlpBatches, OtlpRequest } from './otlp.js';

export interface PostOptions {
  attempts?: number;
  /** First retry delay; doubles each time. */
  backoffMs?: number;
  timeoutMs?: number;
  batchSpans?: number;
  onBatch?: (spans: number) => void;
}

/** The traces URL: a bare collector address (no path) gets the standard /v1/traces. */
export function tracesUrl(endpoint: string): URL {
  let u: URL;
  try {
    u = new URL(endpoint);
  } catch {
    throw new UserError(`--otlp-endpoint: not a URL: '${endpoint}' (e.g. http://localhost:4318)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UserError(`--otlp-endpoint: needs an http or https URL, got '${endpoint}'`);
  if (u.pathname === '/' || u.pathname === '') u.pathname = '/v1/traces';
  return u;
}

const RETRY_STATUS = new Set([429, 502, 503, 504]);

/** Posts every span; returns the number of spans accepted. */
export async function postOtlp(endpoint: string, req: OtlpRequest, opts: PostOptions = {}): Promise<number> {
  const url = tracesUrl(endpoint);
  const attempts = opts.attempts ?? 4;
  let sent = 0;
  for (const batch of otlpBatches(req, opts.batchSpans ?? 5000)) {
    const n = batch.resourceSpans.reduce((a, r) => a + r.scopeSpans[0]!.spans.length, 0);
    const body = JSON.stringify(batch);
    let delay = opts.backoffMs ?? 500;
    for (let attempt = 1; ; attempt++) {
      let why: string;
      try {
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
          signal: AbortSignal.timeout(opts.timeoutMs ?? 10000),
        });
        if (res.ok) {
          await res.arrayBuffer();
          break;
        }
        const text = (await res.text()).slice(0, 200).replace(/\s+/g, ' ');
        why = `HTTP ${res.status}${text ? `: ${text}` : ''}`;
        if (!RETRY_STATUS.has(res.status)) throw new UserError(`the OTLP endpoint ${url.href} refused the spans (${why})`);
      } catch (e) {
        if (e instanceof UserError) throw e;
        const cause = (e as { cause?: { code?: string; message?: string } }).cause;
        why = cause?.code ?? cause?.message ?? (e as Error).message;
      }
      if (attempt >= attempts) throw new UserError(`cannot reach the OTLP endpoint ${url.href}: ${why} (tried ${attempts} times)`);
      await new Promise((r) => setTimeout(r, delay));
      delay *= 2;
    }
    sent += n;
    opts.onBatch?.(n);
  }
  return sent;
}
