// Whether pi took a handed-off message is told by the message's own marker, never by another turn.
import { describe, expect, it } from "vitest";
import {
  Acceptance,
  HandOffRefusedError,
  NotAcceptedError,
  newestUserTexts,
  newHandOffMarker,
  withHandOffMarker,
} from "../src/runtime/extension/acceptance.ts";
import { waitFor } from "./helpers/wait.ts";

const idle = { timeoutMs: 60_000, maxWaitMs: 60_000, recheckMs: 1_000, busy: () => false };
const user = (text: string) => ({ role: "user", content: [{ type: "text", text }] });

describe("hand-off acceptance", () => {
  it("gives every hand-off a marker of its own, carried on the message's last line", () => {
    const marker = newHandOffMarker();
    expect(marker).toMatch(/^gw-[0-9a-f]{16}$/);
    expect(newHandOffMarker()).not.toBe(marker);
    expect(withHandOffMarker("[gateway] 1 event", marker).split("\n").at(-1)).toBe(`[gateway hand-off ${marker}]`);
  });

  it("is taken only when a text carrying its marker is seen, not when another message starts", async () => {
    const acceptance = new Acceptance();
    const marker = newHandOffMarker();
    let taken = false;
    const waiting = acceptance.wait(marker, idle).then(() => (taken = true));
    acceptance.seen(["the user's own prompt", withHandOffMarker("[gateway] 1 event", newHandOffMarker())]);
    await Promise.resolve();
    expect(taken).toBe(false);
    expect(acceptance.waiting).toBe(true);
    acceptance.seen([withHandOffMarker("[gateway] 1 event", marker)]);
    await waiting;
    expect(acceptance.waiting).toBe(false);
  });

  it("reads the newest user messages of a model call, not the history before the last answer", () => {
    const messages = [
      user("old [gateway hand-off gw-old]"),
      { role: "assistant", content: [] },
      user("first new"),
      { role: "custom", content: "x" },
      user("second new"),
    ];
    expect(newestUserTexts(messages)).toEqual(["second new", "first new"]);
  });

  it("a refused hand-off rejects at once, and if pi takes it after all the consumer is told", async () => {
    const acceptance = new Acceptance();
    const marker = newHandOffMarker();
    let late = 0;
    const waiting = acceptance.wait(marker, { ...idle, takenLate: () => late++ });
    acceptance.refused(newHandOffMarker(), new HandOffRefusedError()); // another marker: nothing happens
    expect(acceptance.waiting).toBe(true);
    acceptance.refused(marker, new HandOffRefusedError());
    await expect(waiting).rejects.toBeInstanceOf(HandOffRefusedError);
    expect(acceptance.watching).toBe(true);
    acceptance.seen([`… [gateway hand-off ${marker}]`]);
    acceptance.seen([`… [gateway hand-off ${marker}]`]);
    expect(late).toBe(1);
    expect(acceptance.watching).toBe(false);
  });

  it("times out only while pi is idle; a busy pi (a turn, a compaction) is waited for up to the maximum", async () => {
    const acceptance = new Acceptance();
    let busy = true;
    let checks = 0;
    const waiting = acceptance.wait(newHandOffMarker(), { timeoutMs: 5, maxWaitMs: 10_000, recheckMs: 5, busy: () => (checks++, busy) });
    await waitFor(() => checks >= 3, "three looks at a busy pi", 5_000);
    expect(acceptance.waiting).toBe(true);
    busy = false;
    await expect(waiting).rejects.toBeInstanceOf(NotAcceptedError);
  });
});
