// The load generator, run as its own process: a closed loop of `concurrency` workers
// sending the same request over keep-alive connections for `seconds` (bounded in time and
// count), timing each with hrtime: latency (to the last byte) and time to first byte.
// Prints one JSON line: {requests, errors, rps, p50, p99, ttfb_p50, ttfb_p99} (ms).
// A body too large for an argument comes as `bodyFile`, a path to read it from.
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';

const { url, body: inline, bodyFile, headers, concurrency, seconds, maxRequests, method = 'POST' } = JSON.parse(process.argv[2]);
const body = bodyFile ? readFileSync(bodyFile) : inline;
const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
const target = new URL(url);
const payload = Buffer.from(body);
const latencies = [];
const ttfbs = [];
let errors = 0;
let sent = 0;
const deadline = performance.now() + seconds * 1000;

function once() {
  return new Promise((resolve) => {
    const start = performance.now();
    let first = 0;
    const req = request(
      { host: target.hostname, port: target.port, path: target.pathname, method, agent, headers: method === 'GET' ? headers : { ...headers, 'content-length': payload.length } },
      (res) => {
        res.on('data', () => {
          if (!first) first = performance.now();
        });
        res.on('end', () => {
          if (res.statusCode === 200) {
            latencies.push(performance.now() - start);
            ttfbs.push((first || performance.now()) - start);
          } else errors++;
          resolve();
        });
      },
    );
    req.on('error', () => {
      errors++;
      resolve();
    });
    req.end(method === 'GET' ? undefined : payload);
  });
}

async function worker() {
  while (performance.now() < deadline && sent < maxRequests) {
    sent++;
    await once();
  }
}

const started = performance.now();
await Promise.all(Array.from({ length: concurrency }, worker));
const elapsed = (performance.now() - started) / 1000;
const pct = (xs, p) => {
  if (xs.length === 0) return null;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
};
agent.destroy();
process.stdout.write(`${JSON.stringify({
  requests: latencies.length, errors, rps: latencies.length / elapsed,
  p50: pct(latencies, 50), p99: pct(latencies, 99), ttfb_p50: pct(ttfbs, 50), ttfb_p99: pct(ttfbs, 99),
})}\n`);
