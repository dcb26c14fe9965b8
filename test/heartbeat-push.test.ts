// The installed heartbeat command against a real Redis that needs a password: an error reply
// (NOAUTH, WRONGPASS) must fail loudly, and an ACL user name in the URL must reach redis-cli as
// --user, not as the password.
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { heartbeatScript, redisCliArgs } from "../src/components/heartbeat/command.ts";
import { renderSecrets } from "../src/components/redis/secrets.ts";
import { parseEvent } from "../src/runtime/protocol/event.ts";
import { randomPrefix } from "./helpers/extension-dir.ts";
import { type RunningRedis, startRedisServer } from "./helpers/redis-server.ts";

const redisCli = spawnSync("sh", ["-c", "command -v redis-cli"], { encoding: "utf8" }).stdout.trim();
let server: RunningRedis;
let admin: Redis;

beforeAll(async () => {
  server = await startRedisServer({ password: "right pass" });
  admin = new Redis(server.url);
  await admin.call("ACL", "SETUSER", "alice", "on", ">secret", "~*", "+@all");
});

afterAll(async () => {
  admin?.disconnect();
  await server?.stop();
});

/** runs the heartbeat the way a scheduler does: /bin/sh -c, a bare environment, the secrets file */
function beat(redisUrl: string, password: string | undefined) {
  const dir = mkdtempSync(join(tmpdir(), "gw-hbpush-"));
  const secretsFile = join(dir, "secrets.env");
  if (password !== undefined) writeFileSync(secretsFile, renderSecrets({ redisPassword: password }), { mode: 0o600 });
  const prefix = randomPrefix();
  const script = heartbeatScript({ redisCli, redisUrl, prefix, sessionId: "gateway", secretsFile, source: "cron" });
  const ran = spawnSync("/bin/sh", ["-c", script], { env: { PATH: "/usr/bin:/bin", HOME: dir }, encoding: "utf8" });
  return { ...ran, events: () => admin.lrange(`${prefix}:events:gateway`, 0, -1) };
}

describe("the heartbeat push", () => {
  const url = () => `redis://127.0.0.1:${server.port}`;

  it("lands an event with the right password", async () => {
    const ran = beat(url(), "right pass");
    expect(ran.status, ran.stderr).toBe(0);
    expect(ran.stderr).toBe("");
    const events = await ran.events();
    expect(events).toHaveLength(1);
    expect(parseEvent(events[0]!)).toMatchObject({ ok: true, event: { type: "cron.heartbeat" } });
  });

  it.each([
    ["a wrong password", "wrong"],
    ["no password", undefined],
  ])("exits non-zero with the error reply on stderr with %s", async (_what, password) => {
    const ran = beat(url(), password);
    expect(ran.status).toBe(1);
    expect(ran.stderr).toMatch(/gateway heartbeat: LPUSH t\w+:events:gateway failed: [\s\S]*NOAUTH/);
    expect(await ran.events()).toEqual([]);
  });

  it("authenticates an ACL user named in the URL with the password from the secrets file", async () => {
    expect(redisCliArgs("redis://alice@127.0.0.1:6379/2")).toEqual(["-u", "redis://127.0.0.1:6379/2", "--user", "alice"]);
    expect(redisCliArgs("rediss://al%40ice@example.com")).toEqual(["-u", "rediss://example.com", "--user", "al@ice", "--tls"]);
    const ran = beat(`redis://alice@127.0.0.1:${server.port}`, "secret");
    expect(ran.status, ran.stderr).toBe(0);
    expect(await ran.events()).toHaveLength(1);
    expect(beat(`redis://alice@127.0.0.1:${server.port}`, "not alice's").status).toBe(1);
  });
});
