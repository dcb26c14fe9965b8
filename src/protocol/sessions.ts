// The session registry: who is alive, who owns which queue, and pruning the dead.
// A session's liveness key holds its owner ("<host>:<pid>") and expires unless refreshed, so one
// queue has one consumer: a second pi for the same session id is refused while the first lives.
import type { Redis } from "ioredis";
import { hostname } from "node:os";
import { aliveKey, sessionsRegistryKey } from "./keys.ts";

export interface AliveRecord {
  owner: string;
  pid: number;
  host: string;
  startedAt: number;
}

export function ownerToken(pid = process.pid, host = hostname()): string {
  return `${host}:${pid}`;
}

// KEYS: alive, registry. ARGV: owner, record json, ttl seconds, session id, takeover (1 = the old owner is known dead)
const CLAIM_SCRIPT = `
local current = redis.call('GET', KEYS[1])
if current and ARGV[5] ~= '1' then
  local ok, decoded = pcall(cjson.decode, current)
  if ok and type(decoded) == 'table' and decoded.owner and decoded.owner ~= ARGV[1] then return current end
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', tonumber(ARGV[3]))
redis.call('SADD', KEYS[2], ARGV[4])
return 'ok'
`;

export function parseAlive(raw: string | null): AliveRecord | undefined {
  if (!raw) return undefined;
  try {
    const value = JSON.parse(raw) as Partial<AliveRecord>;
    return typeof value.owner === "string" && typeof value.pid === "number" ? (value as AliveRecord) : undefined;
  } catch {
    return undefined;
  }
}

export function isPidRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** An owner on this machine whose process is gone cannot come back: its claim can be taken over. */
export function isDeadHere(record: AliveRecord | undefined, host = hostname()): boolean {
  return Boolean(record && record.host === host && !isPidRunning(record.pid));
}

/** Takes (or refreshes) a session id; returns the current owner's record when someone else holds it. */
export async function claimSession(redis: Redis, prefix: string, sessionId: string, ttlSeconds: number, startedAt: number): Promise<{ ok: true } | { ok: false; holder: AliveRecord | undefined }> {
  const key = aliveKey(prefix, sessionId);
  const record: AliveRecord = { owner: ownerToken(), pid: process.pid, host: hostname(), startedAt };
  const existing = parseAlive(await redis.get(key));
  const takeover = existing && existing.owner !== record.owner && isDeadHere(existing) ? "1" : "0";
  const reply = (await redis.eval(CLAIM_SCRIPT, 2, key, sessionsRegistryKey(prefix), record.owner, JSON.stringify(record), String(ttlSeconds), sessionId, takeover)) as string;
  return reply === "ok" ? { ok: true } : { ok: false, holder: parseAlive(reply) };
}

/** Registered sessions that are gone: no liveness key, or an owner process on this machine that died. */
export async function deadSessions(redis: Redis, prefix: string): Promise<string[]> {
  const members = await redis.smembers(sessionsRegistryKey(prefix));
  if (!members.length) return [];
  const records = await redis.mget(...members.map((id) => aliveKey(prefix, id)));
  return members.filter((_, i) => records[i] === null || isDeadHere(parseAlive(records[i]!)));
}

export async function pruneDeadSessions(redis: Redis, prefix: string): Promise<string[]> {
  const dead = await deadSessions(redis, prefix);
  if (dead.length) {
    await redis.multi().srem(sessionsRegistryKey(prefix), ...dead).del(...dead.map((id) => aliveKey(prefix, id))).exec();
  }
  return dead;
}
