// The speech and upload cases of `npm run bench` (run.mjs): a speech stream of 1 MiB of
// audio through Tokengate and through the pass-through worker (CPU per request, latency),
// and transcription uploads of 1 and 10 MiB, fields first as the Python SDK sends them,
// with workerd's resident memory sampled every few ms while each is in flight: what an
// upload holds at its peak, beside the pass-through worker's (which streams the body).
import { request } from 'node:http';

const MIB = 1 << 20;

/** A transcription form: the model first, then `size` bytes of audio. */
export function transcriptionForm(model, size) {
  const boundary = 'benchboundary7MA4YWxkTrZu0gW';
  const head = `--${boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\n${model}\r\n`
    + `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="bench.wav"\r\nContent-Type: audio/wav\r\n\r\n`;
  const audio = Buffer.alloc(size, 0x55);
  return { body: Buffer.concat([Buffer.from(head), audio, Buffer.from(`\r\n--${boundary}--\r\n`)]), contentType: `multipart/form-data; boundary=${boundary}` };
}

/** Sends one upload; resolves with its status once answered. */
function upload(url, headers, body) {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const req = request({ host: target.hostname, port: target.port, path: target.pathname, method: 'POST', headers: { ...headers, 'content-length': body.length } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    // Written in 64 KiB pieces, as a client streaming a file would.
    for (let at = 0; at < body.length; at += 64 * 1024) req.write(body.subarray(at, at + 64 * 1024));
    req.end();
  });
}

/** Peak resident memory of `pid` above its idle while `work` runs (sampled every 2 ms), in KB. */
async function peakDuring(pid, rssKb, work) {
  await new Promise((r) => setTimeout(r, 200));
  const idle = rssKb(pid);
  let peak = idle;
  const timer = setInterval(() => (peak = Math.max(peak, rssKb(pid))), 2);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return peak - idle;
}

export async function mediaRuns({ gateway, passthrough, upstreamBase, key, load, median, reps, rssKb }) {
  const out = { speech: {}, upload_peak_kb: {} };
  const speechBody = JSON.stringify({ model: 'bench-speech', input: 'Today is a wonderful day to build something people love!', voice: 'coral', response_format: 'wav' });
  out.speech.tokengate = await load({ url: `${gateway.url}/v1/audio/speech`, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: speechBody }, gateway.pid);
  out.speech.passthrough = await load({ url: `${passthrough.url}/m/v1/audio/speech`, headers: { 'content-type': 'application/json' }, body: speechBody }, passthrough.pid);
  out.speech.direct = await load({ url: `${upstreamBase}/m/v1/audio/speech`, headers: { 'content-type': 'application/json' }, body: speechBody }, null);
  for (const mib of [1, 10]) {
    const { body, contentType } = transcriptionForm('bench-stt', mib * MIB);
    for (const [name, target, url, headers] of [
      ['tokengate', gateway, `${gateway.url}/v1/audio/transcriptions`, { authorization: `Bearer ${key}`, 'content-type': contentType }],
      ['passthrough', passthrough, `${passthrough.url}/m/v1/audio/transcriptions`, { 'content-type': contentType }],
    ]) {
      const peaks = [];
      for (let i = 0; i < reps; i++) {
        peaks.push(await peakDuring(target.pid, rssKb, async () => {
          const status = await upload(url, headers, body);
          if (status !== 200) throw new Error(`${name} upload of ${mib} MiB: HTTP ${status}`);
        }));
      }
      out.upload_peak_kb[`${mib}MiB/${name}`] = median(peaks);
    }
  }
  return out;
}
