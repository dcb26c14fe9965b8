// Doctor's heartbeat check: the central session's last-heartbeat record is fresh.
import { existsSync } from "node:fs";
import type { DoctorCheck } from "../../core/check.ts";
import { fail, ok, skip } from "../../core/finding.ts";
import { shellQuote } from "../../platform/shell.ts";
import { readLastHeartbeat } from "../../runtime/extension/heartbeat.ts";
import { formatInterval } from "./interval.ts";

export const heartbeatCheck: DoctorCheck = {
  id: "heartbeat",
  async run({ manifest }) {
    const heartbeat = manifest.settings.heartbeat;
    if (!heartbeat) return skip("heartbeat", "no heartbeat in this install");
    if (heartbeat.source === "none") return skip("heartbeat", "no heartbeat source is installed (--heartbeat none)");
    const last = readLastHeartbeat(heartbeat.lastHeartbeatFile);
    const every = formatInterval(heartbeat.intervalSeconds);
    if (!last && existsSync(heartbeat.lastHeartbeatFile)) {
      return fail(
        "heartbeat",
        `${heartbeat.lastHeartbeatFile} is not a heartbeat record`,
        `rm ${shellQuote(heartbeat.lastHeartbeatFile)} (the central session writes it again on the next heartbeat)`,
      );
    }
    if (!last) {
      const age = Date.now() - Date.parse(manifest.updatedAt);
      return age > heartbeat.intervalSeconds * 2000
        ? fail(
            "heartbeat",
            `no heartbeat has reached the central session since the install (every ${every} expected)`,
            "gateway-setup doctor --only service,tmux; check the heartbeat source",
          )
        : ok("heartbeat", `no heartbeat yet; the first is due within ${every}`);
    }
    const ageSeconds = Math.round((Date.now() - last.deliveredAt) / 1000);
    const message = `last heartbeat handed to pi ${ageSeconds} s ago${last.acknowledgedAt ? ", acknowledged" : ""} (every ${every} expected)`;
    return ageSeconds > heartbeat.intervalSeconds * 2
      ? fail("heartbeat", message, `check the heartbeat source (${heartbeat.source}) and the central session: gateway-setup doctor --only service,tmux,crontab`)
      : ok("heartbeat", message);
  },
};
