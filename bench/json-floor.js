// The floor of a gateway that reads its requests: the pass-through (passthrough.js), but the
// body is read into the isolate as text and parsed before the same text goes upstream — what
// any proxy that looks inside a JSON body (to route by its model, or meter its prompt) must
// at least do. Beside the pass-through on the coding agents' bodies (bodies.mjs), it tells
// what one more 100 KB costs before any of Tokengate's own work.
export default {
  async fetch(request, env) {
    const { pathname } = new URL(request.url);
    const text = await request.text();
    if (typeof JSON.parse(text).model !== 'string') return new Response('a model is required', { status: 400 });
    const upstream = await fetch(env.UPSTREAM + pathname, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer sk-bench' },
      body: text,
    });
    return new Response(upstream.body, { status: upstream.status, headers: { 'content-type': upstream.headers.get('content-type') ?? 'application/json' } });
  },
};
