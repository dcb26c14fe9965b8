// The real `crontab` binary (Debian's cron) on a private spool, and the heartbeat command run the
// way cron runs it, landing a real event in a real Redis.
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { describe, expect, inject, it } from "vitest";
import { escapeForCron, heartbeatCommandLine, unescapeAsCron } from "../src/components/heartbeat/command.ts";
import { renderSecrets } from "../src/components/redis/secrets.ts";
import { parseEvent } from "../src/runtime/protocol/event.ts";
import { sessionKeys } from "../src/runtime/protocol/keys.ts";
import { REPO_ROOT } from "./helpers/cli.ts";
import { randomPrefix } from "./helpers/extension-dir.ts";
import { startRedisServer } from "./helpers/redis-server.ts";

const redisUrl = inject("redisUrl");
const isRoot = process.getuid?.() === 0;
const redisCli = spawnSync("sh", ["-c", "command -v redis-cli"], { encoding: "utf8" }).stdout.trim();

/** runs a command line exactly as cron would: % handling, /bin/sh, an almost empty environment */
function runAsCron(cronLine: string): { status: number | null; stderr: string } {
  const result = spawnSync("/usr/bin/env", ["-i", "PATH=/usr/bin:/bin", "HOME=/nonexistent", "/bin/sh", "-c", unescapeAsCron(cronLine)], { encoding: "utf8" });
  return { status: result.status, stderr: result.stderr };
}

describe("the heartbeat command as cron runs it", () => {
  it("pushes a valid cron.heartbeat event and publishes it", async () => {
    const prefix = randomPrefix();
    const redis = new Redis(redisUrl);
    const subscriber = new Redis(redisUrl);
    try {
      const keys = sessionKeys(prefix, "gateway");
      const published: string[] = [];
      await subscriber.subscribe(keys.notify);
      subscriber.on("message", (_channel, message) => published.push(message));
      const line = escapeForCron(
        heartbeatCommandLine({
          redisCli,
          redisUrl: redisUrl.replace(/\/$/, ""),
          prefix,
          sessionId: "gateway",
          secretsFile: "/nonexistent/secrets.env",
          source: "cron",
        }),
      );
      expect(line).not.toMatch(/[^\\]%/);
      const before = Date.now();
      expect(runAsCron(line)).toMatchObject({ status: 0 });
      const raw = await redis.lindex(keys.events, 0);
      const parsed = parseEvent(raw!);
      expect(parsed.ok, raw!).toBe(true);
      if (!parsed.ok) return;
      expect(parsed.event).toMatchObject({ type: "cron.heartbeat", source: "cron", payload: {} });
      expect(parsed.event.ts).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
      expect(parsed.event.ts).toBeLessThanOrEqual(Date.now());
      // the message reaches the subscriber asynchronously: wait for it rather than a fixed 100 ms
      await expect.poll(() => published.length, { timeout: 5_000, interval: 20 }).toBeGreaterThan(0);
      expect(published).toEqual([parsed.event.id]);
      expect(runAsCron(line).status).toBe(0);
      const ids = (await redis.lrange(keys.events, 0, -1)).map((r) => JSON.parse(r).id);
      expect(new Set(ids).size).toBe(2);
      // the first run published exactly once: the next message on the channel is the second run's
      await expect.poll(() => published.length, { timeout: 5_000, interval: 20 }).toBeGreaterThan(1);
      expect(published).toEqual([parsed.event.id, ids[0]]);
    } finally {
      redis.disconnect();
      subscriber.disconnect();
    }
  });

  it("authenticates from the 0600 secrets file, with no password on the command line", async () => {
    const server = await startRedisServer({ password: "cron 'pwcronsecret' $x" });
    const dir = mkdtempSync(join(tmpdir(), "gw-cron-"));
    const secretsFile = join(dir, "secrets.env");
    writeFileSync(secretsFile, renderSecrets({ redisPassword: "cron 'pwcronsecret' $x" }), { mode: 0o600 });
    const prefix = randomPrefix();
    try {
      const line = escapeForCron(
        heartbeatCommandLine({ redisCli, redisUrl: `redis://127.0.0.1:${server.port}`, prefix, sessionId: "gateway", secretsFile, source: "cron" }),
      );
      // a word no random prefix or temp dir in the line can spell by chance ("pw" alone could)
      expect(line).not.toContain("pwcronsecret");
      expect(runAsCron(line).status).toBe(0);
      const redis = new Redis(server.url);
      expect(await redis.llen(sessionKeys(prefix, "gateway").events)).toBe(1);
      redis.disconnect();
    } finally {
      await server.stop();
    }
  });
});

describe.skipIf(!isRoot)("the real crontab binary (private spool, root only)", () => {
  it.each([
    ["no crontab at all", ""],
    [
      "a crontab with comments, env lines and another tool's block",
      "MAILTO=me@example.com\nPATH=/opt/bin:/usr/bin\n# >>> conda initialize >>>\n# <<< conda initialize <<<\n0 3 * * * /usr/local/bin/backup\n",
    ],
  ])("installs once, re-installs to the same bytes, and removes to the original: %s", (_name, original) => {
    const file = join(mkdtempSync(join(tmpdir(), "gw-crontab-")), "original");
    writeFileSync(file, original);
    const script = [
      "set -e",
      "mount -t tmpfs tmpfs /var/spool/cron",
      "mkdir -p /var/spool/cron/crontabs",
      "chgrp crontab /var/spool/cron/crontabs 2>/dev/null || true",
      "chmod 1730 /var/spool/cron/crontabs",
      `exec ${JSON.stringify(process.execPath)} ${JSON.stringify(join(REPO_ROOT, "test/fixtures/crontab-roundtrip.mjs"))} ${JSON.stringify(file)}`,
    ].join("; ");
    const result = spawnSync("unshare", ["--mount", "sh", "-c", script], { encoding: "utf8" });
    expect(result.status, result.stderr).toBe(0);
    const seen = JSON.parse(result.stdout);
    expect(seen.before).toBe("");
    expect(seen.start).toBe(original);
    expect(seen.installed.startsWith(original)).toBe(true);
    expect(seen.entries).toEqual([{ schedule: "*/15 * * * *", command: "/bin/sh -c 'date +\\%s'" }]);
    expect(seen.twice).toBe(seen.installed);
    expect(seen.after).toBe(original);
  });
});
