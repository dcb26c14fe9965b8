// The pi extension factory. The installed index.ts calls createGatewayExtension(config).
import type { ExtensionAPI } from "@mariozechner/pi-coding-agent";
import { DEFAULT_GATEWAY_CONFIG, ENV_ROLE, type GatewayConfig, KNOWN_ROLES, sessionRole, TIER1_SESSION_ID, unknownRole } from "./config.ts";
import { PiHost } from "./pi-host.ts";

export function createGatewayExtension(config: Partial<GatewayConfig> = {}, env: Record<string, string | undefined> = process.env): (pi: ExtensionAPI) => void {
  const settings: GatewayConfig = { ...DEFAULT_GATEWAY_CONFIG, ...config };
  return function gateway(pi: ExtensionAPI) {
    const typo = unknownRole(env);
    if (typo) {
      pi.on("session_start", (_event, ctx) =>
        ctx.ui.notify(
          `gateway: GATEWAY_ROLE=${JSON.stringify(typo)} is not one of ${KNOWN_ROLES.join(", ")}; this session runs as if it were unset.`,
          "warning",
        ),
      );
    }
    const role = sessionRole(settings, typo ? { ...env, [ENV_ROLE]: undefined } : env);
    if (!role) {
      const why =
        env[ENV_ROLE] === "disabled"
          ? "gateway: off in this session (GATEWAY_ROLE=disabled)"
          : `gateway: events go to the central session (${settings.sessionId}), not this one`;
      pi.on("session_start", (_event, ctx) => ctx.ui.setStatus("gateway", why));
      pi.registerCommand("gateway-status", {
        description: "Show the Redis gateway's connection, queue depth and dead letters",
        handler: async (_args, ctx) => ctx.ui.notify(`${why}. Run gateway-setup status for the central session.`, "info"),
      });
      return;
    }
    // commands pi runs (its bash tool) inherit this, so `gateway-setup push --origin` can default to it
    process.env.GATEWAY_SESSION_ID = role.sessionId;
    const { heartbeat, ...rest } = settings;
    const runtime = new PiHost(pi, { ...rest, sessionId: role.sessionId, ...(role.central && heartbeat ? { heartbeat } : {}) }, env, {
      announceDefault: !role.satellite && settings.announceDefault !== false,
      satellite: role.satellite,
      // the tier-1 queue stays a way in: scripts that push to `main` reach the central session
      ...(role.central ? { inboxes: [TIER1_SESSION_ID] } : {}),
    });
    pi.on("session_start", (_event, ctx) => runtime.start(ctx));
    pi.on("agent_start", () => runtime.onAgentStart());
    pi.on("before_agent_start", (event) => runtime.onBeforeAgentStart(event.prompt));
    pi.on("context", (event) => runtime.onContext(event.messages));
    pi.on("message_start", (event) => runtime.onMessageStart(event.message));
    pi.on("session_before_compact", () => runtime.onCompactionStart());
    pi.on("session_compact", () => runtime.onCompactionEnd());
    pi.on("agent_end", (event, ctx) => runtime.onAgentEnd(ctx, event.messages));
    pi.on("session_shutdown", () => runtime.stop());
    pi.registerCommand("gateway-status", {
      description: "Show the Redis gateway's connection, queue depth and dead letters",
      handler: async (_args, ctx) => ctx.ui.notify(await runtime.statusReport(), "info"),
    });
  };
}
