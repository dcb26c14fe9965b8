// The commander program. Each command's module loads inside its action: bundled (scripts/build-cli.mjs),
// each of those `await import()`s is where a chunk of its own starts, so a command loads only its code.
import { Command, CommanderError, Option } from "commander";
import { ownVersion } from "../platform/package-root.ts";
import { type CommandOption, collect, DOCTOR_OPTIONS, PUSH_OPTIONS, STATUS_OPTIONS } from "./command-options.ts";
import { EXIT_USAGE } from "./exit-codes.ts";
import { guardedRun } from "./guard.ts";
import { writeErrorReport } from "./json-error.ts";

export function buildProgram(): Command {
  const program = new Command("gateway-setup")
    // 80 columns whatever the terminal: bin/gateway-setup.js prints `--help` as rendered once at build time
    .configureHelp({ helpWidth: 80 })
    .description(
      "Make the pi coding agent always-on and reachable: background jobs, cron and other machines push " +
        "events into Redis, and a pi session picks them up as user messages.",
    )
    .version(ownVersion(), "-v, --version")
    .usage("[options] | <command> [options]")
    .showHelpAfterError("(run gateway-setup --help for usage)")
    .enablePositionalOptions()
    .exitOverride();

  // Setup is the program itself: `gateway-setup --tier 1 --yes`; the other commands are subcommands.
  program
    .addOption(new Option("--tier <n>", "tier to install: 1 notification bridge, 2 always-on + heartbeat, 3 multi-session, 4 full gateway (daemon + Telegram)"))
    .addOption(new Option("--goal <goal>", "what pi should do (maps to a tier)").choices(["notifications", "always-on", "full-gateway"]))
    .addOption(new Option("--sessions <n>", "concurrent pi sessions").choices(["one", "several"]))
    .option("--redis-url <url>", "Redis URL, redis:// or rediss:// (default redis://127.0.0.1:6379); put the password in GATEWAY_REDIS_PASSWORD, not here")
    .option("--prefix <prefix>", "Redis key prefix (default agent)")
    .addOption(new Option("--scope <scope>", "install the extension for every project (global) or one project").choices(["global", "project"]))
    .option("--project-dir <dir>", "the project for --scope project (default: current directory)")
    .addOption(
      new Option("--heartbeat <source>", "tier 2: what pushes the heartbeat (default: launchd on macOS, systemd where available, else cron)").choices([
        "cron",
        "launchd",
        "systemd",
        "inngest",
        "none",
      ]),
    )
    .option("--heartbeat-every <interval>", "tier 2: heartbeat interval, e.g. 15m, 1h (cron: whole minutes dividing the hour)")
    .option("--heartbeat-file <path>", "tier 2: the HEARTBEAT.md checklist (default: <agent dir>/HEARTBEAT.md)")
    .addOption(new Option("--service <manager>", "tier 2: what keeps the central session alive (detected)").choices(["launchd", "systemd", "none"]))
    .option("--service-label <label>", "tier 2: launchd label / systemd unit name (default dev.gateway-setup.pi-central)")
    .option(
      "--telegram-allow <ids>",
      "tier 4: Telegram user ids that may talk to the bot, comma-separated or repeated; the first is the owner (ask @userinfobot)",
      collect,
    )
    .addOption(
      new Option(
        "--telegram-pairing <on|off>",
        "tier 4: answer unknown users with a one-time code for `gateway-setup pair` (default: on when no id is given)",
      ).choices(["on", "off"]),
    )
    .option("--telegram-notify <ids>", "tier 4: where replies to background events go (default: the owner)", collect)
    .option("--telegram-api-root <url>", "tier 4: another Bot API server, e.g. a self-hosted telegram-bot-api (also TELEGRAM_API_ROOT)")
    .option("--model <provider/id>", "tier 4: the daemon's model (default: pi's own default model)")
    .option("--install-redis", "install and start Redis with brew/apt if none answers (implied by --yes)")
    .option("--no-install-redis", "never install Redis")
    .option("-y, --yes", "accept defaults for every unanswered question and apply without asking")
    .option("--dry-run", "print the plan and change nothing")
    .option("--verbose", "show every command of the plan whole (long ones are cut otherwise)")
    .option("--json", "print one JSON document (plan, what was done, verification) and nothing else")
    .addHelpText(
      "after",
      "\n" +
        "Examples:\n" +
        "  npx gateway-setup                       # the wizard\n" +
        "  gateway-setup --tier 1 --yes            # no questions\n" +
        "  gateway-setup --tier 1 --dry-run --json # the plan as JSON, nothing changed\n" +
        "\n" +
        "Running it again starts from what is installed: the defaults above are for a first install.\n" +
        "\n" +
        "Environment: PI_CODING_AGENT_DIR (pi's agent dir, default ~/.pi/agent), GATEWAY_REDIS_PASSWORD,\n" +
        "TELEGRAM_BOT_TOKEN (tier 4: the bot token from @BotFather; never a flag), TELEGRAM_API_ROOT.\n" +
        "Exit codes: 0 ok, 1 failed (rolled back; or installed but a live pi session failed the check), 2 usage error, 130 cancelled.",
    )
    .action(async (flags) => {
      const { runSetupCommand } = await import("./setup-command.ts");
      process.exitCode = await runSetupCommand(flags);
    });

  const doctor = program
    .command("doctor")
    .description("check that everything installed is still healthy, and say what to run to fix it")
    .addHelpText(
      "after",
      "\n" +
        "Checks: redis, extension-files, extension-deps, listener, queue, dead-letters, sessions, pi,\n" +
        "with tier 2 and 3: service, tmux, heartbeat, tripwire, crontab;\n" +
        "with tier 4: daemon, model, telegram, allowlist, heartbeat, tripwire, crontab; always: state-modes.\n" +
        "Exit codes: 0 nothing failed, 1 something failed, 2 doctor could not run.",
    )
    .action(async (flags) => {
      const { runDoctorCommand } = await import("./doctor-command.ts");
      process.exitCode = await runDoctorCommand(flags);
    });
  declareOptions(doctor, DOCTOR_OPTIONS);

  const push = program
    .command("push")
    .description("push one event by the protocol, routed to the right session(s)")
    .argument("<type>", "event type, e.g. job.done")
    .addHelpText(
      "after",
      "\n" +
        "Shell equivalent for one target session S (what every producer may keep doing):\n" +
        "  redis-cli LPUSH agent:events:S '<event json>' && redis-cli PUBLISH agent:notify:S <id>",
    )
    .action(async (type, flags) => {
      const { runPushCommand } = await import("./push-command.ts");
      process.exitCode = await runPushCommand(type, flags);
    });
  declareOptions(push, PUSH_OPTIONS);

  const status = program
    .command("status")
    .description("what is installed, sessions, pending events and dead letters")
    .action(async (flags) => {
      const { runStatusCommand } = await import("./status-command.ts");
      process.exitCode = await runStatusCommand(flags);
    });
  declareOptions(status, STATUS_OPTIONS);

  program
    .command("daemon")
    .description("tier 4: run the gateway daemon in the foreground (what the service runs): pi, the event queue and Telegram")
    .option("--config <path>", "the daemon's config file (default: the installed one, <agent dir>/gateway/daemon.json)")
    .action(async (flags) => {
      const { runDaemonCommand } = await import("./daemon-command.ts");
      process.exitCode = await runDaemonCommand(flags);
    });

  program
    .command("pair")
    .description("tier 4: let the Telegram user who got this one-time code from the bot talk to it")
    .argument("<code>", "the code the bot sent (valid for 1 hour)")
    .option("--json", "print { ok, userId } and nothing else")
    .action(async (code, flags) => {
      const { runPairCommand } = await import("./pair-command.ts");
      process.exitCode = await runPairCommand(code, flags);
    });

  program
    .command("uninstall")
    .description("remove exactly what gateway-setup installed (from its manifest) and restore what was there before")
    .option("-y, --yes", "do not ask for confirmation")
    .option("--dry-run", "show what would be removed or restored, change nothing")
    .option("--json", "print one JSON document and nothing else")
    .option("--purge-queues", "also delete the session's queues and dead letters in Redis (kept by default)")
    .action(async (flags) => {
      const { runUninstallCommand } = await import("./uninstall-command.ts");
      process.exitCode = await runUninstallCommand(flags);
    });

  return program;
}

function declareOptions(command: Command, options: readonly CommandOption[]): void {
  for (const option of options) {
    if (option.list) command.option(option.flags, option.description, collect);
    else command.option(option.flags, option.description);
  }
}

export async function main(argv: string[] = process.argv): Promise<void> {
  const program = buildProgram();
  await guardedRun(argv.slice(2), async () => {
    try {
      await program.parseAsync(argv);
    } catch (error) {
      if (!(error instanceof CommanderError)) throw error;
      process.exitCode = error.exitCode === 0 ? 0 : EXIT_USAGE;
      if (error.exitCode !== 0) reportUsageErrorAsJson(program, argv.slice(2), error);
    }
  });
}

/**
 * `gateway-setup --json --bogus`, `gateway-setup push --json`: a script reading stdout still gets
 * one JSON document, the error shape every command fails with (setup's also says it was no dry run).
 */
function reportUsageErrorAsJson(program: Command, args: string[], error: CommanderError): void {
  if (!args.includes("--json")) return;
  const subcommands = new Set(program.commands.map((command) => command.name()));
  const command = args.find((arg) => subcommands.has(arg));
  const message = error.message.replace(/^error: /, "");
  writeErrorReport(message, `gateway-setup ${command ? `${command} ` : ""}--help`, command ? {} : { dryRun: args.includes("--dry-run") });
}
