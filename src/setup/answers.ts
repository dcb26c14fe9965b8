// Setup's first steps: settle a run that was stopped midway, then the answers: flags first, the
// installed answers as defaults, questions only where a person can answer.
import { installedAnswers } from "../components/installed-answers.ts";
import type { Answers } from "../core/answers.ts";
import type { Manifest } from "../core/manifest.ts";
import { settleInterruptedInstall } from "../install/journal.ts";
import { ManifestError, readManifest } from "../install/manifest.ts";
import { heartbeatChoices } from "../plan/settings.ts";
import { validateAnswers, validateService } from "../plan/validate.ts";
import type { Env } from "../platform/exec.ts";
import { displayPath, extensionDir, gatewayStateDir, installedManifestPath } from "../platform/paths.ts";
import { answersFromFlags, refuseFlagsAboveTier, refuseHeartbeatContradiction } from "../wizard/flags.ts";
import { projectDirFor, resolveAnswers } from "../wizard/questions.ts";
import type { SetupContext } from "./context.ts";

/** A run stopped midway (its journal is left) is rolled back first, or, with --dry-run, only named. */
export async function settleStoppedRun(ctx: Pick<SetupContext, "env" | "flags" | "output">): Promise<void> {
  const stoppedRun = await settleInterruptedInstall(gatewayStateDir(ctx.env), ctx.env, Boolean(ctx.flags.dryRun));
  if (stoppedRun) ctx.output.warn(stoppedRun);
}

/** The answers the flags give (a usage error before anything happens). */
export function givenAnswers(ctx: Pick<SetupContext, "env" | "flags">): Partial<Answers> {
  return answersFromFlags(ctx.flags, ctx.env);
}

/** The answers this run goes by, checked against this machine before Redis is asked; a re-run starts from what is installed. */
export async function resolveSetupAnswers(
  ctx: Pick<SetupContext, "env" | "output" | "prompter" | "cwd" | "system">,
  given: Partial<Answers>,
): Promise<Answers> {
  validateService(given.service, ctx.system);
  const installed = installedManifest(ctx.env);
  const was = installed ? installedAnswers(installed) : {};
  if (installed)
    ctx.output.info(
      `Tier ${installed.settings.tier} is installed (${displayPath(installed.settings.extensionDir, ctx.env)}): this run starts from its settings.`,
    );
  const projectDir = projectDirFor(given, was, ctx.cwd);
  const answers = await resolveAnswers(given, ctx.prompter, ctx.cwd, {
    installed: was,
    ...heartbeatChoices(ctx.system, given.service ?? was.service),
    extensionDirs: {
      global: displayPath(extensionDir("global", projectDir, ctx.env), ctx.env),
      project: displayPath(extensionDir("project", projectDir, ctx.env), ctx.env),
    },
  });
  refuseFlagsAboveTier(given, answers.tier);
  refuseHeartbeatContradiction(given, answers.heartbeat);
  validateAnswers(answers, ctx.system, ctx.env);
  return answers;
}

/** The install this run would replace; a damaged manifest is reported when the plan is built. */
function installedManifest(env: Env): Manifest | undefined {
  try {
    return readManifest(installedManifestPath(env));
  } catch (error) {
    if (error instanceof ManifestError) return undefined;
    throw error;
  }
}
