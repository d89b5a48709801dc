import type { Measured } from '../billing/units';
import type { TokenCounts } from '../money';
import { MeterState } from './meter';
import { parseEvent } from './sse';
import { imageUsage } from './usage';

/**
 * The meter of OpenAI's streamed image generations and edits, passed through unchanged:
 * `image_generation.partial_image` / `image_edit.partial_image` events, then one
 * `….completed` per image with the image and its usage (the published example,
 * test/specs). A completed image is what is charged: per image, or its tokens.
 */
export class ImageStreamMeter extends MeterState {
  readonly dialect = 'openai' as const;
  private images = 0;

  constructor(private readonly perImage: number) {
    super();
  }

  inspect(raw: string): string {
    const { data } = parseEvent(raw);
    let payload: { type?: unknown; usage?: unknown; error?: unknown } | null = null;
    try {
      payload = data ? JSON.parse(data) : null;
    } catch {
      return raw;
    }
    const type = typeof payload?.type === 'string' ? payload.type : '';
    if (type === 'error' || payload?.error) this.upstreamError = payload?.error ?? payload;
    else if (type.endsWith('.partial_image')) this.sawContent = true;
    else if (type.endsWith('.completed')) {
      this.images++;
      this.sawContent = this.sawDone = true;
      const usage = imageUsage(payload?.usage);
      if (usage) {
        this.usage = this.usage ? sum(this.usage, usage) : usage;
        this.usageFinal = true;
      }
    }
    return raw;
  }

  get measured(): Measured {
    return { unit: 'images', quantity: this.images, micros: this.images * this.perImage };
  }
}

const sum = (a: TokenCounts, b: TokenCounts): TokenCounts => ({
  input_tokens: a.input_tokens + b.input_tokens,
  output_tokens: a.output_tokens + b.output_tokens,
  cached_tokens: a.cached_tokens + b.cached_tokens,
  image_input_tokens: (a.image_input_tokens ?? 0) + (b.image_input_tokens ?? 0),
  image_output_tokens: (a.image_output_tokens ?? 0) + (b.image_output_tokens ?? 0),
});
