// The commander program. Each command's module loads inside its action: bundled (scripts/build-cli.mjs),
// each of those `await import()`s is where a chunk of its own starts, so a command loads only its code.
import { Command, CommanderError, Option } from "commander";
import { ownVersion } from "../platform/package-root.ts";
import { type CommandOption, collect, DOCTOR_OPTIONS, PUSH_OPTIONS, SETUP_OPTIONS, STATUS_OPTIONS } from "./command-options.ts";
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
  declareOptions(program, SETUP_OPTIONS);
  program
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
  for (const { flags, description, list, choices } of options) {
    const option = new Option(flags, description);
    if (list) option.argParser(collect);
    if (choices) option.choices(choices);
    command.addOption(option);
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
