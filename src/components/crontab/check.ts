// Doctor's crontab check: gateway-setup's block is in the crontab as installed, and a cron daemon runs it.
import type { DoctorCheck } from "../../core/check.ts";
import { fail, ok, skip } from "../../core/finding.ts";
import type { Manifest } from "../../core/manifest.ts";
import { readCrontab } from "../../platform/crontab.ts";
import { cronDaemonRunning, currentPlatform, startCronCommand } from "../../platform/system.ts";
import { blockAsInstalled, readCronEntries } from "./block.ts";
import { cronJobs, installedBlockName } from "./jobs.ts";

/** The crontab holds this install's block exactly as the install wrote it. */
const asInstalled = (crontab: string, manifest: Manifest) => blockAsInstalled(crontab, manifest.crontab?.entries, installedBlockName(manifest.settings));

export const crontabCheck: DoctorCheck = {
  id: "crontab",
  applies: (manifest) => Boolean(manifest.crontab),
  async run({ manifest, env }) {
    const installed = manifest.crontab;
    if (!installed) return skip("crontab", "gateway-setup has no crontab block here");
    const crontab = await readCrontab(env);
    const current = readCronEntries(crontab, installedBlockName(manifest.settings));
    if (!current) return fail("crontab", "gateway-setup's block is missing from your crontab (or there are two)", "gateway-setup doctor --fix");
    if (!asInstalled(crontab, manifest)) return fail("crontab", "gateway-setup's crontab block was changed by hand", "gateway-setup doctor --fix");
    const present = `crontab block present with ${current.length} entr${current.length === 1 ? "y" : "ies"}`;
    if (cronDaemonRunning(currentPlatform(), env) === false) {
      return fail(
        "crontab",
        `${present}, but no cron daemon is running (a container?): ${cronJobs(manifest.settings)} never run (the daemon is cron on Debian/Ubuntu, ` +
          `crond on Fedora or Alpine)`,
        startCronCommand(),
      );
    }
    return ok("crontab", present);
  },
  async repair({ manifest, env, recordUndo }) {
    const { mergeCronBlock } = await import("./block.ts");
    const { changeCrontab } = await import("../../install/journal.ts");
    const crontab = await readCrontab(env);
    // the block is in place and only the cron daemon is missing: that takes root, not a safe repair
    if (asInstalled(crontab, manifest)) return `not repaired: start the cron daemon yourself (${startCronCommand()})`;
    await changeCrontab(env, recordUndo ?? (() => {}), (current) => mergeCronBlock(current, manifest.crontab!.entries, installedBlockName(manifest.settings)));
    return "re-added the crontab block";
  },
};
