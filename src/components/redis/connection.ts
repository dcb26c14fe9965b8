// The CLI's Redis client: one connection for a command that runs and exits (push, doctor, status,
// setup), on node:net and node:tls instead of loading ioredis (~40 ms of each cold start).
// No reconnects, no pub/sub, no blocking reads: the extension and the daemon keep ioredis for those.
// Errors read as ioredis's did, so diagnose() in probe.ts words them the same way.
import { isIP, type Socket, connect as tcpConnect } from "node:net";
import type { RedisClient, RedisTarget } from "../../core/redis.ts";
import { type Argument, encodeCommand, type Reply, ReplyError, ReplyParser } from "./resp.ts";

export interface ConnectionTimeouts {
  /** until the TCP (and TLS) connection is up */
  connectMs: number;
  /** from sending a command until its reply */
  commandMs: number;
}

const CONNECTION_CLOSED = "Connection is closed.";

interface Waiting {
  resolve(reply: Reply): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
  /** timed out: its reply, when it comes, is dropped */
  settled: boolean;
}

export class RedisConnection implements RedisClient {
  /** replies come back in the order the commands went out */
  private readonly waiting: Waiting[] = [];
  private readonly parser = new ReplyParser();
  private unsent: Buffer[] = [];
  /** once closed: what a command sent after that fails with */
  private closed: Error | undefined;
  /** false once closed, by either side (a server's idle timeout too) */
  get isOpen(): boolean {
    return this.closed === undefined;
  }
  /** commands whose reply (or timeout) is still to come */
  private unanswered = 0;

  private constructor(
    private readonly socket: Socket,
    private readonly commandMs: number,
  ) {
    socket.setNoDelay(true);
    socket.on("data", (data: Buffer) => this.read(data));
    socket.on("error", (error: Error) => this.close(error));
    socket.on("close", () => this.close(new Error(CONNECTION_CLOSED)));
    socket.unref();
  }

  /**
   * Connects, authenticates (AUTH [user] password) and selects the URL's database; rejects with the
   * first problem: the socket's error, `connect ETIMEDOUT`, or the server's reply (WRONGPASS, a db
   * that does not exist).
   */
  static async open(target: RedisTarget, timeouts: ConnectionTimeouts): Promise<RedisConnection> {
    const socket = await connectSocket(target, timeouts.connectMs);
    const connection = new RedisConnection(socket, timeouts.commandMs);
    const auth = authArguments(target);
    // one round trip; AUTH's own error comes first (a SELECT after a failed AUTH only says NOAUTH)
    const handshake = await Promise.allSettled([
      auth ? connection.call("AUTH", ...auth).catch(ignoreUnneededPassword) : undefined,
      target.db ? connection.select(target.db) : undefined,
    ]);
    const failed = handshake.find((step) => step.status === "rejected");
    if (failed) {
      connection.disconnect();
      throw failed.reason;
    }
    return connection;
  }

  /** Sends one command; commands sent in the same tick go out in one write (a pipeline). */
  call(...args: Argument[]): Promise<Reply> {
    if (this.closed) return Promise.reject(this.closed);
    return new Promise<Reply>((resolve, reject) => {
      const entry: Waiting = {
        resolve,
        reject,
        settled: false,
        timer: setTimeout(() => {
          this.settle(entry);
          reject(new Error("Command timed out"));
        }, this.commandMs).unref(),
      };
      this.waiting.push(entry);
      // a command waiting for its reply keeps the process alive; an idle connection does not
      if (++this.unanswered === 1) this.socket.ref();
      if (this.unsent.push(encodeCommand(args)) === 1) queueMicrotask(() => this.flush());
    });
  }

  /** Closes at once (no QUIT round trip); commands still waiting fail with "Connection is closed.". */
  disconnect(): void {
    this.close(new Error(CONNECTION_CLOSED));
  }

  ping(): Promise<string> {
    return this.call("PING") as Promise<string>;
  }
  info(section: string): Promise<string> {
    return this.call("INFO", section) as Promise<string>;
  }
  select(index: number | string): Promise<"OK"> {
    return this.call("SELECT", index) as Promise<"OK">;
  }
  get(key: string): Promise<string | null> {
    return this.call("GET", key) as Promise<string | null>;
  }
  set(key: string, value: string | number): Promise<"OK"> {
    return this.call("SET", key, value) as Promise<"OK">;
  }
  del(...keys: string[]): Promise<number> {
    return this.call("DEL", ...keys) as Promise<number>;
  }
  exists(...keys: string[]): Promise<number> {
    return this.call("EXISTS", ...keys) as Promise<number>;
  }
  llen(key: string): Promise<number> {
    return this.call("LLEN", key) as Promise<number>;
  }
  lindex(key: string, index: number | string): Promise<string | null> {
    return this.call("LINDEX", key, index) as Promise<string | null>;
  }
  lrange(key: string, start: number | string, stop: number | string): Promise<string[]> {
    return this.call("LRANGE", key, start, stop) as Promise<string[]>;
  }
  lrem(key: string, count: number | string, element: string | number): Promise<number> {
    return this.call("LREM", key, count, element) as Promise<number>;
  }
  smembers(key: string): Promise<string[]> {
    return this.call("SMEMBERS", key) as Promise<string[]>;
  }
  scard(key: string): Promise<number> {
    return this.call("SCARD", key) as Promise<number>;
  }
  srem(key: string, ...members: (string | number)[]): Promise<number> {
    return this.call("SREM", key, ...members) as Promise<number>;
  }
  /** as ioredis: the field/value pairs as one object */
  async hgetall(key: string): Promise<Record<string, string>> {
    const pairs = (await this.call("HGETALL", key)) as string[];
    const object: Record<string, string> = {};
    for (let i = 0; i < pairs.length; i += 2) object[pairs[i]!] = pairs[i + 1]!;
    return object;
  }
  pubsub(subcommand: "NUMSUB", ...channels: string[]): Promise<unknown[]> {
    return this.call("PUBSUB", subcommand, ...channels) as Promise<unknown[]>;
  }
  scan(
    cursor: number | string,
    matchToken: "MATCH",
    pattern: string,
    countToken: "COUNT",
    count: number | string,
  ): Promise<[cursor: string, elements: string[]]> {
    return this.call("SCAN", cursor, matchToken, pattern, countToken, count) as Promise<[string, string[]]>;
  }
  /** a command's connection: a script's text costs less than the node:crypto its hash would load */
  readonly sendsScriptText = true;
  eval(script: string, numkeys: number | string, ...args: (string | number)[]): Promise<unknown> {
    return this.call("EVAL", script, numkeys, ...args);
  }
  evalsha(sha1: string, numkeys: number | string, ...args: (string | number)[]): Promise<unknown> {
    return this.call("EVALSHA", sha1, numkeys, ...args);
  }

  private flush(): void {
    if (this.closed || !this.unsent.length) return;
    this.socket.write(this.unsent.length === 1 ? this.unsent[0]! : Buffer.concat(this.unsent));
    this.unsent = [];
  }

  private read(data: Buffer): void {
    try {
      this.parser.push(data, (reply) => this.answer(reply));
    } catch (error) {
      this.close(error as Error);
    }
  }

  private answer(reply: Reply): void {
    const entry = this.waiting.shift();
    if (!entry) {
      this.close(new Error("Protocol error: a reply that no command asked for"));
      return;
    }
    if (entry.settled) return;
    this.settle(entry);
    clearTimeout(entry.timer);
    if (reply instanceof ReplyError) entry.reject(reply);
    else entry.resolve(reply);
  }

  private settle(entry: Waiting): void {
    entry.settled = true;
    if (--this.unanswered === 0) this.socket.unref();
  }

  private close(reason: Error): void {
    if (this.closed) return;
    this.closed = new Error(CONNECTION_CLOSED);
    // The socket goes on the event loop's next turn, which a command about to exit does not take
    // (an unref'd timer, not an immediate: those run in this turn): the exit closes it then.
    // Destroying a socket makes node create process.stderr (net's Socket._destroy compares the
    // socket with it): ~1.5-2 ms of a push whose standard error is a terminal or a pipe.
    this.socket.unref();
    setTimeout(() => this.socket.destroy(), 0).unref();
    for (const entry of this.waiting.splice(0)) {
      clearTimeout(entry.timer);
      if (!entry.settled) entry.reject(reason);
    }
  }
}

/** AUTH's arguments as ioredis sends them: a user name in the URL means AUTH user password (ACL), else AUTH password. */
function authArguments(target: RedisTarget): string[] | undefined {
  const user = decodeURIComponent(new URL(target.url).username);
  if (user) return [user, target.password ?? ""];
  return target.password ? [target.password] : undefined;
}

/** A password given to a Redis that has none is no error (ioredis only warned). */
function ignoreUnneededPassword(error: Error): Reply {
  if (/no password is set|without any password configured/.test(error.message)) return "OK";
  throw error;
}

async function connectSocket(target: RedisTarget, timeoutMs: number): Promise<Socket> {
  const { host, port } = target;
  // node:tls is loaded for rediss:// only: it costs every other command's cold start ~2 ms
  const socket = target.tls ? (await import("node:tls")).connect({ host, port, ...(isIP(host) ? {} : { servername: host }) }) : tcpConnect({ host, port });
  const connected = target.tls ? "secureConnect" : "connect";
  return new Promise((resolve, reject) => {
    const fail = (error: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    };
    const timer = setTimeout(() => fail(Object.assign(new Error("connect ETIMEDOUT"), { code: "ETIMEDOUT", syscall: "connect" })), timeoutMs);
    socket.once("error", fail);
    socket.once(connected, () => {
      clearTimeout(timer);
      socket.off("error", fail);
      resolve(socket);
    });
  });
}
