// Telegram refuses a message longer than 4,096 characters, counted in UTF-16 code units (a JS
// string's length) for plain text. Long replies are cut where a reader would cut them.

export const TELEGRAM_MESSAGE_LIMIT = 4096;

interface Boundary {
  /** where the separator starts in the text (the chunk ends here) */
  at: number;
  /** where the next chunk starts (after the separator's whitespace) */
  next: number;
}

const SEPARATORS: readonly RegExp[] = [/\n[ \t]*\n\s*/g, /\n\s*/g, /[ \t]+/g];

/**
 * Splits `text` into messages of at most `limit` UTF-16 units, in order: on the last paragraph
 * break that fits, else the last line break, else the last space, else hard (never between the
 * two halves of a surrogate pair). Only the whitespace at the cuts is dropped; chunks that are
 * whitespace only are left out (Telegram refuses empty messages), so "" gives [].
 */
export function splitForTelegram(text: string, limit = TELEGRAM_MESSAGE_LIMIT): string[] {
  if (limit < 2) throw new Error(`limit must be at least 2, got ${limit}`);
  const chunks: string[] = [];
  let rest = text;
  while (rest.length > limit) {
    const cut = boundaryWithin(rest, limit) ?? hardCut(rest, limit);
    pushChunk(chunks, rest.slice(0, cut.at));
    rest = rest.slice(cut.next);
  }
  pushChunk(chunks, rest);
  return chunks;
}

/** The preferred cut: a boundary in the second half of the window first, then anywhere in it. */
function boundaryWithin(text: string, limit: number): Boundary | undefined {
  for (const earliest of [Math.floor(limit / 2), 1]) {
    for (const separator of SEPARATORS) {
      const boundary = lastBoundary(text, separator, limit);
      if (boundary && boundary.at >= earliest) return boundary;
    }
  }
  return undefined;
}

/** The last match of `separator` starting at or before `limit`. */
function lastBoundary(text: string, separator: RegExp, limit: number): Boundary | undefined {
  let found: Boundary | undefined;
  separator.lastIndex = 0;
  for (let match = separator.exec(text); match && match.index <= limit; match = separator.exec(text)) {
    if (match.index > 0) found = { at: match.index, next: match.index + match[0].length };
  }
  return found;
}

function hardCut(text: string, limit: number): Boundary {
  const code = text.charCodeAt(limit - 1);
  const at = code >= 0xd800 && code <= 0xdbff ? limit - 1 : limit;
  return { at, next: at };
}

function pushChunk(chunks: string[], chunk: string): void {
  if (chunk.trim() !== "") chunks.push(chunk);
}
