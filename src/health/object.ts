import { DurableObject } from 'cloudflare:workers';
import { config, type Env } from '../config';
import { applyOutcome, HEALTHY, standing, type ChannelState, type Outcome, type Standing } from './rules';

/** Minutes of history kept per channel for its recent success rate and latency. */
const RECENT_MINUTES = 15;

interface Minute {
  minute: number;
  ok: number;
  failed: number;
  latencySum: number;
  latencyCount: number;
}

export interface ChannelHealthView extends ChannelState {
  state: Standing;
  /** Over the last RECENT_MINUTES minutes. */
  recent: { attempts: number; success_rate: number | null; latency_ms: number | null };
}

/**
 * The channels' health as every isolate reports it: one object for the deployment
 * (idFromName('channels')). Isolates report their attempts in batches, at most one call per
 * isolate per HEALTH_REPORT_MS, in a request's waitUntil — never on its path — and get the
 * shared state back with the answer. Soft state, kept in memory: an evicted object starts
 * with every channel healthy, which the next failures correct.
 */
export class ChannelHealth extends DurableObject<Env> {
  private readonly states = new Map<string, ChannelState>();
  private readonly minutes = new Map<string, Minute[]>();

  async report(outcomes: Outcome[]): Promise<Record<string, ChannelState>> {
    const base = config(this.env).HEALTH_COOL_DOWN_MS;
    for (const o of [...outcomes].sort((a, b) => a.at - b.at)) {
      this.states.set(o.channel, applyOutcome(this.states.get(o.channel) ?? HEALTHY, o, base));
      this.count(o);
    }
    return Object.fromEntries(this.states);
  }

  async overview(): Promise<Record<string, ChannelHealthView>> {
    const now = Date.now();
    const since = Math.floor(now / 60_000) - RECENT_MINUTES;
    const out: Record<string, ChannelHealthView> = {};
    for (const channel of new Set([...this.states.keys(), ...this.minutes.keys()])) {
      const s = this.states.get(channel) ?? HEALTHY;
      const recent = (this.minutes.get(channel) ?? []).filter((m) => m.minute > since);
      const ok = recent.reduce((n, m) => n + m.ok, 0);
      const attempts = ok + recent.reduce((n, m) => n + m.failed, 0);
      const latencyCount = recent.reduce((n, m) => n + m.latencyCount, 0);
      out[channel] = {
        ...s,
        state: standing(s, now),
        recent: {
          attempts,
          success_rate: attempts === 0 ? null : ok / attempts,
          latency_ms: latencyCount === 0 ? null : Math.round(recent.reduce((n, m) => n + m.latencySum, 0) / latencyCount),
        },
      };
    }
    return out;
  }

  private count(o: Outcome): void {
    const minute = Math.floor(o.at / 60_000);
    const list = this.minutes.get(o.channel) ?? [];
    let bucket = list.at(-1);
    if (bucket?.minute !== minute) {
      bucket = { minute, ok: 0, failed: 0, latencySum: 0, latencyCount: 0 };
      list.push(bucket);
      while (list.length > RECENT_MINUTES + 1) list.shift();
    }
    if (o.ok) bucket.ok++;
    else bucket.failed++;
    if (o.ok && o.latencyMs !== null) {
      bucket.latencySum += o.latencyMs;
      bucket.latencyCount++;
    }
    this.minutes.set(o.channel, list);
  }
}

export const channelHealth = (env: Env) => env.HEALTH.get(env.HEALTH.idFromName('channels'));
