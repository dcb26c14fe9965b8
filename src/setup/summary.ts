// What setup says at the end: the closing box with how to reach pi, the closing line, and the
// one-line summaries of what was applied.

import { EXIT_CANCELLED, EXIT_OK } from "../cli/exit-codes.ts";
import { queueConsumer, summaryLines } from "../components/consumer.ts";
import { secretsFilePath } from "../components/redis/secrets.ts";
import { redisCliFor } from "../components/redis/url.ts";
import type { Plan, PlanStep } from "../core/plan.ts";
import type { StepResult } from "../install/apply.ts";
import type { Env } from "../platform/exec.ts";
import { displayPath } from "../platform/paths.ts";
import type { SetupReport } from "./context.ts";

export const REDIS_INSTALL_KEPT =
  "Redis packages installed and services started by this run are not rolled back (remove them with your package manager if you do not want them).";

export function fixForStep(step: PlanStep | undefined): string | undefined {
  if (step?.kind === "command" && step.argv[0] === "npm") return "check your network / npm registry, then run gateway-setup again";
  return undefined;
}

export function installedNote(plan: Plan, env: Env): string {
  const { prefix, sessionId, extensionDir, redisUrl, redisPasswordSet, stateDir } = plan.settings;
  const cli = redisCliFor(redisUrl);
  const consumer = queueConsumer(plan.settings);
  return [
    `Extension: ${displayPath(extensionDir, env)}`,
    ...consumer.intro,
    ...plan.notes.map((note) => `Note: ${note}`),
    consumer.reachIt,
    "",
    ...(redisPasswordSet ? [`  set -a; . ${displayPath(secretsFilePath(stateDir), env)}; set +a   # REDISCLI_AUTH`] : []),
    "  ts=$(date +%s000)",
    `  ${cli} LPUSH ${prefix}:events:${sessionId} \\`,
    `    '{"id":"job-'$ts'","type":"job.done",`,
    `      "source":"cron","payload":{},"ts":'$ts'}'`,
    `  ${cli} PUBLISH ${prefix}:notify:${sessionId} job-$ts`,
    "",
    ...summaryLines(plan.settings),
    "Health: gateway-setup doctor    Remove: gateway-setup uninstall",
  ].join("\n");
}

export function closingLine(code: number, report: SetupReport): string {
  if (code === EXIT_OK) return report.dryRun ? "Dry run: nothing was changed." : "Done.";
  if (code === EXIT_CANCELLED) return sentence(report.error?.message ?? "cancelled");
  return report.applied ? "Installed, but not verified end to end: see above." : "Nothing was installed.";
}

function sentence(text: string): string {
  return `${text.charAt(0).toUpperCase()}${text.slice(1)}${/[.!?]$/.test(text) ? "" : "."}`;
}

export function summarizeResults(results: StepResult[]): string {
  const count = (outcome: string) => results.filter((r) => r.outcome === outcome).length;
  const parts = [
    count("created") && `${count("created")} file(s) created`,
    count("updated") && `${count("updated")} updated (previous versions backed up)`,
    count("unchanged") && `${count("unchanged")} already up to date`,
    count("ran") && `${count("ran")} command(s) run`,
    count("removed") + count("restored") && `${count("removed") + count("restored")} left over from an earlier install taken back`,
  ].filter(Boolean);
  return parts.join(", ");
}

export function stepTarget(step: PlanStep, env: Env): string {
  return "path" in step ? displayPath(step.path, env) : step.kind === "command" ? step.argv.join(" ") : step.description;
}
