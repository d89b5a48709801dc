// The production topology (`npm run bench`, not --quick): on Cloudflare the account objects
// run in isolates of their own, elsewhere, so the gateway isolate's CPU is its own work. Here
// the same bundle runs twice: one workerd holds the objects (and D1, which they flush to),
// the other serves requests and reaches the objects across processes through Miniflare's dev
// registry, as `wrangler dev` does between two local Workers. Each process's CPU is read
// apart. The front's D1 is a copy taken after set-up: it serves the cold reads of keys and
// the catalogue, which a warm isolate then holds; every write of the steady state (the
// objects' flushes) goes to the objects' own.
import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const OBJECTS = 'tokengate-objects';

/** Starts both processes, sets the account up through the objects' process, and returns the front. */
export async function startSplit({ startMiniflare, gatewayOptions, setUp }) {
  const dir = mkdtempSync(join(tmpdir(), 'tokengate-split-'));
  const registry = join(dir, 'registry');
  const objectsOptions = {
    ...gatewayOptions, name: OBJECTS, d1Persist: join(dir, 'objects-d1'), durableObjectsPersist: join(dir, 'objects-do'),
    unsafeDevRegistryPath: registry, unsafeDevRegistryDurableObjectProxy: true,
  };
  // Set up once, stopped, so that the copy of D1 is whole; then the objects' process again.
  const setup = await startMiniflare(objectsOptions);
  const { key } = await setUp(setup);
  await setup.mf.dispose();
  cpSync(join(dir, 'objects-d1'), join(dir, 'front-d1'), { recursive: true });
  const objects = await startMiniflare(objectsOptions);
  const external = (className) => ({ className, scriptName: OBJECTS });
  const front = await startMiniflare({
    ...gatewayOptions, name: 'tokengate-front', d1Persist: join(dir, 'front-d1'),
    durableObjects: { ACCOUNTS: external('AccountState'), ATTEMPTS: external('AttemptLimiter'), HEALTH: external('ChannelHealth') },
    unsafeDevRegistryPath: registry, unsafeDevRegistryDurableObjectProxy: true,
  });
  return { front, objects, key, dispose: async () => { await front.mf.dispose(); await objects.mf.dispose(); } };
}
