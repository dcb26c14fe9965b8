// `gateway-setup` (the default command) as small steps over one context: the flags, a run stopped
// midway, the answers, Redis, the plan, the confirmation, apply with verification, the live-session
// check, the summary. Only the answers step and the consent questions prompt; everything after the
// plan runs unattended. Every failure is a GatewayError, and its kind is the exit code.

import { EXIT_CANCELLED, EXIT_OK, EXIT_USAGE, exitCodeFor } from "../cli/exit-codes.ts";
import { parseRedisUrl } from "../components/redis/url.ts";
import { CancelledError, GatewayError } from "../core/errors.ts";
import { type VerificationCheck, VerificationRedis } from "../install/verify.ts";
import { buildPlan } from "../plan/build-plan.ts";
import { describePlan } from "../plan/describe.ts";
import { planForDisplay } from "../plan/file-change.ts";
import { ownVersion } from "../platform/package-root.ts";
import { WizardCancelledError } from "../wizard/prompter.ts";
import { givenAnswers, resolveSetupAnswers, settleStoppedRun } from "./answers.ts";
import { applyAndVerify, checkForLiveSession } from "./apply.ts";
import { JSON_NEEDS_YES, NON_INTERACTIVE_HINT, type SetupContext, type SetupReport } from "./context.ts";
import { redisForDryRun, redisTargetFor, settleRedis } from "./redis.ts";
import { closingLine, installedNote } from "./summary.ts";
import { settleTelegram } from "./telegram.ts";

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
    const given = givenAnswers(ctx);
    if (ctx.flags.json && !ctx.flags.yes && !ctx.flags.dryRun) return fail(EXIT_USAGE, JSON_NEEDS_YES);
    if (!ctx.prompter && !ctx.flags.yes && !ctx.flags.dryRun) return fail(EXIT_USAGE, NON_INTERACTIVE_HINT);
    ctx.output.intro(`gateway-setup ${ownVersion()}: make pi always-on and reachable`);
    await settleStoppedRun(ctx);
    const answers = await settleTelegram(ctx, await resolveSetupAnswers(ctx, given));
    notCancelled();
    const target = redisTargetFor(ctx, answers);
    const { redis, settled } = await settleRedis(ctx, answers, target);
    notCancelled();

    const planned = ctx.flags.dryRun ? redisForDryRun(ctx.system, settled, redis) : { redis };
    const plan = buildPlan({ answers: settled, env: ctx.env, system: ctx.system, redis: planned.redis });
    if (planned.unchecked) plan.notes.unshift(planned.unchecked);
    report.plan = planForDisplay(plan);
    ctx.output.note(
      describePlan(plan, ctx.env, { verbose: Boolean(ctx.flags.verbose) }),
      ctx.flags.dryRun ? "Plan (dry run: nothing will be changed)" : "Plan",
    );
    if (ctx.flags.dryRun) return finish(EXIT_OK);
    if (ctx.prompter && !(await ctx.prompter.confirm({ id: "confirm", message: "Apply this plan?", initialValue: true }))) {
      throw new WizardCancelledError();
    }
    notCancelled();

    const verification = new VerificationRedis(parseRedisUrl(settled.redisUrl, settled.redisPassword ?? target.password));
    let live: VerificationCheck;
    try {
      await applyAndVerify(ctx, plan, settled, verification, report);
      live = await checkForLiveSession(ctx, plan, verification, report);
    } finally {
      verification.close();
    }
    if (ctx.signal?.aborted) {
      report.error = { message: "setup was interrupted after the install was complete; it stays installed (gateway-setup uninstall removes it)" };
      return finish(EXIT_CANCELLED);
    }
    if (live.status === "fail") throw new GatewayError(live.message, live.fix);
    if (!report.changed) ctx.output.success("Everything was already installed with these settings; nothing changed.");
    ctx.output.note(installedNote(plan, ctx.env), "Installed");
    return finish(EXIT_OK);
  } catch (error) {
    if (error instanceof CancelledError) {
      report.error = { message: error.message };
      return finish(EXIT_CANCELLED);
    }
    if (error instanceof GatewayError) return fail(exitCodeFor(error), error.message, error.fix);
    if (ctx.env.GATEWAY_SETUP_DEBUG) throw error;
    return fail(
      exitCodeFor(error),
      `gateway-setup stopped on an unexpected error: ${(error as Error).message}`,
      "run again with GATEWAY_SETUP_DEBUG=1 for the stack trace",
    );
  }
}
