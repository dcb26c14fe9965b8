// The session registry: who is alive, who owns which queue, and pruning the dead.
// A session's liveness key holds its owner ("<host>:<pid>:<random>") and expires unless refreshed, so one
// queue has one consumer: a second pi for the same session id is refused while the first lives.

import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import type { Redis } from "ioredis";
import { aliveKey, sessionsRegistryKey } from "./keys.ts";
import { randomUuid } from "./random-id.ts";
import { type PrunedSession, pruneSessions, registeredSessions } from "./registry-scripts.ts";
import type { ScriptClient } from "./scripts.ts";

export interface AliveRecord {
  owner: string;
  pid: number;
  host: string;
  startedAt: number;
}

/**
 * Who this session is, fixed once per running gateway: host and pid say where it runs (so a dead
 * owner on this machine can be recognised), and a random part keeps the claim this session's own
 * even if the hostname changes while it runs or two gateways share one process.
 */
export function newOwner(startedAt: number, pid = process.pid, host = hostname()): AliveRecord {
  return { owner: `${host}:${pid}:${randomUuid().slice(0, 8)}`, pid, host, startedAt };
}

// KEYS: alive, registry. ARGV: owner, record json, ttl seconds, session id, the exact record of a
// dead owner the caller saw ('' for none). Taking over is a compare-and-swap: it happens only if
// that dead record is still the current one, so two sessions replacing the same dead owner cannot
// both win.
const CLAIM_SCRIPT = `
local current = redis.call('GET', KEYS[1])
if current and current ~= ARGV[5] then
  local ok, decoded = pcall(cjson.decode, current)
  if ok and type(decoded) == 'table' and decoded.owner and decoded.owner ~= ARGV[1] then return current end
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', tonumber(ARGV[3]))
redis.call('SADD', KEYS[2], ARGV[4])
return 'ok'
`;

// KEYS: alive, registry. ARGV: owner, session id. Removes the claim only if it is still ours.
const RELEASE_SCRIPT = `
local current = redis.call('GET', KEYS[1])
if current then
  local ok, decoded = pcall(cjson.decode, current)
  if ok and type(decoded) == 'table' and decoded.owner ~= ARGV[1] then return 0 end
  redis.call('DEL', KEYS[1])
end
redis.call('SREM', KEYS[2], ARGV[2])
return 1
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

/** `zombie` is the check for a process that answers kill(pid, 0): the routing passes one that reuses its answer for a second. */
export function isPidRunning(pid: number, zombie: (pid: number) => boolean = isZombie): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
  return !zombie(pid);
}

/** A killed process its parent has not reaped yet still answers kill(pid, 0); Linux tells (macOS reaps via launchd/tmux). */
export function isZombie(pid: number): boolean {
  const state = procStat(pid)?.[0];
  return state === "Z" || state === "X";
}

/** Linux: the fields of /proc/<pid>/stat after the command name (state first, start time at 19); elsewhere undefined. */
export function procStat(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}

/** An owner on this machine whose process is gone cannot come back: its claim can be taken over. */
export function isDeadHere(record: AliveRecord | undefined, host = hostname()): boolean {
  return Boolean(record && record.host === host && !isPidRunning(record.pid));
}

/** Takes (or refreshes) a session id for `record`; returns the current owner's record when someone else holds it. */
export async function claimSession(
  redis: Redis,
  prefix: string,
  sessionId: string,
  ttlSeconds: number,
  record: AliveRecord,
): Promise<{ ok: true } | { ok: false; holder: AliveRecord | undefined }> {
  const key = aliveKey(prefix, sessionId);
  const currentRaw = await redis.get(key);
  const current = parseAlive(currentRaw);
  const deadRecord = current && current.owner !== record.owner && isDeadHere(current) ? currentRaw! : "";
  const reply = (await redis.eval(
    CLAIM_SCRIPT,
    2,
    key,
    sessionsRegistryKey(prefix),
    record.owner,
    JSON.stringify(record),
    String(ttlSeconds),
    sessionId,
    deadRecord,
  )) as string;
  return reply === "ok" ? { ok: true } : { ok: false, holder: parseAlive(reply) };
}

/** Gives a session id back on a clean shutdown, unless someone else holds it by now. */
export async function releaseSession(redis: Redis, prefix: string, sessionId: string, record: AliveRecord): Promise<boolean> {
  return (await redis.eval(RELEASE_SCRIPT, 2, aliveKey(prefix, sessionId), sessionsRegistryKey(prefix), record.owner, sessionId)) === 1;
}

/** The one deadness test (routing, doctor, status, pruning): no liveness key, or an owner process on this machine that died. */
export function isSessionGone(record: string | null): boolean {
  return record === null || isDeadHere(parseAlive(record));
}

/** Registered sessions that are gone. */
export async function deadSessions(redis: ScriptClient, prefix: string): Promise<string[]> {
  return (await registeredSessions(redis, prefix)).filter((s) => isSessionGone(s.record)).map((s) => s.id);
}

/**
 * Removes dead sessions from the registry; a dead satellite's pending and unacknowledged events
 * move to the session consuming in its place (central, else the default session), atomically.
 */
export async function pruneDeadSessionsDetailed(redis: ScriptClient, prefix: string): Promise<PrunedSession[]> {
  const dead = (await registeredSessions(redis, prefix)).filter((s) => isSessionGone(s.record));
  return pruneSessions(redis, prefix, dead);
}

/** pruneDeadSessionsDetailed, returning only the pruned ids. */
export async function pruneDeadSessions(redis: ScriptClient, prefix: string): Promise<string[]> {
  return (await pruneDeadSessionsDetailed(redis, prefix)).map((p) => p.sessionId);
}
