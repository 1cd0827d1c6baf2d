// A recording session as the proxy, exec and demo commands run it: the
// pipeline with its views (the -debug=ipc-style log, the SQLite store) and
// the recorder that feeds it off the relay path.

import { openSync, closeSync } from 'node:fs';
import { ByteWriter } from './output.js';
import { loadSchemaBundle, rpcSchemaSet } from '../decoder/sources.js';
import { Pipeline, Sink, ConnOpen } from '../session/pipeline.js';
import { Recorder } from '../session/recorder.js';
import { IpcLog } from '../log/ipclog.js';
import { Store, defaultDbName } from '../store/store.js';
import type { Tap } from '../proxy/splice.js';

export interface RecordingOptions {
  db?: string;
  /** `-` for stdout, a file path, or undefined for stdout. */
  log?: string;
  schemaFiles: string[];
  importDirs: string[];
  maxChars: number;
  command: string;
  /** Extra sinks (the terminal UI). */
  sinks?: Sink[];
  /** Print the log (false when a TUI owns the terminal and no --log was given). */
  printLog?: boolean;
}

export class Recording {
  readonly pipeline: Pipeline;
  readonly recorder: Recorder;
  readonly store: Store;
  readonly dbPath: string;
  private readonly out: ByteWriter | null;
  private readonly logFd: number | null;

  constructor(opts: RecordingOptions) {
    const schemas = loadSchemaBundle(opts.schemaFiles, opts.importDirs);
    this.dbPath = opts.db ?? defaultDbName();
    this.store = Store.create(
      this.dbPath,
      { created: new Date().toISOString(), command: opts.command, schemas: schemas.source, max_chars: String(opts.maxChars) },
      [{ source: schemas.source, cgr: schemas.cgr }],
    );
    this.logFd = opts.log && opts.log !== '-' ? openSync(opts.log, 'a', 0o600) : null;
    const printLog = opts.printLog ?? true;
    this.out = this.logFd !== null ? new ByteWriter(this.logFd) : printLog || opts.log === '-' ? new ByteWriter(1) : null;
    const sinks: Sink[] = [this.store, ...(opts.sinks ?? [])];
    if (this.out) {
      const out = this.out;
      sinks.push(new IpcLog((l) => out.line(l), opts.maxChars));
    }
    this.pipeline = new Pipeline(schemas.set, rpcSchemaSet(), sinks);
    this.recorder = new Recorder(this.pipeline, {
      batch: (work) => this.store.batch(work),
      afterBatch: () => {
        this.store.batch(() => this.store.sync(this.pipeline.model));
        this.out?.flush();
      },
    });
  }

  /** The relay's tap: every connection is recorded. */
  tap(names?: (conn: { listen: string; upstream: string }) => { client?: string; server?: string }): Tap {
    const r = this.recorder;
    return {
      open: (c) => {
        const n = names?.(c) ?? {};
        const info: ConnOpen = { id: c.id, time: c.time, label: `${c.peer ? c.peer + ' via ' : ''}${c.listen} -> ${c.upstream}`, ...n };
        r.open(info);
      },
      data: (id, dir, bytes, time) => r.data(id, dir, bytes, time),
      end: (id, dir, time) => r.end(id, dir, time),
      close: (id, time, reason) => r.close(id, time, reason),
    };
  }

  /** Waits for the recorder, then closes the database and the log. */
  async finish(): Promise<void> {
    await this.recorder.drained();
    this.store.batch(() => this.store.sync(this.pipeline.model));
    if (this.recorder.droppedBytes > 0) this.store.setMeta('dropped_bytes', String(this.recorder.droppedBytes));
    this.store.setMeta('ended', new Date().toISOString());
    this.store.shutdown();
    this.out?.flush();
    if (this.logFd !== null) closeSync(this.logFd);
  }
}
