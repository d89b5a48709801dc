import type { Decision, WindowState } from './windows';

/** OpenAI's headers: x-ratelimit-{limit,remaining,reset}-{requests,tokens}. */
export function rateLimitHeaders(d: Decision | null): Record<string, string> {
  const headers: Record<string, string> = {};
  const put = (kind: 'requests' | 'tokens', w: WindowState | null) => {
    if (!w) return;
    headers[`x-ratelimit-limit-${kind}`] = String(w.limit);
    headers[`x-ratelimit-remaining-${kind}`] = String(w.remaining);
    headers[`x-ratelimit-reset-${kind}`] = duration(w.resetMs);
  };
  if (d) {
    put('requests', d.requests);
    put('tokens', d.tokens);
  }
  return headers;
}

/** Durations as OpenAI writes them: "20ms", "1.5s", "6m0s". */
export function duration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.round((ms % 60_000) / 100) / 10;
  return minutes > 0 ? `${minutes}m${seconds}s` : `${seconds}s`;
}
