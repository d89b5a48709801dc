import type { Route } from '../db/catalog';

/**
 * The order in which to try the channels serving a model: highest priority first; within
 * one priority, a weighted random order (each pick proportional to weight among those not
 * yet tried), so equal priorities share traffic by weight and the rest are the failover.
 * A weight of 0 keeps a channel as a last resort of its priority.
 */
export function orderRoutes(routes: Route[], random: () => number = Math.random): Route[] {
  if (routes.length < 2) return routes;
  const byPriority = new Map<number, Route[]>();
  for (const r of routes) byPriority.set(r.priority, [...(byPriority.get(r.priority) ?? []), r]);
  const priorities = [...byPriority.keys()].sort((a, b) => b - a);
  return priorities.flatMap((p) => weightedShuffle(byPriority.get(p) ?? [], random));
}

function weightedShuffle(routes: Route[], random: () => number): Route[] {
  const pool = [...routes];
  const out: Route[] = [];
  while (pool.length > 0) {
    const total = pool.reduce((sum, r) => sum + r.weight, 0);
    let index = 0;
    if (total > 0) {
      let ticket = random() * total;
      index = pool.findIndex((r) => (ticket -= r.weight) < 0);
      if (index === -1) index = pool.length - 1;
    }
    out.push(...pool.splice(index, 1));
  }
  return out;
}
