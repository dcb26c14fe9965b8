// How doctor --fix writes a file: the undo goes into the install journal first (put back the copy
// there was, kept under backups/, or remove the file and the folders made for it), then the write.
import { dirname } from "node:path";
import type { DoctorContext } from "../core/check.ts";
import { backupPath, ensureDir, missingDirs, readExisting, writeFileAtomic } from "../install/fs-ops.ts";

/** Writes `contents` to `path`; returns where the copy that was there is kept, if there was one. */
export function writeRepaired(ctx: Pick<DoctorContext, "recordUndo">, backups: string, path: string, contents: string, mode: number): string | undefined {
  const current = readExisting(path);
  let kept: string | undefined;
  if (current) {
    kept = backupPath(backups, path);
    ensureDir(dirname(kept), 0o700);
    writeFileAtomic(kept, current.contents, current.mode);
    ctx.recordUndo?.({ undo: "restore-file", path, from: kept, mode: current.mode });
  } else {
    const missing = missingDirs(dirname(path));
    if (missing.length) ctx.recordUndo?.({ undo: "remove-empty-dirs", paths: missing });
    ctx.recordUndo?.({ undo: "remove", path });
  }
  ensureDir(dirname(path));
  writeFileAtomic(path, contents, mode);
  return kept;
}
