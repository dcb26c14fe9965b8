// A byte-exact picture of a directory tree: every file's hash and mode, every directory.
import { createHash } from "node:crypto";
import { existsSync, lstatSync, readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";

export function snapshotTree(root: string): Record<string, string> {
  const entries: Record<string, string> = {};
  if (!existsSync(root)) return entries;
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const stat = lstatSync(path);
      const key = relative(root, path);
      const mode = (stat.mode & 0o777).toString(8);
      if (stat.isDirectory()) {
        entries[key + "/"] = `dir ${mode}`;
        walk(path);
      } else if (stat.isSymbolicLink()) {
        entries[key] = `link`;
      } else {
        entries[key] = `${mode} ${createHash("sha256").update(readFileSync(path)).digest("hex").slice(0, 16)}`;
      }
    }
  };
  walk(root);
  return entries;
}
