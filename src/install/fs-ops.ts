// File operations the installer is allowed to do: atomic writes that never leave a half-written
// file, and directory creation that remembers what it created so rollback can remove it.
import {
  chmodSync,
  closeSync,
  cpSync,
  existsSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmdirSync,
  rmSync,
  type Stats,
  statSync,
  writeSync,
} from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { UndoEntry } from "../core/journal.ts";
import type { FileSignature } from "../core/manifest.ts";

let crypto: typeof import("node:crypto") | undefined;
/** loaded at the first hash or random name: a doctor whose files match their signatures needs neither (~4 ms) */
const nodeCrypto = () => (crypto ??= createRequire(import.meta.url)("node:crypto") as typeof import("node:crypto"));

export function sha256(contents: string | Buffer): string {
  return nodeCrypto().createHash("sha256").update(contents).digest("hex");
}

const randomHex = () => nodeCrypto().randomBytes(4).toString("hex");

/** fine-grained file times are older than this at a signature's recording; whole seconds (HFS+, FAT) need more */
const SETTLED_MS = 25;
const SETTLED_COARSE_MS = 5_000;

/**
 * The file as stat sees it, when its times are old enough that a later change cannot share them
 * (the clock a file system stamps with runs up to a tick behind): while a file still has this
 * signature, it holds what it held when the signature was taken. undefined when it is too fresh.
 */
export function settledSignature(path: string, now = Date.now()): FileSignature | undefined {
  const stat = statSync(path);
  const coarse = stat.mtimeMs % 1000 === 0 || stat.ctimeMs % 1000 === 0;
  if (Math.max(stat.mtimeMs, stat.ctimeMs) > now - (coarse ? SETTLED_COARSE_MS : SETTLED_MS)) return undefined;
  return signatureOf(stat);
}

/** What stat says of a file's size, times and identity. */
export function signatureOf(stat: Stats): FileSignature {
  return { size: stat.size, mtimeMs: stat.mtimeMs, ctimeMs: stat.ctimeMs, ino: stat.ino, dev: stat.dev };
}

export function sameSignature(a: FileSignature, b: FileSignature): boolean {
  return a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs && a.ino === b.ino && a.dev === b.dev;
}

/** The file at `path` still has `signature` (and so the contents hashed with it), and `mode`. */
export function hasSignature(path: string, signature: FileSignature, mode: number): boolean {
  try {
    const stat = statSync(path);
    return stat.isFile() && (stat.mode & 0o777) === mode && sameSignature(signatureOf(stat), signature);
  } catch {
    return false;
  }
}

/** ENOENT or ENOTDIR: nothing at that path */
export const isAbsent = (error: unknown) => ["ENOENT", "ENOTDIR"].includes((error as NodeJS.ErrnoException).code ?? "");

/** stat, or undefined when nothing is there */
export function statIfThere(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch (error) {
    if (isAbsent(error)) return undefined;
    throw error;
  }
}

export interface ExistingFile {
  contents: Buffer;
  mode: number;
}

export function readExisting(path: string): ExistingFile | undefined {
  try {
    const stat = statSync(path);
    if (!stat.isFile()) throw new Error(`${path} exists and is not a regular file`);
    return { contents: readFileSync(path), mode: stat.mode & 0o777 };
  } catch (error) {
    if (isAbsent(error)) return undefined;
    throw error;
  }
}

/** The directories `mkdir -p dir` would create, outermost first. */
export function missingDirs(dir: string): string[] {
  const missing: string[] = [];
  for (let current = dir; !existsSync(current); current = dirname(current)) {
    missing.unshift(current);
    if (dirname(current) === current) break;
  }
  return missing;
}

/** mkdir -p that returns the directories it created, outermost first. */
export function ensureDir(dir: string, mode = 0o755): string[] {
  const missing = missingDirs(dir);
  for (const path of missing) mkdirSync(path, { mode });
  return missing;
}

/** Writes via a temp file in the same directory and rename(2): readers see old or new, never half. */
export function writeFileAtomic(path: string, contents: string | Buffer, mode: number): void {
  const temp = `${path}.gateway-setup-${process.pid}-${randomHex()}.tmp`;
  let fd: number;
  try {
    fd = openSync(temp, "wx", mode);
  } catch (error) {
    throw namingPath(error as NodeJS.ErrnoException, path);
  }
  try {
    try {
      writeSync(fd, typeof contents === "string" ? Buffer.from(contents, "utf8") : contents);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    chmodSync(temp, mode); // the umask may have narrowed the mode given to open
    renameSync(temp, path);
  } catch (error) {
    rmSync(temp, { force: true }); // a disk that filled up mid-write leaves no temp file behind
    throw error;
  }
}

/** The same error, naming the file we meant to write rather than its temp file. */
function namingPath(error: NodeJS.ErrnoException, path: string): NodeJS.ErrnoException {
  const named: NodeJS.ErrnoException = new Error(`${error.code ?? "error"}: cannot write ${path} (${dirname(path)} is not writable)`);
  if (error.code) named.code = error.code;
  return named;
}

/** Throws (naming `target`) unless a file can be created in `dir`, or in its nearest existing ancestor. */
export function assertWritableDir(dir: string, target: string): void {
  let existing = dir;
  while (!existsSync(existing) && dirname(existing) !== existing) existing = dirname(existing);
  const probe = join(existing, `.gateway-setup-probe-${process.pid}-${randomHex()}`);
  try {
    closeSync(openSync(probe, "wx", 0o600));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const named: NodeJS.ErrnoException = new Error(`cannot write ${target}: ${existing} is not writable (${code ?? (error as Error).message})`);
    if (code) named.code = code;
    throw named;
  }
  rmSync(probe, { force: true });
}

/** Removes directories (innermost first) only while they are empty. */
export function removeEmptyDirs(dirs: string[]): void {
  for (const dir of [...dirs].reverse()) {
    try {
      rmdirSync(dir);
    } catch {
      // not empty or already gone: leave it
    }
  }
}

/** One backup generation: <state dir>/backups/<time stamp>/, holding copies under their full paths. */
export function backupRoot(stateDir: string, when: Date): string {
  return join(stateDir, "backups", when.toISOString().replace(/[:.]/g, "-"));
}

export function backupPath(root: string, path: string): string {
  return join(root, path);
}

/** Whether anything is at `path`, a dangling symlink included. */
export function pathExists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Copies a folder (or file) with its modes; symlinks stay symlinks. `dest` must not exist. */
export function copyTree(src: string, dest: string): void {
  cpSync(src, dest, { recursive: true, verbatimSymlinks: true, errorOnExist: true, force: false });
}

/** Moves a folder (or file) to `dest` (replaced if there), also across file systems. */
export function moveTree(src: string, dest: string): void {
  rmSync(dest, { recursive: true, force: true });
  try {
    renameSync(src, dest);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EXDEV") throw error;
    copyTree(src, dest);
    rmSync(src, { recursive: true, force: true });
  }
}

/** Permission bits for the group and other users: a private file or folder has none of them. */
export const SHARED_BITS = 0o077;

/**
 * Takes the group's and other users' permissions off `path` (a folder becomes 0700, a file 0600 or
 * 0700), writing down first how to put them back. Returns the mode it had, or undefined when it
 * was private already (or is gone).
 */
export function makePrivate(path: string, recordUndo?: (entry: UndoEntry) => void): number | undefined {
  let mode: number;
  try {
    mode = lstatSync(path).mode & 0o777;
  } catch {
    return undefined;
  }
  if (!(mode & SHARED_BITS)) return undefined;
  recordUndo?.({ undo: "run", argv: ["chmod", mode.toString(8).padStart(4, "0"), path], mayFail: true });
  chmodSync(path, mode & ~SHARED_BITS);
  return mode;
}
