// The routing script and how pushes reach it. A push on a client with nothing of ours waiting for
// Redis is sent at once, alone. Pushes called while an earlier script call on that client is still
// waiting are gathered until the end of the tick and sent as one script call: a producer with many
// pushes in flight pays one command, one write and one reply per batch instead of per event.
// Each event is still routed on its own, in call order; a failure fails only the events it concerns.
import type { GatewayEvent } from "./event.ts";
import { sessionKeys } from "./keys.ts";
import { LuaScript, ROUTING_LUA, type ScriptClient } from "./scripts.ts";

// ARGV: prefix, explicit fallback ('' = none), last resort, then three per event: payload, id and
// its origin: '' for none, the session id, or `<id>\n<host>\n<pid>` for a satellite origin
// (`pid-<pid>`) known not to run on this host. The origin is a target while registered with its
// liveness key, unless that key's owner is that dead process. Each session's events go in one
// LPUSH, in call order. Returns per event, in order: the number of its targets, then
// { session, listeners } for each in push order; or -1 and the error it met (an LPUSH that failed
// fails the events it held, not the others).
// Only a queue that was empty is published to (the id of its first event): a consumer told of the
// first one drains until the queue is empty again, so in a burst it is not woken once per event.
const ROUTE_AND_PUSH_SCRIPT = new LuaScript(`${ROUTING_LUA}
local prefix = ARGV[1]
local function message(raised) return type(raised) == 'table' and raised.err or tostring(raised) end
local function owned_by_dead_pid(record, host, dead_pid)
  local ok, owner = pcall(cjson.decode, record)
  return ok and type(owner) == 'table' and type(owner.owner) == 'string' and owner.host == host and owner.pid == dead_pid
end
local function origin_alive(origin, host, dead_pid)
  if not registered_and_alive(prefix, origin) then return false end
  return dead_pid == nil or not owned_by_dead_pid(redis.call('GET', prefix .. ':gateway:alive:' .. origin), host, dead_pid)
end
local first = primary(prefix, ARGV[2], ARGV[3])
local only_first = { first }
-- an origin's liveness, asked once per call: its targets, or the error asking met
local with_origin = {}
local function targets_of(from)
  if from == '' then return only_first end
  if with_origin[from] == nil then
    local origin, host, dead_pid = string.match(from, '^([^\\n]*)\\n([^\\n]*)\\n(%d+)$')
    origin = origin or from
    local ok, alive = pcall(origin_alive, origin, host, tonumber(dead_pid))
    if not ok then with_origin[from] = message(alive)
    elseif alive and origin ~= first then with_origin[from] = { origin, first }
    else with_origin[from] = only_first end
  end
  return with_origin[from]
end
-- each session's events in one LPUSH, in call order: the origins' first, then the primary's
-- without the events an origin's LPUSH failed for (as one at a time, an origin before the primary)
local routes, origins, queued = {}, {}, {}
local function queue_for(session, id)
  local queue = queued[session]
  if queue == nil then
    queue = { first_id = id }
    queued[session] = queue
    if session ~= first then origins[#origins + 1] = session end
  end
  return queue
end
for i = 4, #ARGV, 3 do
  local targets = targets_of(ARGV[i + 2])
  routes[#routes + 1] = targets
  if type(targets) == 'table' and targets[2] then
    local queue = queue_for(targets[1], ARGV[i + 1])
    queue[#queue + 1] = ARGV[i]
  end
end
local listeners, failed = {}, {}
local function push(session, queue)
  local ok, length = pcall(redis.call, 'LPUSH', prefix .. ':events:' .. session, unpack(queue))
  local notify = prefix .. ':notify:' .. session
  if not ok then failed[session] = message(length)
  elseif length == #queue then listeners[session] = redis.call('PUBLISH', notify, queue.first_id)
  else listeners[session] = redis.call('PUBSUB', 'NUMSUB', notify)[2] end
end
for _, session in ipairs(origins) do push(session, queued[session]) end
local primary_queue = nil
for n, targets in ipairs(routes) do
  if type(targets) == 'table' and not (targets[2] and failed[targets[1]]) then
    local i = 4 + (n - 1) * 3
    primary_queue = primary_queue or queue_for(first, ARGV[i + 1])
    primary_queue[#primary_queue + 1] = ARGV[i]
  end
end
if primary_queue then push(first, primary_queue) end
local reply = {}
for _, targets in ipairs(routes) do
  local problem = type(targets) == 'string' and targets or nil
  if not problem then
    for _, session in ipairs(targets) do problem = problem or failed[session] end
  end
  if problem then
    reply[#reply + 1] = -1
    reply[#reply + 1] = problem
  else
    reply[#reply + 1] = #targets
    for _, session in ipairs(targets) do
      reply[#reply + 1] = session
      reply[#reply + 1] = listeners[session]
    end
  end
end
return reply
`);

export interface RoutedPush {
  event: GatewayEvent;
  targets: { sessionId: string; eventsKey: string; listeners: number }[];
}

/** The arguments every event of one script call shares: prefix, explicit fallback ('' = none), last resort. */
export type RoutingOptions = readonly [prefix: string, fallback: string, lastResort: string];
/** One event's arguments: payload, id, origin (see the script). */
export type EventArgs = readonly [payload: string, id: string, origin: string];

interface QueuedPush {
  event: GatewayEvent;
  args: EventArgs;
  resolve(routed: RoutedPush): void;
  reject(error: unknown): void;
}

/** Enough to keep one script call short: Redis runs nothing else meanwhile. */
const MAX_BATCH_EVENTS = 64;
const MAX_BATCH_CHARACTERS = 512 * 1024;

class PushBatch {
  readonly pushes: QueuedPush[] = [];
  private characters = 0;
  constructor(readonly options: RoutingOptions) {}

  sameOptions(options: RoutingOptions): boolean {
    return options.every((value, i) => value === this.options[i]);
  }

  add(push: QueuedPush): void {
    this.pushes.push(push);
    this.characters += push.args[0].length;
  }

  get full(): boolean {
    return this.pushes.length >= MAX_BATCH_EVENTS || this.characters >= MAX_BATCH_CHARACTERS;
  }

  async send(redis: ScriptClient): Promise<void> {
    const args: string[] = [...this.options];
    for (const push of this.pushes) args.push(...push.args);
    let reply: (string | number)[];
    try {
      reply = (await ROUTE_AND_PUSH_SCRIPT.run(redis, [], args)) as (string | number)[];
    } catch (error) {
      for (const push of this.pushes) push.reject(error);
      return;
    }
    let at = 0;
    for (const push of this.pushes) {
      const count = Number(reply[at++]);
      if (count < 0) {
        push.reject(new Error(`pushing event ${push.event.id} failed: ${String(reply[at++])}`));
        continue;
      }
      const targets: RoutedPush["targets"] = [];
      for (let t = 0; t < count; t++, at += 2) {
        const sessionId = String(reply[at]);
        targets.push({ sessionId, eventsKey: sessionKeys(this.options[0], sessionId).events, listeners: Number(reply[at + 1]) });
      }
      push.resolve({ event: push.event, targets });
    }
  }
}

/** A client's script calls still waiting for Redis, and the batch gathering behind them this tick. */
interface ClientPushes {
  waiting: number;
  gathering: PushBatch | undefined;
}
const clients = new WeakMap<ScriptClient, ClientPushes>();

function pushesOf(redis: ScriptClient): ClientPushes {
  let pushes = clients.get(redis);
  if (!pushes) {
    pushes = { waiting: 0, gathering: undefined };
    clients.set(redis, pushes);
  }
  return pushes;
}

/** A client counts as waiting until the end of the tick its reply arrives in: the pushes awaiting that reply push again then. */
function send(redis: ScriptClient, pushes: ClientPushes, batch: PushBatch): void {
  if (pushes.gathering === batch) pushes.gathering = undefined;
  pushes.waiting++;
  void batch.send(redis).finally(() => process.nextTick(() => pushes.waiting--));
}

/** Routes and pushes one event, alone or in the batch gathering on this client (see the top of this file). */
export function routeAndPush(redis: ScriptClient, options: RoutingOptions, event: GatewayEvent, args: EventArgs): Promise<RoutedPush> {
  const client = pushesOf(redis);
  return new Promise((resolve, reject) => {
    let batch = client.gathering;
    if (batch && !batch.sameOptions(options)) {
      send(redis, client, batch);
      batch = undefined;
    }
    if (!batch) {
      const fresh = new PushBatch(options);
      if (client.waiting > 0) {
        client.gathering = fresh;
        process.nextTick(() => client.gathering === fresh && send(redis, client, fresh));
      }
      batch = fresh;
    }
    batch.add({ event, args, resolve, reject });
    if (client.gathering !== batch || batch.full) send(redis, client, batch);
  });
}
