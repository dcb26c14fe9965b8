// push's own entry reads a command line exactly as commander does, or leaves it to commander: for
// every command line here, either both agree on the type and the flags, or the entry declines.
import { describe, expect, it } from "vitest";
import { buildProgram } from "../src/cli/main.ts";
import { readPushArgs } from "../src/cli/push-entry.ts";

/** What commander hands push's action for `gateway-setup push <args>`; undefined when it refuses the line. */
async function commanderReads(args: string[]): Promise<{ type: string; flags: Record<string, unknown> } | undefined> {
  const program = buildProgram().configureOutput({ writeOut: () => {}, writeErr: () => {} });
  const push = program.commands.find((command) => command.name() === "push")!;
  let read: { type: string; flags: Record<string, unknown> } | undefined;
  push.action((type: string, flags: Record<string, unknown>) => {
    read = { type, flags: { ...flags } };
  });
  try {
    await program.parseAsync(["node", "gateway-setup", "push", ...args]);
  } catch {
    return undefined;
  }
  return read;
}

const READ_ALIKE = [
  ["job.done"],
  ["job.done", "--json"],
  ["--json", "job.done"],
  ["job.done", "--payload", '{"ok":true}', "--source", "ci", "--id", "job-42"],
  ["job.done", "--payload=-"],
  ["job.done", "--payload", "-"],
  ["job.done", "--payload-file", "/tmp/payload.json", "--origin", "pid-1234"],
  ["job.done", "--redis-url", "redis://127.0.0.1:6390/2", "--prefix", "other", "--json"],
  ["job.done", "--id", "first", "--id", "last"],
  ["job.done", "--source="],
];

const LEFT_TO_COMMANDER = [
  [],
  ["--help"],
  ["job.done", "-h"],
  ["job.done", "--bogus"],
  ["job.done", "extra"],
  ["job.done", "--payload"],
  ["job.done", "--payload", "--json"],
  ["job.done", "--", "--json"],
  ["job.done", "--json=yes"],
];

describe("push's own entry", () => {
  it.each(READ_ALIKE)("reads %j as commander does", async (...args) => {
    const ours = readPushArgs(args);
    expect(ours).toBeDefined();
    expect(ours).toEqual(await commanderReads(args));
  });

  it.each(LEFT_TO_COMMANDER)("leaves %j to commander", (...args) => {
    expect(readPushArgs(args)).toBeUndefined();
  });
});
