import { ApiError } from '../errors';

/**
 * A multipart/form-data upload (OpenAI's transcriptions, translations and image edits),
 * read as it arrives and sent on without being held whole.
 *
 * The gateway needs the form's fields (the model, and what sizes the hold) before anything
 * goes upstream, but never the files' bytes. So the fields are read into memory, and the
 * files are streamed through: a file that comes after every field the route needs is piped
 * upstream as it arrives (memory flat in its size); one that comes before them (the
 * `openai` Node SDK sends the file first when it is named first) is kept, as the chunks
 * that arrived, until they are known — held once, never copied.
 *
 * The upload upstream is the client's own form with its boundary, each field as the route
 * rewrote it (the model's upstream id), each file's headers and bytes unchanged.
 * https://www.rfc-editor.org/rfc/rfc7578
 */
export interface FilePart {
  name: string;
  filename: string;
  contentType: string | null;
  /** The part's header block, as the client sent it. */
  head: Uint8Array;
  /** Its bytes so far: all of them when kept, those sent so far when it streams. */
  size: number;
}

export interface Form {
  /** Every field, in order (a repeated name, as `include[]`, more than once). */
  fields: Array<[string, string]>;
  files: FilePart[];
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const CRLF = encoder.encode('\r\n');
/** A field is a parameter, never a payload: OpenAI's longest (a prompt) is 32,000 characters. */
const MAX_FIELD_BYTES = 256 * 1024;
const MAX_HEAD_BYTES = 16 * 1024;
const MAX_PARTS = 100;

const malformed = (why: string) => new ApiError('invalid_request', `The multipart/form-data body could not be read: ${why}.`);

export function boundaryOf(contentType: string | null): string {
  const match = /^multipart\/form-data\s*;(?:.*;)?\s*boundary=(?:"([^"]{1,70})"|([^\s;]{1,70}))/i.exec(contentType ?? '');
  if (!match) throw new ApiError('invalid_request', 'This route takes a multipart/form-data body (the way the OpenAI SDKs send files), with its boundary.');
  return (match[1] ?? match[2])!;
}

/** Where `needle` starts in `hay` from `from`, or -1. */
function indexOf(hay: Uint8Array, needle: Uint8Array, from = 0): number {
  const first = needle[0]!;
  for (let i = hay.indexOf(first, from); i !== -1 && i <= hay.length - needle.length; i = hay.indexOf(first, i + 1)) {
    let j = 1;
    while (j < needle.length && hay[i + j] === needle[j]) j++;
    if (j === needle.length) return i;
  }
  return -1;
}

const concat = (a: Uint8Array, b: Uint8Array) => {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
};

/**
 * Reads a form from the client's body. `readUntil` says, from the fields read so far,
 * whether the rest may stream: once it says yes at a file's start (or the form ended),
 * `open` returns the form and the upload to send, which goes on reading the client as
 * the upstream takes it.
 */
export class FormReader {
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly delimiter: Uint8Array;
  private buffer: Uint8Array = new Uint8Array(0);
  private done = false;
  /** Whether an upload has been handed out (its reads of the client are then its own). */
  private sent = false;

  constructor(body: ReadableStream<Uint8Array>, readonly boundary: string, private readonly maxFileBytes: number) {
    this.reader = body.getReader();
    this.delimiter = encoder.encode(`\r\n--${boundary}`);
  }

  private async fill(): Promise<boolean> {
    if (this.done) return false;
    const { done, value } = await this.reader.read();
    if (done) {
      this.done = true;
      return false;
    }
    this.buffer = concat(this.buffer, value);
    return true;
  }

  /** Bytes up to the next delimiter, handed to `sink` as they are known not to be part of it;
   *  false when the body ended before it. */
  private async until(sink: (chunk: Uint8Array) => void): Promise<boolean> {
    for (;;) {
      const at = indexOf(this.buffer, this.delimiter);
      if (at !== -1) {
        if (at > 0) sink(this.buffer.subarray(0, at));
        this.buffer = this.buffer.subarray(at + this.delimiter.length);
        return true;
      }
      // Keep what could be the delimiter's start; the rest is the part's.
      const safe = this.buffer.length - (this.delimiter.length - 1);
      if (safe > 0) {
        sink(this.buffer.subarray(0, safe));
        this.buffer = this.buffer.subarray(safe);
      }
      if (!(await this.fill())) return false;
    }
  }

  /** How many bytes at the buffer's end could begin the delimiter (0 unless it ends in a CR
   *  that starts one). */
  private delimiterStartAtEnd(): number {
    const b = this.buffer;
    for (let k = Math.min(this.delimiter.length - 1, b.length); k > 0; k--) {
      if (b[b.length - k] !== 0x0d) continue;
      let j = 1;
      while (j < k && b[b.length - k + j] === this.delimiter[j]) j++;
      if (j === k) return k;
    }
    return 0;
  }

  private async need(n: number): Promise<void> {
    while (this.buffer.length < n) if (!(await this.fill())) throw malformed('it ends in the middle');
  }

  /** After a delimiter: the next part's header block, or null at the form's end (the buffer
   *  then starts with the close delimiter's "--"). */
  private async nextHead(form: Form): Promise<{ raw: Uint8Array; name: string; filename: string | null; contentType: string | null } | null> {
    await this.need(2);
    if (this.buffer[0] === 0x2d && this.buffer[1] === 0x2d) return null; // "--": the close delimiter
    if (form.fields.length + form.files.length >= MAX_PARTS) throw malformed(`it has more than ${MAX_PARTS} parts`);
    let end = indexOf(this.buffer, encoder.encode('\r\n\r\n'));
    while (end === -1) {
      if (this.buffer.length > MAX_HEAD_BYTES) throw malformed('a part has headers over 16 KB');
      if (!(await this.fill())) throw malformed('it ends in the middle');
      end = indexOf(this.buffer, encoder.encode('\r\n\r\n'));
    }
    const raw = this.buffer.slice(0, end + 4); // starts with the CRLF after the delimiter
    this.buffer = this.buffer.subarray(end + 4);
    const text = decoder.decode(raw);
    const disposition = /content-disposition:\s*form-data([^\r\n]*)/i.exec(text)?.[1] ?? '';
    const name = /;\s*name="([^"]*)"/i.exec(disposition)?.[1];
    if (name === undefined) throw malformed('a part has no name');
    const filename = /;\s*filename="([^"]*)"/i.exec(disposition)?.[1] ?? null;
    const contentType = /content-type:\s*([^\r\n]+)/i.exec(text)?.[1]?.trim() ?? null;
    return { raw, name, filename, contentType };
  }

  /** A field's value (after its head), read whole: fields are parameters, not payloads. */
  private async fieldValue(name: string): Promise<string> {
    const chunks: Uint8Array[] = [];
    let size = 0;
    const closed = await this.until((c) => {
      size += c.byteLength;
      if (size > MAX_FIELD_BYTES) throw new ApiError('invalid_value', `Invalid '${name}': a field is at most 256 KB.`, { param: name });
      chunks.push(c.slice());
    });
    if (!closed) throw malformed('it ends in the middle');
    return decoder.decode(chunks.reduce(concat, new Uint8Array(0)));
  }

  /**
   * Reads fields (and keeps files) until `ready(fields)` holds at the start of a file, or
   * the form ends. Returns the form so far — the fields that follow a streaming file join
   * it as the upload passes them — and `upload`: a stream of the whole form as it goes
   * upstream, every field as its `rewrite` says. Once the form streams, an upload can be
   * made only once (then null: the client's bytes are read once, so a streamed upload is
   * not retried elsewhere).
   */
  async open(ready: (fields: Array<[string, string]>) => boolean) {
    const form: Form = { fields: [], files: [] };
    /** The parts read before the form streams, in order: fields, and files as their chunks. */
    const kept: Array<{ field: [string, string]; head: Uint8Array } | { file: FilePart; chunks: Uint8Array[] }> = [];
    // The body starts with the first delimiter, without the CRLF the others have.
    await this.need(this.delimiter.length - 2);
    this.buffer = concat(CRLF, this.buffer);
    if (!(await this.until(() => {}))) throw malformed('its boundary is not in it');
    let streams = false;
    for (;;) {
      const head = await this.nextHead(form);
      if (!head) {
        while (await this.fill());
        break;
      }
      if (head.filename === null) {
        const field: [string, string] = [head.name, await this.fieldValue(head.name)];
        form.fields.push(field);
        kept.push({ field, head: head.raw });
        continue;
      }
      const file = this.fileOf(head, form);
      if (ready(form.fields)) {
        streams = true;
        break;
      }
      const chunks: Uint8Array[] = [];
      if (!(await this.until((c) => chunks.push(this.count(file, c).slice())))) throw malformed('it ends in the middle');
      kept.push({ file, chunks });
    }
    const upload = (rewrite: (name: string, value: string) => string): ReadableStream<Uint8Array> | null => {
      if (this.sent && streams) return null;
      this.sent = true;
      const dash = encoder.encode(`--${this.boundary}`);
      const field = (head: Uint8Array, [name, value]: [string, string]) => [dash, head, encoder.encode(rewrite(name, value)), CRLF];
      const before = kept.flatMap((p) => ('field' in p ? field(p.head, p.field) : [dash, p.file.head, ...p.chunks, CRLF]));
      return streams ? this.streamed(before, form, field) : fixed([...before, dash, this.buffer]);
    };
    return { form, upload, streams };
  }

  /**
   * Reads and drops what the client has yet to send of a form refused before any of it went
   * upstream. An answer given with the body unread closes the connection under the client's
   * write, and an HTTP client then reports the broken pipe, not the answer.
   */
  async discardRest(): Promise<void> {
    if (this.sent || this.done) return;
    this.done = true;
    try {
      while (!(await this.reader.read()).done);
    } catch {
      // The client went away, or the body limit ended the body: nothing is left to read.
    }
  }

  private fileOf(head: { raw: Uint8Array; name: string; filename: string | null; contentType: string | null }, form: Form): FilePart {
    const file = { name: head.name, filename: head.filename!, contentType: head.contentType, head: head.raw, size: 0 };
    form.files.push(file);
    return file;
  }

  private count(file: FilePart, chunk: Uint8Array): Uint8Array {
    file.size += chunk.byteLength;
    if (file.size > this.maxFileBytes) throw tooLarge(file, this.maxFileBytes);
    return chunk;
  }

  /**
   * The upload of a form that streams: what was read before, then — one read of the client
   * per pull, so the upstream's pace is the client's — the file up to its delimiter, then
   * each part after it: a field read and rewritten, a file streamed likewise; then the
   * close delimiter and whatever the client sent after it.
   */
  private streamed(
    before: Uint8Array[], form: Form, field: (head: Uint8Array, f: [string, string]) => Uint8Array[],
  ): ReadableStream<Uint8Array> {
    const dash = encoder.encode(`--${this.boundary}`);
    let file: FilePart | null = form.files.at(-1)!;
    const first = [...before, dash, file.head];
    return new ReadableStream<Uint8Array>({
      // Copies: a stream's reader may take (detach) the buffers it is given, and the
      // delimiters here are shared.
      start: (controller) => controller.enqueue(first.reduce(concat, new Uint8Array(0)).slice()),
      // Each pull hands on one chunk (a pull that enqueues nothing is not called again).
      pull: async (controller) => {
        for (;;) {
          if (file) {
            const at = indexOf(this.buffer, this.delimiter);
            if (at !== -1) {
              const chunk = this.count(file, this.buffer.slice(0, at));
              this.buffer = this.buffer.slice(at + this.delimiter.length);
              file = null;
              return controller.enqueue(concat(chunk, CRLF));
            }
            // All but what could be the delimiter's start (usually nothing) goes on as it came:
            // a view of the client's chunk, which is then no longer referenced here (memory
            // flat in the upload's size, `npm run bench`), and no copy made.
            const take = this.buffer.length - this.delimiterStartAtEnd();
            const chunk = this.count(file, this.buffer.subarray(0, take));
            this.buffer = this.buffer.slice(take);
            if (take > 0) return controller.enqueue(chunk);
            if (!(await this.fill())) throw malformed('it ends in the middle');
            continue;
          }
          const head = await this.nextHead(form);
          if (!head) {
            while (await this.fill());
            controller.enqueue(concat(dash, this.buffer));
            return controller.close();
          }
          if (head.filename !== null) {
            file = this.fileOf(head, form);
            return controller.enqueue(concat(dash, head.raw));
          }
          const value: [string, string] = [head.name, await this.fieldValue(head.name)];
          form.fields.push(value);
          return controller.enqueue(field(head.raw, value).reduce(concat, new Uint8Array(0)));
        }
      },
    }, { highWaterMark: 0 });
  }
}

/** A stream of these chunks (copied: see `streamed`). */
const fixed = (chunks: Uint8Array[]) =>
  new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk.slice());
      controller.close();
    },
  });

const tooLarge = (file: FilePart, max: number) =>
  new ApiError('invalid_value', `Invalid '${file.name}': the file is larger than the ${Math.floor(max / 1024 / 1024)} MB allowed.`, { param: file.name });
