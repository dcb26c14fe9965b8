import { readFileSync, realpathSync } from "node:fs";
import { dirname, join } from "node:path";
import type { DoctorCheck } from "../../core/check.ts";
import { ok, warn } from "../../core/finding.ts";
import { type Env, run, which } from "../../platform/exec.ts";

const PI_PACKAGE = "@mariozechner/pi-coding-agent";
const INSTALL_PI = `npm install -g ${PI_PACKAGE}`;

/**
 * pi's version from the package its `pi` command belongs to: reading a package.json takes
 * milliseconds where starting pi (`pi --version`) takes about a second.
 */
function packageVersion(binary: string): string | undefined {
  let dir: string;
  try {
    dir = dirname(realpathSync(binary));
  } catch {
    return undefined;
  }
  for (; dir !== dirname(dir); dir = dirname(dir)) {
    try {
      const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: string; version?: string };
      if (manifest.name === PI_PACKAGE && manifest.version) return manifest.version;
      if (manifest.name) return undefined; // inside some other package: not an npm-installed pi
    } catch {
      // no package.json here: keep walking up
    }
  }
  return undefined;
}

async function versionFromPi(env: Env): Promise<string | undefined> {
  const result = await run("pi", ["--version"], { env, timeoutMs: 15_000 });
  const version = result.stdout.trim() || result.stderr.trim();
  return result.code === 0 && version ? version : undefined;
}

export const piCheck: DoctorCheck = {
  id: "pi",
  async run({ env }) {
    const binary = which("pi", env);
    if (!binary) return warn("pi", "pi is not on PATH", INSTALL_PI);
    const version = packageVersion(binary) ?? (await versionFromPi(env));
    return version ? ok("pi", `pi ${version} is installed`) : warn("pi", `pi --version failed (${binary})`, INSTALL_PI);
  },
};
