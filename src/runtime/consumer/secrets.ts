// Reads the gateway's 0600 secrets file (KEY='value' lines in shell quoting, as gateway-setup
// writes them) so the Redis password never has to live in index.ts.
import { readFileSync } from "node:fs";

export function parseSecrets(text: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const match = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!match) continue;
    const raw = match[2]!.trim();
    values[match[1]!] = raw.startsWith("'") && raw.endsWith("'") ? raw.slice(1, -1).replace(/'\\''/g, "'") : raw;
  }
  return values;
}

export function readSecretsFile(path: string | undefined): Record<string, string> {
  if (!path) return {};
  try {
    return parseSecrets(readFileSync(path, "utf8"));
  } catch {
    return {};
  }
}
