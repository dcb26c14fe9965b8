// `gateway-setup` (the default command): flags and questions -> answers -> plan -> apply -> verify.
// Only resolveAnswers and the consent questions prompt; everything after the plan runs unattended.
import { redisInstallRecipe } from "../components/redis/install-recipe.ts";
import { probeRedis, type RedisProbe } from "../components/redis/probe.ts";
import { isLocalHost, parseRedisUrl, type RedisTarget } from "../components/redis/url.ts";
import { applyPlan, ApplyError, InstallCancelledError, type StepResult } from "../install/apply.ts";
import { checkExtensionDelivery, checkLiveSession, checkRedisPing, type VerificationCheck } from "../install/verify.ts";
import type { Env } from "../platform/exec.ts";
import { displayPath } from "../platform/paths.ts";
import { ownVersion } from "../platform/package-root.ts";
import type { SystemInfo } from "../platform/system.ts";
import { buildPlan, PlanError } from "../plan/build-plan.ts";
import { describePlan } from "../plan/describe.ts";
import { defaultHeartbeatSource } from "../plan/tier2.ts";
import { planForDisplay, type Plan, type PlanStep } from "../plan/plan.ts";
import { HEARTBEAT_SOURCES, TierUnavailableError, type Answers } from "../wizard/answers.ts";
import { answersFromFlags, UsageError, type SetupFlags } from "../wizard/flags.ts";
import { WizardCancelledError, type Prompter } from "../wizard/prompter.ts";
import { resolveAnswers } from "../wizard/questions.ts";
import { EXIT_CANCELLED, EXIT_FAILED, EXIT_OK, EXIT_USAGE } from "./exit-codes.ts";
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
  /** aborted on Ctrl-C */
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

  try {
    const given = answersFromFlags(ctx.flags);
    const prompter = ctx.prompter;
    if (!prompter && !ctx.flags.yes && !ctx.flags.dryRun) return fail(EXIT_USAGE, NON_INTERACTIVE_HINT);
    ctx.output.intro(`gateway-setup ${ownVersion()}: make pi always-on and reachable`);

    const answers = await resolveAnswers(given, prompter, ctx.cwd, {
      heartbeat: defaultHeartbeatSource(ctx.system),
      heartbeats: HEARTBEAT_SOURCES.filter((source) => (source === "launchd" || source === "systemd" ? ctx.system.serviceManager === source : true)),
    });
    const target = parseRedisUrl(answers.redisUrl, answers.redisPassword ?? ctx.env.GATEWAY_REDIS_PASSWORD ?? ctx.env.REDISCLI_AUTH);
    if (ctx.flags.redisUrl && parseRedisUrl(ctx.flags.redisUrl).password) {
      ctx.output.warn("The password in --redis-url is visible to other users in the process list; prefer GATEWAY_REDIS_PASSWORD.");
    }
    const { redis, settled } = await settleRedis(ctx, answers, target);
    const plan = buildPlan({ answers: settled, env: ctx.env, system: ctx.system, redis });
    report.plan = planForDisplay(plan);

    ctx.output.note(describePlan(plan, ctx.env), ctx.flags.dryRun ? "Plan (dry run: nothing will be changed)" : "Plan");
    if (ctx.flags.dryRun) return finish(EXIT_OK);
    if (prompter && !(await prompter.confirm({ id: "confirm", message: "Apply this plan?", initialValue: true }))) {
      throw new WizardCancelledError();
    }
    return await applyAndVerify(ctx, plan, parseRedisUrl(settled.redisUrl, settled.redisPassword ?? target.password), report, finish, fail);
  } catch (error) {
    if (error instanceof WizardCancelledError || error instanceof InstallCancelledError) {
      report.error = { message: error.message };
      ctx.output.warn(error.message);
      return finish(EXIT_CANCELLED);
    }
    if (error instanceof UsageError || error instanceof TierUnavailableError) return fail(EXIT_USAGE, error.message);
    if (error instanceof PlanError) return fail(EXIT_FAILED, error.message, error.fix);
    if (ctx.env.GATEWAY_SETUP_DEBUG) throw error;
    return fail(EXIT_FAILED, `gateway-setup stopped on an unexpected error: ${(error as Error).message}`, "run again with GATEWAY_SETUP_DEBUG=1 for the stack trace");
  }
}

/** Probes Redis and, where a person can answer, asks for a password or consent to install it. */
async function settleRedis(
  ctx: SetupContext,
  answers: Answers,
  target: RedisTarget,
): Promise<{ redis: RedisProbe; settled: Answers }> {
  const spinner = ctx.output.spinner(`Checking Redis at ${target.url}`);
  let redis = await probeRedis(target);
  if (redis.status === "ok") spinner.stop(`Redis answered at ${target.url} (${redis.latencyMs} ms)`);
  else spinner.fail(redis.message);
  let settled: Answers = { ...answers, ...(target.password ? { redisPassword: target.password } : {}) };

  const prompter = ctx.prompter;
  for (let attempt = 0; prompter && attempt < 3 && (redis.status === "auth-required" || redis.status === "auth-failed"); attempt++) {
    const password = await prompter.password({
      id: "redisPassword",
      message: `Password for Redis at ${target.url}`,
      validate: (value) => (value ? undefined : "a password is required"),
    });
    settled = { ...settled, redisPassword: password };
    redis = await probeRedis(parseRedisUrl(settled.redisUrl, password));
    if (redis.status !== "ok") ctx.output.warn(redis.message);
  }

  if (redis.status === "unreachable" && isLocalHost(target) && !settled.installRedis) {
    const recipe = redisInstallRecipe(ctx.system);
    if (recipe && prompter) {
      const commands = recipe.commands.map((argv) => argv.join(" ")).join("\n");
      prompter.note(commands, `No Redis at ${target.url}. gateway-setup can install and start it with ${recipe.manager}:`);
      settled.installRedis = await prompter.confirm({ id: "installRedis", message: "Run these commands now?", initialValue: true });
    } else if (recipe && ctx.flags.yes && ctx.flags.installRedis !== false) {
      settled.installRedis = true;
    }
  }
  return { redis, settled };
}

async function applyAndVerify(
  ctx: SetupContext,
  plan: Plan,
  target: RedisTarget,
  report: SetupReport,
  finish: (code: number) => number,
  fail: (code: number, message: string, fix?: string) => number,
): Promise<number> {
  const checks: VerificationCheck[] = [];
  report.verification = checks;
  const failedCheck = () => checks.find((c) => c.status === "fail");
  let results: StepResult[];
  try {
    const applied = await applyPlan(plan, {
      env: ctx.env,
      invocation: ctx.invocation,
      jsonOutput: ctx.output.json,
      ...(ctx.signal ? { signal: ctx.signal } : {}),
      reporter: {
        stepStarted: (step) => {
          if (step.kind === "command" && !step.satisfied) ctx.output.info(`running ${step.argv.join(" ")}`);
        },
        stepFinished: () => {},
      },
      waitForRedis: (timeoutMs) => waitForRedis(target, timeoutMs),
      verify: async () => {
        const spinner = ctx.output.spinner("Verifying: Redis, then a test event through the installed extension");
        checks.push(await checkRedisPing(target));
        if (!failedCheck()) checks.push(await checkExtensionDelivery(plan.settings, target));
        const failed = failedCheck();
        if (failed) {
          spinner.fail(failed.message);
          throw new Error(failed.message);
        }
        spinner.stop("Verified");
        for (const check of checks) ctx.output.success(check.message);
      },
    });
    results = applied.results;
    report.changed = applied.changed;
    ctx.output.success(summarizeResults(results));
    report.applied = results.map((r) => ({ description: r.step.description, target: stepTarget(r.step, ctx.env), outcome: r.outcome }));
  } catch (error) {
    if (error instanceof ApplyError) {
      const rollback = error.rollbackProblems.length
        ? ` Rolling back left problems: ${error.rollbackProblems.join("; ")}`
        : " Every change was rolled back.";
      return fail(EXIT_FAILED, `${error.message.replace(/\.$/, "")}.${rollback}`, error.fix ?? failedCheck()?.fix);
    }
    throw error;
  }

  const spinner = ctx.output.spinner(`Looking for a live pi session on "${plan.settings.sessionId}"`);
  const live = await checkLiveSession(plan.settings, target);
  checks.push(live);
  if (live.status === "fail") return fail(EXIT_FAILED, live.message, live.fix);
  spinner.stop(live.message);

  if (!report.changed) ctx.output.success("Everything was already installed with these settings; nothing changed.");
  const { prefix, sessionId, extensionDir } = plan.settings;
  ctx.output.note(
    [
      `Extension: ${displayPath(extensionDir, ctx.env)}`,
      ...(plan.settings.service
        ? [
            `The central pi session runs in tmux: tmux attach -t ${plan.settings.service.tmuxSession}`,
            ...plan.notes.map((note) => `Note: ${note}`),
            "Any script can reach it:",
          ]
        : ["Start pi (or /reload a running one); then any script can reach it:"]),
      "",
      `  redis-cli LPUSH ${prefix}:events:${sessionId} \\`,
      `    '{"id":"job-1","type":"job.done","source":"cron","payload":{},"ts":1}'`,
      `  redis-cli PUBLISH ${prefix}:notify:${sessionId} job-1`,
      "",
      "Health: gateway-setup doctor    Remove: gateway-setup uninstall",
    ].join("\n"),
    "Installed",
  );
  return finish(EXIT_OK);
}

function closingLine(code: number, report: SetupReport): string {
  if (code === EXIT_OK) return report.dryRun ? "Dry run: nothing was changed." : "Done.";
  if (code === EXIT_CANCELLED) return "Nothing was changed.";
  return report.applied ? "Installed, but not verified end to end: see above." : "Nothing was installed.";
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

async function waitForRedis(target: RedisTarget, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: RedisProbe;
  do {
    last = await probeRedis(target, 1000);
    if (last.status === "ok") return;
    await new Promise((r) => setTimeout(r, 300));
  } while (Date.now() < deadline);
  throw new Error(last.message);
}
