import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { planExtension } from "../src/components/extension/render.ts";
import type { FileStep, Plan } from "../src/core/plan.ts";
import { describePlan } from "../src/plan/describe.ts";
import { fileChange, planForDisplay } from "../src/plan/file-change.ts";

const home = mkdtempSync(join(tmpdir(), "gw-describe-"));
const env = { HOME: home };
const plan: Plan = {
  tool: "gateway-setup",
  version: "0",
  settings: {
    tier: 1,
    mode: "single",
    sessionId: "main",
    prefix: "agent",
    redisUrl: "redis://127.0.0.1:6379",
    redisPasswordSet: true,
    scope: "global",
    agentDir: join(home, ".pi/agent"),
    extensionDir: join(home, ".pi/agent/extensions/gateway"),
    stateDir: join(home, ".pi/agent/gateway"),
    manifestPath: join(home, ".pi/agent/gateway/manifest.json"),
  },
  steps: [
    { kind: "file", component: "extension", description: "entry", path: join(home, "a/index.ts"), contents: "one\ntwo\nTHREE\n", mode: 0o644 },
    { kind: "file", component: "extension", description: "new", path: join(home, "a/new.ts"), contents: "x\n", mode: 0o644 },
    { kind: "file", component: "redis", description: "secret", path: join(home, "a/secrets.env"), contents: "PW='new-secret'\n", mode: 0o600, secret: true },
    { kind: "command", component: "extension", description: "npm", argv: ["npm", "install"], cwd: join(home, "a") },
    {
      kind: "command",
      component: "service",
      description: "load",
      argv: ["launchctl", "bootstrap", "gui/501", join(home, "b.plist"), `--cache=${join(home, "c")}`],
    },
  ],
  notes: [],
  verification: ["PING"],
};

describe("describePlan", () => {
  it("lists every file and command, with a diff for a file it would change and never for a secret", () => {
    mkdirSync(join(home, "a"), { recursive: true });
    writeFileSync(join(home, "a/index.ts"), "one\ntwo\nthree\n");
    writeFileSync(join(home, "a/secrets.env"), "PW='old-secret'\n", { mode: 0o600 });
    const text = describePlan(plan, env);
    expect(text).toMatch(/changed\s+~\/a\/index\.ts \(644\)/);
    expect(text).toMatch(/-three\n\s+\+THREE/);
    expect(text).toMatch(/new\s+~\/a\/new\.ts/);
    expect(text).toMatch(/changed\s+~\/a\/secrets\.env \(600\)/);
    expect(text).not.toContain("secret'");
    expect(text).toMatch(/run\s+npm install\n\s+in ~\/a\n/);
    expect(text).toContain("launchctl bootstrap gui/501 ~/b.plist --cache=~/c");
    expect(text).toContain("(password stored in a 0600 file)");
  });
});

describe("describePlan details", () => {
  const dir = mkdtempSync(join(tmpdir(), "gw-describe2-"));
  const base = { ...plan, settings: { ...plan.settings, manifestPath: join(dir, "manifest.json") } };
  const checklist: FileStep = {
    kind: "file",
    component: "service",
    description: "heartbeat checklist (yours to edit)",
    path: join(dir, "HEARTBEAT.md"),
    contents: "- [ ] ours\n",
    mode: 0o644,
    createOnly: true,
  };

  it("shows the user's existing HEARTBEAT.md as kept, without a diff, in text and JSON", () => {
    writeFileSync(checklist.path, "- [ ] my own checklist\n");
    const text = describePlan({ ...base, steps: [checklist] }, { HOME: dir });
    expect(text).toMatch(/kept\s+~\/HEARTBEAT\.md \(heartbeat checklist \(yours to edit\): it exists, and is never overwritten\)/);
    expect(text).not.toContain("my own checklist");
    expect(text).not.toMatch(/changed/);
    expect(planForDisplay({ ...base, steps: [checklist] }).steps[0]).toMatchObject({ change: "kept" });
  });

  it("gives every file step its status in JSON", () => {
    writeFileSync(join(dir, "same.ts"), "same\n");
    const steps: FileStep[] = ["same.ts", "fresh.ts"].map((name) => ({
      kind: "file",
      component: "extension",
      description: name,
      path: join(dir, name),
      contents: "same\n",
      mode: 0o644,
    }));
    expect(planForDisplay({ ...base, steps }).steps.map((s) => (s as FileStep & { change: string }).change)).toEqual(["unchanged", "new"]);
  });

  it("keeps the diff's --- header without a stray tab", () => {
    writeFileSync(join(dir, "d.ts"), "a\n");
    const text = describePlan(
      { ...base, steps: [{ kind: "file", component: "extension", description: "d", path: join(dir, "d.ts"), contents: "b\n", mode: 0o644 }] },
      { HOME: dir },
    );
    expect(text).toMatch(/--- ~\/d\.ts \(now\)\n\s+\+\+\+ ~\/d\.ts \(planned\)\n/);
    expect(text).not.toMatch(/\t/);
  });

  it("cuts long crontab lines and commands, and shows them whole with --verbose", () => {
    const command = `/usr/bin/redis-cli -u redis://127.0.0.1:6379 LPUSH agent:events:gateway ${"x".repeat(120)}`;
    const steps: Plan["steps"] = [
      { kind: "crontab", component: "heartbeat", description: "block", entries: [{ schedule: "*/15 * * * *", command }] },
      { kind: "command", component: "service", description: "long", argv: ["/bin/sh", "-c", command] },
    ];
    const text = describePlan({ ...base, steps }, { HOME: dir });
    expect(text).not.toContain(command);
    expect(text).toContain(`*/15 * * * * ${command.slice(0, 60)}`);
    expect(text.split("\n").filter((line) => line.endsWith("…"))).toHaveLength(2);
    expect(text).toContain("--verbose or --json shows them whole");
    const verbose = describePlan({ ...base, steps }, { HOME: dir }, { verbose: true });
    expect(verbose).toContain(`*/15 * * * * ${command}`);
    expect(verbose.split("\n").filter((line) => line.includes(command))).toHaveLength(2);
    expect(verbose).not.toContain("…");
  });

  it("says nothing would change on a no-op re-run, instead of writing the manifest", () => {
    writeFileSync(base.settings.manifestPath, "{}");
    writeFileSync(join(dir, "same.ts"), "same\n");
    const steps: Plan["steps"] = [
      { kind: "file", component: "extension", description: "same", path: join(dir, "same.ts"), contents: "same\n", mode: 0o644 },
      { kind: "command", component: "extension", description: "npm", argv: ["npm", "install"], satisfied: true },
    ];
    const text = describePlan({ ...base, steps }, { HOME: dir });
    // only that: not the whole plan again
    expect(text).toBe("Nothing to change: this is what is installed already.");
    const changed = describePlan(
      { ...base, steps: [...steps, { kind: "file", component: "extension", description: "n", path: join(dir, "n.ts"), contents: "n", mode: 0o644 }] },
      { HOME: dir },
    );
    expect(changed).toMatch(/write\s+~\/manifest\.json/);
  });

  it("shows the extension's bundle as a file replaced, never as a diff of its code", () => {
    const bundle = planExtension({ settings: plan.settings, secretsFile: undefined }).find(
      (step): step is FileStep => step.kind === "file" && step.path.endsWith("gateway-extension.mjs"),
    )!;
    mkdirSync(dirname(bundle.path), { recursive: true });
    writeFileSync(bundle.path, "// an older build\nexport const x = 1;\n");
    const text = describePlan({ ...plan, steps: [bundle] }, env);
    expect(text).toMatch(/changed\s+~\/\.pi\/agent\/extensions\/gateway\/gateway-extension\.mjs \(644\)\n/);
    expect(text).not.toContain("an older build");
  });

  it("lists what a re-install takes back of the previous install, and counts it as a change", () => {
    const old = join(dir, "old-ext");
    mkdirSync(join(old, "node_modules"), { recursive: true });
    writeFileSync(base.settings.manifestPath, "{}");
    const steps: Plan["steps"] = [
      {
        kind: "take-back",
        component: "service",
        description: "unload",
        action: "unload",
        argv: ["systemctl", "--user", "disable", "--now", "x.timer"],
        reloadArgv: ["systemctl", "--user", "enable", "--now", "x.timer"],
      },
      { kind: "take-back", component: "extension", description: "f", action: "remove-file", path: join(old, "index.ts") },
      { kind: "take-back", component: "extension", description: "f", action: "remove-file", path: join(old, "package.json") },
      { kind: "take-back", component: "extension", description: "t", action: "remove-tree", path: join(old, "node_modules") },
      { kind: "take-back", component: "heartbeat", description: "c", action: "remove-crontab-block" },
      { kind: "take-back", component: "cleanup", description: "d", action: "remove-dirs-if-empty", paths: [old] },
    ];
    const text = describePlan({ ...base, replaces: { version: "0", extensionDir: old }, steps }, { HOME: dir });
    expect(text).toContain("Then take back the previous install at ~/old-ext (the extension moves to");
    expect(text).toMatch(/remove\s+~\/old-ext\/ index\.ts package\.json\n/);
    expect(text).toContain("remove    ~/old-ext/node_modules/ (and everything in it)");
    expect(text).toMatch(/unload\s+systemctl --user disable --now x\.timer \(no longer used/);
    expect(text).toMatch(/remove\s+gateway-setup's block from your crontab \(nothing else in it\)/);
    expect(text).not.toContain("Nothing to change");
    // emptied folders alone are no change worth a line
    const quiet = describePlan({ ...base, steps: [steps[5]!] }, { HOME: dir });
    expect(quiet).toContain("Nothing to change");
    expect(quiet).not.toContain("take back");
  });
});

describe("fileChange", () => {
  it("answers again for a file rewritten in place with the same size, or given another mode, after an earlier answer", () => {
    const path = join(home, "same-size.txt");
    writeFileSync(path, "aaaa", { mode: 0o644 });
    chmodSync(path, 0o644);
    expect(fileChange(path, "aaaa", 0o644)).toBe("unchanged");
    writeFileSync(path, "bbbb");
    expect(fileChange(path, "aaaa", 0o644)).toBe("changed");
    expect(fileChange(path, "bbbb", 0o644)).toBe("unchanged");
    chmodSync(path, 0o600);
    expect(fileChange(path, "bbbb", 0o644)).toBe("changed");
    rmSync(path);
    expect(fileChange(path, "bbbb", 0o644)).toBe("new");
  });
});
