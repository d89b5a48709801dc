#!/usr/bin/env node
// `npm run dev`: migrate the local D1 (scripts/migrate.mjs: creates it, or upgrades one an
// earlier version made, in place) and seed it (idempotent), print the demo key, then serve
// the gateway with `wrangler dev` on http://localhost:8787 (or $PORT).
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const port = process.env.PORT || '8787';
// Offline-friendly: no metrics, and no fetch of Cloudflare's sample `Request.cf` object,
// whose failure prints a stack trace that looks fatal but is not.
const env = { ...process.env, WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false' };
const wrangler = join(root, 'node_modules', '.bin', 'wrangler');

// The demo key lives next to the local database, so it is printed again on every start.
const keyFile = join(root, '.wrangler', 'demo-key');
mkdirSync(dirname(keyFile), { recursive: true });
if (!existsSync(keyFile)) writeFileSync(keyFile, `sk-${randomBytes(32).toString('base64url')}\n`, { mode: 0o600 });
const demoKey = readFileSync(keyFile, 'utf8').trim();
const keyHash = createHash('sha256').update(demoKey).digest('hex');

const devVars = existsSync(join(root, '.dev.vars')) ? readFileSync(join(root, '.dev.vars'), 'utf8') : '';
const adminToken = /^ADMIN_TOKEN\s*=/m.test(devVars) ? null : 'dev-admin-token';
// Provider keys pasted in the console are sealed under PROVIDER_KEYS_KEK: locally a key made
// once and kept beside the local database (which holds what it sealed), unless .dev.vars sets one.
const kekFile = join(root, '.wrangler', 'dev-kek');
if (!existsSync(kekFile)) writeFileSync(kekFile, `dev:${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
const kek = /^PROVIDER_KEYS_KEK\s*=/m.test(devVars) ? null : readFileSync(kekFile, 'utf8').trim();

const now = new Date().toISOString();
const q = (s) => `'${String(s).replace(/'/g, "''")}'`;
const seed = `
-- demo account with $5 of credit, granted through the ledger (balance = sum of ledger rows)
INSERT OR IGNORE INTO accounts (id, email, name, group_name, balance, created_at, email_verified_at, trial_credit_at)
  VALUES ('acct_demo', 'demo@tokengate.local', 'Demo', 'default', 0, ${q(now)}, ${q(now)}, ${q(now)});
INSERT INTO ledger (account_id, kind, amount, balance_after, reason, created_at)
  SELECT 'acct_demo', 'signup', 5000000, 5000000, 'demo seed', ${q(now)}
  WHERE NOT EXISTS (SELECT 1 FROM ledger WHERE account_id = 'acct_demo');
UPDATE accounts SET balance = (SELECT SUM(amount) FROM ledger WHERE account_id = 'acct_demo') WHERE id = 'acct_demo';
INSERT INTO api_keys (id, account_id, name, key_hash, prefix, created_at)
  VALUES ('key_demo', 'acct_demo', 'demo', ${q(keyHash)}, ${q(demoKey.slice(0, 11))}, ${q(now)})
  ON CONFLICT (id) DO UPDATE SET key_hash = excluded.key_hash, prefix = excluded.prefix, revoked_at = NULL;
-- the echo model: $1 / $2 per 1M tokens, served by the built-in echo channel
INSERT OR IGNORE INTO models (id, input_price, output_price, owned_by, created_at)
  VALUES ('echo', 1000000, 2000000, 'tokengate', ${q(now)});
INSERT OR IGNORE INTO channels (id, kind, base_url, api_key_secret, models, priority, weight, enabled, updated_at)
  VALUES ('echo', 'echo', 'http://echo.invalid', 'NONE', '{"echo":"echo"}', 0, 1, 1, ${q(now)});
`;
const sqlFile = join(root, '.wrangler', 'dev-seed.sql');
writeFileSync(sqlFile, seed);

const migrate = spawnSync(process.execPath, [join(root, 'scripts', 'migrate.mjs'), '--local'], { cwd: root, env, stdio: 'inherit' });
if (migrate.status !== 0) process.exit(1);
const seeded = spawnSync(wrangler, ['d1', 'execute', 'tokengate', '--local', '--file', sqlFile], { cwd: root, env, encoding: 'utf8' });
if (seeded.status !== 0) {
  process.stderr.write(seeded.stdout + seeded.stderr);
  console.error('Could not seed the local D1 database.');
  process.exit(1);
}

const base = `http://localhost:${port}`;
console.log(`
  Tokengate is starting on ${base}

  demo API key:   ${demoKey}
  demo model:     echo   (answers with your last message; no provider key needed)
  admin token:    ${adminToken ?? '(the ADMIN_TOKEN line of .dev.vars, not dev-admin-token)'}
  consoles:       ${base}/signup (customers), ${base}/operator (you, with the admin token)

  In another terminal:
  export DEMO_KEY=${demoKey}
  curl ${base}/v1/chat/completions \\
    -H "Authorization: Bearer $DEMO_KEY" \\
    -H "Content-Type: application/json" \\
    -d '{"model": "echo", "messages": [{"role": "user", "content": "Hello, Tokengate!"}]}'

  Provider keys: paste them on a channel's Keys page (${base}/operator/channels); they serve the
  next request. .dev.vars is read at start: restart npm run dev after changing it.
`);

// Locally, e-mail (verification and reset links) is printed here, in the dev log, unless
// .dev.vars names a real sender (README, "Accounts").
const args = ['dev', '--port', port, '--ip', '127.0.0.1', '--show-interactive-dev-session=false', '--var', 'EMAIL_DEV_LOG:true'];
if (adminToken) args.push('--var', `ADMIN_TOKEN:${adminToken}`);
// The links mailed to the dev log (verification, reset) and the docs' base URL name this port.
if (!/^PUBLIC_URL\s*=/m.test(devVars)) args.push('--var', `PUBLIC_URL:http://localhost:${port}`);
if (kek) args.push('--var', `PROVIDER_KEYS_KEK:${kek}`);
const child = spawn(wrangler, args, { cwd: root, env, stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code) => process.exit(code ?? 0));
