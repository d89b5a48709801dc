import { MICROS_PER_DOLLAR } from '../money';

/** Micro-dollars as people read them: at least cents, up to the µ$, no trailing zeros. */
export function usd(micros: number): string {
  const sign = micros < 0 ? '-' : '';
  const fixed = (Math.abs(micros) / 1_000_000).toFixed(6).replace(/0{1,4}$/, '');
  return `${sign}$${fixed}`;
}

/** Dollars, as the admin actions' views give them (6 decimals at most), shown as usd(). */
export const usdOf = (dollars: number): string => usd(Math.round(dollars * MICROS_PER_DOLLAR));

/** USD per 1M tokens, from a price in µ$ per 1M tokens. */
export const perMillion = (micros: number | null): string => (micros === null ? '—' : usd(micros));

/** An ISO time as 'YYYY-MM-DD HH:MM:SS' UTC. */
export const when = (iso: string): string => `${iso.slice(0, 10)} ${iso.slice(11, 19)}`;

/** A share as a percentage with one decimal; '—' for none. */
export const percent = (share: number | null): string => (share === null ? '—' : `${(share * 100).toFixed(1)}%`);

export const count = (n: number): string => n.toLocaleString('en-US');

const UNIT_WORDS = { images: 'images', characters: 'characters', seconds: 's of audio' } as const;

/** What a request other than tokens was priced in, for the operator ("2 images"); null for tokens. */
export const measuredAs = (r: { unit: keyof typeof UNIT_WORDS | 'tokens'; quantity: number | null }): string | null =>
  r.unit === 'tokens' || r.quantity === null ? null : `${count(r.quantity)} ${UNIT_WORDS[r.unit]}`;
