// One crontab block per agent dir (told apart by the name in its markers), a block the user edited
// kept on uninstall, rollback that touches only the blocks it changed, and no environment line of
// ours that cron would apply to the user's own jobs below the block.
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import {
  BLOCK_BEGIN,
  blockBegin,
  blockNames,
  KEPT_BEGIN,
  KEPT_END,
  mergeCronBlock,
  readCronEntries,
  removeCronBlock,
  restoreCronBlocks,
  retireCronBlock,
} from "../src/components/crontab/block.ts";
import { cronLineStep } from "../src/components/crontab/jobs.ts";
import { unescapeAsCron } from "../src/components/heartbeat/command.ts";
import { agentDirTag } from "../src/plan/settings.ts";

const job = (what: string) => cronLineStep("heartbeat", "the heartbeat", { schedule: "*/15 * * * *", command: `/bin/sh -c 'echo ${what}'` }).entries[0]!;

/** What cron does with a crontab: each job line runs with the environment lines above it (Vixie cron and cronie alike). */
function cronEnvironments(crontab: string): { line: string; env: Record<string, string> }[] {
  const env: Record<string, string> = {};
  const jobs: { line: string; env: Record<string, string> }[] = [];
  for (const line of crontab.split(/\r?\n/)) {
    if (/^\s*(#|$)/.test(line)) continue;
    const assignment = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (assignment) env[assignment[1]!] = assignment[2]!;
    else jobs.push({ line, env: { ...env } });
  }
  return jobs;
}

describe("a crontab block per agent dir", () => {
  it("names the default agent dir's block as before, and any other by an 8-hex tag of its path", () => {
    const env = { HOME: "/home/me" };
    expect(agentDirTag("/home/me/.pi/agent", env)).toBeUndefined();
    expect(agentDirTag("/home/me/.pi/agent/", env)).toBeUndefined();
    const a = agentDirTag("/home/me/a", env)!;
    expect(a).toMatch(/^[0-9a-f]{8}$/);
    expect(agentDirTag("/home/me/a/", env)).toBe(a);
    expect(agentDirTag("/home/me/b", env)).not.toBe(a);
    expect(blockBegin()).toBe(BLOCK_BEGIN);
    expect(BLOCK_BEGIN).toBe("# >>> gateway-setup heartbeat >>>");
    expect(blockBegin(a)).toBe(`# >>> gateway-setup ${a} >>>`);
  });

  it("keeps two installs' blocks apart: each is merged, read and removed alone", () => {
    const original = "MAILTO=me\n0 3 * * * backup\n";
    const both = mergeCronBlock(mergeCronBlock(original, [job("a")], "aaaa1111"), [job("b")], "bbbb2222");
    expect(blockNames(both)).toEqual(["aaaa1111", "bbbb2222"]);
    expect(readCronEntries(both, "aaaa1111")).toEqual([job("a")]);
    expect(readCronEntries(both, "bbbb2222")).toEqual([job("b")]);
    expect(readCronEntries(both)).toBeUndefined();
    // re-installing a leaves b's block where it is
    expect(mergeCronBlock(both, [job("a")], "aaaa1111")).toBe(both);
    const withoutB = removeCronBlock(both, "bbbb2222");
    expect(withoutB).toBe(mergeCronBlock(original, [job("a")], "aaaa1111"));
    expect(removeCronBlock(withoutB, "aaaa1111")).toBe(original);
    // the default agent dir's block is one more name among them
    const three = mergeCronBlock(both, [job("default")]);
    expect(readCronEntries(three)).toEqual([job("default")]);
    expect(removeCronBlock(removeCronBlock(removeCronBlock(three), "aaaa1111"), "bbbb2222")).toBe(original);
  });

  it("rolls back only the blocks a change touched, whatever else changed since", () => {
    const before = mergeCronBlock("0 3 * * * backup\n", [job("a")], "aaaa1111");
    const after = mergeCronBlock(before, [job("b")], "bbbb2222");
    // meanwhile a's install changed its own block and the user added a line
    const now = mergeCronBlock(after, [job("a2")], "aaaa1111") + "5 5 * * * mine\n";
    const restored = restoreCronBlocks(now, before, after);
    expect(readCronEntries(restored, "bbbb2222")).toBeUndefined();
    expect(readCronEntries(restored, "aaaa1111")).toEqual([job("a2")]);
    expect(restored).toContain("5 5 * * * mine\n");
  });
});

describe("uninstalling a block the user edited", () => {
  it("keeps it where it is under markers that are not ours; an unedited one goes", () => {
    const original = "0 3 * * * backup\n";
    const installed = mergeCronBlock(original, [job("a")], "aaaa1111");
    expect(retireCronBlock(installed, [job("a")], "aaaa1111")).toEqual({ text: original, kept: false });
    const edited = installed.replace("echo a", "echo a; echo mine");
    const retired = retireCronBlock(edited, [job("a")], "aaaa1111");
    expect(retired.kept).toBe(true);
    expect(retired.text.startsWith(original)).toBe(true);
    expect(retired.text).toContain(`${KEPT_BEGIN}\n`);
    expect(retired.text).toContain("echo a; echo mine");
    expect(retired.text.endsWith(`${KEPT_END}\n`)).toBe(true);
    expect(blockNames(retired.text)).toEqual([]);
    // kept, it is no longer ours: a later install adds a block of its own beside it
    expect(removeCronBlock(mergeCronBlock(retired.text, [job("a")], "aaaa1111"), "aaaa1111")).toBe(retired.text);
  });
});

describe("the PATH of our cron lines", () => {
  it("is set inside each command: the user's jobs below the block run with the environment they had", () => {
    for (const original of ["0 1 * * * early\n", "PATH=/opt/tools/bin:/usr/bin\nSHELL=/bin/bash\n0 1 * * * early\n", ""]) {
      const withUserJobAfter = mergeCronBlock(original, [job("a")]) + "30 4 * * * /home/me/bin/late\n";
      const withoutBlock = `${original}30 4 * * * /home/me/bin/late\n`;
      const late = (crontab: string) => cronEnvironments(crontab).find((entry) => entry.line.endsWith("late"))!.env;
      expect(late(withUserJobAfter)).toEqual(late(withoutBlock));
      const ours = cronEnvironments(withUserJobAfter).find((entry) => entry.line.includes("echo a"))!;
      expect(ours.line).toContain("/usr/bin/env PATH=/usr/bin:/bin /bin/sh -c");
    }
  });

  it("finds the system's tools even when the crontab's own PATH does not", () => {
    const line = cronLineStep("watchdog", "the tripwire", { schedule: "* * * * *", command: "/bin/sh -c 'command -v date'" }).entries[0]!.command;
    const ran = spawnSync("/usr/bin/env", ["-i", "PATH=/nonexistent", "/bin/sh", "-c", unescapeAsCron(line)], { encoding: "utf8" });
    expect(ran.status, ran.stderr).toBe(0);
    expect(ran.stdout.trim()).toMatch(/^\/(usr\/)?bin\/date$/);
  });
});
