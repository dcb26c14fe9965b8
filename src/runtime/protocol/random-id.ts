// Random ids (event ids, the random part of a session's owner) without node:crypto: loading that
// module costs a one-shot `gateway-setup push` ~4 ms of its ~35 ms start. The bytes come from the
// same source, the kernel's /dev/urandom, read a pool at a time as node's own randomUUID does;
// where there is no /dev/urandom, from Web Crypto.
import { closeSync, openSync, readSync } from "node:fs";

const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let used = 0;

function fillFromKernel(into: Buffer): boolean {
  let fd: number;
  try {
    fd = openSync("/dev/urandom", "r");
  } catch {
    return false;
  }
  try {
    for (let filled = 0; filled < into.length; ) {
      const read = readSync(fd, into, filled, into.length - filled, null);
      if (read === 0) return false;
      filled += read;
    }
    return true;
  } finally {
    closeSync(fd);
  }
}

function randomBytes(count: number): Buffer {
  if (used + count > pool.length) {
    pool = Buffer.alloc(POOL_BYTES);
    if (!fillFromKernel(pool)) globalThis.crypto.getRandomValues(pool);
    used = 0;
  }
  const bytes = pool.subarray(used, used + count);
  used += count;
  return bytes;
}

/** A random (version 4) UUID, e.g. `3b241101-e2bb-4255-8caf-4136c566a962`. */
export function randomUuid(): string {
  const bytes = Buffer.from(randomBytes(16));
  bytes[6] = (bytes[6]! & 0x0f) | 0x40;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
