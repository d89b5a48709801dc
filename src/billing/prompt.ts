/**
 * What a request's prompt may cost, measured in one walk over its whole body (never a list
 * of fields, which would miss whatever a new parameter adds: a Responses `text.format`
 * schema, tool definitions, server tools…):
 *
 * - `bound`, for the hold: at least the prompt tokens any provider can bill for it. Text —
 *   every string, key, number and bit of JSON punctuation of the body, but for the
 *   top-level numbers and flags, which are settings — counts its UTF-8 bytes: byte-level BPE tokenizers (OpenAI's, Anthropic's, Gemini's with byte fallback)
 *   never produce more tokens than bytes, and the JSON around the text has more bytes than
 *   the chat template adds tokens. What is not text counts per item, by MEDIA below.
 * - `estimate`, charged only where the upstream reports no final usage (a stream cancelled
 *   before its usage event, a provider that reports none): one token per 4 ASCII characters
 *   plus one per other character, numbers one token each, and MEDIA's typical figures.
 * - `references`: stored state the request builds on (`previous_response_id`, Responses
 *   `item_reference` items), whose tokens its account's object knows (account/object.ts).
 */
export interface PromptSize {
  bound: number;
  estimate: number;
  references: string[];
}

const NON_ASCII_RUNS = /[^\x00-\x7f]+/g;

/**
 * Prompt tokens per item that is not text, as [bound, estimate]. Each bound is above what
 * the providers document for one item today; a report above the hold is still capped at it,
 * recorded and alerted (billing/settle.ts), never charged beyond it.
 * - image: OpenAI's patch-based models cap an image at 1,536 patches × at most 2.46; Anthropic's
 *   high-resolution images take about 4,800; Gemini's 1,120 at high media resolution.
 * - file (a PDF or document by data, URL or file id): 100 pages (OpenAI's and Anthropic's limit
 *   per request) × 3,000 tokens of text and page image.
 * - video: a documented 100,000 (Gemini counts about 300 a second, so ~5½ minutes).
 * - hosted tool (web search, file search, MCP, code execution…): what its results add to the
 *   prompt, 32,000 each; the estimate is 0 because what a tool returned was relayed, and counted.
 * Audio is measured from its data instead (see audioTokens).
 */
const MEDIA = {
  image: [6_000, 1_000],
  file: [300_000, 3_000],
  video: [100_000, 10_000],
  hosted_tool: [32_000, 0],
} as const;

/**
 * Audio by its size: no format OpenAI takes (wav, mp3) holds a second in fewer than 1,000
 * bytes (8 kbit/s), and no provider documents more than 32 tokens a second (Gemini's rate);
 * the estimate assumes 128 kbit/s at 10 tokens a second (OpenAI's audio models).
 */
function audioTokens(base64Length: number): [number, number] {
  const bytes = Math.ceil((base64Length * 3) / 4);
  return [Math.ceil(bytes / 1_000) * 32, Math.ceil(bytes / 16_000) * 10];
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Tool types whose definitions are plain text: everything else runs on the provider's side. */
const TEXT_TOOLS = new Set(['function', 'custom']);

/** What kind of non-text item a content part or block is, if it is one. */
function mediaOf(part: Json): keyof typeof MEDIA | 'audio' | null {
  switch (part.type) {
    case 'image_url': // OpenAI chat
    case 'input_image': // Responses
    case 'image': // Anthropic
      return 'image';
    case 'input_audio': // OpenAI chat and Responses
      return 'audio';
    case 'file': // OpenAI chat
    case 'input_file': // Responses
      return 'file';
    case 'document': // Anthropic: a text or content source is text, and walked as such
      return isObject(part.source) && (part.source.type === 'text' || part.source.type === 'content') ? null : 'file';
    case 'video_url': // Qwen, vLLM
      return 'video';
    default:
      return null;
  }
}

export function measurePrompt(body: Json): PromptSize {
  const m = new Measure();
  m.value(body, true);
  return { bound: m.bound, estimate: Math.ceil(m.ascii / 4) + m.other + m.extra, references: m.references };
}

class Measure {
  bound = 0;
  ascii = 0;
  other = 0;
  /** Estimated tokens of numbers and media. */
  extra = 0;
  references: string[] = [];

  value(v: unknown, top = false): void {
    if (typeof v === 'string') return this.text(v, 2);
    if (typeof v === 'number' || typeof v === 'boolean' || v === null) {
      this.bound += String(v).length;
      this.extra += 1;
      return;
    }
    if (Array.isArray(v)) {
      this.bound += 1 + v.length;
      for (const item of v) this.value(item);
      return;
    }
    if (!isObject(v)) return;
    if (this.item(v)) return;
    this.bound += 1;
    for (const key in v) { // a parsed object's own keys (for…in: no array of entries per object)
      const child = v[key];
      // A top-level number or flag is a setting (max_tokens, temperature, stream…), never
      // prompt: so naming a smaller max_tokens never raises the bound.
      if (top && (typeof child === 'number' || typeof child === 'boolean' || child === null)) continue;
      this.text(key, 4); // quotes, colon, comma
      if (top && key === 'tools' && Array.isArray(child)) this.tools(child);
      else if (top && key === 'mcp_servers' && Array.isArray(child)) this.hosted(child.length, child); // Anthropic's remote MCP tools
      else if (top && key === 'previous_response_id' && typeof child === 'string') {
        this.references.push(child);
        this.text(child, 2);
      } else this.value(child);
    }
  }

  /** A media item or a reference in place of text: counted per item, its payload never read. */
  private item(v: Json): boolean {
    if (v.type === 'item_reference' && typeof v.id === 'string') {
      this.references.push(v.id);
      this.bound += 32;
      return true;
    }
    const kind = mediaOf(v);
    if (kind === null) return false;
    const [bound, estimate] = kind === 'audio'
      ? audioTokens(isObject(v.input_audio) && typeof v.input_audio.data === 'string' ? v.input_audio.data.length : 0)
      : MEDIA[kind];
    this.bound += bound;
    this.extra += estimate;
    return true;
  }

  private tools(tools: unknown[]): void {
    this.bound += 1 + tools.length;
    for (const tool of tools) {
      // Anthropic's custom tools have no type (or 'custom'); OpenAI's are typed 'function' or 'custom'.
      const hosted = isObject(tool) && typeof tool.type === 'string' && !TEXT_TOOLS.has(tool.type);
      if (hosted) this.hosted(1);
      this.value(tool);
    }
  }

  private hosted(count: number, definitions?: unknown): void {
    this.bound += count * MEDIA.hosted_tool[0];
    this.extra += count * MEDIA.hosted_tool[1];
    if (definitions !== undefined) this.value(definitions);
  }

  /** A string: its UTF-8 bytes plus `framing` bytes of JSON around it, and its estimate. */
  private text(s: string, framing: number): void {
    // Most of what agents send is ASCII: one native scan finds no run of other characters, and
    // each character is a byte. Otherwise only those runs are walked (a long system prompt with
    // a dash in it is still one native scan, not a loop over every character).
    NON_ASCII_RUNS.lastIndex = 0;
    let run = NON_ASCII_RUNS.exec(s);
    if (run === null) {
      this.bound += framing + s.length;
      this.ascii += s.length;
      return;
    }
    let ascii = s.length;
    let twoByte = 0;
    let other = 0;
    for (; run !== null; run = NON_ASCII_RUNS.exec(s)) {
      const chars = run[0];
      ascii -= chars.length;
      for (let i = 0; i < chars.length; i++) {
        const code = chars.charCodeAt(i);
        if (code < 0x800) twoByte++;
        else if (code < 0xdc00 || code > 0xdfff) other++; // a surrogate pair counts once (4 bytes: 3 + its low half's 1 below)
      }
    }
    // A lone low surrogate of a pair adds the fourth byte of its character.
    const lowSurrogates = s.length - ascii - twoByte - other;
    this.bound += framing + ascii + 2 * twoByte + 3 * other + lowSurrogates;
    this.ascii += ascii;
    this.other += twoByte + other;
  }
}
