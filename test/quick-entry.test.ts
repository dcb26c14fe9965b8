// The quick entries (setup, push, status, doctor without commander) read a command line exactly as
// commander does, or leave it to commander: for every command line here, either both agree on the
// argument and the flags, or the quick entry declines. The bin hands `push ...` to push-entry.ts and
// any other line to quick-entry.ts: here both command tables read it, as one.
import { Option } from "commander";
import { describe, expect, it } from "vitest";
import { DOCTOR_OPTIONS, optionNames, PUSH_OPTIONS, SETUP_OPTIONS, STATUS_OPTIONS } from "../src/cli/command-options.ts";
import { buildProgram } from "../src/cli/main.ts";
import { PUSH_COMMANDS } from "../src/cli/push-entry.ts";
import { type QuickCommands, readQuickArgs as readWith } from "../src/cli/quick-args.ts";
import { QUICK_COMMANDS } from "../src/cli/quick-entry.ts";

const BOTH_ENTRIES: QuickCommands = { ...QUICK_COMMANDS, named: { ...QUICK_COMMANDS.named, ...PUSH_COMMANDS.named } };
const readQuickArgs = (args: string[]) => readWith(args, BOTH_ENTRIES);

interface Read {
  argument?: string;
  flags: Record<string, unknown>;
}

/** What commander hands the command's action for `gateway-setup <args>`; undefined when it refuses the line. */
async function commanderReads(args: string[]): Promise<Read | undefined> {
  const program = buildProgram().configureOutput({ writeOut: () => {}, writeErr: () => {} });
  let read: Read | undefined;
  program.action((flags: Record<string, unknown>) => {
    read = { flags: { ...flags } };
  });
  for (const command of program.commands) {
    command.action((...given: unknown[]) => {
      const takesArgument = command.registeredArguments.length > 0;
      const flags = { ...(given[takesArgument ? 1 : 0] as Record<string, unknown>) };
      read = { ...(takesArgument ? { argument: given[0] as string } : {}), flags };
    });
  }
  try {
    await program.parseAsync(["node", "gateway-setup", ...args]);
  } catch {
    return undefined;
  }
  return read;
}

function quickReads(args: string[]): Read | undefined {
  const read = readQuickArgs(args);
  return read && { ...(read.argument !== undefined ? { argument: read.argument } : {}), flags: read.flags };
}

const READ_ALIKE = [
  [],
  ["--tier", "1", "--yes"],
  ["-y", "--tier=2", "--json"],
  ["--tier", "4", "--yes", "--telegram-allow", "123,456", "--telegram-allow", " 789 ", "--telegram-notify=42", "--telegram-pairing", "off"],
  ["--goal", "always-on", "--sessions", "several", "--scope", "project", "--project-dir", "/tmp/p", "--dry-run", "--verbose"],
  ["--heartbeat", "systemd", "--heartbeat-every", "15m", "--heartbeat-file", "/tmp/HB.md", "--service", "none", "--service-label", "x.y"],
  ["--redis-url", "redis://127.0.0.1:6390/2", "--prefix", "other", "--model", "openai/gpt-4o", "--telegram-api-root", "http://127.0.0.1:1/"],
  ["--install-redis"],
  ["--no-install-redis", "--yes"],
  ["--prefix", "a", "--prefix", "b"],
  ["push", "job.done"],
  ["push", "job.done", "--json"],
  ["push", "--json", "job.done"],
  ["push", "job.done", "--payload", '{"ok":true}', "--source", "ci", "--id", "job-42"],
  ["push", "job.done", "--payload=-"],
  ["push", "job.done", "--payload", "-"],
  ["push", "job.done", "--payload-file", "/tmp/payload.json", "--origin", "pid-1234"],
  ["push", "job.done", "--redis-url", "redis://127.0.0.1:6390/2", "--prefix", "other", "--json"],
  ["push", "job.done", "--id", "first", "--id", "last"],
  ["push", "job.done", "--source="],
  ["push", "job.done", "--payload", ""],
  ["push", "-"],
  ["--tier=1=2", "-y", "--yes"],
  ["status"],
  ["status", "--json"],
  ["doctor"],
  ["doctor", "--json", "--fix"],
  ["doctor", "--only", "redis,queue", "--only", " pi ", "--skip=listener"],
  ["doctor", "--only", ",,"],
];

const LEFT_TO_COMMANDER = [
  ["--goal", "bogus"],
  ["--heartbeat", "Cron"],
  ["--install-redis", "--no-install-redis"],
  ["--tier", "1", "extra"],
  ["--tier"],
  ["--tier", "1", "--version"],
  ["-v"],
  ["-h"],
  ["-yh"],
  ["--tier", "1", "--help"],
  ["--yes=no"],
  ["--json", "doctor"],
  ["uninstall", "--yes"],
  ["push"],
  ["push", "--help"],
  ["push", "job.done", "-h"],
  ["push", "job.done", "--bogus"],
  ["push", "job.done", "extra"],
  ["push", "job.done", "--payload"],
  ["push", "job.done", "--payload", "--json"],
  ["push", "job.done", "--", "--json"],
  ["push", "job.done", "--json=yes"],
  ["push", "job.done", "-5"],
  ["push", "job.done", "--payload", "--"],
  ["push", "job.done", "-y=1"],
  ["push", "job.done", "---json"],
  ["push", "job.done", "--"],
  ["status", "extra"],
  ["status", "--help"],
  ["doctor", "--only"],
  ["doctor", "--verbose"],
  // names an object has that are no command: commander says it knows no such command
  ["constructor"],
  ["__proto__"],
  ["toString", "--json"],
];

describe("the quick entry", () => {
  it.each(READ_ALIKE)("reads %j as commander does", async (...args) => {
    const ours = quickReads(args);
    expect(ours).toBeDefined();
    expect(ours).toEqual(await commanderReads(args));
  });

  it.each(LEFT_TO_COMMANDER)("leaves %j to commander", (...args) => {
    expect(readQuickArgs(args)).toBeUndefined();
  });

  it.each([...SETUP_OPTIONS, ...PUSH_OPTIONS, ...STATUS_OPTIONS, ...DOCTOR_OPTIONS].map(({ flags }) => flags))("names %s as commander does", (flags) => {
    const commander = new Option(flags);
    const ours = optionNames({ flags, description: "" });
    expect(ours).toEqual({
      name: commander.long!.slice("--".length),
      key: commander.attributeName(),
      ...(commander.short ? { short: commander.short.slice("-".length) } : {}),
      takesValue: commander.required || commander.optional,
      negated: commander.negate,
    });
  });
});
