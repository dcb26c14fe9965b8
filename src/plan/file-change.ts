// What applying a file step would do to the file that is there now. Reads files, writes nothing.

import type { Stats } from "node:fs";
import type { FileSignature } from "../core/manifest.ts";
import { type FileStep, type Plan, REDACTED } from "../core/plan.ts";
import { readExisting, sameSignature, signatureOf, statIfThere } from "../install/fs-ops.ts";

export type FileChange = "new" | "changed" | "unchanged";

/**
 * The last comparison of each path's bytes with the contents it was compared with. A run asks
 * about every file several times (the plan shown, "changes nothing?", the writability check),
 * and the largest is the 380 KB bundle: the answer stands while the file's signature does.
 */
const compared = new Map<string, { contents: string; signature: FileSignature; same: boolean }>();

function sameBytes(path: string, contents: string, stat: Stats): boolean {
  const signature = signatureOf(stat);
  const known = compared.get(path);
  if (known && sameSignature(known.signature, signature) && known.contents === contents) return known.same;
  const existing = stat.size === Buffer.byteLength(contents, "utf8") ? readExisting(path) : undefined;
  const same = existing?.contents.equals(Buffer.from(contents, "utf8")) === true;
  compared.set(path, { contents, signature, same });
  return same;
}

export function fileChange(path: string, contents: string, mode: number): FileChange {
  const stat = statIfThere(path);
  // readExisting says what is wrong with something that is not a regular file
  if (!stat?.isFile()) return readExisting(path) ? "changed" : "new";
  return sameBytes(path, contents, stat) && (stat.mode & 0o777) === mode ? "unchanged" : "changed";
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
