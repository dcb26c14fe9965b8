// Session claims against the real redis-server: one owner per session id, a dead owner on this
// machine taken over by exactly one successor, release only of one's own claim.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { hostname } from "node:os";
import { Redis } from "ioredis";
import { afterAll, describe, expect, inject, it } from "vitest";
import { aliveKey, sessionsRegistryKey } from "../src/runtime/protocol/keys.ts";
import { claimSession, isPidRunning, newOwner, releaseSession } from "../src/runtime/protocol/sessions.ts";
import { randomPrefix } from "./helpers/extension-dir.ts";
import { waitFor } from "./helpers/wait.ts";

const redis = new Redis(inject("redisUrl"));
const other = new Redis(inject("redisUrl"));
afterAll(() => {
  redis.disconnect();
  other.disconnect();
});

/** a pid no process has: the kernel's pid_max is below this */
const DEAD_PID = 4_194_304 + 17;

describe("isPidRunning", () => {
  it("is false for a killed process its parent has not reaped (a zombie still answers kill(pid, 0))", async () => {
    // the short sleep's parent execs into a long sleep that never waits for it
    const parent = spawn("/bin/sh", ["-c", "sleep 1 & echo $!; exec sleep 30"], { stdio: ["ignore", "pipe", "ignore"] });
    try {
      const [line] = (await once(parent.stdout!, "data")) as [Buffer];
      const orphan = Number(line.toString().trim());
      expect(isPidRunning(orphan)).toBe(true);
      await waitFor(() => !isPidRunning(orphan), "the killed sleep to count as not running", 5_000);
      expect(isPidRunning(orphan)).toBe(false);
      expect(() => process.kill(orphan, 0)).not.toThrow(); // still there, as a zombie
      expect(isPidRunning(parent.pid!)).toBe(true);
    } finally {
      parent.kill("SIGKILL");
    }
  });
});

describe("session claims", () => {
  it("refuses a second owner while the first holds the id, and refreshes the first", async () => {
    const prefix = randomPrefix();
    const first = newOwner(Date.now());
    const second = newOwner(Date.now());
    expect(first.owner).not.toBe(second.owner); // same process, still two owners
    expect(await claimSession(redis, prefix, "gateway", 60, first)).toEqual({ ok: true });
    expect(await claimSession(redis, prefix, "gateway", 60, second)).toEqual({ ok: false, holder: first });
    expect(await claimSession(redis, prefix, "gateway", 60, first)).toEqual({ ok: true });
    expect(await redis.sismember(sessionsRegistryKey(prefix), "gateway")).toBe(1);
  });

  it("lets exactly one of two sessions that start together take over from a dead owner on this machine", async () => {
    for (let round = 0; round < 20; round++) {
      const prefix = randomPrefix();
      await redis.set(aliveKey(prefix, "gateway"), JSON.stringify(newOwner(1, DEAD_PID)), "EX", 60);
      const [a, b] = [newOwner(Date.now()), newOwner(Date.now())];
      const results = await Promise.all([claimSession(redis, prefix, "gateway", 60, a), claimSession(other, prefix, "gateway", 60, b)]);
      expect(results.filter((r) => r.ok)).toHaveLength(1);
      const holder = JSON.parse((await redis.get(aliveKey(prefix, "gateway")))!);
      expect([a.owner, b.owner]).toContain(holder.owner);
    }
  });

  it("keeps a claim its own when the machine's hostname changes", async () => {
    const prefix = randomPrefix();
    const renamed = newOwner(Date.now(), process.pid, `${hostname()}-before-rename`);
    expect(await claimSession(redis, prefix, "gateway", 60, renamed)).toEqual({ ok: true });
    expect(await claimSession(redis, prefix, "gateway", 60, renamed)).toEqual({ ok: true });
  });

  it("releases only its own claim", async () => {
    const prefix = randomPrefix();
    const first = newOwner(Date.now());
    const second = newOwner(Date.now());
    await claimSession(redis, prefix, "main", 60, first);
    expect(await releaseSession(redis, prefix, "main", second)).toBe(false);
    expect(await redis.exists(aliveKey(prefix, "main"))).toBe(1);
    expect(await releaseSession(redis, prefix, "main", first)).toBe(true);
    expect(await redis.exists(aliveKey(prefix, "main"))).toBe(0);
    expect(await redis.sismember(sessionsRegistryKey(prefix), "main")).toBe(0);
  });
});
