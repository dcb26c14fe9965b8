// `gateway-setup doctor`: every component's checks against the manifest and the live system,
// optional safe repairs, then a second look at what is still wrong.

import { COMPONENTS } from "../components/index.ts";
import { installedAnswers } from "../components/installed-answers.ts";
import { redisTargetFor } from "../components/redis/installed-target.ts";
import { connectRedis } from "../components/redis/probe.ts";
import { secretsFilePath } from "../components/redis/secrets.ts";
import type { Answers } from "../core/answers.ts";
import type { DoctorCheck, DoctorContext } from "../core/check.ts";
import type { PlanContext } from "../core/component.ts";
import { UsageError } from "../core/errors.ts";
import { type Finding, fail, skip, warn } from "../core/finding.ts";
import type { Manifest } from "../core/manifest.ts";
import type { PlanStep } from "../core/plan.ts";
import type { RedisClient, RedisProbe, RedisTarget } from "../core/redis.ts";
import type { InstallJournal } from "../install/journal.ts";
import { describeStoppedRun, readInterruptedInstall } from "../install/journal-file.ts";
import { readManifest } from "../install/manifest.ts";
import type { Env } from "../platform/exec.ts";
import { gatewayStateDir, installedManifestPath } from "../platform/paths.ts";
import { detectSystem } from "../platform/system.ts";
import { TIER1_SESSION_ID } from "../runtime/extension/config.ts";
import { isValidSessionId } from "../runtime/protocol/keys.ts";
import { liveSessions } from "../runtime/protocol/route.ts";

/** Every component's checks, in the registry's order; a check runs only where its component is part of the install. */
export function doctorChecks(): DoctorCheck[] {
  return COMPONENTS.flatMap((component) =>
    component.checks.map((check) => ({
      ...check,
      applies: (manifest: Manifest) => component.applies(manifest.settings) && (check.applies?.(manifest) ?? true),
    })),
  );
}

export interface DoctorOptions {
  env: Env;
  only?: string[];
  skip?: string[];
  fix?: boolean;
}

export interface DoctorReport {
  ok: boolean;
  checks: Finding[];
  repairs?: { id: string; result: string }[];
}

export class DoctorUsageError extends UsageError {}

export function selectChecks(only: string[] = [], skipped: string[] = []): DoctorCheck[] {
  const all = doctorChecks();
  const known = new Set(all.map((c) => c.id));
  for (const id of [...only, ...skipped]) {
    if (!known.has(id)) throw new DoctorUsageError(`unknown check "${id}"; checks are: ${[...known].join(", ")}`);
  }
  return all.filter((c) => (!only.length || only.includes(c.id)) && !skipped.includes(c.id));
}

/**
 * An install that was killed midway (its journal is left): reported first; --fix rolls it back
 * before anything else is checked, so the other checks see the install as it was before that run.
 */
async function interruptedInstall(options: DoctorOptions): Promise<{ findings: Finding[]; repairs: { id: string; result: string }[] }> {
  const stateDir = gatewayStateDir(options.env);
  const interrupted = readInterruptedInstall(stateDir);
  if (!interrupted) return { findings: [], repairs: [] };
  const { owner } = interrupted;
  if (interrupted.running) {
    return {
      findings: [
        warn(
          INTERRUPTED_ID,
          `gateway-setup (pid ${owner.pid} on ${owner.host}) is changing this install right now; what follows may be mid-change`,
          "run doctor again when it is done",
        ),
      ],
      repairs: [],
    };
  }
  if (!options.fix) {
    const [left, fix] = interrupted.committed
      ? ["it had finished installing, but what it moved aside is still there", "gateway-setup doctor --fix (finishes its tidy-up), or run gateway-setup again"]
      : ["its changes are still there", "gateway-setup doctor --fix (rolls that run back), or run gateway-setup again"];
    return { findings: [fail(INTERRUPTED_ID, `${describeStoppedRun(owner)}, and ${left}`, fix)], repairs: [] };
  }
  // the journal's undo machinery (and with it child_process) loads only to repair
  const { recoverInterruptedInstall } = await import("../install/journal.ts");
  const problems = await recoverInterruptedInstall(interrupted, options.env);
  return {
    findings: problems.length
      ? [fail(INTERRUPTED_ID, `recovering from the stopped run left problems: ${problems.join("; ")}`, "gateway-setup uninstall, then gateway-setup")]
      : [],
    repairs: [
      {
        id: INTERRUPTED_ID,
        result:
          `${interrupted.committed ? "finished the tidy-up of" : "rolled back"} the stopped run (pid ${owner.pid})` +
          (problems.length ? `, with ${problems.length} problem(s)` : ""),
      },
    ],
  };
}

const INTERRUPTED_ID = "interrupted-install";

export async function runDoctor(options: DoctorOptions): Promise<DoctorReport> {
  const checks = selectChecks(options.only, options.skip);
  const interrupted = await interruptedInstall(options);
  const withInterrupted = (report: DoctorReport): DoctorReport => {
    if (!interrupted.findings.length && !interrupted.repairs.length) return report;
    const all = [...interrupted.findings, ...report.checks];
    const repairs = [...interrupted.repairs, ...(report.repairs ?? [])];
    return { ok: !all.some((f) => f.status === "fail"), checks: all, ...(repairs.length ? { repairs } : {}) };
  };
  const manifestPath = installedManifestPath(options.env);
  const manifest = readManifest(manifestPath);
  if (!manifest) {
    return withInterrupted({
      ok: false,
      checks: [fail("install", `gateway-setup has not installed anything for this agent dir (no ${manifestPath})`, "npx gateway-setup")],
    });
  }
  return withInterrupted(await checkInstall(manifest, checks, options));
}

async function checkInstall(manifest: Manifest, checks: DoctorCheck[], options: DoctorOptions): Promise<DoctorReport> {
  // one connection for the whole run: a hung Redis costs its deadline once, not once per pass
  return withContext(manifest, options.env, async (ctx) => {
    const first = await runChecks(checks, ctx, Boolean(options.only?.length));
    if (!options.fix) return first;
    // repairs change the install: under the journal's lock, as setup and uninstall do
    const { InstallJournal: Journal, JournalBusyError } = await import("../install/journal.ts");
    let journal: InstallJournal;
    try {
      journal = Journal.begin(manifest.settings.stateDir, "gateway-setup doctor --fix", options.env);
    } catch (error) {
      if (!(error instanceof JournalBusyError)) throw error;
      return { ...first, repairs: [{ id: "doctor", result: `nothing repaired: ${error.message}; ${error.fix}` }] };
    }
    let repairs: { id: string; result: string }[];
    try {
      repairs = await repairAll(first, checks, { ...ctx, recordUndo: (entry) => void journal.record(entry) });
    } finally {
      journal.commit([]);
    }
    ctx.sessionIds = await sessionIdsFor(manifest, ctx.redis);
    return { ...(await runChecks(checks, ctx, Boolean(options.only?.length))), repairs };
  });
}

/** The safe repair of every finding that has one; a repair that fails says so and the others still run. */
async function repairAll(first: DoctorReport, checks: DoctorCheck[], ctx: DoctorContext): Promise<{ id: string; result: string }[]> {
  const repairs: { id: string; result: string }[] = [];
  for (const finding of first.checks) {
    const check = checks.find((c) => c.id === finding.id);
    if (finding.status === "ok" || finding.status === "skip" || !check?.repair) continue;
    if (check.needsRedis && !ctx.redis) continue;
    try {
      repairs.push({ id: check.id, result: await check.repair(ctx, finding) });
    } catch (error) {
      repairs.push({ id: check.id, result: `repair failed: ${(error as Error).message}` });
    }
  }
  return repairs;
}

/** How to see why a check itself broke. */
export function debugFix(id: string): string {
  return `GATEWAY_SETUP_DEBUG=1 gateway-setup doctor --only ${id}`;
}

async function runChecks(checks: DoctorCheck[], ctx: DoctorContext, requested: boolean): Promise<DoctorReport> {
  // side by side: each check reads only, and their Redis commands share one pipelined connection.
  // Those that ask Redis start first, so their commands are on the way (one write, at the await)
  // while the others read files.
  const running: Promise<Finding | undefined>[] = [];
  const start = (wantsRedis: boolean) => {
    checks.forEach((check, i) => {
      if (Boolean(check.needsRedis) === wantsRedis) running[i] = runCheck(check, ctx, requested);
    });
  };
  start(true);
  await null;
  start(false);
  const findings = await Promise.all(running);
  const results = findings.filter((finding): finding is Finding => finding !== undefined);
  return { ok: !results.some((f) => f.status === "fail"), checks: results };
}

async function runCheck(check: DoctorCheck, ctx: DoctorContext, requested: boolean): Promise<Finding | undefined> {
  if (check.applies && !check.applies(ctx.manifest)) {
    // asked for by name: say why nothing was checked rather than leave it out
    return requested ? skip(check.id, `not part of this install (tier ${ctx.manifest.settings.tier}), so there is nothing to check`) : undefined;
  }
  if (check.needsRedis && !ctx.redis) return skip(check.id, "skipped: Redis is not reachable");
  try {
    return await check.run(ctx);
  } catch (error) {
    if (ctx.env.GATEWAY_SETUP_DEBUG) process.stderr.write(`${(error as Error).stack}\n`);
    return fail(check.id, `the check itself failed: ${(error as Error).message}`, debugFix(check.id));
  }
}

/** The installed session, `main` from tier 2 on, and the live registered ones: dead ones are the `sessions` check's (its --fix hands their queues over). */
async function sessionIdsFor(manifest: Manifest, redis: RedisClient | undefined): Promise<string[]> {
  const { prefix } = manifest.settings;
  const live = redis ? [...(await liveSessions(redis, prefix))] : [];
  // from tier 2 on, `main` is still a way in (the central session folds it into its own queue)
  const inbox = manifest.settings.mode === "single" ? [] : [TIER1_SESSION_ID];
  return [...new Set([manifest.settings.sessionId, ...inbox, ...live.filter(isValidSessionId)])];
}

/** Every component's steps planned again for the manifest's settings on this machine; a component that cannot plan here any more (pi left PATH) adds none. */
export function replanInstall(manifest: Manifest, env: Env, target: RedisTarget, redisProbe: RedisProbe): PlanStep[] {
  const ctx: PlanContext = {
    answers: installedAnswers(manifest) as Answers,
    settings: manifest.settings,
    system: detectSystem(env),
    env,
    redis: target,
    redisProbe,
    ...(manifest.settings.redisPasswordSet ? { secretsFile: secretsFilePath(manifest.settings.stateDir) } : {}),
  };
  return COMPONENTS.filter((component) => component.applies(manifest.settings)).flatMap((component) => {
    try {
      return component.plan(ctx).steps;
    } catch {
      return [];
    }
  });
}

async function withContext<T>(manifest: Manifest, env: Env, body: (ctx: DoctorContext) => Promise<T>): Promise<T> {
  const target = redisTargetFor(manifest, env);
  const { probe, client: redis } = await connectRedis(target, 2000);
  try {
    const sessionIds = await sessionIdsFor(manifest, redis);
    const replan = () => replanInstall(manifest, env, target, probe);
    return await body({ env, manifest, target, redisProbe: probe, ...(redis ? { redis } : {}), sessionIds, replan });
  } finally {
    redis?.disconnect();
  }
}
