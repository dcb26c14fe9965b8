// Issue 14 item 9: the package as `npx gateway-setup` users get it. `npm pack`, then
// `npm install ./gateway-setup-*.tgz` into an empty folder (from the npm cache first; the registry
// only for what the cache lacks), then `npx gateway-setup --tier 1 --yes` in a fresh HOME installs.
// The tarball ships the built dist/ (built by `prepack`); nothing is built at install time.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, inject, it } from "vitest";
import { REPO_ROOT, TEST_NPM_ENV } from "./helpers/cli.ts";

const root = mkdtempSync(join(tmpdir(), "gw-tarball-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const npmEnv = (home: string) => ({ ...process.env, HOME: home, ...TEST_NPM_ENV, npm_config_audit: "false", npm_config_fund: "false" });

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, output }));
  });
}

describe("the published package", () => {
  it("builds in prepack, not in prepare: installing the tarball builds nothing", () => {
    const { scripts } = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> };
    expect(scripts.prepack).toBe("npm run build");
    expect(scripts.prepare).toBeUndefined();
  });

  it("installs from its tarball into an empty folder, and `npx gateway-setup --tier 1 --yes` works there", { timeout: 180_000 }, async () => {
    const home = join(root, "home");
    const app = join(root, "app");
    mkdirSync(home);
    mkdirSync(app);
    // dist/ is what `npm test` (and prepack) built: packed as it is, so the test never writes dist/ under other tests' feet
    const pack = spawnSync("npm", ["pack", "--ignore-scripts", "--pack-destination", root, "--silent"], {
      cwd: REPO_ROOT,
      env: npmEnv(home),
      encoding: "utf8",
    });
    expect(pack.status, pack.stderr).toBe(0);
    const tarball = join(root, pack.stdout.trim().split("\n").pop()!);
    const listing = spawnSync("tar", ["tzf", tarball], { encoding: "utf8" }).stdout.split("\n");
    expect(listing).toEqual(
      expect.arrayContaining([
        "package/bin/gateway-setup.js",
        "package/dist/cli/main.js",
        "package/dist/runtime/gateway-extension.mjs",
        "package/templates/service/run-central.sh.hbs",
      ]),
    );
    // the code cache this checkout's own runs made stays out of the package (its users' runs make theirs)
    expect(listing.filter((file) => file.includes(".compile-cache"))).toEqual([]);
    // the bin is built from src/cli/front-door.ts; tsc's copy of it runs nowhere
    expect(listing.filter((file) => file.includes("dist/cli/front-door"))).toEqual([]);

    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "empty", private: true }));
    const install = await run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", tarball], app, npmEnv(home));
    expect(install.code, install.output).toBe(0);
    expect(install.output).not.toMatch(/prepare|tsc/);

    const setup = await run("npx", ["gateway-setup", "--tier", "1", "--yes", "--redis-url", inject("redisUrl"), "--prefix", `tar${process.pid}`], app, {
      ...npmEnv(home),
      PATH: process.env.PATH,
    });
    expect(setup.code, setup.output).toBe(0);
    expect(setup.output).toContain("Done.");
    expect(existsSync(join(home, ".pi/agent/extensions/gateway/gateway-extension.mjs"))).toBe(true);
    expect(existsSync(join(home, ".pi/agent/extensions/gateway/node_modules"))).toBe(false);
    // the package's first setup left V8's code cache of its chunks in the package (src/cli/compile-cache.ts)
    const cache = readdirSync(join(app, "node_modules/gateway-setup/dist/cli-bundle/.compile-cache", `node-${process.version}-${process.arch}`));
    expect(cache.filter((file) => /^setup-command\.cjs\.\d+\.\d+\.cache$/.test(file))).toHaveLength(1);
  });
});
