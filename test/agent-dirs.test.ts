// Two tier-2 installs for two agent dirs in one HOME (issue 14 item 1): each has its own crontab
// block, tmux server and session, service label and state, doctor finds its own block, and they
// uninstall independently; a block the user edited is kept by uninstall and named.
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { BLOCK_BEGIN, blockBegin, blockEnd, KEPT_BEGIN, readCronEntries } from "../src/components/crontab/block.ts";
import { agentDirTag } from "../src/plan/settings.ts";
import { createSandbox, REPO_ROOT, runCli } from "./helpers/cli.ts";
import { randomPrefix } from "./helpers/extension-dir.ts";
import { snapshotTree } from "./helpers/tree.ts";

const redisUrl = inject("redisUrl");

describe("two agent dirs side by side", () => {
  it("keep their own crontab blocks, tmux sessions and labels, and uninstall independently", async () => {
    const sandbox = createSandbox();
    const crontabFile = join(sandbox.bin, "crontab.txt");
    const original = "MAILTO=me@example.com\n0 3 * * * /usr/local/bin/backup\n";
    writeFileSync(crontabFile, original);
    sandbox.standIn(
      "crontab",
      `#!/bin/sh\nF=${JSON.stringify(crontabFile)}\ncase "$1" in\n` +
        `-l) [ -f "$F" ] && cat "$F" && exit 0; echo "no crontab for tester" >&2; exit 1;;\n-r) rm -f "$F";;\n-) cat > "$F";;\nesac\n`,
    );
    sandbox.standIn("pgrep", `#!/bin/sh\n[ "$*" = "-x cron" ]\n`);
    const base = { ...sandbox.env, PATH: `${sandbox.bin}:${join(REPO_ROOT, "node_modules/.bin")}:${process.env.PATH}` };
    const dirA = join(sandbox.home, "a");
    const dirB = join(sandbox.home, "b");
    const envA = { ...base, PI_CODING_AGENT_DIR: dirA };
    const envB = { ...base, PI_CODING_AGENT_DIR: dirB };
    const install = (env: Record<string, string>) =>
      runCli(["--tier", "2", "--yes", "--json", "--redis-url", redisUrl, "--prefix", randomPrefix(), "--service", "none", "--heartbeat", "cron"], { env });
    const doctorCrontab = async (env: Record<string, string>) =>
      JSON.parse((await runCli(["doctor", "--json", "--only", "crontab"], { env })).stdout).checks[0];
    const tagA = agentDirTag(dirA, base)!;
    const tagB = agentDirTag(dirB, base)!;

    const a = await install(envA);
    expect(a.code, a.stdout + a.stderr).toBe(0);
    const settingsA = JSON.parse(a.stdout).plan.settings;
    expect(settingsA).toMatchObject({
      crontabBlock: tagA,
      service: { name: `dev.gateway-setup.pi-central.${tagA}`, tmuxSession: `pi-gateway-${tagA}`, tmuxSocket: `pi-gateway-${tagA}` },
    });
    expect(JSON.parse(readFileSync(join(dirA, "gateway/manifest.json"), "utf8")).settings.crontabBlock).toBe(tagA);
    expect(readFileSync(join(dirA, "gateway/run-central.sh"), "utf8")).toContain(`-L pi-gateway-${tagA} `);
    const afterA = readFileSync(crontabFile, "utf8");
    const treeA = snapshotTree(dirA);

    const b = await install(envB);
    expect(b.code, b.stdout + b.stderr).toBe(0);
    expect(JSON.parse(b.stdout).plan.settings).toMatchObject({ crontabBlock: tagB, service: { tmuxSession: `pi-gateway-${tagB}` } });
    const both = readFileSync(crontabFile, "utf8");
    expect(both.startsWith(afterA)).toBe(true);
    expect(both).toContain(blockBegin(tagA));
    expect(both).toContain(blockBegin(tagB));
    expect(both).not.toContain(BLOCK_BEGIN);
    expect(readCronEntries(both, tagA)![0]!.command).toContain(join(dirA, "gateway"));
    expect(readCronEntries(both, tagB)![0]!.command).toContain(join(dirB, "gateway"));
    expect(await doctorCrontab(envA)).toMatchObject({ status: "ok" });
    expect(await doctorCrontab(envB)).toMatchObject({ status: "ok" });

    const uninstallB = await runCli(["uninstall", "--yes"], { env: envB });
    expect(uninstallB.code, uninstallB.stderr).toBe(0);
    expect(readFileSync(crontabFile, "utf8")).toBe(afterA);
    expect(snapshotTree(dirA)).toEqual(treeA);
    expect(await doctorCrontab(envA)).toMatchObject({ status: "ok" });

    const uninstallA = await runCli(["uninstall", "--yes"], { env: envA });
    expect(uninstallA.code, uninstallA.stderr).toBe(0);
    expect(readFileSync(crontabFile, "utf8")).toBe(original);
  }, 120_000);

  it("uninstall keeps a block whose entries the user edited, no longer marked as gateway-setup's, and says so", async () => {
    const sandbox = createSandbox();
    const crontabFile = join(sandbox.bin, "crontab.txt");
    const original = "0 3 * * * /usr/local/bin/backup\n";
    writeFileSync(crontabFile, original);
    sandbox.standIn("crontab", `#!/bin/sh\nF=${JSON.stringify(crontabFile)}\ncase "$1" in\n-l) cat "$F";;\n-r) rm -f "$F";;\n-) cat > "$F";;\nesac\n`);
    const env = { ...sandbox.env, PATH: `${sandbox.bin}:${join(REPO_ROOT, "node_modules/.bin")}:${process.env.PATH}` };
    const installed = await runCli(
      ["--tier", "2", "--yes", "--json", "--redis-url", redisUrl, "--prefix", randomPrefix(), "--service", "none", "--heartbeat", "cron"],
      { env },
    );
    expect(installed.code, installed.stdout + installed.stderr).toBe(0);
    // the default agent dir keeps the names it always had
    expect(JSON.parse(installed.stdout).plan.settings.crontabBlock).toBeUndefined();
    const crontab = readFileSync(crontabFile, "utf8");
    expect(crontab).toContain(BLOCK_BEGIN);
    const edited = crontab.replace(/^(\*\/15 \* \* \* \* )/m, "*/5 * * * * ");
    expect(edited).not.toBe(crontab);
    writeFileSync(crontabFile, edited);

    const uninstall = await runCli(["uninstall", "--yes"], { env });
    expect(uninstall.code, uninstall.stderr).toBe(0);
    expect(uninstall.stderr).toContain("kept your edited gateway-setup block in your crontab");
    const after = readFileSync(crontabFile, "utf8");
    expect(after.startsWith(original)).toBe(true);
    expect(after).not.toContain(BLOCK_BEGIN);
    expect(after).toContain(KEPT_BEGIN);
    expect(after).toContain("*/5 * * * * ");
  }, 120_000);

  it("a re-run of an install made before the names moves it to its own: the shared block and tmux session are taken back", async () => {
    const sandbox = createSandbox();
    const crontabFile = join(sandbox.bin, "crontab.txt");
    const original = "0 3 * * * /usr/local/bin/backup\n";
    writeFileSync(crontabFile, original);
    sandbox.standIn("crontab", `#!/bin/sh\nF=${JSON.stringify(crontabFile)}\ncase "$1" in\n-l) cat "$F";;\n-r) rm -f "$F";;\n-) cat > "$F";;\nesac\n`);
    sandbox.standIn("pgrep", `#!/bin/sh\n[ "$*" = "-x cron" ]\n`);
    const agentDir = join(sandbox.home, "a");
    const env = { ...sandbox.env, PATH: `${sandbox.bin}:${join(REPO_ROOT, "node_modules/.bin")}:${process.env.PATH}`, PI_CODING_AGENT_DIR: agentDir };
    const args = ["--tier", "2", "--yes", "--json", "--redis-url", redisUrl, "--prefix", randomPrefix(), "--service", "none", "--heartbeat", "cron"];
    const first = await runCli(args, { env });
    expect(first.code, first.stdout + first.stderr).toBe(0);
    const tag = agentDirTag(agentDir, env)!;
    // make it what an older version installed: the shared names, in the wrapper, the manifest and the crontab
    const wrapperPath = join(agentDir, "gateway/run-central.sh");
    writeFileSync(wrapperPath, readFileSync(wrapperPath, "utf8").replaceAll(`pi-gateway-${tag}`, "pi-gateway"));
    const manifestPath = join(agentDir, "gateway/manifest.json");
    const manifest = JSON.parse(readFileSync(manifestPath, "utf8"));
    delete manifest.settings.crontabBlock;
    Object.assign(manifest.settings.service, { name: "dev.gateway-setup.pi-central", tmuxSession: "pi-gateway", tmuxSocket: "pi-gateway" });
    const wrapperRecord = manifest.files.find((file: { path: string }) => file.path === wrapperPath);
    wrapperRecord.sha256 = createHash("sha256").update(readFileSync(wrapperPath)).digest("hex");
    writeFileSync(manifestPath, JSON.stringify(manifest, null, 2));
    writeFileSync(crontabFile, readFileSync(crontabFile, "utf8").replace(blockBegin(tag), BLOCK_BEGIN).replace(blockEnd(tag), blockEnd()));
    expect(JSON.parse((await runCli(["doctor", "--json", "--only", "crontab"], { env })).stdout).checks[0].message).not.toMatch(/missing|by hand/);

    const rerun = await runCli(args, { env });
    expect(rerun.code, rerun.stdout + rerun.stderr).toBe(0);
    const plan = JSON.parse(rerun.stdout).plan;
    expect(plan.steps).toContainEqual(expect.objectContaining({ kind: "take-back", action: "remove-crontab-block" }));
    expect(plan.notes.join("\n")).toContain("end it with tmux -L pi-gateway kill-session -t =pi-gateway");
    const crontab = readFileSync(crontabFile, "utf8");
    expect(crontab).not.toContain(BLOCK_BEGIN);
    expect(readCronEntries(crontab, tag)).toHaveLength(2);
    expect(JSON.parse((await runCli(["doctor", "--json", "--only", "crontab"], { env })).stdout).checks[0]).toMatchObject({ status: "ok" });
    const uninstall = await runCli(["uninstall", "--yes"], { env });
    expect(uninstall.code, uninstall.stderr).toBe(0);
    expect(readFileSync(crontabFile, "utf8")).toBe(original);
  }, 120_000);
});
