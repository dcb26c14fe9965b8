// RESP2, the protocol Redis speaks: commands out as arrays of bulk strings, replies in as they come
// (a reply can arrive split over several socket reads, or several replies in one).

/** An error reply (`-NOAUTH Authentication required.`): the message is the server's text, as ioredis gives it. */
export class ReplyError extends Error {
  override name = "ReplyError";
}

/**
 * Bytes that cannot start a RESP reply: whatever answered is not Redis (a web server on that port,
 * say). `began` is the first line of what it sent, printable, for the user to recognise it by.
 */
export class NotRedisReply extends Error {
  override name = "NotRedisReply";
  constructor(readonly began: string) {
    super(`Protocol error: not a Redis reply (it began "${began}")`);
  }
}

/** A reply as ioredis gives it: bulk strings as UTF-8 text, integers as numbers, nil as null; an error inside an array stays an element. */
export type Reply = string | number | null | ReplyError | Reply[];

export type Argument = string | number | Buffer;

export function encodeCommand(args: readonly Argument[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = Buffer.isBuffer(arg) ? arg : Buffer.from(String(arg), "utf8");
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, CRLF);
  }
  return Buffer.concat(parts);
}

const CRLF = Buffer.from("\r\n");

/** Thrown inside the parser when the buffer ends before the reply does; `needs` is the least length that can complete it. */
class Incomplete {
  constructor(readonly needs: number) {}
}

/** Turns the bytes read into whole replies, in order; bytes of a reply not complete yet wait for the next read. */
export class ReplyParser {
  private chunks: Buffer[] = [];
  private length = 0;
  /** no reply can complete before this many bytes are buffered: a large bulk string is not re-parsed at every read */
  private needs = 0;

  push(data: Buffer, onReply: (reply: Reply) => void): void {
    this.chunks.push(data);
    this.length += data.length;
    if (this.length < this.needs) return;
    let buffer = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.length);
    let offset = 0;
    this.needs = 0;
    while (offset < buffer.length) {
      try {
        const [reply, next] = parseReply(buffer, offset);
        offset = next;
        onReply(reply);
      } catch (error) {
        if (!(error instanceof Incomplete)) throw error;
        this.needs = error.needs - offset;
        break;
      }
    }
    buffer = buffer.subarray(offset);
    this.chunks = buffer.length ? [buffer] : [];
    this.length = buffer.length;
  }
}

function lineEnd(buffer: Buffer, from: number): number {
  const end = buffer.indexOf(CRLF, from);
  if (end < 0) throw new Incomplete(buffer.length + 1);
  return end;
}

/** + - : $ *, the first byte of every RESP2 reply */
const REPLY_TYPES = new Set([0x2b, 0x2d, 0x3a, 0x24, 0x2a]);

function parseReply(buffer: Buffer, offset: number): [Reply, number] {
  // known from the first byte: a service that is not Redis may never send the line end waited for
  if (!REPLY_TYPES.has(buffer[offset]!)) throw new NotRedisReply(printableStart(buffer, offset));
  const end = lineEnd(buffer, offset + 1);
  const line = buffer.toString("utf8", offset + 1, end);
  const next = end + 2;
  switch (buffer[offset]) {
    case 0x2b: // +
      return [line, next];
    case 0x2d: // -
      return [new ReplyError(line), next];
    case 0x3a: // :
      return [Number(line), next];
    case 0x24: {
      // $
      const size = Number(line);
      if (size < 0) return [null, next];
      if (buffer.length < next + size + 2) throw new Incomplete(next + size + 2);
      return [buffer.toString("utf8", next, next + size), next + size + 2];
    }
    default: {
      // *, the one type left
      const count = Number(line);
      if (count < 0) return [null, next];
      const items: Reply[] = [];
      let at = next;
      for (let i = 0; i < count; i++) {
        if (at >= buffer.length) throw new Incomplete(at + 1);
        const [item, after] = parseReply(buffer, at);
        items.push(item);
        at = after;
      }
      return [items, at];
    }
  }
}

/** the first line of what came, at most 40 bytes, as printable ASCII */
function printableStart(buffer: Buffer, offset: number): string {
  const start = buffer.toString("latin1", offset, offset + 40);
  return start
    .split(/[\r\n]/)[0]!
    .replace(/[^\x20-\x7e]+/g, " ")
    .trim();
}
