// What global-setup.ts provides to the tests (vitest's inject()).
declare module 'vitest' {
  export interface ProvidedContext {
    upstreamUrl: string;
    stripeUrl: string;
  }
}
export {};
