// The gateway with its storage counted, for `npm run bench`: the same app and the same
// AccountState, with their D1 and Durable Object bindings wrapped to count what goes
// through them. Built by the bench (`wrangler deploy bench/counting.ts --dry-run`), never
// deployed. Under workerd the Worker and its Durable Objects share one isolate, so one set
// of counters sees both sides.
//   GET /__bench/counts — the counters; POST /__bench/reset — zero them.
// "Before the upstream call" is what a request did between its arrival and its first
// outbound fetch; exact when one request runs at a time (c=1), as the bench uses it.
import gateway, { AccountState as Gateway } from '../src/index';
import type { Env } from '../src/config';

interface Side {
  d1_statements: number;
  d1_transactions: number;
  d1_write_transactions: number;
  d1_rows_written: number;
  do_calls: Record<string, number>;
}
const side = (): Side => ({ d1_statements: 0, d1_transactions: 0, d1_write_transactions: 0, d1_rows_written: 0, do_calls: {} });
const counts = { worker: side(), object: side(), requests: 0, before_upstream: { d1_statements: 0, do_calls: 0, requests: 0 }, d1_size_after: 0 };

const isWrite = (sql: string) => /^\s*(INSERT|UPDATE|DELETE|REPLACE)/i.test(sql);
const doCalls = (s: Side) => Object.values(s.do_calls).reduce((a, b) => a + b, 0);

function noteResults(s: Side, results: D1Result[]) {
  for (const r of results) {
    s.d1_rows_written += r.meta?.rows_written ?? 0;
    if (typeof r.meta?.size_after === 'number') counts.d1_size_after = r.meta.size_after;
  }
}

function countedStatement(s: Side, stmt: D1PreparedStatement, sql: string): D1PreparedStatement {
  const one = async <T>(run: () => Promise<T>): Promise<T> => {
    s.d1_statements++;
    s.d1_transactions++;
    if (isWrite(sql)) s.d1_write_transactions++;
    const result = await run();
    if (result && typeof result === 'object' && 'meta' in result) noteResults(s, [result as unknown as D1Result]);
    return result;
  };
  return new Proxy(stmt, {
    get(target, prop) {
      if (prop === '__sql') return sql;
      if (prop === '__target') return target;
      if (prop === 'bind') return (...args: unknown[]) => countedStatement(s, target.bind(...args), sql);
      if (prop === 'first' || prop === 'all' || prop === 'run' || prop === 'raw') {
        return (...args: unknown[]) => one(() => (target[prop] as (...a: unknown[]) => Promise<unknown>).apply(target, args));
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

function countedDb(s: Side, db: D1Database): D1Database {
  return new Proxy(db, {
    get(target, prop) {
      if (prop === 'prepare') return (sql: string) => countedStatement(s, target.prepare(sql), sql);
      if (prop === 'batch') {
        return async (statements: D1PreparedStatement[]) => {
          s.d1_statements += statements.length;
          s.d1_transactions++;
          if (statements.some((st) => isWrite((st as unknown as { __sql: string }).__sql ?? ''))) s.d1_write_transactions++;
          // Miniflare's D1 checks what it is given is its own statement class: unwrap.
          const results = await target.batch(statements.map((st) => (st as unknown as { __target?: D1PreparedStatement }).__target ?? st));
          noteResults(s, results);
          return results;
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

function countedNamespace(s: Side, ns: DurableObjectNamespace): DurableObjectNamespace {
  return new Proxy(ns, {
    get(target, prop) {
      if (prop === 'get') {
        return (id: DurableObjectId) => {
          const stub = target.get(id);
          return new Proxy({}, {
            get(_, method: string) {
              return (...args: unknown[]) => {
                s.do_calls[method] = (s.do_calls[method] ?? 0) + 1;
                return (stub as unknown as Record<string, (...a: unknown[]) => unknown>)[method]!(...args);
              };
            },
          });
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

// One wrapped env per side (the Worker and its objects may be handed the same env object).
const wrapped = new Map<Side, WeakMap<object, Env>>();
function countedEnv(env: Env, s: Side): Env {
  const mine = wrapped.get(s) ?? new WeakMap<object, Env>();
  wrapped.set(s, mine);
  let out = mine.get(env);
  if (!out) {
    out = {
      ...env,
      DB: countedDb(s, env.DB),
      ACCOUNTS: countedNamespace(s, env.ACCOUNTS as unknown as DurableObjectNamespace) as unknown as Env['ACCOUNTS'],
      HEALTH: countedNamespace(s, env.HEALTH as unknown as DurableObjectNamespace) as unknown as Env['HEALTH'],
    };
    mine.set(env, out);
  }
  return out;
}

// Log-in and redemption attempts: not on the request path the bench counts. The channels'
// health is reported in waitUntil: counted as the Worker's DO calls (countedEnv).
export { AttemptLimiter, ChannelHealth } from '../src/index';

export class AccountState extends Gateway {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, countedEnv(env, counts.object));
  }
}

// The first outbound fetch of the request in flight marks "the upstream call".
let current: { d1: number; dos: number; marked: boolean } | null = null;
const outbound = globalThis.fetch;
globalThis.fetch = (...args: Parameters<typeof fetch>) => {
  if (current && !current.marked) {
    current.marked = true;
    counts.before_upstream.requests++;
    counts.before_upstream.d1_statements += counts.worker.d1_statements - current.d1;
    counts.before_upstream.do_calls += doCalls(counts.worker) - current.dos;
  }
  return outbound(...args);
};

export default {
  async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    const { pathname } = new URL(request.url);
    if (pathname === '/__bench/counts') return Response.json(counts);
    if (pathname === '/__bench/reset') {
      // The Side objects stay the same ones: the wrapped bindings hold them.
      Object.assign(counts.worker, side());
      Object.assign(counts.object, side());
      Object.assign(counts, { requests: 0, before_upstream: { d1_statements: 0, do_calls: 0, requests: 0 } });
      return new Response('reset');
    }
    counts.requests++;
    current = { d1: counts.worker.d1_statements, dos: doCalls(counts.worker), marked: false };
    return gateway.fetch(request, countedEnv(env, counts.worker), ctx);
  },
};
