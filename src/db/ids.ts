/** Opaque random ids with a readable type prefix: acct_…, key_…; 96 random bits. */
export function newId(prefix: string): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return `${prefix}_${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

export const now = (): string => new Date().toISOString();

/** JSON text columns hold string arrays or string maps; NULL means "no restriction". */
export const parseJsonColumn = <T>(text: string | null): T | null => (text === null ? null : (JSON.parse(text) as T));
