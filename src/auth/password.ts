/**
 * Console passwords: PBKDF2-SHA-256 through WebCrypto at 100,000 iterations, the most the
 * Workers runtime allows (it refuses more), with a 16-byte random salt per password. Stored
 * as 'pbkdf2-sha256$<iterations>$<salt b64>$<hash b64>' so the cost can rise later and old
 * hashes still verify.
 */
const ITERATIONS = 100_000;
const encoder = new TextEncoder();

export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 256;

async function derive(password: string, salt: Uint8Array, iterations: number): Promise<Uint8Array> {
  const material = await crypto.subtle.importKey('raw', encoder.encode(password), 'PBKDF2', false, ['deriveBits']);
  const bits = await crypto.subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt, iterations }, material, 256);
  return new Uint8Array(bits);
}

const b64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));
const unb64 = (s: string) => Uint8Array.from(atob(s), (ch) => ch.charCodeAt(0));

export async function hashPassword(password: string): Promise<string> {
  const salt = crypto.getRandomValues(new Uint8Array(16));
  return `pbkdf2-sha256$${ITERATIONS}$${b64(salt)}$${b64(await derive(password, salt, ITERATIONS))}`;
}

/** Whether `password` matches `stored`. With no stored hash (no account, or no password
 *  yet) the same work is done against a dummy, so timing does not tell the cases apart. */
export async function verifyPassword(password: string, stored: string | null): Promise<boolean> {
  const [scheme, iterations, salt, hash] = (stored ?? DUMMY).split('$');
  if (scheme !== 'pbkdf2-sha256' || !iterations || !salt || !hash) return false;
  const derived = await derive(password, unb64(salt), Number(iterations));
  return crypto.subtle.timingSafeEqual(derived, unb64(hash)) && stored !== null;
}

const DUMMY = `pbkdf2-sha256$${ITERATIONS}$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=`;
