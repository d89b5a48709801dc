import { config, type Env } from '../config';
import type { Route } from '../db/catalog';
import { channelHealth } from './object';
import { applyOutcome, HEALTHY, standing, type ChannelState, type Outcome } from './rules';

/**
 * This isolate's view of the channels' health: its own attempts applied at once, the
 * shared view (ChannelHealth) taken in with every report's answer. Ordering reads only
 * this view, so health adds nothing to a request's path; reports go in waitUntil, batched.
 */
const states = new Map<string, ChannelState>();
/** Outcomes not yet reported: applied again over every shared view taken in. */
const pending: Outcome[] = [];
/** Probing channels this isolate has just sent a probe to: not probed again before then. */
const probed = new Map<string, number>();
let reporting = false;
let reportedAt = 0;
let syncedAt = 0;

/**
 * The channels in the order to try them, given the order traffic sharing chose: those in
 * rotation first (a probing one where it stands — this request is its probe, and the next
 * is a cool-down base away), then those cooling down, soonest back first. Every channel
 * stays in the list: when all are cooling down the least bad is still tried.
 */
export function byHealth(routes: Route[], env: Env, background: (work: Promise<unknown>) => void, now = Date.now()): Route[] {
  const cfg = config(env);
  if (pending.length > 0 || now - syncedAt > cfg.CACHE_SECONDS * 1000) schedule(env, background, now);
  const ready: Route[] = [];
  const cooling: Route[] = [];
  for (const route of routes) {
    const st = standing(states.get(route.id), now);
    if (st === 'cooling' || (st === 'probing' && (probed.get(route.id) ?? 0) > now)) cooling.push(route);
    else {
      if (st === 'probing') probed.set(route.id, now + cfg.HEALTH_COOL_DOWN_MS);
      ready.push(route);
    }
  }
  const back = (r: Route) => Math.max(states.get(r.id)?.coolUntil ?? 0, probed.get(r.id) ?? 0);
  cooling.sort((a, b) => back(a) - back(b));
  return [...ready, ...cooling];
}

/** One attempt's outcome: into this isolate's view now (a key's counts only for the key),
 *  and to the shared one soon. */
export function record(env: Env, background: (work: Promise<unknown>) => void, outcome: Outcome): void {
  if (!outcome.key) states.set(outcome.channel, applyOutcome(states.get(outcome.channel) ?? HEALTHY, outcome, config(env).HEALTH_COOL_DOWN_MS));
  pending.push(outcome);
  schedule(env, background);
}

/** Sends what is pending (and takes the shared view back): at most one report in flight per
 *  isolate, and at most one per HEALTH_REPORT_MS; what comes meanwhile waits for the next
 *  request's turn. No timer is left running: a report goes out in the waitUntil of the
 *  request that made it due. */
function schedule(env: Env, background: (work: Promise<unknown>) => void, now = Date.now()): void {
  if (reporting || now - reportedAt < config(env).HEALTH_REPORT_MS) return;
  background(report(env, now));
}

/** The shared view, with this isolate's own attempts in it: what the operator reads, so
 *  that a quiet deployment's last calls are not held back until the next request. */
export async function sharedHealth(env: Env) {
  if (!reporting && pending.length > 0) await report(env);
  return channelHealth(env);
}

async function report(env: Env, now = Date.now()): Promise<void> {
  reporting = true;
  reportedAt = now;
  try {
    const batch = pending.splice(0);
    const shared = await channelHealth(env).report(batch);
    for (const [id, s] of Object.entries(shared)) states.set(id, s);
    // What happened here since the batch left is not in the shared view yet.
    const base = config(env).HEALTH_COOL_DOWN_MS;
    for (const o of pending) if (!o.key) states.set(o.channel, applyOutcome(states.get(o.channel) ?? HEALTHY, o, base));
    syncedAt = Date.now();
  } catch (err) {
    console.error(JSON.stringify({ channel_health_report_failed: String(err) }));
  } finally {
    reporting = false;
  }
}
