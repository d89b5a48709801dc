// The pass-through plus the storage round trips Tokengate makes per chat request, with no
// logic: one D1 batch to read (key, model, channels), one D1 batch to write (the hold), one
// Durable Object call (the rate limiter), and after the response one D1 batch (settlement).
// Under Miniflare, D1 and Durable Objects run inside the same workerd process, so this
// separates what the local storage simulation costs from what Tokengate's own code costs.
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
    const db = env.DB;
    await db.batch([db.prepare('SELECT 1 AS a'), db.prepare('SELECT 2 AS b'), db.prepare('SELECT 3 AS c')]);
    const counter = env.COUNTER.get(env.COUNTER.idFromName('bench'));
    await Promise.all([
      db.batch([db.prepare('CREATE TABLE IF NOT EXISTS w (n INTEGER)'), db.prepare('INSERT INTO w VALUES (1)'), db.prepare('DELETE FROM w')]),
      counter.hit(),
    ]);
    const { pathname } = new URL(request.url);
    const upstream = await fetch(env.UPSTREAM + pathname, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer sk-bench' },
      body: request.body,
    });
    ctx.waitUntil(db.batch([db.prepare('INSERT INTO w VALUES (2)'), db.prepare('DELETE FROM w')]));
    return new Response(upstream.body, { status: upstream.status, headers: { 'content-type': upstream.headers.get('content-type') ?? 'application/json' } });
  },
};
