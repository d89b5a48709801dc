import { ApiError } from '../errors';

/**
 * The provider-key vault: the only code that sees a pasted provider key in clear. A key is
 * sealed with AES-256-GCM (WebCrypto) under a key-encryption key held in the Worker secret
 * PROVIDER_KEYS_KEK, with a fresh 96-bit nonce per sealing, and bound to its row (the
 * channel and key ids are the GCM additional data, so a ciphertext moved to another row
 * does not open). D1 holds the ciphertext, the nonce, the sealing key's id and the last
 * four characters — nothing else.
 *
 * PROVIDER_KEYS_KEK is a comma-separated list of `id:base64` entries of 32 random bytes
 * (`node scripts/kek.mjs` makes one). The first seals; every entry opens what it sealed.
 * Rotating: put a new entry first, deploy, reseal every key (POST
 * /admin/provider-keys/reseal, or the Channels page's button), then drop the old entry.
 */
export interface Sealed {
  ciphertext: string;
  nonce: string;
  kek_id: string;
}

interface Keyring {
  current: string;
  keys: Map<string, CryptoKey>;
}

const encoder = new TextEncoder();
const b64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));
const unb64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

const decoded = (material: string | undefined) => {
  try {
    return material ? unb64(material) : null;
  } catch {
    return null;
  }
};

const rings = new Map<string, Promise<Keyring>>();

export const notConfigured = () =>
  new ApiError('vault_not_configured',
    'Provider keys cannot be stored: the PROVIDER_KEYS_KEK secret is not set. (Operator: `node scripts/kek.mjs`, then `npx wrangler secret put PROVIDER_KEYS_KEK` with its output.)');

/** The keyring PROVIDER_KEYS_KEK describes, parsed and imported once per value (a malformed
 *  value stays refused: it is only mended by setting the secret again, a new value). */
function keyring(secret: unknown): Promise<Keyring> {
  if (typeof secret !== 'string' || secret.trim() === '') throw notConfigured();
  let ring = rings.get(secret);
  if (!ring) {
    ring = (async () => {
      const keys = new Map<string, CryptoKey>();
      const entries = secret.split(',').map((e) => e.trim()).filter(Boolean);
      for (const entry of entries) {
        const [id, material] = entry.split(':');
        const raw = decoded(material);
        if (!id || raw?.byteLength !== 32) {
          throw new ApiError('vault_not_configured', 'Provider keys cannot be stored: the PROVIDER_KEYS_KEK secret is malformed (each entry must be id:base64 of 32 bytes; `node scripts/kek.mjs` makes one).');
        }
        keys.set(id, await crypto.subtle.importKey('raw', raw, 'AES-GCM', false, ['encrypt', 'decrypt']));
      }
      return { current: entries[0]!.split(':')[0]!, keys };
    })();
    rings.set(secret, ring);
  }
  return ring;
}

/** What a provider key's ciphertext is bound to (the GCM additional data): its row. */
export const providerKeyRow = (channelId: string, keyId: string) => `provider-key:${channelId}:${keyId}`;

/** Seals a secret under the current key-encryption key, bound to `row` (providerKeyRow;
 *  auth/two-factor.ts binds TOTP secrets to their owner). */
export async function seal(kek: unknown, plaintext: string, row: string): Promise<Sealed> {
  const ring = await keyring(kek);
  const nonce = crypto.getRandomValues(new Uint8Array(12));
  const sealed = await crypto.subtle.encrypt(
    { name: 'AES-GCM', iv: nonce, additionalData: encoder.encode(row) }, ring.keys.get(ring.current)!, encoder.encode(plaintext),
  );
  return { ciphertext: b64(new Uint8Array(sealed)), nonce: b64(nonce), kek_id: ring.current };
}

/** Opens what was sealed for `row`; throws when its key-encryption key is gone or it was tampered with. */
export async function open(kek: unknown, sealed: Sealed, row: string): Promise<string> {
  const ring = await keyring(kek);
  const key = ring.keys.get(sealed.kek_id);
  if (!key) throw new Error(`${row}: PROVIDER_KEYS_KEK has no entry ${sealed.kek_id}`);
  const plain = await crypto.subtle.decrypt(
    { name: 'AES-GCM', iv: unb64(sealed.nonce), additionalData: encoder.encode(row) }, key, unb64(sealed.ciphertext),
  );
  return new TextDecoder().decode(plain);
}

/** The id of the key-encryption key that seals now (what reseal brings every key to). */
export const currentKekId = async (kek: unknown): Promise<string> => (await keyring(kek)).current;

/** How a key is shown: its last four characters. */
export const lastFour = (key: string) => key.slice(-4);
