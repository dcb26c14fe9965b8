import type { DoctorCheck, DoctorContext } from "../../core/check.ts";
import { fail, ok, warn } from "../../core/finding.ts";
import type { RedisProbe, RedisTarget } from "../../core/redis.ts";
import { rerunCommand } from "../rerun.ts";

const SLOW_PING_MS = 100;

/** Each way a probe can fail has its own fix; re-run commands keep the installed tier and settings. */
export function redisFix(probe: Exclude<RedisProbe, { status: "ok" }>, { target, manifest }: Pick<DoctorContext, "target" | "manifest">): string {
  const where = `${target.host}:${target.port}`;
  switch (probe.status) {
    case "unreachable":
      return (
        `start Redis at ${where} (macOS: brew services start redis; Linux: sudo service redis-server start); if it lives elsewhere now, re-run ` +
        `the install with the right --redis-url: ${rerunCommand(manifest)}`
      );
    case "auth-required":
    case "auth-failed":
      return `re-run the install with the right password: GATEWAY_REDIS_PASSWORD=<password> ${rerunCommand(manifest)}`;
    case "error":
      return answeredWronglyFix(probe.message, target);
  }
}

/** The fix when something answered, but not as the Redis expected: TLS trouble, or another service at that address. */
export function answeredWronglyFix(message: string, target: RedisTarget): string {
  return /^the TLS /.test(message)
    ? "if your Redis uses a private CA, run with NODE_EXTRA_CA_CERTS=/path/to/ca.pem; otherwise check the rediss:// URL and the server's certificate"
    : `check that a Redis server (not another service) listens at ${target.host}:${target.port}: redis-cli -u ${target.url} PING`;
}

export const redisCheck: DoctorCheck = {
  id: "redis",
  async run(ctx) {
    const { target, redisProbe: probe } = ctx;
    if (probe.status !== "ok") return fail("redis", probe.message, redisFix(probe, ctx));
    const message = `Redis ${probe.version ?? ""} at ${target.url} answered PING in ${probe.latencyMs} ms`.replace("  ", " ");
    return probe.latencyMs > SLOW_PING_MS ? warn("redis", `${message} (slow)`) : ok("redis", message);
  },
};
