// The human summary of a Plan: every file it will write and every command it will run.

import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { basename, dirname } from "node:path";
import type * as Diff from "diff";
import { formatInterval } from "../components/heartbeat/interval.ts";
import type { Plan, PlanStep, TakeBackStep } from "../core/plan.ts";
import { readExisting } from "../install/fs-ops.ts";
import { describeRemoval, takeBackRemoval } from "../install/take-back.ts";
import type { Env } from "../platform/exec.ts";
import { displayPath } from "../platform/paths.ts";
import { fileStepStatus } from "./file-change.ts";

/** Would applying the plan change nothing but (maybe) the crontab block? Needs an existing install. */
export function planChangesNothing(plan: Plan): boolean {
  return (
    existsSync(plan.settings.manifestPath) &&
    plan.steps.every((step) => {
      if (step.kind === "file") return ["unchanged", "kept"].includes(fileStepStatus(step));
      if (step.kind === "command") return Boolean(step.satisfied);
      if (step.kind === "dir") return existsSync(step.path);
      if (step.kind === "take-back") return step.action === "remove-dirs-if-empty";
      return step.kind === "crontab";
    })
  );
}

/** a command or crontab line longer than this is cut in the plan (--verbose and --json show it whole) */
const SHOWN_COMMAND_CHARS = 110;

export interface DescribeOptions {
  /** every command whole, however long */
  verbose?: boolean;
}

function shown(text: string, { verbose }: DescribeOptions): string {
  return verbose || text.length <= SHOWN_COMMAND_CHARS ? text : `${text.slice(0, SHOWN_COMMAND_CHARS - 1)}…`;
}

export function describeStep(step: PlanStep, env: Env, options: DescribeOptions = {}): string {
  switch (step.kind) {
    case "file": {
      const status = fileStepStatus(step);
      return status === "kept"
        ? `kept      ${displayPath(step.path, env)} (${step.description}: it exists, and is never overwritten)`
        : `${status.padEnd(9)} ${displayPath(step.path, env)} (${step.mode.toString(8)})`;
    }
    case "command": {
      const where = step.cwd ? `\n          in ${displayPath(step.cwd, env)}` : "";
      const argv = shown(step.argv.map((arg) => displayArg(arg, env)).join(" "), options);
      return `${step.satisfied ? "done     " : "run      "} ${argv}${where}${step.satisfied ? " (already done)" : ""}`;
    }
    case "redis-ready":
      return `check     ${step.description}`;
    case "dir":
      return `${existsSync(step.path) ? "exists   " : "new      "} ${displayPath(step.path, env)}/ (${step.description})`;
    case "crontab":
      return [`crontab   ${step.description}:`, ...step.entries.map((e) => `            ${shown(`${e.schedule} ${e.command}`, options)}`)].join("\n");
    case "take-back":
      return describeTakeBack(step, env);
  }
}

export function describeTakeBack(step: TakeBackStep, env: Env): string {
  if (step.action === "unload") return `unload    ${step.argv.map((arg) => displayArg(arg, env)).join(" ")} (no longer used; loaded again if setup fails)`;
  const [verb, text] = describeRemoval(takeBackRemoval(step)!, env);
  return `${verb.padEnd(9)} ${text}`;
}

/** The take-back of the previous install: removed files folder by folder, everything else a line each. */
function describeTakeBackSteps(steps: TakeBackStep[], plan: Plan, previousExtensionDir: string | undefined, env: Env): string[] {
  if (!steps.some((step) => step.action !== "remove-dirs-if-empty")) return [];
  const moved = previousExtensionDir && previousExtensionDir !== plan.settings.extensionDir;
  const removedByFolder = new Map<string, string[]>();
  const others: TakeBackStep[] = [];
  for (const step of steps) {
    if (step.action === "remove-file") removedByFolder.set(dirname(step.path), [...(removedByFolder.get(dirname(step.path)) ?? []), basename(step.path)]);
    else others.push(step);
  }
  return [
    "",
    moved
      ? `Then take back the previous install at ${displayPath(previousExtensionDir, env)} (the extension moves to ` +
        `${displayPath(plan.settings.extensionDir, env)}):`
      : "Then take back what the previous install left and this one no longer uses:",
    ...[...removedByFolder].map(([folder, names]) => `remove    ${displayPath(folder, env)}/ ${names.join(" ")}`),
    ...others.map((step) => describeTakeBack(step, env)),
  ];
}

const CRONTAB_REWRITTEN = " (the crontab block is rewritten only if it differs)";

/** A re-run with the same answers: one line, not the whole plan again. */
function nothingToChange(plan: Plan): string {
  return `Nothing to change: this is what is installed already${plan.steps.some((step) => step.kind === "crontab") ? CRONTAB_REWRITTEN : ""}.`;
}

function longCommand(step: PlanStep): boolean {
  if (step.kind === "command") return step.argv.join(" ").length > SHOWN_COMMAND_CHARS;
  if (step.kind === "crontab") return step.entries.some((entry) => `${entry.schedule} ${entry.command}`.length > SHOWN_COMMAND_CHARS);
  return false;
}

/** What keeps the central session running, and what that is: pi in tmux (tiers 2-3) or the daemon (tier 4). */
function describeService(s: Plan["settings"]): string {
  const service = s.service!;
  const central = s.daemon ? `the gateway daemon (pi embedded, Telegram @${s.telegram?.bot?.username ?? "bot"})` : `pi in tmux session ${service.tmuxSession}`;
  if (service.manager !== "none") return `${service.manager} (${service.name}), ${central}`;
  return s.daemon ? `none found: you start ${central}` : `none found: the wrapper alone, ${central}`;
}

export function describePlan(plan: Plan, env: Env, options: DescribeOptions = {}): string {
  const s = plan.settings;
  if (planChangesNothing(plan)) return nothingToChange(plan);
  const files = plan.steps.filter((step) => step.kind === "file");
  const others = plan.steps.filter((step) => step.kind !== "file" && step.kind !== "take-back");
  const takeBack = plan.steps.filter((step): step is TakeBackStep => step.kind === "take-back");
  const lines = (steps: PlanStep[]) =>
    steps.flatMap((step) => {
      const diff = step.kind === "file" && !step.secret && !step.built && fileStepStatus(step) !== "kept" ? fileDiff(step.path, step.contents, env) : undefined;
      return diff ? [describeStep(step, env, options), diff] : [describeStep(step, env, options)];
    });
  return [
    `Tier ${s.tier}, session "${s.sessionId}", keys ${s.prefix}:events:${s.sessionId} / ${s.prefix}:notify:${s.sessionId}`,
    `Redis     ${s.redisUrl}${s.redisPasswordSet ? " (password stored in a 0600 file)" : ""}`,
    ...(s.heartbeat && s.service
      ? [
          s.heartbeat.source === "none"
            ? "Heartbeat none: nothing sends heartbeats, and no watchdog or checklist is installed"
            : `Heartbeat ${s.heartbeat.source}, every ${formatInterval(s.heartbeat.intervalSeconds)}; checklist ${displayPath(s.heartbeat.checklistFile, env)}`,
          `Service   ${describeService(s)}`,
        ]
      : []),
    "",
    ...lines(files),
    ...lines(others),
    ...describeTakeBackSteps(takeBack, plan, plan.replaces?.extensionDir, env),
    `write     ${displayPath(s.manifestPath, env)} (install manifest)`,
    ...(options.verbose || !plan.steps.some(longCommand) ? [] : ["(long commands are cut here: --verbose or --json shows them whole)"]),
    "",
    "Then verify:",
    ...plan.verification.map((line, i) => `  ${i + 1}. ${line}`),
    ...(plan.notes.length ? ["", "Then it is up to you:", ...plan.notes.map((note) => `  - ${note}`)] : []),
  ].join("\n");
}

const MAX_DIFF_LINES = 40;

/** A unified diff of what a changed file will become (never for secret files). */
export function fileDiff(path: string, contents: string, env: Env): string | undefined {
  const existing = readExisting(path);
  if (!existing) return undefined;
  const before = existing.contents.toString("utf8");
  if (before === contents) return undefined;
  const shown = displayPath(path, env);
  // diff loads here, where a file that exists would change, not with every plan
  const { createTwoFilesPatch } = createRequire(import.meta.url)("diff") as typeof Diff;
  const patch = createTwoFilesPatch(`${shown} (now)`, `${shown} (planned)`, before, contents, "", "", { context: 2 });
  const lines = patch
    .split("\n")
    .slice(1) // the ==== rule
    .filter((line) => line !== "\\ No newline at end of file")
    .map((line, i) => (i < 2 ? line.trimEnd() : line)); // the ---/+++ headers end in a tab before the (empty) date
  const cut = lines.length > MAX_DIFF_LINES ? [...lines.slice(0, MAX_DIFF_LINES), `… ${lines.length - MAX_DIFF_LINES} more lines`] : lines;
  return cut.map((line) => `          ${line}`).join("\n");
}

/** A path in a command line, or the path of a `--flag=path`, shown relative to home. */
function displayArg(arg: string, env: Env): string {
  const [, flag = "", value = arg] = /^(--[\w-]+=)?(.*)$/s.exec(arg) ?? [];
  return flag + displayPath(value, env);
}
