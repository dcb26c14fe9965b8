// Doctor's tripwire check: the script is there and its schedule is loaded.
import { existsSync } from "node:fs";
import type { DoctorCheck } from "../../core/check.ts";
import { type Finding, fail, ok, skip } from "../../core/finding.ts";
import { loadFix, scheduledJobLoaded, scheduledJobs } from "../service/check.ts";
import { watchdogOn } from "./enabled.ts";
import { tripwirePaths } from "./tripwire.ts";

export const tripwireCheck: DoctorCheck = {
  id: "tripwire",
  async run({ manifest, env }): Promise<Finding> {
    if (!watchdogOn(manifest.settings)) return skip("tripwire", "no tripwire in this install (no heartbeat source)");
    const { script, log } = tripwirePaths(manifest.settings.stateDir);
    if (!existsSync(script)) return fail("tripwire", `${script} is missing`, `${manifest.command} (the install that wrote it puts it back)`);
    const service = manifest.settings.service!;
    const { tripwire } = scheduledJobs(manifest);
    if (tripwire && !(await scheduledJobLoaded(service, tripwire, env))) {
      return fail(
        "tripwire",
        `the tripwire schedule ${tripwire} is not loaded: nothing watches the heartbeat from outside pi`,
        loadFix(service, tripwire, env),
      );
    }
    return ok("tripwire", `tripwire installed${tripwire ? " and scheduled" : ""}${existsSync(log) ? `; it has raised alerts (see ${log})` : ""}`);
  },
};
