// Golden files: a JSON output recorded once, then compared on every run, so a restructure can show
// that it changed no behaviour. Outputs are normalized first (see `normalize`): what varies
// between runs and machines becomes a named placeholder, everything else is kept as printed.
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { expect } from "vitest";
import { REPO_ROOT } from "./cli.ts";

export const GOLDEN_DIR = join(REPO_ROOT, "test/golden");

/** UPDATE_GOLDEN=1 (re)writes the golden files instead of comparing with them. */
export const UPDATING_GOLDEN = process.env.UPDATE_GOLDEN === "1";

const goldenPath = (name: string) => join(GOLDEN_DIR, `${name}.json`);
const HOW_TO_UPDATE =
  "if the change is intended, record it with UPDATE_GOLDEN=1 npx vitest run test/golden.test.ts and review the diff of test/golden/ before committing";

/** Compares `actual` (as JSON) with test/golden/<name>.json, or writes that file under UPDATE_GOLDEN=1. A missing file fails. */
export function expectGolden(name: string, actual: unknown): void {
  const text = `${JSON.stringify(actual, null, 2)}\n`;
  if (UPDATING_GOLDEN) {
    mkdirSync(GOLDEN_DIR, { recursive: true });
    writeFileSync(goldenPath(name), text);
    return;
  }
  expect(JSON.parse(text), `${relative(REPO_ROOT, goldenPath(name))} differs; ${HOW_TO_UPDATE}`).toEqual(readGolden(name));
}

export function readGolden(name: string): unknown {
  const path = goldenPath(name);
  if (!existsSync(path)) throw new Error(`no golden file ${relative(REPO_ROOT, path)}: ${HOW_TO_UPDATE}`);
  return JSON.parse(readFileSync(path, "utf8"));
}

/** Golden files no case records any more: removed under UPDATE_GOLDEN=1, otherwise returned (a test fails on them). */
export function staleGoldenFiles(names: string[]): string[] {
  const wanted = new Set(names.map((name) => `${name}.json`));
  const stale = existsSync(GOLDEN_DIR) ? readdirSync(GOLDEN_DIR).filter((file) => file.endsWith(".json") && !wanted.has(file)) : [];
  if (UPDATING_GOLDEN) for (const file of stale) rmSync(join(GOLDEN_DIR, file));
  return UPDATING_GOLDEN ? [] : stale;
}

/** One thing that varies between runs or machines: every match of `pattern` in a string becomes `placeholder`. */
export interface Variable {
  what: string;
  pattern: RegExp;
  placeholder: string;
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** A literal value, e.g. a temp dir; `whole` keeps it from matching inside a longer word or version. */
export function literal(what: string, value: string, placeholder: string, whole = false): Variable {
  const body = escapeRegExp(value);
  return { what, pattern: new RegExp(whole ? `(?<![\\w.])${body}(?![\\w.])` : body, "g"), placeholder };
}

/** A temp dir as given and as the kernel resolves it (they differ where TMPDIR is a symlink, as on macOS). */
export function tempDir(what: string, path: string, placeholder: string): Variable[] {
  const real = realpathSync(path);
  return [literal(what, path, placeholder), ...(real !== path ? [literal(`${what} (resolved)`, real, placeholder)] : [])];
}

/** What varies on every run or machine whatever the case: times, latencies, versions of what is installed. */
export const ALWAYS_VARIABLE: Variable[] = [
  { what: "ISO timestamps (manifest installedAt/updatedAt)", pattern: /\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z\b/g, placeholder: "<TIMESTAMP>" },
  { what: "latencies in sentences (answered PING in 3 ms)", pattern: /\b\d+ ms\b/g, placeholder: "<MS> ms" },
  { what: "the test redis-server's version", pattern: /\bRedis \d+\.\d+\.\d+\b/g, placeholder: "Redis <REDIS_VERSION>" },
  { what: "the ioredis npm resolved into the installed extension", pattern: /\bioredis \d+\.\d+\.\d+\S*/g, placeholder: "ioredis <IOREDIS_VERSION>" },
  { what: "the pi on PATH (the repo's devDependency)", pattern: /\bpi \d+\.\d+\.\d+\S*/g, placeholder: "pi <PI_VERSION>" },
];

/** Fields whose whole value varies, by name: numbers are not strings, so no pattern reaches them. */
const VARIABLE_FIELDS: Record<string, string> = {
  latencyMs: "<MS>",
  ioredis: "<IOREDIS_VERSION>",
};

/** `value` with every string passed through `variables` (in order) and VARIABLE_FIELDS replaced; keys are kept. */
export function normalize<T>(value: T, variables: Variable[]): T {
  const walk = (node: unknown, key?: string): unknown => {
    if (key !== undefined && key in VARIABLE_FIELDS && node !== null && node !== undefined) return VARIABLE_FIELDS[key];
    if (typeof node === "string") return variables.reduce((text, { pattern, placeholder }) => text.replace(pattern, placeholder), node);
    if (Array.isArray(node)) return node.map((item) => walk(item));
    if (node && typeof node === "object") return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, walk(v, k)]));
    return node;
  };
  return walk(value) as T;
}
