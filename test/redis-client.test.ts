// The CLI's own Redis client (components/redis/connection.ts) against a real redis-server: every
// RESP2 reply type, the shapes ioredis gives for the same calls, pipelining, server errors, AUTH,
// a server that never answers, a service that is not Redis, a closed port, and a connection that
// never keeps the process alive.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, it, vi } from "vitest";
import { RedisConnection } from "../src/components/redis/connection.ts";
import { connectRedis, openRedis, probeRedis } from "../src/components/redis/probe.ts";
import { NotRedisReply, type Reply, ReplyError, ReplyParser } from "../src/components/redis/resp.ts";
import { parseRedisUrl } from "../src/components/redis/url.ts";
import type { RedisClient, RedisTarget } from "../src/core/redis.ts";
import type { RedisCommands } from "../src/runtime/protocol/redis-commands.ts";
import { REPO_ROOT } from "./helpers/cli.ts";
import { asWebServer, hangingUp, startNotRedis } from "./helpers/not-redis.ts";
import { freePort, type RunningRedis, startRedisServer } from "./helpers/redis-server.ts";

const redisUrl = inject("redisUrl");
const target = parseRedisUrl(redisUrl);
const key = (name: string) => `rc-test:${process.pid}:${name}`;

describe("parseRedisUrl", () => {
  it.each([
    ["redis://127.0.0.1:6379/", { url: "redis://127.0.0.1:6379", host: "127.0.0.1", port: 6379, tls: false, db: 0 }],
    ["redis://u@h:1/2", { url: "redis://u@h:1/2", host: "h", port: 1, tls: false, db: 2 }],
    ["redis://:pw@h:1/3", { url: "redis://h:1/3", password: "pw", host: "h", port: 1, tls: false, db: 3 }],
    ["rediss://u:p%40ss@h/", { url: "rediss://u@h", password: "p@ss", host: "h", port: 6379, tls: true, db: 0 }],
    ["redis://[::1]:6380/0", { url: "redis://[::1]:6380/0", host: "::1", port: 6380, tls: false, db: 0 }],
  ])("keeps %s without its password or a trailing slash", (url, target) => {
    expect(parseRedisUrl(url)).toEqual(target);
  });
});

describe("ReplyParser", () => {
  const bulk = (text: string) => `$${Buffer.byteLength(text)}\r\n${text}\r\n`;
  const wire = Buffer.from(`+OK\r\n-ERR bad\r\n:-42\r\n${bulk("hé\r\nllo")}$-1\r\n*-1\r\n*3\r\n:1\r\n*2\r\n${bulk("x")}-E in\r\n${bulk("")}`);
  const expected = ["OK", new ReplyError("ERR bad"), -42, "hé\r\nllo", null, null, [1, ["x", new ReplyError("E in")], ""]];
  const parse = (pieces: Buffer[]) => {
    const parser = new ReplyParser();
    const replies: Reply[] = [];
    for (const piece of pieces) parser.push(piece, (reply) => replies.push(reply));
    return replies;
  };

  it("reads every reply type however the bytes are split between reads", () => {
    expect(parse([wire])).toEqual(expected);
    expect(parse([...wire].map((byte) => Buffer.from([byte])))).toEqual(expected);
    for (let cut = 1; cut < wire.length; cut++) expect(parse([wire.subarray(0, cut), wire.subarray(cut)])).toEqual(expected);
  });

  it("fails at once on bytes no reply starts with, saying what came (no line end waited for), after the replies before them", () => {
    const page = '<!DOCTYPE HTML>\n<html lang="en">\n    <head>';
    expect(() => parse([Buffer.from(page)])).toThrow(new NotRedisReply("<!DOCTYPE HTML>"));
    expect(() => parse([Buffer.from(`\x00\x01${"x".repeat(60)}`)])).toThrow(new NotRedisReply("x".repeat(38)));
    expect(() => parse([Buffer.from("HTTP/1.1 400 Bad Request\r\n")])).toThrow(new NotRedisReply("HTTP/1.1 400 Bad Request"));
    expect(() => parse([Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02])])).toThrow(new NotRedisReply(""));
    const before: Reply[] = [];
    expect(() => new ReplyParser().push(Buffer.from("+OK\r\n*2\r\n:1\r\nSSH-2.0-OpenSSH_9.2\r\n"), (reply) => before.push(reply))).toThrow(
      new NotRedisReply("SSH-2.0-OpenSSH_9.2"),
    );
    expect(before).toEqual(["OK"]);
  });
});

describe("RedisConnection against redis-server", () => {
  let client: RedisConnection;
  let reference: Redis;
  beforeAll(async () => {
    client = await openRedis(target);
    reference = new Redis(redisUrl);
  });
  afterAll(async () => {
    await client.del(...["list", "set", "hash", "text", "big", "counter", "seen:1", "seen:2"].map(key));
    client.disconnect();
    reference.disconnect();
  });

  it("reads every RESP2 reply type: simple string, error, integer, bulk, nil bulk, array, nil array, nested with an error inside", async () => {
    expect(await client.call("PING")).toBe("PONG");
    expect(await client.set(key("text"), "grüße\r\nwith a line break")).toBe("OK");
    expect(await client.get(key("text"))).toBe("grüße\r\nwith a line break");
    expect(await client.get(key("missing"))).toBeNull();
    expect(await client.call("INCRBY", key("counter"), 41)).toBe(41);
    expect(await client.call("BLPOP", key("missing"), "0.01")).toBeNull();
    const nested = (await client.eval("return {1, 'two', {3, false}, redis.error_reply('ERR inner')}", 0)) as unknown[];
    expect(nested.slice(0, 3)).toEqual([1, "two", [3, null]]);
    expect(nested[3]).toBeInstanceOf(ReplyError);
    expect((nested[3] as Error).message).toBe("ERR inner");
    await expect(client.call("NO-SUCH-COMMAND")).rejects.toThrow(/^ERR unknown command/);
  });

  it("a bulk string larger than one socket read arrives whole", async () => {
    const big = "x".repeat(3_000_000) + "é";
    await client.set(key("big"), big);
    expect(await client.get(key("big"))).toBe(big);
  });

  it("gives the same shapes as ioredis for every method it has", async () => {
    await client.del(key("list"), key("set"), key("hash"));
    await reference.rpush(key("list"), "a", "b", "c", "b");
    await reference.sadd(key("set"), "x", "y");
    await reference.hset(key("hash"), { chat: '{"at":1}', other: "2" });
    await reference.set(key("seen:1"), "1");
    await reference.set(key("seen:2"), "1");
    // the interfaces have ioredis's signatures: its client goes where the CLI's goes (the type check proves it)
    const clients: [RedisClient & RedisCommands, RedisClient & RedisCommands] = [client, reference];
    const both = async <T>(call: (redis: RedisClient) => Promise<T>) => {
      const [ours, theirs] = [await call(clients[0]), await call(clients[1])];
      expect(ours).toEqual(theirs);
      return ours;
    };
    expect(await both((r) => r.ping())).toBe("PONG");
    // INFO's text changes from call to call (the server's clock): its shape is the same
    expect(await client.info("server")).toMatch(/^# Server\r\nredis_version:/);
    expect(await both((r) => r.llen(key("list")))).toBe(4);
    expect(await both((r) => r.lindex(key("list"), -1))).toBe("b");
    expect(await both((r) => r.lindex(key("list"), 99))).toBeNull();
    expect(await both((r) => r.lrange(key("list"), 0, -1))).toEqual(["a", "b", "c", "b"]);
    expect(await both((r) => r.exists(key("list"), key("set"), key("missing")))).toBe(2);
    expect((await both((r) => r.smembers(key("set")))).sort()).toEqual(["x", "y"]);
    expect(await both((r) => r.scard(key("set")))).toBe(2);
    expect(await both((r) => r.hgetall(key("hash")))).toEqual({ chat: '{"at":1}', other: "2" });
    expect(await both((r) => r.hgetall(key("missing")))).toEqual({});
    expect(await both((r) => r.pubsub("NUMSUB", key("channel-a"), key("channel-b")))).toEqual([key("channel-a"), 0, key("channel-b"), 0]);
    const [cursor, found] = await client.scan("0", "MATCH", key("seen:*"), "COUNT", 1000);
    expect(typeof cursor).toBe("string");
    expect(Array.isArray(found)).toBe(true);
    expect(await both((r) => r.eval("return {KEYS[1], ARGV[1], 7}", 1, "k", "v"))).toEqual(["k", "v", 7]);
    expect(await client.lrem(key("list"), 1, "b")).toBe(1);
    expect(await client.srem(key("set"), "x", "z")).toBe(1);
    expect(await client.del(key("seen:1"), key("seen:2"))).toBe(2);
  });

  it("pipelines: commands sent together get their replies in order", async () => {
    await client.del(key("counter"));
    const replies = await Promise.all(Array.from({ length: 300 }, () => client.call("INCR", key("counter"))));
    expect(replies).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    const mixed = await Promise.all([client.llen(key("missing")), client.ping(), client.get(key("missing")), client.exists(key("counter"))]);
    expect(mixed).toEqual([0, "PONG", null, 1]);
  });

  it("a server error rejects with the server's text, and the connection goes on", async () => {
    const error = await client.evalsha("0".repeat(40), 0).catch((e: Error) => e);
    expect(error).toBeInstanceOf(ReplyError);
    expect((error as Error).message).toMatch(/^NOSCRIPT /);
    expect(await client.ping()).toBe("PONG");
  });

  it("a database that does not exist fails at connect, in the server's words; an existing one is selected", async () => {
    await expect(openRedis(parseRedisUrl(`${redisUrl}/99999`))).rejects.toThrow(/DB index is out of range/);
    expect(await probeRedis(parseRedisUrl(`${redisUrl}/99999`))).toEqual({
      status: "error",
      message: `Redis at 127.0.0.1:${target.port} failed: ERR DB index is out of range`,
    });
    const db3 = await openRedis(parseRedisUrl(`${redisUrl}/3`));
    try {
      await db3.set(key("in-db-3"), "here");
      expect(await client.get(key("in-db-3"))).toBeNull();
      expect(await db3.get(key("in-db-3"))).toBe("here");
      await db3.del(key("in-db-3"));
    } finally {
      db3.disconnect();
    }
  });

  it("after disconnect, a command fails at once", async () => {
    const short = await openRedis(target);
    short.disconnect();
    await expect(short.ping()).rejects.toThrow("Connection is closed.");
  });

  it("after disconnect, in a process that goes on, Redis sees the connection closed (its socket goes on the loop's next turn)", async () => {
    const admin = new Redis(redisUrl);
    try {
      const name = `rc-closed-${process.pid}`;
      const listed = async () => ((await admin.client("LIST")) as string).split("\n").some((line) => line.includes(` name=${name} `));
      const named = await openRedis(target);
      expect(await named.call("CLIENT", "SETNAME", name)).toBe("OK");
      expect(await listed()).toBe(true);
      named.disconnect();
      await vi.waitFor(async () => expect(await listed()).toBe(false), { timeout: 5_000, interval: 20 });
    } finally {
      admin.disconnect();
    }
  });
});

describe("AUTH against a password-protected redis-server", () => {
  let secured: RunningRedis;
  const password = "s3cret:/@pass";
  beforeAll(async () => {
    secured = await startRedisServer({ password });
  });
  afterAll(() => secured.stop());
  const at = (url: string, pass?: string): RedisTarget => parseRedisUrl(url, pass);
  const plain = () => `redis://127.0.0.1:${secured.port}`;

  it("authenticates with the password (from the URL or given), and says NOAUTH or WRONGPASS as the server does", async () => {
    const fromUrl = await openRedis(at(secured.url));
    expect(await fromUrl.ping()).toBe("PONG");
    fromUrl.disconnect();
    const given = await openRedis(at(plain(), password));
    expect(await given.ping()).toBe("PONG");
    given.disconnect();

    const without = await openRedis(at(plain()));
    await expect(without.ping()).rejects.toThrow(/^NOAUTH /);
    without.disconnect();
    await expect(openRedis(at(plain(), "wrong"))).rejects.toThrow(/^WRONGPASS /);
  });

  it("probes to the statuses setup and doctor report", async () => {
    expect(await probeRedis(at(plain()))).toEqual({
      status: "auth-required",
      message: `Redis at 127.0.0.1:${secured.port} requires a password and none was given (NOAUTH).`,
    });
    expect(await probeRedis(at(plain(), "wrong"))).toEqual({
      status: "auth-failed",
      message: `Redis at 127.0.0.1:${secured.port} rejected the password (WRONGPASS).`,
    });
    expect(await probeRedis(at(plain(), password))).toMatchObject({ status: "ok" });
  });

  it("an ACL user in the URL authenticates as that user", async () => {
    const admin = await openRedis(at(plain(), password));
    try {
      await admin.call("ACL", "SETUSER", "rc-alice", "on", ">alice-pw", "~*", "+@all");
      const alice = await openRedis(at(`redis://rc-alice@127.0.0.1:${secured.port}`, "alice-pw"));
      expect(await alice.call("ACL", "WHOAMI")).toBe("rc-alice");
      alice.disconnect();
      await expect(openRedis(at(`redis://rc-alice@127.0.0.1:${secured.port}`, "not-hers"))).rejects.toThrow(/^WRONGPASS /);
    } finally {
      await admin.call("ACL", "DELUSER", "rc-alice");
      admin.disconnect();
    }
  });

  it("a password given to a Redis that has none is no error", async () => {
    const connection = await openRedis(at(redisUrl, "unneeded"));
    expect(await connection.ping()).toBe("PONG");
    connection.disconnect();
  });
});

describe("a Redis that does not answer", () => {
  let silent: Server;
  let port: number;
  const sockets: Socket[] = [];
  beforeAll(async () => {
    // accepts TCP, reads, never writes a byte
    silent = createServer((socket) => {
      sockets.push(socket);
      socket.resume();
    });
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    port = (silent.address() as { port: number }).port;
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });

  it("a command times out (no hang), and the probe says no Redis answered", async () => {
    const connection = await RedisConnection.open(parseRedisUrl(`redis://127.0.0.1:${port}`), { connectMs: 200, commandMs: 200 });
    await expect(connection.ping()).rejects.toThrow("Command timed out");
    connection.disconnect();
    expect(await probeRedis(parseRedisUrl(`redis://127.0.0.1:${port}`), 200)).toEqual({
      status: "unreachable",
      message: `no Redis answered at 127.0.0.1:${port} (Command timed out).`,
    });
  });

  it("AUTH to it times out too", async () => {
    await expect(openRedis(parseRedisUrl(`redis://127.0.0.1:${port}`, "pw"), 200)).rejects.toThrow("Command timed out");
  });

  it("rediss:// to it: the TLS handshake does not complete, in the words setup shows", async () => {
    const { probe, client } = await connectRedis(parseRedisUrl(`rediss://127.0.0.1:${port}`), 200);
    expect(client).toBeUndefined();
    expect(probe).toEqual({
      status: "error",
      message:
        `the TLS handshake with Redis at 127.0.0.1:${port} did not complete (connect ETIMEDOUT). If that Redis does not use TLS, use redis:// ` +
        "instead of rediss://.",
    });
  });

  it("a server that hangs up fails the waiting command", async () => {
    const rude = await startNotRedis(hangingUp);
    try {
      const connection = await openRedis(parseRedisUrl(rude.url), 2000);
      await expect(connection.ping()).rejects.toThrow(/Connection is closed|ECONNRESET/);
      await expect(connection.ping()).rejects.toThrow("Connection is closed.");
    } finally {
      await rude.close();
    }
  });

  it("a closed port is ECONNREFUSED", async () => {
    const closed = await freePort();
    expect(await probeRedis(parseRedisUrl(`redis://127.0.0.1:${closed}`))).toEqual({
      status: "unreachable",
      message: `no Redis answered at 127.0.0.1:${closed} (connect ECONNREFUSED 127.0.0.1:${closed}).`,
    });
  });
});

describe("a service that is not Redis", () => {
  it("fails the waiting command with what it sent, and the probe says something other than Redis answered", async () => {
    const web = await startNotRedis(asWebServer);
    // writes a page without a CRLF and keeps the connection open: only its first byte tells
    const page = await startNotRedis((socket) => socket.write("<html><body>It works!</body></html>\n"));
    try {
      const connection = await openRedis(parseRedisUrl(web.url), 2000);
      await expect(connection.ping()).rejects.toThrow(new NotRedisReply("HTTP/1.1 400 Bad Request"));
      expect(await probeRedis(parseRedisUrl(web.url))).toEqual({
        status: "error",
        message: `something other than Redis answered at 127.0.0.1:${web.port}: its reply began "HTTP/1.1 400 Bad Request".`,
      });
      expect(await probeRedis(parseRedisUrl(page.url), 5000)).toEqual({
        status: "error",
        message: `something other than Redis answered at 127.0.0.1:${page.port}: its reply began "<html><body>It works!</body></html>".`,
      });
    } finally {
      await Promise.all([web.close(), page.close()]);
    }
  });
});

describe("a connection never keeps the process alive", () => {
  const scratch = mkdtempSync(join(tmpdir(), "gw-redis-client-"));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  /** Runs `body` in a child node (via jiti) and resolves with its exit code and output; the child must exit by itself. */
  async function runChild(body: string): Promise<{ code: number | null; output: string }> {
    const file = join(scratch, `child-${Math.random().toString(36).slice(2)}.ts`);
    const probeModule = join(REPO_ROOT, "src/components/redis/probe.ts");
    writeFileSync(file, `import { openRedis } from ${JSON.stringify(probeModule)};\nconst target = ${JSON.stringify(target)};\n${body}\n`);
    const child = spawn(process.execPath, [join(REPO_ROOT, "node_modules/jiti/lib/jiti-cli.mjs"), file], { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (data) => (output += data));
    child.stderr.on("data", (data) => (output += data));
    // a child kept alive by a handle would never exit: the test's own timeout ends it
    return new Promise((resolve) => child.on("exit", (code) => resolve({ code, output })));
  }

  it("after disconnect(), and while idle without one, the process exits on its own", async () => {
    const closed = await runChild(`const c = await openRedis(target); console.log(await c.ping()); c.disconnect();`);
    expect(closed).toEqual({ code: 0, output: "PONG\n" });
    const idle = await runChild(`const c = await openRedis(target); console.log(await c.llen("rc-test:none"));`);
    expect(idle).toEqual({ code: 0, output: "0\n" });
  });
});
