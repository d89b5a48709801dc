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

/** Over the last RECENT_MINUTES minutes. */
export interface Recent { attempts: number; success_rate: number | null; latency_ms: number | null }

export interface ChannelHealthView extends ChannelState {
  state: Standing;
  recent: Recent;
}

/** A provider key as its calls went (soft state, like the rest). */
export interface KeyHealthView {
  recent: Recent;
  last_used: string | null;
  last_error: string | null;
  last_error_at: string | null;
  /** Resting after a rate limit until then (ISO); null: not resting. */
  cooling_until: string | null;
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
  /** Per channel id, and per provider key as `key:<id>`. */
  private readonly minutes = new Map<string, Minute[]>();
  private readonly keys = new Map<string, { lastUsed: number; lastError: string | null; lastErrorAt: number | null; coolUntil: number }>();

  async report(outcomes: Outcome[]): Promise<Record<string, ChannelState>> {
    const base = config(this.env).HEALTH_COOL_DOWN_MS;
    for (const o of [...outcomes].sort((a, b) => a.at - b.at)) {
      if (o.key) {
        this.count(`key:${o.key}`, o);
        const k = this.keys.get(o.key) ?? { lastUsed: 0, lastError: null, lastErrorAt: null, coolUntil: 0 };
        this.keys.set(o.key, {
          lastUsed: Math.max(k.lastUsed, o.at),
          lastError: o.ok ? k.lastError : o.error ?? 'failed',
          lastErrorAt: o.ok ? k.lastErrorAt : o.at,
          coolUntil: o.coolUntil ?? (o.ok ? 0 : k.coolUntil),
        });
        continue;
      }
      this.states.set(o.channel, applyOutcome(this.states.get(o.channel) ?? HEALTHY, o, base));
      this.count(o.channel, o);
    }
    return Object.fromEntries(this.states);
  }

  /** The provider keys' statistics, for the operator. */
  async keyHealth(ids: string[]): Promise<Record<string, KeyHealthView>> {
    const now = Date.now();
    const iso = (ms: number | null) => (ms ? new Date(ms).toISOString() : null);
    return Object.fromEntries(ids.map((id) => {
      const k = this.keys.get(id);
      return [id, {
        recent: this.recent(`key:${id}`, now), last_used: iso(k?.lastUsed ?? null), last_error: k?.lastError ?? null,
        last_error_at: iso(k?.lastErrorAt ?? null), cooling_until: k && k.coolUntil > now ? iso(k.coolUntil) : null,
      }];
    }));
  }

  async overview(): Promise<Record<string, ChannelHealthView>> {
    const now = Date.now();
    const out: Record<string, ChannelHealthView> = {};
    for (const channel of new Set([...this.states.keys(), ...this.minutes.keys()])) {
      if (channel.startsWith('key:')) continue;
      const s = this.states.get(channel) ?? HEALTHY;
      out[channel] = { ...s, state: standing(s, now), recent: this.recent(channel, now) };
    }
    return out;
  }

  private recent(name: string, now: number): Recent {
    const since = Math.floor(now / 60_000) - RECENT_MINUTES;
    const recent = (this.minutes.get(name) ?? []).filter((m) => m.minute > since);
    const ok = recent.reduce((n, m) => n + m.ok, 0);
    const attempts = ok + recent.reduce((n, m) => n + m.failed, 0);
    const latencyCount = recent.reduce((n, m) => n + m.latencyCount, 0);
    return {
      attempts,
      success_rate: attempts === 0 ? null : ok / attempts,
      latency_ms: latencyCount === 0 ? null : Math.round(recent.reduce((n, m) => n + m.latencySum, 0) / latencyCount),
    };
  }

  private count(name: string, o: Outcome): void {
    const minute = Math.floor(o.at / 60_000);
    const list = this.minutes.get(name) ?? [];
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
    this.minutes.set(name, list);
  }
}

export const channelHealth = (env: Env) => env.HEALTH.get(env.HEALTH.idFromName('channels'));
