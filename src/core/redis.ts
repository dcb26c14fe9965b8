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
