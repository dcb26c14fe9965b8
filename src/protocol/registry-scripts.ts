// The registry's Redis side: every registered session's liveness record in one round trip, and
// pruning dead sessions, which hands a dead satellite's queue to the session consuming in its place.
import { sessionsRegistryKey } from "./keys.ts";
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

// ARGV: prefix, then (id, liveness record seen as dead or '') per session. A session whose record
// changed since is skipped (it came back). A satellite's id (`pid-<pid>`) is never used again, so
// its unacknowledged and pending events move, oldest first, to the primary session's queue; that
// session de-duplicates by id what it already got. Returns { id, moved, target or '' } per pruned session.
const PRUNE_SCRIPT = new LuaScript(`${ROUTING_LUA}
local prefix = ARGV[1]
local pruned = {}
for i = 2, #ARGV, 2 do
  local id, seen = ARGV[i], ARGV[i + 1]
  local alive = prefix .. ':gateway:alive:' .. id
  if (redis.call('GET', alive) or '') == seen then
    redis.call('SREM', prefix .. ':gateway:sessions', id)
    redis.call('DEL', alive)
    local moved, target = 0, ''
    if string.sub(id, 1, 4) == 'pid-' then
      target = primary(prefix, '', 'main')
      if target == id then target = '' end
    end
    if target ~= '' then
      local destination = prefix .. ':events:' .. target
      for _, source in ipairs({ prefix .. ':processing:' .. id, prefix .. ':events:' .. id }) do
        while redis.call('RPOPLPUSH', source, destination) do moved = moved + 1 end
      end
      if moved > 0 then redis.call('PUBLISH', prefix .. ':notify:' .. target, 'moved-from:' .. id) else target = '' end
    end
    pruned[#pruned + 1] = { id, moved, target }
  end
end
return pruned
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
