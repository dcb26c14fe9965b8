import { existsSync } from "node:fs";
import type { Component } from "../../core/component.ts";
import { serviceCheck, tmuxCheck } from "./check.ts";
import { planService, serviceArtifacts } from "./plan.ts";
import { centralTmuxArgv } from "./wrapper.ts";

/**
 * The central pi session in tmux, kept alive by launchd, a systemd user unit, or by hand. It owns
 * the service manager, so it also renders the jobs it runs for the heartbeat and the watchdog.
 */
export const service: Component = {
  id: "service",
  applies: (settings) => Boolean(settings.service),
  plan: ({ settings, system, env }) => planService(settings, system, env),
  removal: ({ settings }) => {
    const central = settings.service!;
    return {
      // the service manager stops the wrapper; the tmux session (and the central pi in it) goes too
      stop: [
        {
          kind: "run",
          argv: centralTmuxArgv(central, "kill-session", "-t", `=${central.tmuxSession}`),
          description: "stop the central pi session",
          mayFail: true,
        },
      ],
      cleanUp: [
        ...serviceArtifacts(settings)
          .filter((path) => existsSync(path))
          .map((path) => ({ kind: "remove-file" as const, path })),
        // with the unit files gone, systemd's unit list is only as before after a reload
        ...(central.manager === "systemd"
          ? [
              {
                kind: "run" as const,
                argv: ["systemctl", "--user", "daemon-reload"],
                description: "make systemd forget the removed units",
                mayFail: true,
                undoArgv: ["systemctl", "--user", "daemon-reload"],
              },
            ]
          : []),
      ],
    };
  },
  checks: [serviceCheck, tmuxCheck],
};
