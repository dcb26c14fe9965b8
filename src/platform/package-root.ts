import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

// Every module lives in src/<area>/ (or dist/<area>/ once built), so the package root is two up.
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

interface PackageJson {
  name: string;
  version: string;
  dependencies: Record<string, string>;
}

let cached: PackageJson | undefined;

export function ownPackageJson(): PackageJson {
  cached ??= JSON.parse(readFileSync(join(PACKAGE_ROOT, "package.json"), "utf8")) as PackageJson;
  return cached;
}

export function ownVersion(): string {
  return ownPackageJson().version;
}
