// Lua scripts run by EVALSHA (EVAL once per connection when Redis does not know them yet), and the
// only Redis surface the exported producer API needs: any client with these two methods works
// (ioredis 5 and 6, node-redis through a small adapter), so a consumer's ioredis version never
// has to match ours.

export interface ScriptClient {
  evalsha(sha1: string, numkeys: number, ...args: string[]): Promise<unknown>;
  eval(script: string, numkeys: number, ...args: string[]): Promise<unknown>;
  /**
   * A client that runs a command or two and exits (the CLI's): it sends each script's text (EVAL),
   * which saves it hashing the script, and so loading node:crypto (~4 ms of a `push`).
   */
  readonly sendsScriptText?: boolean;
}

export class LuaScript {
  private sha1: string | undefined;
  constructor(readonly source: string) {}

  async run(redis: ScriptClient, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    if (redis.sendsScriptText) return redis.eval(this.source, keys.length, ...keys, ...args);
    this.sha1 ??= (await import("node:crypto")).createHash("sha1").update(this.source).digest("hex");
    try {
      return await redis.evalsha(this.sha1, keys.length, ...keys, ...args);
    } catch (error) {
      if (!/NOSCRIPT/.test((error as Error).message)) throw error;
      return redis.eval(this.source, keys.length, ...keys, ...args);
    }
  }
}

/**
 * Lua helpers shared by the routing and pruning scripts. Key names mirror keys.ts
 * (`<prefix>:gateway:sessions`, `:gateway:alive:<id>`, `:gateway:default`, `:events:<id>`,
 * `:notify:<id>`); they are built here because the default session is only known inside the script.
 * `primary(prefix, explicit, last_resort)`: `gateway` when it is alive, else the explicit fallback,
 * else the session named by the default key, else last_resort (`main` unless an install says otherwise).
 */
export const ROUTING_LUA = `
local function registered_and_alive(prefix, id)
  return redis.call('SISMEMBER', prefix .. ':gateway:sessions', id) == 1
    and redis.call('EXISTS', prefix .. ':gateway:alive:' .. id) == 1
end
local function valid_id(id)
  return type(id) == 'string' and #id >= 1 and #id <= 64 and string.match(id, '^[%w%._%-]+$') ~= nil
end
local function primary(prefix, explicit, last_resort)
  if registered_and_alive(prefix, 'gateway') then return 'gateway' end
  if explicit ~= '' then return explicit end
  local default = redis.call('GET', prefix .. ':gateway:default')
  if valid_id(default) then return default end
  return last_resort
end
`;
