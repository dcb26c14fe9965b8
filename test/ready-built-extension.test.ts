// The extension ships ready-built: setup copies the package's bundle (ioredis inside) and runs no
// npm, so it works with no network at all; a newer package's bundle replaces the installed one on
// the next run; an install an older version made (lib/ sources, package.json, npm's node_modules)
// is taken back by a re-run; a damaged bundle fails verification and is rolled back.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { appendFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, inject, it } from "vitest";
import type { Manifest } from "../src/core/manifest.ts";
import { type CliResult, createSandbox, REPO_ROOT, runCli, runningText, type Sandbox } from "./helpers/cli.ts";
import { freePort } from "./helpers/redis-server.ts";
import { snapshotTree } from "./helpers/tree.ts";

const redisUrl = inject("redisUrl");
const BUNDLE = "gateway-extension.mjs";
const packagedBundle = () => readFileSync(join(REPO_ROOT, "dist/runtime", BUNDLE), "utf8");
const extensionDir = (sandbox: Sandbox) => join(sandbox.home, ".pi/agent/extensions/gateway");
const temps: string[] = [];
afterAll(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

/** A copy of the built package (its node_modules linked), whose bundle a test may change. */
function packageCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), "gw-package-"));
  temps.push(dir);
  for (const name of ["bin", "dist", "templates", "schemas", "package.json"]) cpSync(join(REPO_ROOT, name), join(dir, name), { recursive: true });
  symlinkSync(join(REPO_ROOT, "node_modules"), join(dir, "node_modules"));
  return dir;
}

function runPackage(packageDir: string, args: string[], env: Record<string, string>): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(packageDir, "bin/gateway-setup.js"), ...args], { env, timeout: 60_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** An npm first on PATH that writes down every call and fails: it must stay unused. */
function recordingNpm(sandbox: Sandbox): string {
  const calls = join(sandbox.bin, "npm-calls.log");
  sandbox.standIn("npm", `#!/bin/sh\necho "npm $*" >> "${calls}"\nexit 1\n`);
  return calls;
}

describe("the ready-built extension", () => {
  it("sets up with the network cut off and never runs npm", async () => {
    const sandbox = createSandbox();
    const calls = recordingNpm(sandbox);
    const closed = `http://127.0.0.1:${await freePort()}`;
    const offline = {
      ...sandbox.env,
      npm_config_registry: "http://127.0.0.1:9/",
      npm_config_offline: "true",
      HTTP_PROXY: closed,
      HTTPS_PROXY: closed,
      http_proxy: closed,
      https_proxy: closed,
      NO_PROXY: "",
      no_proxy: "",
    };
    const result = await runCli(["--tier", "1", "--yes", "--json", "--redis-url", redisUrl], { env: offline });
    expect(result.code, result.stdout + result.stderr).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.verification.find((check: { id: string }) => check.id === "extension-delivery")).toMatchObject({ status: "ok" });
    expect(report.plan.steps.filter((step: { kind: string }) => step.kind === "command")).toEqual([]);
    expect(existsSync(calls)).toBe(false);
    expect(readdirSync(extensionDir(sandbox)).sort()).toEqual(["gateway-extension.mjs", "index.ts"]);
    expect(readFileSync(join(extensionDir(sandbox), BUNDLE), "utf8")).toBe(packagedBundle());
  });

  it("a newer package's bundle replaces the installed one on the next run (doctor meanwhile says to re-run)", async () => {
    const sandbox = createSandbox();
    const pkg = packageCopy();
    const args = ["--tier", "1", "--yes", "--redis-url", redisUrl];
    const first = await runPackage(pkg, args, sandbox.env);
    expect(first.code, first.stdout + first.stderr).toBe(0);
    const installed = join(extensionDir(sandbox), BUNDLE);
    expect(readFileSync(installed, "utf8")).toBe(packagedBundle());

    // the upgrade: the package now ships another build
    appendFileSync(join(pkg, "dist/runtime", BUNDLE), "// a newer build\n");
    const newer = readFileSync(join(pkg, "dist/runtime", BUNDLE), "utf8");
    rmSync(installed);
    const doctor = JSON.parse((await runPackage(pkg, ["doctor", "--json", "--only", "extension-deps"], sandbox.env)).stdout);
    // the recorded bundle is not the package's any more: only a re-run can bring the installed one up to date
    expect(doctor.checks[0]).toMatchObject({ status: "fail", fix: expect.stringMatching(/^re-run the install: gateway-setup --tier 1 /) });

    const again = await runPackage(pkg, args, sandbox.env);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(runningText(again.stdout)).toMatch(/new\s+~\/\.pi\/agent\/extensions\/gateway\/gateway-extension\.mjs \(644\)/);
    expect(readFileSync(installed, "utf8")).toBe(newer);
    const manifest = JSON.parse(readFileSync(join(sandbox.home, ".pi/agent/gateway/manifest.json"), "utf8")) as Manifest;
    expect(manifest.files.find((file) => file.path === installed)?.sha256).toBe(createHash("sha256").update(newer).digest("hex"));

    appendFileSync(join(pkg, "dist/runtime", BUNDLE), "// newer still\n");
    const third = await runPackage(pkg, [...args, "--json"], sandbox.env);
    expect(third.code, third.stderr).toBe(0);
    expect(JSON.parse(third.stdout).plan.steps.find((step: { path?: string }) => step.path === installed)).toMatchObject({ change: "changed", built: true });
    expect(readFileSync(installed, "utf8")).toBe(readFileSync(join(pkg, "dist/runtime", BUNDLE), "utf8"));
  });

  it("a damaged bundle in the package fails verification, said once and rolled back", async () => {
    const sandbox = createSandbox();
    const pkg = packageCopy();
    writeFileSync(join(pkg, "dist/runtime", BUNDLE), "export const createGatewayExtension = (;\n");
    const result = await runPackage(pkg, ["--tier", "1", "--yes", "--redis-url", redisUrl], sandbox.env);
    expect(result.code).toBe(1);
    const text = runningText(result.stdout + result.stderr);
    expect(text.match(/did not deliver a test event/g)).toHaveLength(1);
    expect(text).toMatch(/cannot load \.\/gateway-extension\.mjs \(.*\), so Redis events are not delivered\. Every change was rolled back\./);
    expect(snapshotTree(sandbox.home)).toEqual({});
  });

  it("a re-run takes back what an older version installed: lib/ sources, package.json, and npm's node_modules and lock", async () => {
    const sandbox = createSandbox();
    const before = snapshotTree(sandbox.home);
    const old = olderInstall(sandbox);
    const calls = recordingNpm(sandbox);

    const doctor = JSON.parse((await runCli(["doctor", "--json", "--only", "extension-deps"], { env: sandbox.env })).stdout);
    expect(doctor.checks[0]).toMatchObject({ status: "warn", fix: expect.stringMatching(/^re-run the install: /) });

    const dry = await runCli([...old.args, "--dry-run"], { env: sandbox.env });
    expect(dry.code, dry.stderr).toBe(0);
    expect(runningText(dry.stdout)).toContain("remove ~/.pi/agent/extensions/gateway/node_modules/ (and everything in it)");
    expect(runningText(dry.stdout)).toMatch(/remove ~\/\.pi\/agent\/extensions\/gateway\/lib\/protocol\/ .*drain\.ts/);

    const rerun = await runCli([...old.args, "--yes"], { env: sandbox.env });
    expect(rerun.code, rerun.stdout + rerun.stderr).toBe(0);
    expect(Object.keys(snapshotTree(extensionDir(sandbox))).sort()).toEqual(["gateway-extension.mjs", "index.ts"]);
    expect(existsSync(calls)).toBe(false);
    const fine = JSON.parse((await runCli(["doctor", "--json", "--only", "extension-files", "--only", "extension-deps"], { env: sandbox.env })).stdout);
    expect(fine.checks.map((check: { status: string }) => check.status)).toEqual(["ok", "ok"]);

    const uninstall = await runCli(["uninstall", "--yes"], { env: sandbox.env });
    expect(uninstall.code, uninstall.stderr).toBe(0);
    expect(snapshotTree(sandbox.home)).toEqual(before);
  });
});

/**
 * What gateway-setup 0.1.0 before the ready-built extension left in a home: index.ts importing
 * ./lib/extension/gateway.ts, the runtime's TypeScript under lib/, a package.json asking for
 * ioredis, npm's node_modules and package-lock.json, and a manifest that records them all (the
 * files with their sha256, npm install as a command that created node_modules and the lock, the
 * folders it created), as that version's own manifest has them.
 */
function olderInstall(sandbox: Sandbox): { args: string[] } {
  const dir = extensionDir(sandbox);
  const stateDir = join(sandbox.home, ".pi/agent/gateway");
  const prefix = `t${Math.random().toString(36).slice(2, 8)}`;
  const args = ["--tier", "1", "--redis-url", redisUrl, "--prefix", prefix];
  const files: Manifest["files"] = [];
  const write = (path: string, contents: string) => {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, contents, { mode: 0o644 });
    files.push({ path, component: "extension", sha256: createHash("sha256").update(contents).digest("hex"), mode: 0o644, original: { existed: false } });
  };
  write(
    join(dir, "index.ts"),
    `import { createGatewayExtension } from "./lib/extension/gateway.ts";\nexport const gatewayConfig = { prefix: "${prefix}" };\n` +
      "export default createGatewayExtension(gatewayConfig);\n",
  );
  write(join(dir, "package.json"), `${JSON.stringify({ name: "pi-extension-gateway", private: true, dependencies: { ioredis: "^5.11.1" } }, null, 2)}\n`);
  for (const folder of ["protocol", "consumer", "extension"]) {
    const source = join(REPO_ROOT, "src/runtime", folder);
    for (const name of readdirSync(source).filter((file) => file.endsWith(".ts")))
      write(join(dir, "lib", folder, name), readFileSync(join(source, name), "utf8"));
  }
  // what npm install made
  mkdirSync(join(dir, "node_modules/ioredis"), { recursive: true });
  writeFileSync(join(dir, "node_modules/ioredis/package.json"), '{ "name": "ioredis", "version": "5.11.1" }\n');
  writeFileSync(join(dir, "package-lock.json"), '{ "lockfileVersion": 3 }\n');
  const settings = {
    tier: 1,
    mode: "single",
    sessionId: "main",
    prefix,
    redisUrl,
    redisPasswordSet: false,
    scope: "global",
    agentDir: join(sandbox.home, ".pi/agent"),
    extensionDir: dir,
    stateDir,
    manifestPath: join(stateDir, "manifest.json"),
  };
  const manifest = {
    tool: "gateway-setup",
    formatVersion: 1,
    version: "0.1.0",
    command: `gateway-setup ${args.join(" ")} --yes`,
    installedAt: new Date().toISOString(),
    updatedAt: new Date().toISOString(),
    settings,
    files,
    commands: [
      {
        component: "extension",
        argv: ["npm", "install", "--omit=dev", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd: dir,
        creates: [join(dir, "node_modules"), join(dir, "package-lock.json")],
      },
    ],
    createdDirs: [".pi", ".pi/agent", ".pi/agent/gateway", ".pi/agent/extensions", ".pi/agent/extensions/gateway"]
      .map((path) => join(sandbox.home, path))
      .concat(["lib", "lib/protocol", "lib/consumer", "lib/extension"].map((path) => join(dir, path))),
  };
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  writeFileSync(settings.manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  return { args };
}
