// Local servers: an interface of the schemas implemented by plain JS
// methods. A method receives the params as a plain object (caps borrowed for
// the call) and a context, and returns the results as a plain object (or
// nothing for empty results); throwing an RpcError picks the exception type,
// any other throw travels as `failed`.

import { SchemaSet, InterfaceInfo, MethodInfo } from '../decoder/schema.js';
import type { DStruct } from '../decoder/dynamic.js';
import { Cap, CallRequest, CallResult, Hook, RawResults, capsIn, findInterface, isCap, pipelineFrom } from './cap.js';
import { RpcError } from './errors.js';
import { Plain, mapCaps } from './values.js';

/** What a server method learns about the call besides its params. */
export interface CallContext {
  /** The connection the call came in on (null for calls from this process). */
  conn: unknown | null;
  iface: InterfaceInfo;
  method: MethodInfo;
  /** The decoded params as the decoder sees them (null for local calls). */
  struct: DStruct | null;
  /** The server the call targets. */
  server: LocalServer;
  /** A new capability to this server (C++'s thisCap()), e.g. to pass itself along. */
  thisCap(): Cap;
}

export type MethodImpl = (params: any, ctx: CallContext) => unknown;
export type ServerImpl = Record<string, MethodImpl>;

/** A call delivered to a local server. */
export interface Delivery {
  iface: InterfaceInfo;
  method: MethodInfo;
  params: Plain;
  conn: unknown | null;
  struct: DStruct | null;
}

/** True when `iface` is `base` or extends it. */
export function extendsInterface(schemas: SchemaSet, iface: InterfaceInfo, base: InterfaceInfo): boolean {
  if (iface.id === base.id) return true;
  return iface.superclasses.some((s) => {
    const sup = schemas.interfaces.get(s);
    return sup ? extendsInterface(schemas, sup, base) : false;
  });
}

export class LocalServer extends Hook {
  readonly kind = 'local';

  constructor(
    readonly schemas: SchemaSet,
    private readonly ifaceInfo: InterfaceInfo,
    readonly impl: ServerImpl,
  ) {
    super();
  }

  override get iface(): InterfaceInfo {
    return this.ifaceInfo;
  }

  /** Runs the method; resolves with the results as the method returned them (caps not copied). */
  async dispatch(d: Delivery): Promise<Plain> {
    if (!extendsInterface(this.schemas, this.ifaceInfo, d.iface)) {
      throw new RpcError('unimplemented', `Requested interface (${d.iface.name}) not implemented.`);
    }
    const fn = this.impl[d.method.name];
    if (typeof fn !== 'function') {
      if (d.method.name === 'destroy') return {};
      throw new RpcError('unimplemented', `Method not implemented: ${d.iface.name}.${d.method.name}`);
    }
    const ctx: CallContext = {
      conn: d.conn,
      iface: d.iface,
      method: d.method,
      struct: d.struct,
      server: this,
      thisCap: () => Cap.fromHook(this, this.ifaceInfo, this.schemas),
    };
    const r = await fn.call(this.impl, d.params, ctx);
    if (r === undefined || r === null) return {};
    if (typeof r !== 'object' || Array.isArray(r)) throw new RpcError('failed', `${d.iface.name}.${d.method.name} returned a non-object`);
    return r as Plain;
  }

  /** A call from this process: params caps are held for the call, results caps become the caller's. */
  call(req: CallRequest): CallResult {
    const held = capsIn(req.params).map((c) => c.dup());
    const raw = this.dispatch({ iface: req.iface, method: req.method, params: req.params, conn: null, struct: null })
      .then((results) => {
        const caps: Cap[] = [];
        const value = mapCaps(results, isCap, (c) => {
          const d = (c as Cap).dup();
          caps.push(d);
          return d;
        });
        return new RawResults(value, caps);
      })
      .finally(() => held.forEach((c) => c.release()));
    return { raw, pipeline: (path) => pipelineFrom(raw, path), remote: false };
  }
}

/** Creates a local server for interface `iface` (name or id) and returns a capability to it. */
export function serve(schemas: SchemaSet, iface: string | InterfaceInfo, impl: ServerImpl): Cap {
  const info = typeof iface === 'string' ? findInterface(schemas, iface) : iface;
  return Cap.fromHook(new LocalServer(schemas, info, impl), info, schemas);
}
