#!/usr/bin/env node
// Prints a new entry for the PROVIDER_KEYS_KEK secret: an id (the date) and 32 random bytes.
//   node scripts/kek.mjs                       → k20261204:base64…
// First setup: `npx wrangler secret put PROVIDER_KEYS_KEK` and paste it. Rotation: put the new
// entry first, a comma, then the old one(s); deploy; reseal (README, "Provider keys").
import { randomBytes } from 'node:crypto';

const id = `k${new Date().toISOString().slice(0, 10).replace(/-/g, '')}${randomBytes(2).toString('hex')}`;
console.log(`${id}:${randomBytes(32).toString('base64')}`);
