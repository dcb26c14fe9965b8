// The installer's self-test: verifyInstalledExtension against the real thing and its failures.
import { appendFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Redis } from "ioredis";
import { describe, expect, inject, it } from "vitest";
import { verifyInstalledExtension } from "../src/verify/host.ts";
import { createExtension, randomPrefix } from "./helpers/extension-dir.ts";
import { freePort, startRedisServer } from "./helpers/redis-server.ts";

const redisUrl = inject("redisUrl");

describe("verifyInstalledExtension", () => {
  it("passes when an event goes through the installed extension, and cleans up its keys", async () => {
    const prefix = randomPrefix();
    const installed = createExtension({ prefix, redisUrl });
    const result = await verifyInstalledExtension({ ...installed, redisUrl, prefix, timeoutMs: 10_000 });
    expect(result).toMatchObject({ ok: true, sessionId: expect.stringMatching(/^verify-/) });
    const redis = new Redis(redisUrl);
    try {
      expect(await redis.keys(`${prefix}:*`)).toEqual([]);
    } finally {
      redis.disconnect();
    }
  });

  it("fails clearly and quickly when Redis is not there", async () => {
    const prefix = randomPrefix();
    const url = `redis://127.0.0.1:${await freePort()}`;
    const started = Date.now();
    const result = await verifyInstalledExtension({ ...createExtension({ prefix, redisUrl: url }), redisUrl: url, prefix, timeoutMs: 5_000 });
    expect(Date.now() - started).toBeLessThan(4_000);
    expect(result.ok).toBe(false);
    expect(result.problem).toMatch(/no Redis answered .*ECONNREFUSED/);
  });

  it("says a password is needed, and passes with it", async () => {
    const server = await startRedisServer({ password: "verify-pw" });
    try {
      const url = `redis://127.0.0.1:${server.port}`;
      const prefix = randomPrefix();
      const installed = createExtension({ prefix, redisUrl: url });
      const without = await verifyInstalledExtension({ ...installed, redisUrl: url, prefix, timeoutMs: 5_000 });
      expect(without.ok).toBe(false);
      expect(without.problem).toMatch(/requires a password.*NOAUTH/);
      const withIt = await verifyInstalledExtension({ ...installed, redisUrl: url, redisPassword: "verify-pw", prefix, timeoutMs: 10_000 });
      expect(withIt).toMatchObject({ ok: true });
    } finally {
      await server.stop();
    }
  });

  it("an ACL user named in the URL connects with the password given apart; one without EVAL is told what it lacks", async () => {
    const admin = new Redis(redisUrl);
    const prefix = randomPrefix();
    const [able, unable] = [`${prefix}-able`, `${prefix}-unable`];
    try {
      await admin.acl("SETUSER", able, "on", ">able-pw", "~*", "&*", "+@all");
      await admin.acl("SETUSER", unable, "on", ">unable-pw", "~*", "&*", "+@all", "-eval", "-evalsha");
      const url = (user: string) => redisUrl.replace("redis://", `redis://${user}@`);
      const withUser = await verifyInstalledExtension({
        ...createExtension({ prefix, redisUrl: url(able) }),
        redisUrl: url(able),
        redisPassword: "able-pw",
        prefix,
        timeoutMs: 10_000,
      });
      expect(withUser).toMatchObject({ ok: true });
      const started = Date.now();
      const forbidden = await verifyInstalledExtension({
        ...createExtension({ prefix, redisUrl: url(unable) }),
        redisUrl: url(unable),
        redisPassword: "unable-pw",
        prefix,
        timeoutMs: 10_000,
      });
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(forbidden.ok).toBe(false);
      expect(forbidden.problem).toMatch(/may not do what the gateway needs \(NOPERM .*'eval'.*\)\. It needs EVAL\/EVALSHA/);
    } finally {
      await admin.acl("DELUSER", able, unable);
      admin.disconnect();
    }
  });

  it("reports an extension whose bundle is missing instead of hanging", async () => {
    const prefix = randomPrefix();
    const installed = createExtension({ prefix, redisUrl, withBundle: false });
    const result = await verifyInstalledExtension({ ...installed, redisUrl, prefix, timeoutMs: 5_000 });
    expect(result.ok).toBe(false);
    expect(result.problem).toMatch(/^gateway: cannot load \.\/gateway-extension\.mjs \(.*\), so Redis events are not delivered\.$/);
  });

  it("fails when index.ts is not what setup rendered, or is missing (it is compared, not compiled)", async () => {
    const prefix = randomPrefix();
    const installed = createExtension({ prefix, redisUrl });
    const index = join(installed.extensionDir, "index.ts");
    appendFileSync(index, "// an edit that still compiles\n");
    const edited = await verifyInstalledExtension({ ...installed, redisUrl, prefix, timeoutMs: 5_000 });
    expect(edited).toMatchObject({ ok: false, problem: `${index} is not the file setup rendered` });
    rmSync(index);
    const missing = await verifyInstalledExtension({ ...installed, redisUrl, prefix, timeoutMs: 5_000 });
    expect(missing).toMatchObject({ ok: false, problem: `${index} is missing` });
  });
});
