// What applying a file step would do to the file that is there now. Reads files, writes nothing.

import { type FileStep, type Plan, REDACTED } from "../core/plan.ts";
import { readExisting } from "../install/fs-ops.ts";

export type FileChange = "new" | "changed" | "unchanged";

export function fileChange(path: string, contents: string, mode: number): FileChange {
  const existing = readExisting(path);
  if (!existing) return "new";
  return existing.contents.equals(Buffer.from(contents, "utf8")) && existing.mode === mode ? "unchanged" : "changed";
}

/** What applying a file step does: a createOnly file that exists is the user's and stays as it is. */
export type FileStepStatus = FileChange | "kept";

export function fileStepStatus(step: FileStep): FileStepStatus {
  const change = fileChange(step.path, step.contents, step.mode);
  return step.createOnly && change !== "new" ? "kept" : change;
}

/** The plan as safe JSON: secret file contents replaced; each file step says what applying would do to it. */
export function planForDisplay(plan: Plan): Plan {
  return {
    ...plan,
    steps: plan.steps.map((step) => (step.kind === "file" ? { ...step, change: fileStepStatus(step), ...(step.secret ? { contents: REDACTED } : {}) } : step)),
  };
}
