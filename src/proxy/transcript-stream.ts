import { secondsCost, type Measured } from '../billing/units';
import { MeterState } from './meter';
import { parseEvent } from './sse';
import { durationSeconds, transcriptionUsage } from './usage';

/**
 * The meter of OpenAI's streamed transcriptions, passed through unchanged:
 * `transcript.text.delta` events, then `transcript.text.done` with the whole text and the
 * usage (the published example, test/specs). Charged by that usage's tokens where the model
 * prices tokens, else by its seconds — or, when it reports none, the hold's bound.
 */
export class TranscriptStreamMeter extends MeterState {
  readonly dialect = 'openai' as const;
  private seconds: number | null = null;

  constructor(private readonly boundSeconds: number, private readonly perMinute: number) {
    super();
  }

  inspect(raw: string): string {
    const { data } = parseEvent(raw);
    let payload: Record<string, unknown> | null = null;
    try {
      payload = data ? JSON.parse(data) : null;
    } catch {
      return raw;
    }
    if (payload?.type === 'error' || payload?.error) this.upstreamError = payload.error ?? payload;
    else if (payload?.type === 'transcript.text.delta') this.sawContent = true;
    else if (payload?.type === 'transcript.text.done') {
      this.sawContent = this.sawDone = true;
      this.usage = transcriptionUsage(payload.usage);
      this.usageFinal = this.usage !== null;
      this.seconds = durationSeconds(payload);
    }
    return raw;
  }

  get measured(): Measured {
    const seconds = this.seconds ?? this.boundSeconds;
    return { unit: 'seconds', quantity: seconds, micros: secondsCost(seconds, this.perMinute) };
  }
}
