// The chains input for a time of a recorded (or still recording) session,
// read through the session reader: the calls outstanding then, the threads,
// processes and connections, and the hang limits from the calls completed
// by then.

import type { SessionReader } from '../store/reader.js';
import { limitsFromDurations } from './limits.js';
import type { ChainInput } from './types.js';

export function chainInput(reader: SessionReader, at: number, stuckMs?: number): ChainInput {
  return {
    calls: reader.callsOpenAt(at),
    threads: reader.threads(),
    processes: reader.processes(),
    connections: reader.connections(),
    at,
    stuckMs,
    limits: limitsFromDurations(reader.durationsByTitle(at)),
    interventions: reader.interventions(at),
  };
}
