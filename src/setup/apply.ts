// Setup's last steps: apply the plan as one transaction, with the verification inside it (Redis
// answers, a test event goes through the installed extension: a failure rolls everything back;
// a re-run that changed nothing does not load the extension an install verified again), then look
// for a live pi session on the installed id.
import type { Answers } from "../core/answers.ts";
import { GatewayError } from "../core/errors.ts";
import type { Plan } from "../core/plan.ts";
import { ApplyError, applyPlan, InstallCancelledError, type StepResult } from "../install/apply.ts";
import {
  checkExtensionDelivery,
  checkLiveSession,
  checkRedisPing,
  checkUnchangedExtension,
  type VerificationCheck,
  type VerificationRedis,
} from "../install/verify.ts";
import type { SetupContext, SetupReport } from "./context.ts";
import { waitForRedis } from "./redis.ts";
import { fixForStep, REDIS_INSTALL_KEPT, stepTarget, summarizeResults } from "./summary.ts";

/** Applies and verifies; records what was done and checked in the report. A failure is a GatewayError that says what was rolled back. */
export async function applyAndVerify(
  ctx: Pick<SetupContext, "env" | "invocation" | "output" | "signal">,
  plan: Plan,
  answers: Answers,
  redis: VerificationRedis,
  report: SetupReport,
): Promise<void> {
  const { target } = redis;
  const checks: VerificationCheck[] = [];
  report.verification = checks;
  const failedCheck = () => checks.find((c) => c.status === "fail");
  const signal = ctx.signal;
  const notCancelled = () => {
    if (signal?.aborted) throw new InstallCancelledError();
  };
  const done: StepResult[] = [];
  let redisInstallRan = false;
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
      verify: async ({ asLastVerified }) => {
        ctx.output.success(summarizeResults(done));
        const spinner = ctx.output.spinner(`Verifying: Redis${asLastVerified ? "" : ", then a test event through the installed extension"}`);
        try {
          checks.push(await checkRedisPing(redis, { signal }));
          notCancelled();
          if (!failedCheck()) {
            checks.push(asLastVerified ? await checkUnchangedExtension(plan.settings, redis) : await checkExtensionDelivery(plan.settings, redis, { signal }));
          }
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
    report.changed = applied.changed;
    const takenBack = applied.results.filter((r) => r.outcome === "removed" || r.outcome === "restored");
    if (takenBack.length) ctx.output.success(summarizeResults(takenBack));
    report.applied = applied.results.map((r) => ({ description: r.step.description, target: stepTarget(r.step, ctx.env), outcome: r.outcome }));
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
      throw new GatewayError(`${error.message.replace(/\.$/, "")}.${rollback}${kept}`, error.fix ?? failedCheck()?.fix ?? fixForStep(error.step));
    }
    throw error;
  }
}

/** Is a pi session live on the installed id? It acknowledges a smoke event if so; one that does not is a failure. */
export async function checkForLiveSession(
  ctx: Pick<SetupContext, "output" | "signal">,
  plan: Plan,
  redis: VerificationRedis,
  report: SetupReport,
): Promise<VerificationCheck> {
  const spinner = ctx.output.spinner(`Looking for a live pi session on "${plan.settings.sessionId}"`);
  const live = await checkLiveSession(plan.settings, redis, ctx.signal ? { signal: ctx.signal } : {});
  report.verification?.push(live);
  if (ctx.signal?.aborted || live.status === "fail") spinner.clear();
  else if (live.status === "warn") {
    spinner.clear();
    ctx.output.warn(live.fix ? `${live.message}\n→ ${live.fix}` : live.message);
  } else spinner.stop(live.message);
  return live;
}
