import type { TestProject } from 'vitest/node';
import { startFakeUpstream } from './fake-upstream';

/** Starts the fake upstream once per test run and hands its URL to the tests. */
export default async function setup(project: TestProject) {
  const { url, server } = await startFakeUpstream();
  project.provide('upstreamUrl', url);
  return () => new Promise<void>((r) => server.close(() => r()));
}
