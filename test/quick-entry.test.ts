// The quick entry (push, status, doctor without commander) reads a command line exactly as
// commander does, or leaves it to commander: for every command line here, either both agree on the
// argument and the flags, or the quick entry declines.
import { describe, expect, it } from "vitest";
import { buildProgram } from "../src/cli/main.ts";
import { readQuickArgs } from "../src/cli/quick-entry.ts";

interface Read {
  argument?: string;
  flags: Record<string, unknown>;
}

/** What commander hands the command's action for `gateway-setup <args>`; undefined when it refuses the line. */
async function commanderReads(args: string[]): Promise<Read | undefined> {
  const program = buildProgram().configureOutput({ writeOut: () => {}, writeErr: () => {} });
  let read: Read | undefined;
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
  ["status"],
  ["status", "--json"],
  ["doctor"],
  ["doctor", "--json", "--fix"],
  ["doctor", "--only", "redis,queue", "--only", " pi ", "--skip=listener"],
  ["doctor", "--only", ",,"],
];

const LEFT_TO_COMMANDER = [
  [],
  ["--tier", "1", "--yes"],
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
  ["status", "extra"],
  ["status", "--help"],
  ["doctor", "--only"],
  ["doctor", "--verbose"],
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
});
