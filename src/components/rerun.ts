// The command that re-installs exactly what the manifest describes: the recorded invocation when
// it was non-interactive, otherwise one rebuilt from the settings (so a tier-2 install keeps its services).
import type { Manifest } from "../core/manifest.ts";
import { shellQuote } from "../platform/shell.ts";
import { installedAnswers } from "./installed-answers.ts";

export function rerunCommand(manifest: Manifest): string {
  const recorded = manifest.command.trim();
  if (/(^|\s)--tier[\s=]/.test(recorded) && /(^|\s)(--yes|-y)(\s|$)/.test(recorded)) return recorded;
  const installed = installedAnswers(manifest);
  const flags: string[] = ["--tier", String(installed.tier), "--yes", "--redis-url", installed.redisUrl!, "--prefix", installed.prefix!];
  if (installed.projectDir) flags.push("--scope", "project", "--project-dir", installed.projectDir);
  if (installed.heartbeat)
    flags.push("--heartbeat", installed.heartbeat, "--heartbeat-every", installed.heartbeatEvery!, "--heartbeat-file", installed.heartbeatFile!);
  if (installed.service) flags.push("--service", installed.service, "--service-label", installed.serviceLabel!);
  return ["gateway-setup", ...flags.map(shellQuote)].join(" ");
}
