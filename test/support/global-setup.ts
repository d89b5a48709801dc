import type { TestProject } from 'vitest/node';
import { startFakeMail } from './fake-mail.ts';
import { startFakeStripe } from './fake-stripe.ts';
import { startFakeUpstream } from './fake-upstream.ts';
import { buildBundle } from './bundle.ts';

/** Starts the fake upstream and the fake Stripe once per test run, and builds the e2e bundle. The upstream's URL is
 *  handed to the tests; Stripe's port was chosen by vitest.config.ts, which had to put it
 *  in the worker's STRIPE_API_BASE binding before this runs. */
export default async function setup(project: TestProject) {
  const { url, server } = await startFakeUpstream();
  project.provide('upstreamUrl', url);
  project.provide('fuzzSeed', Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31)));
  // Only the worker project's bindings point STRIPE_API_BASE at this port.
  const stripePort = Number(process.env.TOKENGATE_FAKE_STRIPE_PORT);
  const stripe = project.name === 'worker' && stripePort ? await startFakeStripe(stripePort) : null;
  if (stripe) project.provide('stripeUrl', `http://127.0.0.1:${stripePort}`);
  // The fake e-mail provider: on vitest.config.ts's port for the worker project's bindings, any free one for e2e.
  const mail = await startFakeMail(project.name === 'worker' ? Number(process.env.TOKENGATE_FAKE_MAIL_PORT) : 0);
  project.provide('mailUrl', mail.url);
  // The e2e files all run the same bundle: built once.
  if (project.name === 'e2e') project.provide('bundleDir', buildBundle());
  return async () => {
    await new Promise<void>((r) => server.close(() => r()));
    if (stripe) await new Promise<void>((r) => stripe.close(() => r()));
    await new Promise<void>((r) => mail.server.close(() => r()));
  };
}
