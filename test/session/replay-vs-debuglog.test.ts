// The real captures replayed through the recording pipeline give, for every
// `IPC client send/recv` and `IPC server recv/send/post` line of the
// processes' own -debug=ipc logs, the same method names in the same order,
// the same request numbering, and the same client thread names (where the
// wire carries them: calls without a Proxy.Context carry no thread).

import { describe, it, expect } from 'vitest';
import { join } from 'node:path';
import { ROOT } from '../helpers.js';
import { feedHexlog } from './feed.js';
import { IpcLog } from '../../src/log/ipclog.js';
import { parseIpcLog, LogEvent, compareClient, compareServer, captureWindow, theirs } from './debuglog.js';

function ours(hexlog: string): LogEvent[] {
  const lines: string[] = [];
  feedHexlog(join(CAP, hexlog), [new IpcLog((l) => lines.push(l))]);
  return parseIpcLog(lines.join('\n').replace(/^\S+Z /gm, ''));
}

const CAP = join(ROOT, 'test/fixtures/captures');

export const SESSIONS: { hexlogs: string[]; client: string | null; server: string }[] = [
  { hexlogs: ['mining-01.hexlog'], client: 'mining.client.log', server: 'mining.node.log' },
  { hexlogs: ['template-01.hexlog'], client: 'template.client.log', server: 'template.node.log' },
  { hexlogs: ['echo-01.hexlog'], client: 'echo.client.log', server: 'echo.node.log' },
  { hexlogs: ['big-01.hexlog'], client: 'big.client.log', server: 'big.node.log' },
  { hexlogs: ['disconnect-01.hexlog'], client: 'disconnect.client.log', server: 'disconnect.node.log' },
  ...['01', '02', '03', '04', '05', '06'].map((n) => ({ hexlogs: [`cli-${n}.hexlog`], client: null, server: 'cli.node.log' })),
];

describe('replayed captures read like the processes own -debug=ipc logs', () => {
  for (const s of SESSIONS) {
    it(s.hexlogs.join(', '), () => {
      const w = captureWindow(s.hexlogs[0]!);
      const our = s.hexlogs.flatMap(ours);
      if (s.client) compareClient(our, theirs(s.client, null));
      compareServer(our, theirs(s.server, w));
    });
  }
});
