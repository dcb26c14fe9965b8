// The registry's Redis side: every registered session's liveness record in one round trip, and
// pruning dead sessions, which hands a dead satellite's queue to the session consuming in its place.
import { assertSessionId, sessionsRegistryKey } from "./keys.ts";
import { LuaScript, ROUTING_LUA, type ScriptClient } from "./scripts.ts";

// KEYS: registry. ARGV: prefix. Returns { ids, liveness records ('' when there is none) }.
const RECORDS_SCRIPT = new LuaScript(`
local ids = redis.call('SMEMBERS', KEYS[1])
local records = {}
for i, id in ipairs(ids) do
  records[i] = redis.call('GET', ARGV[1] .. ':gateway:alive:' .. id) or ''
end
return { ids, records }
`);

export interface RegisteredSession {
  id: string;
  /** the liveness key's value, null when it expired */
  record: string | null;
}

export async function registeredSessions(redis: ScriptClient, prefix: string): Promise<RegisteredSession[]> {
  const [ids, records] = (await RECORDS_SCRIPT.run(redis, [sessionsRegistryKey(prefix)], [prefix])) as [string[], string[]];
  return ids.map((id, i) => ({ id, record: records[i] || null }));
}

// A satellite's id (`pid-<pid>`) is never used again, so once it is gone its unacknowledged and
// pending events move, oldest first, to the primary session's queue (which de-duplicates by id
// what it already got), with a PUBLISH there. Returns { moved, target or '' }.
const HAND_OVER_LUA = `
local function hand_over(prefix, id)
  if string.sub(id, 1, 4) ~= 'pid-' then return { 0, '' } end
  local target = primary(prefix, '', 'main')
  if target == id then return { 0, '' } end
  local moved, destination = 0, prefix .. ':events:' .. target
  for _, source in ipairs({ prefix .. ':processing:' .. id, prefix .. ':events:' .. id }) do
    while redis.call('RPOPLPUSH', source, destination) do moved = moved + 1 end
  end
  if moved == 0 then return { 0, '' } end
  redis.call('PUBLISH', prefix .. ':notify:' .. target, 'moved-from:' .. id)
  return { moved, target }
end
`;

// ARGV: prefix, then (id, liveness record seen as dead or '') per session. A session whose record
// changed since is skipped (it came back). Returns { id, moved, target or '' } per pruned session.
const PRUNE_SCRIPT = new LuaScript(`${ROUTING_LUA}${HAND_OVER_LUA}
local prefix = ARGV[1]
local pruned = {}
for i = 2, #ARGV, 2 do
  local id, seen = ARGV[i], ARGV[i + 1]
  local alive = prefix .. ':gateway:alive:' .. id
  if (redis.call('GET', alive) or '') == seen then
    redis.call('SREM', prefix .. ':gateway:sessions', id)
    redis.call('DEL', alive)
    local result = hand_over(prefix, id)
    pruned[#pruned + 1] = { id, result[1], result[2] }
  end
end
return pruned
`);

// ARGV: prefix, satellite id. Only for a satellite that is no longer registered (e.g. after its
// clean shutdown left events behind): a registered one is left alone.
const HAND_OVER_SCRIPT = new LuaScript(`${ROUTING_LUA}${HAND_OVER_LUA}
if redis.call('SISMEMBER', ARGV[1] .. ':gateway:sessions', ARGV[2]) == 1 then return { 0, '' } end
return hand_over(ARGV[1], ARGV[2])
`);

export interface PrunedSession {
  sessionId: string;
  /** events (pending and unacknowledged) moved from its queue to `movedTo` */
  moved: number;
  movedTo?: string;
}

export async function pruneSessions(redis: ScriptClient, prefix: string, dead: readonly RegisteredSession[]): Promise<PrunedSession[]> {
  if (!dead.length) return [];
  const args = dead.flatMap(({ id, record }) => [id, record ?? ""]);
  const replies = (await PRUNE_SCRIPT.run(redis, [], [prefix, ...args])) as [string, number, string][];
  return replies.map(([sessionId, moved, target]) => ({ sessionId, moved, ...(target ? { movedTo: target } : {}) }));
}

/** Moves what an unregistered satellite (`pid-<pid>`) left in its queue to the session consuming in its place. */
export async function handOverSatelliteQueue(redis: ScriptClient, prefix: string, sessionId: string): Promise<Omit<PrunedSession, "sessionId">> {
  const [moved, target] = (await HAND_OVER_SCRIPT.run(redis, [], [prefix, assertSessionId(sessionId)])) as [number, string];
  return { moved, ...(target ? { movedTo: target } : {}) };
}
