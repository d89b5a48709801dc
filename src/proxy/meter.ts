import type { TokenCounts } from '../money';
import { TokenEstimator } from './estimate';
import type { StreamMeter } from './stream';

/** What every meter that reads an upstream API's own events keeps (stream.ts StreamMeter):
 *  its subclass sets the flags and counts the generated text into `output` as events pass. */
export abstract class MeterState implements StreamMeter {
  abstract readonly dialect: StreamMeter['dialect'];
  usage: TokenCounts | null = null;
  usageFinal = false;
  sawDone = false;
  sawContent = false;
  upstreamError: unknown = null;
  protected readonly output = new TokenEstimator();

  abstract inspect(raw: string): string;

  get estimatedOutputTokens(): number {
    return this.output.tokens;
  }
}
