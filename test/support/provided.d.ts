// What global-setup.ts provides to the tests (vitest's inject()).
declare module 'vitest' {
  export interface ProvidedContext {
    upstreamUrl: string;
    stripeUrl: string;
    /** The fake e-mail provider (fake-mail.ts). */
    mailUrl: string;
    /** fast-check's seed for the fuzz suite: FUZZ_SEED, else a fresh one (printed). */
    fuzzSeed: number;
    /** The e2e project's worker bundle, as `wrangler deploy --dry-run` wrote it. */
    bundleDir: string;
  }
}
export {};
