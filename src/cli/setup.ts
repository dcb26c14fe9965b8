// `gateway-setup` (the default command): flags and questions -> answers -> plan -> apply -> verify.
// Only resolveAnswers and the consent questions prompt; everything after the plan runs unattended.
import { installCanServe, redisInstallRecipe } from "../components/redis/install-recipe.ts";
import { probeRedis } from "../components/redis/probe.ts";
import { type RedisProbe } from "../core/redis.ts";
import { secretsFilePath } from "../components/redis/secrets.ts";
import { parseRedisUrl, redisCliFor } from "../components/redis/url.ts";
import { type RedisTarget } from "../core/redis.ts";
import { readSecretsFile } from "../runtime/consumer/secrets.ts";
import { applyPlan, ApplyError, InstallCancelledError, type StepResult } from "../install/apply.ts";
import { settleInterruptedInstall } from "../install/journal.ts";
import { ManifestError, readManifest } from "../install/manifest.ts";
import { checkExtensionDelivery, checkLiveSession, checkRedisPing, type VerificationCheck } from "../install/verify.ts";
import type { Env } from "../platform/exec.ts";
import { pause } from "../platform/abort.ts";
import { displayPath, extensionDir, gatewayStateDir, installedManifestPath } from "../platform/paths.ts";
import { ownVersion } from "../platform/package-root.ts";
import type { SystemInfo } from "../core/system.ts";
import { buildPlan } from "../plan/build-plan.ts";
import { describePlan } from "../plan/describe.ts";
import { heartbeatChoices } from "../plan/settings.ts";
import { attachCommand } from "../components/service/wrapper.ts";
import { planForDisplay } from "../plan/file-change.ts";
import type { Manifest } from "../core/manifest.ts";
import type { Plan, PlanStep } from "../core/plan.ts";
import { assertTierAvailable, type Answers } from "../core/answers.ts";
import { answersFromFlags, refuseTier2FlagsOnTier1, type SetupFlags } from "../wizard/flags.ts";
import { WizardCancelledError, type Prompter } from "../wizard/prompter.ts";
import { installedAnswers } from "../components/installed-answers.ts";
import { projectDirFor, resolveAnswers } from "../wizard/questions.ts";
import { CancelledError, GatewayError } from "../core/errors.ts";
import { EXIT_CANCELLED, EXIT_FAILED, EXIT_OK, EXIT_USAGE, exitCodeFor } from "./exit-codes.ts";
import type { Output } from "./output.ts";

export { EXIT_CANCELLED, EXIT_FAILED, EXIT_OK, EXIT_USAGE };

export interface SetupContext {
  flags: SetupFlags;
  env: Env;
  cwd: string;
  /** stdin and stdout are a terminal */
  isTTY: boolean;
  output: Output;
  /** present only when questions may be asked */
  prompter?: Prompter;
  system: SystemInfo;
  invocation: string;
  /** aborted on Ctrl-C, SIGTERM or SIGHUP */
  signal?: AbortSignal;
}

interface SetupReport {
  ok: boolean;
  dryRun: boolean;
  plan?: Plan;
  applied?: { description: string; target: string; outcome: string }[];
  changed?: boolean;
  verification?: VerificationCheck[];
  error?: { message: string; fix?: string };
}

export const NON_INTERACTIVE_HINT =
  "gateway-setup needs answers but this is not an interactive terminal. Re-run with --yes to accept the defaults, " +
  "e.g. `gateway-setup --tier 1 --yes [--redis-url redis://127.0.0.1:6379] [--scope global|project] [--prefix agent]`, " +
  "or --dry-run to only print the plan.";

export const JSON_NEEDS_YES = "--json needs --yes (or --dry-run): a JSON run cannot ask questions";

export async function runSetup(ctx: SetupContext): Promise<number> {
  const report: SetupReport = { ok: false, dryRun: Boolean(ctx.flags.dryRun) };
  const finish = (code: number) => {
    report.ok = code === EXIT_OK;
    if (ctx.output.json) ctx.output.document(report);
    else ctx.output.outro(closingLine(code, report));
    return code;
  };
  const fail = (code: number, message: string, fix?: string) => {
    report.error = { message, ...(fix ? { fix } : {}) };
    ctx.output.error(fix ? `${message}\n→ ${fix}` : message);
    return finish(code);
  };
  const notCancelled = () => {
    if (ctx.signal?.aborted) throw new WizardCancelledError();
  };

  try {
    const given = answersFromFlags(ctx.flags, ctx.env);
    const prompter = ctx.prompter;
    if (ctx.flags.json && !ctx.flags.yes && !ctx.flags.dryRun) return fail(EXIT_USAGE, JSON_NEEDS_YES);
    if (!prompter && !ctx.flags.yes && !ctx.flags.dryRun) return fail(EXIT_USAGE, NON_INTERACTIVE_HINT);
    ctx.output.intro(`gateway-setup ${ownVersion()}: make pi always-on and reachable`);
    const stoppedRun = await settleInterruptedInstall(gatewayStateDir(ctx.env), ctx.env, Boolean(ctx.flags.dryRun));
    if (stoppedRun) ctx.output.warn(stoppedRun);

    const installed = installedManifest(ctx.env);
    const was = installed ? installedAnswers(installed) : {};
    if (installed) ctx.output.info(`Tier ${installed.settings.tier} is installed (${displayPath(installed.settings.extensionDir, ctx.env)}): this run starts from its settings.`);
    const projectDir = projectDirFor(given, was, ctx.cwd);
    const answers = await resolveAnswers(given, prompter, ctx.cwd, {
      installed: was,
      ...heartbeatChoices(ctx.system, given.service ?? was.service),
      extensionDirs: {
        global: displayPath(extensionDir("global", projectDir, ctx.env), ctx.env),
        project: displayPath(extensionDir("project", projectDir, ctx.env), ctx.env),
      },
    });
    assertTierAvailable(answers.tier);
    refuseTier2FlagsOnTier1(given, answers.tier);
    notCancelled();
    const password = answers.redisPassword ?? ctx.env.GATEWAY_REDIS_PASSWORD ?? ctx.env.REDISCLI_AUTH ?? storedPassword(ctx.env);
    const target = parseRedisUrl(answers.redisUrl, password);
    if (ctx.flags.redisUrl && parseRedisUrl(ctx.flags.redisUrl).password) {
      ctx.output.warn("The password in --redis-url is visible to other users in the process list; prefer GATEWAY_REDIS_PASSWORD.");
    }
    const { redis, settled } = await settleRedis(ctx, answers, target);
    notCancelled();
    const plan = buildPlan({ answers: settled, env: ctx.env, system: ctx.system, redis });
    report.plan = planForDisplay(plan);

    ctx.output.note(describePlan(plan, ctx.env), ctx.flags.dryRun ? "Plan (dry run: nothing will be changed)" : "Plan");
    if (ctx.flags.dryRun) return finish(EXIT_OK);
    if (prompter && !(await prompter.confirm({ id: "confirm", message: "Apply this plan?", initialValue: true }))) {
      throw new WizardCancelledError();
    }
    notCancelled();
    return await applyAndVerify(ctx, plan, settled, parseRedisUrl(settled.redisUrl, settled.redisPassword ?? target.password), report, finish, fail);
  } catch (error) {
    if (error instanceof CancelledError) {
      report.error = { message: error.message };
      return finish(EXIT_CANCELLED);
    }
    if (error instanceof GatewayError) return fail(exitCodeFor(error), error.message, error.fix);
    if (ctx.env.GATEWAY_SETUP_DEBUG) throw error;
    return fail(EXIT_FAILED, `gateway-setup stopped on an unexpected error: ${(error as Error).message}`, "run again with GATEWAY_SETUP_DEBUG=1 for the stack trace");
  }
}

/** The password an earlier install stored, so a re-run does not need it in the environment again. */
function storedPassword(env: Env): string | undefined {
  return readSecretsFile(secretsFilePath(gatewayStateDir(env))).GATEWAY_REDIS_PASSWORD || undefined;
}

const isAuthProblem = (probe: RedisProbe) => probe.status === "auth-required" || probe.status === "auth-failed";

/** Probes Redis and, where a person can answer, asks for a password or consent to install it. */
async function settleRedis(
  ctx: SetupContext,
  answers: Answers,
  target: RedisTarget,
): Promise<{ redis: RedisProbe; settled: Answers }> {
  const spinner = ctx.output.spinner(`Checking Redis at ${target.url}`);
  let redis = await probeRedis(target, 2000, ctx.signal);
  const answered = (probe: RedisProbe) => (probe.status === "ok" ? `Redis answered at ${target.url} (${probe.latencyMs} ms)` : "");
  // a problem nobody here can fix is said once, by the error that follows
  if (redis.status === "ok") spinner.stop(answered(redis));
  else spinner.clear();
  let settled: Answers = { ...answers, ...(target.password ? { redisPassword: target.password } : {}) };

  const prompter = ctx.prompter;
  for (let attempt = 0; prompter && attempt < 3 && isAuthProblem(redis); attempt++) {
    if ("message" in redis) ctx.output.warn(redis.message);
    const password = await prompter.password({
      id: "redisPassword",
      message: `Password for Redis at ${target.url}`,
      validate: (value) => (value ? undefined : "a password is required"),
    });
    settled = { ...settled, redisPassword: password };
    redis = await probeRedis(parseRedisUrl(settled.redisUrl, password), 2000, ctx.signal);
    if (redis.status === "ok") ctx.output.success(answered(redis));
  }

  const recipe = redisInstallRecipe(ctx.system);
  if (redis.status === "unreachable" && installCanServe(target) && recipe && !settled.installRedis) {
    const commands = recipe.commands.map((argv) => argv.join(" ")).join("\n");
    if (prompter) {
      prompter.note(`${redis.message}\n\n${commands}`, `gateway-setup can install and start Redis with ${recipe.manager}`);
      settled.installRedis = await prompter.confirm({ id: "installRedis", message: "Run these commands now?", initialValue: true });
    } else if (ctx.flags.yes && ctx.flags.installRedis !== false) {
      ctx.output.info(`${redis.message} Redis will be installed with ${recipe.manager} (--yes; --no-install-redis prevents it).`);
      settled.installRedis = true;
    }
  }
  return { redis, settled };
}

async function applyAndVerify(
  ctx: SetupContext,
  plan: Plan,
  answers: Answers,
  target: RedisTarget,
  report: SetupReport,
  finish: (code: number) => number,
  fail: (code: number, message: string, fix?: string) => number,
): Promise<number> {
  const checks: VerificationCheck[] = [];
  report.verification = checks;
  const failedCheck = () => checks.find((c) => c.status === "fail");
  const signal = ctx.signal;
  const notCancelled = () => {
    if (signal?.aborted) throw new InstallCancelledError();
  };
  const done: StepResult[] = [];
  let redisInstallRan = false;
  let results: StepResult[];
  try {
    const applied = await applyPlan(plan, {
      env: ctx.env,
      invocation: ctx.invocation,
      answers,
      jsonOutput: ctx.output.json,
      ...(signal ? { signal } : {}),
      reporter: {
        stepStarted: (step) => {
          if (step.kind !== "command" || step.satisfied) return;
          if (step.component === "redis") redisInstallRan = true;
          ctx.output.info(`running ${step.argv.join(" ")}`);
        },
        stepFinished: (result) => void done.push(result),
      },
      waitForRedis: (timeoutMs) => waitForRedis(target, timeoutMs, signal),
      verify: async () => {
        ctx.output.success(summarizeResults(done));
        const spinner = ctx.output.spinner("Verifying: Redis, then a test event through the installed extension");
        try {
          checks.push(await checkRedisPing(target, { signal }));
          notCancelled();
          if (!failedCheck()) checks.push(await checkExtensionDelivery(plan.settings, target, { signal }));
          notCancelled();
        } catch (error) {
          spinner.clear();
          throw error;
        }
        const failed = failedCheck();
        if (failed) {
          // the failure is said once, with the rollback, by the caller
          spinner.clear();
          throw new Error(failed.message);
        }
        spinner.stop("Verified");
        ctx.output.success(checks.map((check) => check.message).join("\n"));
      },
    });
    results = applied.results;
    report.changed = applied.changed;
    const takenBack = results.filter((r) => r.outcome === "removed" || r.outcome === "restored");
    if (takenBack.length) ctx.output.success(summarizeResults(takenBack));
    report.applied = results.map((r) => ({ description: r.step.description, target: stepTarget(r.step, ctx.env), outcome: r.outcome }));
  } catch (error) {
    const kept = redisInstallRan ? ` ${REDIS_INSTALL_KEPT}` : "";
    if (error instanceof InstallCancelledError) {
      if (kept) ctx.output.warn(kept.trim());
      throw error;
    }
    if (error instanceof ApplyError) {
      const rollback = error.rollbackProblems.length
        ? ` Rolling back left problems: ${error.rollbackProblems.join("; ")}`
        : redisInstallRan
          ? " Every other change was rolled back."
          : " Every change was rolled back.";
      return fail(EXIT_FAILED, `${error.message.replace(/\.$/, "")}.${rollback}${kept}`, error.fix ?? failedCheck()?.fix ?? fixForStep(error.step));
    }
    throw error;
  }

  const spinner = ctx.output.spinner(`Looking for a live pi session on "${plan.settings.sessionId}"`);
  const live = await checkLiveSession(plan.settings, target, signal ? { signal } : {});
  checks.push(live);
  if (signal?.aborted) {
    spinner.clear();
    report.error = { message: "setup was interrupted after the install was complete; it stays installed (gateway-setup uninstall removes it)" };
    return finish(EXIT_CANCELLED);
  }
  if (live.status === "fail") {
    spinner.clear();
    return fail(EXIT_FAILED, live.message, live.fix);
  }
  if (live.status === "warn") {
    spinner.clear();
    ctx.output.warn(live.fix ? `${live.message}\n→ ${live.fix}` : live.message);
  } else spinner.stop(live.message);

  if (!report.changed) ctx.output.success("Everything was already installed with these settings; nothing changed.");
  ctx.output.note(installedNote(plan, ctx.env), "Installed");
  return finish(EXIT_OK);
}

/** The settings of the install this run would replace; a damaged manifest is reported when the plan is built. */
function installedManifest(env: Env): Manifest | undefined {
  try {
    return readManifest(installedManifestPath(env));
  } catch (error) {
    if (error instanceof ManifestError) return undefined;
    throw error;
  }
}

export const REDIS_INSTALL_KEPT =
  "Redis packages installed and services started by this run are not rolled back (remove them with your package manager if you do not want them).";

function fixForStep(step: PlanStep | undefined): string | undefined {
  if (step?.kind === "command" && step.argv[0] === "npm") return "check your network / npm registry, then run gateway-setup again";
  return undefined;
}

function installedNote(plan: Plan, env: Env): string {
  const { prefix, sessionId, extensionDir, redisUrl, redisPasswordSet, stateDir } = plan.settings;
  const cli = redisCliFor(redisUrl);
  return [
    `Extension: ${displayPath(extensionDir, env)}`,
    ...(plan.settings.service
      ? [
          plan.settings.service.manager === "none"
            ? `Once you start the central pi session (see the note), look at it with: ${attachCommand(plan.settings.service)}`
            : `The central pi session runs in tmux; look at it with: ${attachCommand(plan.settings.service)}`,
          ...plan.notes.map((note) => `Note: ${note}`),
          "Any script can reach it:",
        ]
      : ["Start pi (or /reload a running one); then any script can reach it:"]),
    "",
    ...(redisPasswordSet ? [`  set -a; . ${displayPath(secretsFilePath(stateDir), env)}; set +a   # REDISCLI_AUTH`] : []),
    "  ts=$(date +%s000)",
    `  ${cli} LPUSH ${prefix}:events:${sessionId} \\`,
    `    '{"id":"job-'$ts'","type":"job.done",`,
    `      "source":"cron","payload":{},"ts":'$ts'}'`,
    `  ${cli} PUBLISH ${prefix}:notify:${sessionId} job-$ts`,
    "",
    ...(plan.settings.mode === "multi"
      ? [
          "Every other pi you start joins as a satellite with its own id (GATEWAY_SESSION_ID in its shell); a job it starts reports back to it and to the central session with:",
          `  npx gateway-setup push job.done --payload '{"ok":true}'`,
          "",
        ]
      : []),
    "Health: gateway-setup doctor    Remove: gateway-setup uninstall",
  ].join("\n");
}

function closingLine(code: number, report: SetupReport): string {
  if (code === EXIT_OK) return report.dryRun ? "Dry run: nothing was changed." : "Done.";
  if (code === EXIT_CANCELLED) return sentence(report.error?.message ?? "cancelled");
  return report.applied ? "Installed, but not verified end to end: see above." : "Nothing was installed.";
}

function sentence(text: string): string {
  return `${text.charAt(0).toUpperCase()}${text.slice(1)}${/[.!?]$/.test(text) ? "" : "."}`;
}

function summarizeResults(results: StepResult[]): string {
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

function stepTarget(step: PlanStep, env: Env): string {
  return "path" in step ? displayPath(step.path, env) : step.kind === "command" ? step.argv.join(" ") : step.description;
}

async function waitForRedis(target: RedisTarget, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: RedisProbe;
  do {
    last = await probeRedis(target, 1000, signal);
    if (last.status === "ok") return;
    if (signal?.aborted) throw new InstallCancelledError();
    await pause(300, signal).catch(() => {});
  } while (Date.now() < deadline && !signal?.aborted);
  if (signal?.aborted) throw new InstallCancelledError();
  throw new Error(last.message);
}
