// What a malformed entry becomes in a session's dead-letter list: enough to see what was wrong and
// to recognise the entry again, never the whole of it (a producer's 50 MB of junk would otherwise
// stay in Redis whole), and the list keeps only its newest entries.
import { createHash } from "node:crypto";

/** the newest this many dead letters are kept per session; older ones are dropped */
export const MAX_DEAD_LETTERS = 1000;
/** at most this many characters of a malformed entry are kept; its size and hash say what it was */
export const MAX_DEAD_LETTER_RAW = 4096;

export interface DeadLetter {
  /** the entry as it was pushed, or its first MAX_DEAD_LETTER_RAW characters */
  raw: string;
  reason: string;
  /** epoch ms */
  at: number;
  /** the whole entry's size in bytes (UTF-8) */
  bytes: number;
  /** sha256 of the whole entry, hex */
  sha256: string;
  /** present when raw is only the entry's beginning */
  truncated?: true;
}

export function deadLetterFor(raw: string, reason: string, at: number): DeadLetter {
  const truncated = raw.length > MAX_DEAD_LETTER_RAW;
  return {
    raw: truncated ? raw.slice(0, MAX_DEAD_LETTER_RAW) : raw,
    reason,
    at,
    bytes: Buffer.byteLength(raw, "utf8"),
    sha256: createHash("sha256").update(raw, "utf8").digest("hex"),
    ...(truncated ? { truncated: true as const } : {}),
  };
}

/** How status describes the caps. */
export const DEAD_LETTER_LIMITS = [
  `the newest ${MAX_DEAD_LETTERS} per session,`,
  `each with at most ${MAX_DEAD_LETTER_RAW} characters of the entry, its size and sha256`,
].join(" ");
