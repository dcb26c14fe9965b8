// Waiting that a cancel or a deadline ends, whichever comes first.
import { describe, expect, it } from "vitest";
import { AbortedError, pause, withDeadline } from "../src/platform/abort.ts";

describe("withDeadline", () => {
  it("aborts at the deadline when nobody cancels", async () => {
    const signal = withDeadline(20, new AbortController().signal);
    await expect(pause(5_000, signal)).rejects.toBeInstanceOf(AbortedError);
    expect((signal.reason as Error).name).toBe("TimeoutError");
  });

  it("aborts at once, with the cancel's reason, when the user cancels first", async () => {
    const cancel = new AbortController();
    const signal = withDeadline(5_000, cancel.signal);
    cancel.abort(new Error("cancelled by Ctrl-C"));
    expect(signal.aborted).toBe(true);
    await expect(pause(5_000, signal)).rejects.toThrow("cancelled by Ctrl-C");
  });

  it("is already aborted when the cancel came before", () => {
    const cancel = new AbortController();
    cancel.abort(new Error("early"));
    expect(withDeadline(5_000, cancel.signal).reason).toEqual(new Error("early"));
  });
});
