// The Redis the installed extension uses: the manifest's URL, and the password from the
// environment or the install's secrets file (never from the manifest).
import { readFileSync } from "node:fs";
import type { Manifest } from "../../core/manifest.ts";
import type { RedisTarget } from "../../core/redis.ts";
import type { Env } from "../../platform/exec.ts";
import { parseSecrets } from "../../runtime/consumer/secrets.ts";
import { secretsFilePath } from "./secrets.ts";
import { parseRedisUrl } from "./url.ts";

export function redisTargetFor(manifest: Manifest, env: Env): RedisTarget {
  let password = env.GATEWAY_REDIS_PASSWORD;
  if (!password && manifest.settings.redisPasswordSet) {
    try {
      password = parseSecrets(readFileSync(secretsFilePath(manifest.settings.stateDir), "utf8")).GATEWAY_REDIS_PASSWORD;
    } catch {
      // reported by doctor's redis check as an authentication problem
    }
  }
  return parseRedisUrl(manifest.settings.redisUrl, password);
}
