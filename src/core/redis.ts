// The Redis the gateway talks to, as data: where (parsed once from the URL) and what a probe found.

export interface RedisTarget {
  /** URL without credentials' password (user name kept) */
  url: string;
  password?: string;
  host: string;
  port: number;
  tls: boolean;
  /** the database index from the URL's path (redis://host:6379/2), 0 without one */
  db: number;
}

export type RedisProbe =
  | { status: "ok"; latencyMs: number; version?: string }
  | { status: "unreachable" | "auth-required" | "auth-failed" | "error"; message: string };

/**
 * The commands the installer's side (setup, doctor, status, push, uninstall) sends to Redis, with
 * ioredis's signatures: the short-lived client of components/redis/connection.ts implements it,
 * and ioredis's `Redis` satisfies it as it is (tests hand doctor's checks one).
 */
export interface RedisClient {
  ping(): Promise<string>;
  info(section: string): Promise<string>;
  select(index: number | string): Promise<"OK">;
  get(key: string): Promise<string | null>;
  set(key: string, value: string | number): Promise<"OK">;
  del(...keys: string[]): Promise<number>;
  exists(...keys: string[]): Promise<number>;
  llen(key: string): Promise<number>;
  lindex(key: string, index: number | string): Promise<string | null>;
  lrange(key: string, start: number | string, stop: number | string): Promise<string[]>;
  lrem(key: string, count: number | string, element: string | number): Promise<number>;
  smembers(key: string): Promise<string[]>;
  scard(key: string): Promise<number>;
  srem(key: string, ...members: (string | number)[]): Promise<number>;
  hgetall(key: string): Promise<Record<string, string>>;
  pubsub(subcommand: "NUMSUB", ...channels: string[]): Promise<unknown[]>;
  scan(
    cursor: number | string,
    matchToken: "MATCH",
    pattern: string,
    countToken: "COUNT",
    count: number | string,
  ): Promise<[cursor: string, elements: string[]]>;
  eval(script: string, numkeys: number | string, ...args: (string | number)[]): Promise<unknown>;
  evalsha(sha1: string, numkeys: number | string, ...args: (string | number)[]): Promise<unknown>;
  /** closes the connection at once; commands still waiting fail */
  disconnect(): void;
}
