// What the runtime's functions that the CLI also calls send to Redis, with ioredis's signatures:
// ioredis's `Redis` satisfies it as it is, and so does the CLI's one-connection client
// (components/redis/connection.ts), which does not load ioredis.
import type { ScriptClient } from "./scripts.ts";

export interface RedisCommands extends ScriptClient {
  get(key: string): Promise<string | null>;
}
