import { fail, ok, warn } from "../../doctor/finding.ts";
import type { DoctorCheck } from "../../doctor/check.ts";

const SLOW_PING_MS = 100;

export const redisCheck: DoctorCheck = {
  id: "redis",
  async run({ target, redisProbe: probe }) {
    if (probe.status !== "ok") {
      const fix =
        probe.status === "unreachable"
          ? `start Redis (macOS: brew services start redis; Linux: sudo service redis-server start), or re-run gateway-setup with the right --redis-url`
          : `put the right password in GATEWAY_REDIS_PASSWORD and re-run: gateway-setup --tier 1 --yes --redis-url ${target.url}`;
      return fail("redis", probe.message, fix);
    }
    const message = `Redis ${probe.version ?? ""} at ${target.url} answered PING in ${probe.latencyMs} ms`.replace("  ", " ");
    return probe.latencyMs > SLOW_PING_MS ? warn("redis", `${message} (slow)`) : ok("redis", message);
  },
};
