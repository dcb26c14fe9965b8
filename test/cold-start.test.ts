// Cold starts: each command of the built CLI loads only what it uses. The run is preloaded with
// test/helpers/loaded-modules/preload.mjs, which lists every module (ES and CommonJS) it loaded;
// the CLI is bundled (scripts/build-cli.mjs), so a chunk it loaded stands for the sources and
// packages the build put in it (dist/cli-bundle/inputs.json): a top-level import of plist,
// handlebars, diff, clack or grammY in a module a command loads shows up here as that package.
// Run `npm run build` first: this is the built CLI.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Manifest } from "../src/core/manifest.ts";
import { createSandbox, REPO_ROOT, runCli } from "./helpers/cli.ts";
import { type Installed, installTier1 } from "./helpers/install.ts";

const redisUrl = inject("redisUrl");
const PRELOAD = join(REPO_ROOT, "test/helpers/loaded-modules/preload.mjs");
const BUILTINS_PRELOAD = join(REPO_ROOT, "test/helpers/loaded-modules/builtins.cjs");
const BUNDLE = join(REPO_ROOT, "dist/cli-bundle");
const scratch = mkdtempSync(join(tmpdir(), "gw-cold-start-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** packages no command but setup, the wizard, the daemon or a macOS install needs */
const HEAVY = ["handlebars", "plist", "diff", "@clack/prompts", "grammy", "@mariozechner/pi-coding-agent", "jiti"];

interface Loaded {
  /** npm packages, by name: from node_modules, or inside a chunk of the bundle */
  packages: Set<string>;
  /** our own modules, by their source relative to src/, inside the chunks loaded */
  own: Set<string>;
  /** the package's own files loaded (the bin, package.json, the bundle's chunks), relative to it */
  files: Set<string>;
}

let runs = 0;
const packageOf = (path: string) => /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(path)?.[1];

async function loadedBy(args: string[], env: Record<string, string>): Promise<Loaded> {
  const file = join(scratch, `run-${++runs}.txt`);
  const result = await runCli(args, { env: { ...env, NODE_OPTIONS: `--import=${PRELOAD}`, LOADED_MODULES_FILE: file } });
  expect(result.code, `${args.join(" ")}: ${result.stderr}`).not.toBeNull();
  const chunkInputs = JSON.parse(readFileSync(join(BUNDLE, "inputs.json"), "utf8")) as Record<string, string[]>;
  const paths = readFileSync(file, "utf8")
    .split("\n")
    .filter((url) => url.startsWith("file:"))
    .map((url) => fileURLToPath(url));
  const bundled = paths.filter((path) => path.startsWith(`${BUNDLE}/`)).flatMap((path) => chunkInputs[relative(BUNDLE, path)] ?? []);
  const packages = new Set([...paths, ...bundled].flatMap((path) => packageOf(path) ?? []));
  const own = new Set(bundled.filter((input) => input.startsWith("src/")).map((input) => relative("src", input)));
  const files = new Set(
    paths.map((path) => relative(REPO_ROOT, path)).filter((path) => !/^(\.\.\/|node_modules\/|test\/helpers\/loaded-modules\/)/.test(path)),
  );
  expect(files.has("bin/gateway-setup.js"), `the preload saw the bin: ${[...files].join(", ")}`).toBe(true);
  return { packages, own, files };
}

/** node's own public modules a run loaded (`crypto`, `child_process`, ...), seen by a preload that loads none */
async function builtinsLoadedBy(args: string[], env: Record<string, string>): Promise<Set<string>> {
  const file = join(scratch, `run-${++runs}.txt`);
  const result = await runCli(args, { env: { ...env, NODE_OPTIONS: `--require=${BUILTINS_PRELOAD}`, LOADED_BUILTINS_FILE: file } });
  expect(result.code, `${args.join(" ")}: ${result.stderr}`).toBe(0);
  return new Set(readFileSync(file, "utf8").split("\n").filter(Boolean));
}

const heavyIn = (loaded: Loaded) => HEAVY.filter((name) => loaded.packages.has(name));

describe("the built CLI loads only what a command uses", () => {
  let installed: Installed;
  beforeAll(async () => {
    installed = await installTier1(redisUrl);
  });
  afterAll(() => rmSync(installed.home, { recursive: true, force: true }));

  it("--help, -h, --version, -v: the bin alone answers, nothing of the CLI, no package", async () => {
    for (const arg of ["--help", "-h", "--version", "-v"]) {
      const loaded = await loadedBy([arg], createSandbox().env);
      expect([...loaded.packages, ...loaded.own], arg).toEqual([]);
      expect(
        [...loaded.files].filter((path) => path !== "bin/gateway-setup.js" && path !== "package.json"),
        arg,
      ).toEqual([]);
    }
  });

  it("doctor --help: commander and the program's own small modules, no command's module", async () => {
    const loaded = await loadedBy(["doctor", "--help"], createSandbox().env);
    expect([...loaded.packages]).toEqual(["commander"]);
    expect(loaded.own.has("cli/main.ts")).toBe(true);
    expect(
      [...loaded.own].filter(
        (path) =>
          !/^(cli\/(main|exit-codes|json-error|guard|closed-reader|command-options|quick-entry|quick-args)|core\/errors|platform\/package-root)\.ts$/.test(
            path,
          ),
      ),
    ).toEqual([]);
  });

  it("push: no commander (the quick entry reads its line), none of the heavy packages, no ioredis (the CLI has its own client)", async () => {
    const loaded = await loadedBy(["push", "job.done", "--json"], installed.env);
    expect(loaded.packages.has("commander")).toBe(false);
    expect(loaded.own.has("cli/main.ts")).toBe(false);
    expect(loaded.packages.has("ioredis")).toBe(false);
    expect(heavyIn(loaded)).toEqual([]);
    expect([...loaded.own].filter((path) => /^(components\/(?!redis\/)|plan\/|doctor\/|setup\/|wizard\/)/.test(path))).toEqual([]);
    // node:crypto is ~4 ms of a push: ids come from /dev/urandom, scripts go as text (no hash).
    // (node:module, which the code cache uses, is there already: loading it costs nothing measurable)
    const builtins = await builtinsLoadedBy(["push", "job.done"], installed.env);
    expect(builtins.has("net"), `the preload lists node's own modules: ${[...builtins].join(" ")}`).toBe(true);
    expect(["crypto", "child_process"].filter((name) => builtins.has(name))).toEqual([]);
  });

  it("doctor --json and status on a tier 1 install (Linux): no commander, none of the heavy packages, no ioredis", async () => {
    for (const args of [["doctor", "--json"], ["status"]]) {
      const loaded = await loadedBy(args, installed.env);
      expect(loaded.packages.has("commander"), args.join(" ")).toBe(false);
      expect(loaded.packages.has("ioredis"), args.join(" ")).toBe(false);
      expect(heavyIn(loaded), args.join(" ")).toEqual([]);
      // the journal's undo machinery: only doctor --fix (and a rollback) loads it
      expect(loaded.own.has("install/journal.ts"), args.join(" ")).toBe(false);
      // a tier-1 doctor runs no binary: node:child_process loads when one is run
      expect((await builtinsLoadedBy(args, installed.env)).has("child_process"), args.join(" ")).toBe(false);
    }
  });

  it("setup --dry-run --json: no clack, no grammY (no terminal to talk to, no Telegram)", async () => {
    const loaded = await loadedBy(["--tier", "1", "--dry-run", "--json", "--redis-url", redisUrl], createSandbox().env);
    expect(["@clack/prompts", "grammy", "plist"].filter((name) => loaded.packages.has(name))).toEqual([]);
  });

  it("setup --tier 1 --yes --json: no template engine, no TypeScript compiler (its self-test compares index.ts, imports the bundle natively)", async () => {
    const loaded = await loadedBy(["--tier", "1", "--yes", "--json", "--redis-url", redisUrl], createSandbox().env);
    expect(["handlebars", "jiti"].filter((name) => loaded.packages.has(name))).toEqual([]);
  });

  it("the installed extension's ioredis, run by setup's self-test on a redis:// URL, loads neither node:tls nor its Cluster (node:dns)", async () => {
    const builtins = await builtinsLoadedBy(["--tier", "1", "--yes", "--json", "--redis-url", redisUrl], createSandbox().env);
    expect(builtins.has("net"), `the preload lists node's own modules: ${[...builtins].join(" ")}`).toBe(true);
    expect(["tls", "dns"].filter((name) => builtins.has(name))).toEqual([]);
  });

  it("setup --tier 1 --yes (human output, no terminal): no clack (it draws clack's lines itself), no grammY; a fresh install does no removal", async () => {
    const sandbox = createSandbox();
    const args = ["--tier", "1", "--yes", "--redis-url", redisUrl, "--prefix", `coldstart${process.pid}`];
    const fresh = await loadedBy(args, sandbox.env);
    // the quick entry reads its command line: no commander
    expect(["commander", "@clack/prompts", "grammy", "handlebars", "jiti"].filter((name) => fresh.packages.has(name))).toEqual([]);
    expect(fresh.own.has("install/uninstall.ts")).toBe(false);
    expect(fresh.own.has("verify/host.ts")).toBe(true);
    // the re-run changes nothing: it takes nothing back and does not load the extension again
    const rerun = await loadedBy(args, sandbox.env);
    expect(["commander", "@clack/prompts"].filter((name) => rerun.packages.has(name))).toEqual([]);
    expect([...rerun.own].filter((path) => /^(install\/uninstall|verify\/host|runtime\/consumer\/consumer)\.ts$/.test(path))).toEqual([]);
    // its files still have the signatures the install recorded, so it hashes nothing: no node:crypto
    const manifest = JSON.parse(readFileSync(join(sandbox.home, ".pi/agent/gateway/manifest.json"), "utf8")) as Manifest;
    expect(manifest.files.filter((file) => file.signature).map((file) => basename(file.path))).toEqual(["index.ts", "gateway-extension.mjs"]);
    const builtins = await builtinsLoadedBy(args, sandbox.env);
    expect(builtins.has("net"), `the preload lists node's own modules: ${[...builtins].join(" ")}`).toBe(true);
    expect(builtins.has("crypto")).toBe(false);
  });
});
