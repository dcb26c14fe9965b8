// The Redis the installed extension uses: the manifest's URL, and the password from the
// environment or the install's secrets file (never from the manifest), found as the extension finds it.
import type { Manifest } from "../../core/manifest.ts";
import type { RedisTarget } from "../../core/redis.ts";
import type { Env } from "../../platform/exec.ts";
import { installedRedisPassword } from "../../runtime/consumer/connection.ts";
import { secretsFilePath } from "./secrets.ts";
import { parseRedisUrl } from "./url.ts";

/** A secrets file that cannot be read leaves no password: doctor's redis check reports it as an authentication problem. */
export function redisTargetFor(manifest: Manifest, env: Env): RedisTarget {
  const { redisPasswordSet, stateDir, redisUrl } = manifest.settings;
  return parseRedisUrl(redisUrl, installedRedisPassword(env, redisPasswordSet ? secretsFilePath(stateDir) : undefined));
}
