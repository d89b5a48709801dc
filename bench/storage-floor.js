// The pass-through plus the storage round trips Tokengate makes per chat request in steady
// state, with no logic: one Durable Object call before the upstream call (the account's
// object: key, limits and hold), and one after the response, in waitUntil (the
// settlement), each writing a row to the object's SQLite storage. No D1: a warm isolate
// reads none, and flushes are a few per account per second, not per request.
// Under Miniflare, Durable Objects run inside the same workerd process, so this separates
// what the local storage simulation costs from what Tokengate's own code costs.
import { DurableObject } from 'cloudflare:workers';

export class Counter extends DurableObject {
  hit() {
    this.ctx.storage.sql.exec('CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, v REAL)');
    this.ctx.storage.sql.exec("INSERT INTO t VALUES ('n', 1) ON CONFLICT (k) DO UPDATE SET v = v + 1");
    return 1;
  }
}

export default {
  async fetch(request, env, ctx) {
    const counter = env.COUNTER.get(env.COUNTER.idFromName('bench'));
    await counter.hit();
    const { pathname } = new URL(request.url);
    const upstream = await fetch(env.UPSTREAM + pathname, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer sk-bench' },
      body: request.body,
    });
    ctx.waitUntil(counter.hit());
    return new Response(upstream.body, { status: upstream.status, headers: { 'content-type': upstream.headers.get('content-type') ?? 'application/json' } });
  },
};
