import { config, type Env } from '../config';
import type { Route } from '../db/catalog';
import { ApiError } from '../errors';
import { credentialsFor } from './key-pool';
import { withTimeout } from './timeout';
import { authHeaders, keyOf, sanitise, upstreamUrl } from './upstream';

/**
 * The models a channel's upstream offers, for the operator to pick from ("Fetch models"):
 * GET {base_url}/models with one of the channel's keys, read as each API lists them —
 * OpenAI's and Anthropic's `data[].id`, Gemini's `models[].name` without its `models/`.
 * Redirects are not followed, as for every upstream call.
 */
export async function upstreamModels(env: Env, route: Route): Promise<string[]> {
  if (route.kind === 'echo') return ['echo'];
  const [credential] = credentialsFor(route);
  const apiKey = credential ? await keyOf(env, route, credential) : null;
  if (apiKey === null) throw new ApiError('channel_misconfigured', 'This channel has no usable key to ask its upstream with.');
  const failed = (why: string) => new ApiError('upstream_error', `The upstream did not list its models (${why}).`);
  let response: Response;
  try {
    response = await withTimeout(fetch(upstreamUrl(route, '/models'), {
      headers: { accept: 'application/json', ...authHeaders(route, apiKey) }, redirect: 'manual',
    }), config(env).UPSTREAM_FIRST_BYTE_TIMEOUT_MS);
  } catch (err) {
    throw failed(sanitise(String(err)));
  }
  const text = await response.text();
  if (!response.ok) throw failed(`HTTP ${response.status}`);
  let body: { data?: Array<{ id?: unknown }>; models?: Array<{ name?: unknown }> };
  try {
    body = JSON.parse(text);
  } catch {
    throw failed('not JSON');
  }
  const ids = [
    ...(body.data ?? []).map((m) => m.id),
    ...(body.models ?? []).map((m) => (typeof m.name === 'string' ? m.name.replace(/^models\//, '') : m.name)),
  ];
  return [...new Set(ids.filter((id): id is string => typeof id === 'string' && id !== ''))].sort();
}
