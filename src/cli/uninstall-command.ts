// `gateway-setup uninstall`: show what the manifest says will be removed or restored, confirm, do it.

import { basename } from "node:path";
import { purgeSessionKeys } from "../components/queues/purge.ts";
import { redisTargetFor } from "../components/redis/installed-target.ts";
import { connectRedis } from "../components/redis/probe.ts";
import { redisCliFor } from "../components/redis/url.ts";
import type { Manifest } from "../core/manifest.ts";
import type { UninstallStep } from "../core/plan.ts";
import { JournalBusyError, settleInterruptedInstall } from "../install/journal.ts";
import { ManifestError } from "../install/manifest.ts";
import { applyUninstall, describeRemoval, planUninstall } from "../install/uninstall.ts";
import { displayPath, gatewayStateDir, installedManifestPath } from "../platform/paths.ts";
import { sessionKeys } from "../runtime/protocol/keys.ts";
import { registeredSessions } from "../runtime/protocol/registry-scripts.ts";
import { isSessionGone, parseAlive } from "../runtime/protocol/sessions.ts";
import { EXIT_CANCELLED, EXIT_FAILED, EXIT_OK, EXIT_USAGE } from "./exit-codes.ts";
import { type ErrorDetail, errorDetail, writeErrorReport } from "./json-error.ts";

export interface UninstallFlags {
  yes?: boolean;
  dryRun?: boolean;
  json?: boolean;
  purgeQueues?: boolean;
}

function describe(step: UninstallStep, env: NodeJS.ProcessEnv): string {
  const [verb, text] = describeRemoval(step, env);
  return `${verb.padEnd(8)} ${text}`;
}

export async function runUninstallCommand(flags: UninstallFlags, env = process.env): Promise<number> {
  const say = (text: string) => (flags.json ? undefined : process.stdout.write(text + "\n"));
  const manifestPath = installedManifestPath(env);
  let plan: ReturnType<typeof planUninstall>;
  try {
    const stoppedRun = await settleInterruptedInstall(gatewayStateDir(env), env, Boolean(flags.dryRun));
    if (stoppedRun) process.stderr.write(`gateway-setup uninstall: ${stoppedRun}\n`);
    plan = planUninstall(manifestPath);
  } catch (error) {
    if (!(error instanceof ManifestError || error instanceof JournalBusyError)) throw error;
    if (flags.json) writeErrorReport(error.message, error.fix);
    else process.stderr.write(`gateway-setup uninstall: ${error.message}\n  fix: ${error.fix}\n`);
    return EXIT_FAILED;
  }
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
  const report: { ok: boolean; installed: true; dryRun: boolean; steps: UninstallStep[]; purged: number; warnings: string[]; error?: ErrorDetail } = {
    ok: true,
    installed: true,
    dryRun: Boolean(flags.dryRun),
    steps: plan.steps,
    purged: 0,
    warnings: [],
  };
  report.warnings.push(...(await liveSessionWarnings(plan.manifest, env)));
  if (flags.dryRun) {
    for (const warning of report.warnings) process.stderr.write(`gateway-setup uninstall: warning: ${warning}\n`);
    if (flags.json) process.stdout.write(JSON.stringify(report, null, 2) + "\n");
    return EXIT_OK;
  }
  if (!flags.yes) {
    if (!process.stdin.isTTY || flags.json) {
      const message = "not an interactive terminal; re-run with --yes to confirm (or --dry-run to only look)";
      if (flags.json)
        process.stdout.write(JSON.stringify({ ...report, ok: false, error: errorDetail(message, "gateway-setup uninstall --yes") }, null, 2) + "\n");
      process.stderr.write(`gateway-setup uninstall: ${message}\n`);
      return EXIT_USAGE;
    }
    const clack = await import("@clack/prompts");
    const answer = await clack.confirm({ message: "Uninstall?", initialValue: false });
    if (clack.isCancel(answer) || !answer) {
      say("Cancelled; nothing was changed.");
      return EXIT_CANCELLED;
    }
  }
  // the queues first (the manifest says where they are), but files are uninstalled even when Redis is down
  if (flags.purgeQueues) {
    const purged = await purgeQueues(plan.manifest, env);
    if (typeof purged === "number") report.purged = purged;
    else report.warnings.push(purged.problem);
  }
  try {
    report.warnings.push(...(await applyUninstall(plan, env, ["gateway-setup", "uninstall", ...process.argv.slice(3)].join(" "))));
  } catch (error) {
    report.ok = false;
    report.error = errorDetail((error as Error).message);
  }
  for (const warning of report.warnings) process.stderr.write(`gateway-setup uninstall: warning: ${warning}\n`);
  if (report.error) process.stderr.write(`gateway-setup uninstall: ${report.error.message}\n`);
  const unpurged = flags.purgeQueues && report.warnings.some((w) => w.startsWith(QUEUES_NOT_PURGED));
  if (unpurged) report.ok = false;
  if (flags.json) process.stdout.write(JSON.stringify(report, null, 2) + "\n");
  if (report.error) return EXIT_FAILED;
  const kept = plan.steps.filter((s) => s.kind === "keep-file");
  const keptLines = kept.map((step) =>
    step.keptAs
      ? `  ${displayPath(step.keptAs, env)}: your edited ${basename(step.path)}, renamed so pi does not load it (it needs the extension's ` +
        `code, which is gone)`
      : `  ${displayPath(step.path, env)} (${step.reason})`,
  );
  say(kept.length ? [`Uninstalled. Kept ${kept.length} file(s):`, ...keptLines].join("\n") : "Uninstalled.");
  if (unpurged)
    say(
      `The queues in Redis were NOT purged (Redis did not answer); once it runs: ${redisCliFor(plan.manifest.settings.redisUrl)} DEL ` +
        `${settingsKeys(plan.manifest)}`,
    );
  return unpurged ? EXIT_FAILED : EXIT_OK;
}

const QUEUES_NOT_PURGED = "the queues could not be purged";

/**
 * The pi sessions consuming this install's queues that uninstall does not stop: a pi that loaded
 * the extension keeps it in memory, and keeps taking events, until it exits. The central session
 * or the daemon goes with its service. Redis not answering says nothing.
 */
async function liveSessionWarnings(manifest: Manifest, env: NodeJS.ProcessEnv): Promise<string[]> {
  const { settings } = manifest;
  const stoppedByUninstall = settings.service || settings.daemon ? settings.sessionId : undefined;
  const { client } = await connectRedis(redisTargetFor(manifest, env), 1500);
  if (!client) return [];
  try {
    const live = (await registeredSessions(client, settings.prefix)).filter((s) => s.id !== stoppedByUninstall && !isSessionGone(s.record));
    return live.map(({ id, record }) => {
      const owner = parseAlive(record);
      const where = owner ? ` (pid ${owner.pid} on ${owner.host})` : "";
      return `a pi session is live on queue "${id}"${where}: it keeps consuming events until it exits, though its extension is uninstalled; quit that pi`;
    });
  } catch {
    return [];
  } finally {
    client.disconnect();
  }
}

async function purgeQueues(manifest: Manifest, env: NodeJS.ProcessEnv): Promise<number | { problem: string }> {
  const { settings } = manifest;
  const { probe, client } = await connectRedis(redisTargetFor(manifest, env));
  if (!client) return { problem: `${QUEUES_NOT_PURGED}: ${"message" in probe ? probe.message : "Redis unavailable"}` };
  try {
    return await purgeSessionKeys(client, settings.prefix, settings.sessionId);
  } catch (error) {
    return { problem: `${QUEUES_NOT_PURGED}: ${(error as Error).message}` };
  } finally {
    client.disconnect();
  }
}

function settingsKeys(manifest: Manifest): string {
  const keys = sessionKeys(manifest.settings.prefix, manifest.settings.sessionId);
  return [keys.events, keys.processing, keys.deadLetter].join(" ");
}
