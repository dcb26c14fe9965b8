// The command that re-installs exactly what the manifest describes: the recorded invocation when
// it was non-interactive, otherwise one rebuilt from the settings (so a tier-2 install keeps its services).
import { dirname } from "node:path";
import type { Manifest } from "../install/manifest.ts";
import { formatInterval } from "../components/heartbeat/interval.ts";
import { shellQuote } from "../platform/shell.ts";

export function rerunCommand(manifest: Manifest): string {
  const recorded = manifest.command.trim();
  if (/(^|\s)--tier[\s=]/.test(recorded) && /(^|\s)(--yes|-y)(\s|$)/.test(recorded)) return recorded;
  const { tier, redisUrl, prefix, scope, extensionDir, heartbeat, service } = manifest.settings;
  const flags: string[] = ["--tier", String(tier), "--yes", "--redis-url", redisUrl, "--prefix", prefix];
  // <project>/.pi/extensions/gateway
  if (scope === "project") flags.push("--scope", "project", "--project-dir", dirname(dirname(dirname(extensionDir))));
  if (heartbeat) flags.push("--heartbeat", heartbeat.source, "--heartbeat-every", formatInterval(heartbeat.intervalSeconds), "--heartbeat-file", heartbeat.checklistFile);
  if (service) flags.push("--service", service.manager, "--service-label", service.name);
  return ["gateway-setup", ...flags.map(shellQuote)].join(" ");
}
