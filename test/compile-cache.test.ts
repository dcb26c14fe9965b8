// V8's code cache for the CLI's chunks (src/cli/compile-cache.ts), on a copy of the built package
// of this test's own: the first run of a command writes the cache of each chunk it compiled, the
// next hands it back to V8, which takes it; a cache V8 refuses, a folder that cannot hold one, or
// the switch that turns it off change nothing a user sees.
import { spawn } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, inject, it } from "vitest";
import { REPO_ROOT } from "./helpers/cli.ts";

const redisUrl = inject("redisUrl");
const root = mkdtempSync(join(tmpdir(), "gw-compile-cache-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

// records, at exit, whether V8 took each cache it was given
const RECORDER = join(root, "record-cache-use.cjs");
writeFileSync(
  RECORDER,
  `const vm = require("node:vm");
const { writeSync } = require("node:fs");
const Script = vm.Script;
vm.Script = class extends Script {
  constructor(code, options) {
    super(code, options);
    if (!options || !options.cachedData) return;
    const chunk = require("node:path").basename(options.filename);
    process.on("exit", () => writeSync(2, "code cache " + chunk + (this.cachedDataRejected ? " refused" : " taken") + "\\n"));
  }
};
`,
);

let copies = 0;
/** bin/ and dist/cli-bundle/ as the package ships them, without any cache */
function packageCopy(): { dir: string; cacheDir: string } {
  const dir = join(root, `package-${++copies}`);
  mkdirSync(join(dir, "dist"), { recursive: true });
  cpSync(join(REPO_ROOT, "bin"), join(dir, "bin"), { recursive: true });
  cpSync(join(REPO_ROOT, "package.json"), join(dir, "package.json"));
  cpSync(join(REPO_ROOT, "dist/cli-bundle"), join(dir, "dist/cli-bundle"), { recursive: true, filter: (source) => !source.includes(".compile-cache") });
  return { dir, cacheDir: join(dir, "dist/cli-bundle/.compile-cache", `node-${process.version}-${process.arch}`) };
}

function push(dir: string, env: Record<string, string> = {}, url = redisUrl): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const home = mkdtempSync(join(root, "home-"));
    const args = ["-r", RECORDER, join(dir, "bin/gateway-setup.js"), "push", "job.done", "--redis-url", url, "--prefix", `cc${process.pid}`];
    const child = spawn(process.execPath, args, { env: { PATH: process.env.PATH!, HOME: home, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** the chunk a cache file is of (`<chunk>.<size>.<mtime>.cache`) */
const chunkOf = (cacheFile: string) => cacheFile.replace(/\.\d+\.\d+\.cache$/, "");

const PUSH_CHUNKS = () => {
  const text = readFileSync(join(REPO_ROOT, "dist/cli-bundle/push-entry.cjs"), "utf8");
  return ["push-entry.cjs", ...[...text.matchAll(/require\("\.\/([\w-]+\.cjs)"\)/g)].map((m) => m[1]!)];
};

describe("the code cache of the CLI's chunks", () => {
  it("is written by a command's first run for each chunk it compiled, whole, and taken by V8 on the next", async () => {
    const { dir, cacheDir } = packageCopy();
    const first = await push(dir);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^pushed job\.done /);
    expect(first.stderr).toBe("");
    expect(readdirSync(cacheDir).map(chunkOf).sort()).toEqual(PUSH_CHUNKS().sort());

    const second = await push(dir);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/^pushed job\.done /);
    expect(second.stderr.trim().split("\n").sort()).toEqual(
      PUSH_CHUNKS()
        .map((chunk) => `code cache ${chunk} taken`)
        .sort(),
    );
  });

  it("a run that fails (no Redis) leaves a partial cache; the next run that succeeds starts from it and writes the whole one", async () => {
    const { dir, cacheDir } = packageCopy();
    const failed = await push(dir, {}, "redis://127.0.0.1:1");
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain("no Redis answered at 127.0.0.1:1");
    const partial = readdirSync(cacheDir);
    expect(partial.map((file) => file.replace(/\.\d+\.\d+\.partial\.cache$/, "")).sort()).toEqual(PUSH_CHUNKS().sort());
    const partialSize = statSync(join(cacheDir, partial.find((file) => file.startsWith("push-entry.cjs."))!)).size;

    const pushed = await push(dir);
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(pushed.stderr).toContain("code cache push-entry.cjs taken");
    const whole = readdirSync(cacheDir);
    expect(whole.map(chunkOf).sort()).toEqual(PUSH_CHUNKS().sort());
    // what the push compiled after Redis answered is in it now
    const wholeSize = statSync(join(cacheDir, whole.find((file) => file.startsWith("push-entry.cjs."))!)).size;
    expect(wholeSize).toBeGreaterThan(partialSize);

    const next = await push(dir);
    expect(next.stderr.trim().split("\n").sort()).toEqual(
      PUSH_CHUNKS()
        .map((chunk) => `code cache ${chunk} taken`)
        .sort(),
    );
    expect(readdirSync(cacheDir)).toEqual(whole);
  });

  it("a cache V8 refuses (not its own) is compiled past and written again; runs side by side leave whole caches", async () => {
    const { dir, cacheDir } = packageCopy();
    mkdirSync(cacheDir, { recursive: true });
    const { size, mtimeMs } = statSync(join(dir, "dist/cli-bundle/push-entry.cjs"));
    writeFileSync(join(cacheDir, `push-entry.cjs.${size}.${Math.trunc(mtimeMs)}.cache`), "not a code cache");
    const refused = await push(dir);
    expect(refused.code, refused.stderr).toBe(0);
    expect(refused.stderr).toContain("code cache push-entry.cjs refused");
    const runs = await Promise.all(Array.from({ length: 4 }, () => push(dir)));
    for (const run of runs) expect(run.code, run.stderr).toBe(0);
    const after = await push(dir);
    expect(after.stderr.trim().split("\n").sort()).toEqual(
      PUSH_CHUNKS()
        .map((chunk) => `code cache ${chunk} taken`)
        .sort(),
    );
    expect(readdirSync(cacheDir).filter((file) => !file.endsWith(".cache"))).toEqual([]);
  });

  it("a chunk changed in place, even to the same length, runs its new text, not the old one's cache", async () => {
    const { dir } = packageCopy();
    expect((await push(dir)).stdout).toMatch(/^pushed job\.done /);
    const chunk = join(dir, "dist/cli-bundle/push-entry.cjs");
    const text = readFileSync(chunk, "utf8");
    expect(text).toContain("`pushed ${");
    writeFileSync(chunk, text.replace("`pushed ${", "`PUSHED ${"));
    utimesSync(chunk, new Date(), new Date(Date.now() + 5_000));
    const changed = await push(dir);
    expect(changed.code, changed.stderr).toBe(0);
    expect(changed.stdout).toMatch(/^PUSHED job\.done /);
  });

  it("a folder that cannot hold the cache, or NODE_DISABLE_COMPILE_CACHE, changes nothing the user sees", async () => {
    const blocked = packageCopy();
    writeFileSync(join(blocked.dir, "dist/cli-bundle/.compile-cache"), "a file where the cache folder would go");
    const noFolder = await push(blocked.dir);
    expect(noFolder.code, noFolder.stderr).toBe(0);
    expect(noFolder.stdout).toMatch(/^pushed job\.done /);
    expect(noFolder.stderr).toBe("");

    const off = packageCopy();
    const disabled = await push(off.dir, { NODE_DISABLE_COMPILE_CACHE: "1" });
    expect(disabled.code, disabled.stderr).toBe(0);
    expect(disabled.stdout).toMatch(/^pushed job\.done /);
    expect(existsSync(join(off.dir, "dist/cli-bundle/.compile-cache"))).toBe(false);
  });
});
