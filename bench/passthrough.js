// The floor: a minimal pass-through worker. It fetches the upstream and returns its body
// as a stream, untouched — what any proxy on Workers must at least do.
export default {
  async fetch(request, env) {
    const { pathname } = new URL(request.url);
    const upstream = await fetch(env.UPSTREAM + pathname, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer sk-bench' },
      body: request.body,
    });
    return new Response(upstream.body, { status: upstream.status, headers: { 'content-type': upstream.headers.get('content-type') ?? 'application/json' } });
  },
};
