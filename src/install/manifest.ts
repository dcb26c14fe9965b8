// The manifest records everything an install changed, so doctor can check it and uninstall can
// reverse it. It lives in the gateway's state dir and is itself written atomically.
import { readFileSync } from "node:fs";
import { GatewayError } from "../core/errors.ts";
import type { Manifest } from "../core/manifest.ts";
import { isAbsent } from "./fs-ops.ts";

export function readManifest(path: string): Manifest | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    if (isAbsent(error)) return undefined;
    throw error;
  }
  let parsed: Manifest;
  try {
    parsed = JSON.parse(text) as Manifest;
  } catch (error) {
    throw new ManifestError(path, `is not valid JSON (truncated or corrupt: ${(error as Error).message})`);
  }
  if (parsed?.tool !== "gateway-setup" || parsed.formatVersion !== 1 || !parsed.settings || !Array.isArray(parsed.files)) {
    throw new ManifestError(path, "is not a gateway-setup manifest this version understands");
  }
  return parsed;
}

/** The manifest exists but cannot be used: say which file, and how to get a good one again. */
export class ManifestError extends GatewayError {
  declare readonly fix: string;
  constructor(
    readonly path: string,
    problem: string,
  ) {
    super(
      `the install manifest ${path} ${problem}`,
      `move it aside (mv ${path} ${path}.broken) and run gateway-setup again to record the install afresh; then doctor, status and uninstall work again`,
    );
  }
}

export function renderManifest(manifest: Manifest): string {
  return JSON.stringify(manifest, null, 2) + "\n";
}
