import { Hono, type Context } from 'hono';
import { readCustomerJson } from '../auth/customer';
import { audioSecondsBound, characterCount, secondsCost, unitPrice } from '../billing/units';
import type { AppEnv } from '../context';
import type { Route } from '../db/catalog';
import { TranscriptStreamMeter } from '../proxy/transcript-stream';
import { durationSeconds, subtitleSeconds, transcriptionUsage } from '../proxy/usage';
import { parse } from '../validate';
import {
  AUDIO_FILE_TYPES, fieldsOf, MAX_AUDIO_FILE_BYTES, SpeechSchema, TranscriptionFieldsSchema, TranslationFieldsSchema,
} from './media-schemas';
import { relayPassed, relayStream, settleMeasured, startCharacterRelay, startRelay } from './relay';
import { checkFile, openUpload, uploadSize } from './uploads';

/**
 * OpenAI's audio APIs on `openai` channels.
 * - POST /v1/audio/speech: the audio streamed to the client as it arrives (every
 *   response_format, and `stream_format: "sse"` passed through alike), priced per 1M input
 *   characters and charged once the upstream has produced the audio (relay.ts relayPassed).
 * - POST /v1/audio/transcriptions and /v1/audio/translations: the upload streamed upstream
 *   (proxy/multipart.ts), priced per minute of audio: the hold is the longest the upload can
 *   play (billing/units.ts audioSecondsBound); the charge the seconds (or tokens) the answer
 *   reports, or an SRT/WebVTT answer's last cue.
 */
export const audio = new Hono<AppEnv>();

audio.post('/audio/speech', async (c) => {
  const startedAt = Date.now();
  const body = await readCustomerJson(c, SpeechSchema);
  const { relay, measured } = await startCharacterRelay(c, body, characterCount(body.input), startedAt, 'speech');
  const upstream = await relay.forward((route) => ({ path: '/audio/speech', body: { ...body, model: route.upstream_model } }));
  return relayPassed(relay, upstream, c.req.raw.signal, measured);
});

audio.post('/audio/transcriptions', (c) => transcribe(c, '/audio/transcriptions'));
audio.post('/audio/translations', (c) => transcribe(c, '/audio/translations'));

async function transcribe(c: Context<AppEnv>, path: '/audio/transcriptions' | '/audio/translations') {
  const startedAt = Date.now();
  // The upload streams once the model is known (the Python SDK sends its fields first).
  const upload = await openUpload(c, MAX_AUDIO_FILE_BYTES, (fields) => fields.some(([name]) => name === 'model'));
  const fields = fieldsOf(upload.form.fields);
  const body = parse(path === '/audio/transcriptions' ? TranscriptionFieldsSchema : TranslationFieldsSchema, fields);
  checkFile(upload.form.files.find((f) => f.name === 'file'), 'file', AUDIO_FILE_TYPES);
  const bound = (model: Parameters<typeof audioSecondsBound>[1]) => audioSecondsBound(uploadSize(c, MAX_AUDIO_FILE_BYTES), model);
  const perMinute = (model: Parameters<typeof audioSecondsBound>[1]) => unitPrice(model, model.audio_minute_price, 'audio (audio_minute_price)');
  const relay = await startRelay(c, body, { bound: 0, estimate: 0, references: [] }, startedAt, {
    generates: false,
    serves: (route) => route.kind === 'openai',
    unitHold: (model) => secondsCost(bound(model), perMinute(model)),
  });
  const model = relay.request.model;
  const [boundSeconds, price] = [bound(model), perMinute(model)];
  const measured = (seconds: number | null) => {
    const quantity = seconds ?? boundSeconds;
    return { unit: 'seconds' as const, quantity, micros: secondsCost(quantity, price) };
  };
  const toChannel = (route: Route) => ({
    path, body: fields, textAnswers: true,
    form: {
      contentType: upload.contentType,
      // `text` carries no duration: it is asked as `json`, and answered as its text.
      upload: () => upload.upload((name, value) => (name === 'model' ? route.upstream_model : name === 'response_format' && value === 'text' ? 'json' : value)),
    },
  });
  const upstream = await relay.forward(toChannel, (parsed) => typeof parsed.text === 'string' && parsed.error === undefined);
  const type = upstream.response.headers.get('content-type') ?? '';
  if (type.includes('text/event-stream')) return relayStream(c, relay, upstream, new TranscriptStreamMeter(boundSeconds, price));
  if (upstream.json) {
    const answer = upstream.json;
    // The whole form has gone upstream by now: a response_format after the file is known too.
    const asText = upload.form.fields.some(([name, value]) => name === 'response_format' && value === 'text');
    const usage = transcriptionUsage(answer.usage);
    const { cost } = settleMeasured(relay, upstream, measured(durationSeconds(answer)), usage);
    if (asText) return c.text(answer.text as string);
    return c.json(answer.usage ? { ...answer, usage: { ...(answer.usage as object), cost } } : answer);
  }
  // SRT, WebVTT or text, whole: the subtitles' last cue says how long the audio played.
  const text = await upstream.response.text();
  settleMeasured(relay, upstream, measured(subtitleSeconds(text)), null);
  return c.body(text, 200, { 'content-type': type || 'text/plain; charset=utf-8' });
}
