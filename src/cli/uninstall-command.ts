// `gateway-setup uninstall`: show what the manifest says will be removed or restored, confirm, do it.
import * as clack from "@clack/prompts";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { connectRedis } from "../components/redis/probe.ts";
import { purgeSessionKeys } from "../components/queues/purge.ts";
import { redisTargetFor } from "../doctor/run-doctor.ts";
import { applyUninstall, planUninstall, type UninstallStep } from "../install/uninstall.ts";
import { displayPath, gatewayStateDir } from "../platform/paths.ts";
import { MANIFEST_FILE_NAME } from "../plan/build-plan.ts";
import { EXIT_CANCELLED, EXIT_FAILED, EXIT_OK, EXIT_USAGE } from "./exit-codes.ts";

export interface UninstallFlags {
  yes?: boolean;
  dryRun?: boolean;
  json?: boolean;
  purgeQueues?: boolean;
}

function describe(step: UninstallStep, env: NodeJS.ProcessEnv): string {
  switch (step.kind) {
    case "remove-file":
      return `remove   ${displayPath(step.path, env)}`;
    case "restore-file":
      return `restore  ${displayPath(step.path, env)} (the file that was there before)`;
    case "keep-file":
      return `keep     ${displayPath(step.path, env)} (${step.reason}${step.backup ? `; the original is in ${displayPath(step.backup, env)}` : ""})`;
    case "remove-tree":
      return `remove   ${displayPath(step.path, env)}${existsSync(step.path) && statSync(step.path).isDirectory() ? "/" : ""}`;
    case "remove-dirs-if-empty":
      return `remove   directories gateway-setup created, where empty`;
    case "run":
      return `run      ${step.argv.join(" ")}`;
    case "remove-crontab-block":
      return "remove   gateway-setup's block from your crontab (nothing else in it)";
  }
}

export async function runUninstallCommand(flags: UninstallFlags, env = process.env): Promise<number> {
  const say = (text: string) => (flags.json ? undefined : process.stdout.write(text + "\n"));
  const manifestPath = join(gatewayStateDir(env), MANIFEST_FILE_NAME);
  const plan = planUninstall(manifestPath);
  if (!plan) {
    if (flags.json) process.stdout.write(JSON.stringify({ ok: true, installed: false, steps: [] }) + "\n");
    say(`Nothing to uninstall: gateway-setup has no manifest at ${displayPath(manifestPath, env)}.`);
    return EXIT_OK;
  }
  const { settings } = plan.manifest;
  const lines = plan.steps.map((step) => describe(step, env));
  lines.push(
    flags.purgeQueues
      ? `delete   Redis keys of session "${settings.sessionId}" under prefix "${settings.prefix}" (queued events are lost)`
      : `keep     queued events in Redis (${settings.prefix}:events:${settings.sessionId}); add --purge-queues to delete them`,
  );
  say(lines.join("\n"));
  const report = { ok: true, installed: true, dryRun: Boolean(flags.dryRun), steps: plan.steps, purged: 0 };
  if (flags.dryRun) {
    if (flags.json) process.stdout.write(JSON.stringify(report, null, 2) + "\n");
    return EXIT_OK;
  }
  if (!flags.yes) {
    if (!process.stdin.isTTY || flags.json) {
      process.stderr.write("gateway-setup uninstall: not an interactive terminal; re-run with --yes to confirm (or --dry-run to only look)\n");
      return EXIT_USAGE;
    }
    const answer = await clack.confirm({ message: "Uninstall?", initialValue: false });
    if (clack.isCancel(answer) || !answer) {
      say("Cancelled; nothing was changed.");
      return EXIT_CANCELLED;
    }
  }
  try {
    if (flags.purgeQueues) {
      const { probe, client } = await connectRedis(redisTargetFor(plan.manifest, env));
      if (!client) throw new Error(`cannot purge queues: ${"message" in probe ? probe.message : "Redis unavailable"}`);
      try {
        report.purged = await purgeSessionKeys(client, settings.prefix, settings.sessionId);
      } finally {
        client.disconnect();
      }
    }
    const problems = await applyUninstall(plan, env);
    for (const problem of problems) process.stderr.write(`gateway-setup uninstall: warning: ${problem}\n`);
  } catch (error) {
    report.ok = false;
    if (flags.json) process.stdout.write(JSON.stringify({ ...report, error: (error as Error).message }, null, 2) + "\n");
    else process.stderr.write(`gateway-setup uninstall: ${(error as Error).message}\n`);
    return EXIT_FAILED;
  }
  if (flags.json) process.stdout.write(JSON.stringify(report, null, 2) + "\n");
  const kept = plan.steps.filter((s) => s.kind === "keep-file");
  say(kept.length ? `Uninstalled. Kept ${kept.length} file(s) you edited (listed above).` : "Uninstalled.");
  return EXIT_OK;
}
