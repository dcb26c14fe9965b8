// Waiting that a cancel or a deadline ends, whichever comes first.
import { getEventListeners } from "node:events";
import { describe, expect, it } from "vitest";
import { AbortedError, pause, withTimeout } from "../src/platform/abort.ts";

const never = new Promise<never>(() => {});

describe("withTimeout", () => {
  it("rejects at the deadline when nobody cancels", async () => {
    await expect(withTimeout(never, 20, new AbortController().signal)).rejects.toThrow("timed out after 20 ms");
  });

  it("rejects at once, with the cancel's reason, when the user cancels first", async () => {
    const cancel = new AbortController();
    const waiting = withTimeout(never, 5_000, cancel.signal);
    cancel.abort(new Error("cancelled by Ctrl-C"));
    await expect(waiting).rejects.toBeInstanceOf(AbortedError);
    await expect(withTimeout(never, 5_000, cancel.signal)).rejects.toThrow("cancelled by Ctrl-C");
  });

  it("resolves with the value, and leaves no listener on the shared signal however often it is used", async () => {
    const cancel = new AbortController();
    for (let i = 0; i < 25; i++) {
      await expect(withTimeout(Promise.resolve(i), 5_000, cancel.signal)).resolves.toBe(i);
      await expect(withTimeout(pause(50), 1, cancel.signal)).rejects.toThrow("timed out");
    }
    expect(getEventListeners(cancel.signal, "abort")).toHaveLength(0);
  });
});
