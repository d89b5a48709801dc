/**
 * Customer API keys: `sk-` + 43 base64url characters (32 random bytes). Only the SHA-256 of
 * the whole key is stored; a fast hash is right here because the key has 256 bits of
 * entropy, so it cannot be guessed from its hash (the reasoning of workers-oauth-provider).
 */
const KEY_PATTERN = /^sk-[A-Za-z0-9_-]{43}$/;
export const PREFIX_LENGTH = 11; // "sk-" + 8 characters: enough to tell keys apart, useless to an attacker

export function generateKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return `sk-${base64url(bytes)}`;
}

export const isWellFormedKey = (key: string): boolean => KEY_PATTERN.test(key);

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));

/** Hex SHA-256; runs on every API request, hence the table rather than a toString per byte. */
export async function sha256Hex(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
  let hex = '';
  for (const b of digest) hex += HEX[b];
  return hex;
}

export const hashKey = sha256Hex;

/** A random secret of 32 bytes (256 bits), base64url: session tokens. */
export const randomToken = (): string => base64url(crypto.getRandomValues(new Uint8Array(32)));

function base64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
