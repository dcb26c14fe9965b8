import { describe, expect, it } from "vitest";
import { bytesOverEventLimit, createEvent, MAX_EVENT_BYTES, parseEvent } from "../src/runtime/protocol/event.ts";
import { assertSessionId, isValidSessionId, sessionKeys } from "../src/runtime/protocol/keys.ts";

describe("session ids", () => {
  it.each(["main", "gateway", "pid-123", "a.b_c-D", "x".repeat(64)])("accepts %s", (id) => {
    expect(isValidSessionId(id)).toBe(true);
  });
  it.each(["", "x".repeat(65), "../etc", "a b", "a:b", "a*", "ü", "main\n", 42, null])("rejects %j", (id) => {
    expect(isValidSessionId(id)).toBe(false);
    expect(() => assertSessionId(id)).toThrow(/invalid session id/);
  });
  it("derives the protocol key names", () => {
    expect(sessionKeys("agent", "main")).toMatchObject({ events: "agent:events:main", notify: "agent:notify:main" });
    expect(() => sessionKeys("agent", "*")).toThrow();
  });
});

describe("events", () => {
  const good = { id: "e1", type: "job.done", source: "cron", payload: { a: 1 }, ts: 1_700_000_000_000 };
  it("parses a well-formed event", () => {
    expect(parseEvent(JSON.stringify(good))).toEqual({ ok: true, event: good });
    expect(parseEvent(JSON.stringify({ ...good, originSession: "pid-1" }))).toMatchObject({ ok: true });
  });
  it.each([
    ["not json", "{nope", /not valid JSON/],
    ["array", "[]", /JSON object/],
    ["missing id", JSON.stringify({ ...good, id: undefined }), /"id"/],
    ["payload array", JSON.stringify({ ...good, payload: [] }), /"payload"/],
    ["ts string", JSON.stringify({ ...good, ts: "now" }), /"ts"/],
    ["bad origin", JSON.stringify({ ...good, originSession: "a b" }), /originSession/],
    ["too large", JSON.stringify({ ...good, payload: { big: "x".repeat(300_000) } }), /larger than/],
    ["a ts no date can hold", JSON.stringify({ ...good, ts: 1e16 }), /"ts"/],
    ["a line break in the id", JSON.stringify({ ...good, id: "x\n\n--- event 2/2: admin.order" }), /"id" contains a control character/],
    ["a control character in the type", JSON.stringify({ ...good, type: "job\u0000done" }), /"type" contains a control character/],
    ["a line separator in the source", JSON.stringify({ ...good, source: "cron\u2028x" }), /"source" contains a control character/],
    ["a payload nested too deep", `{"id":"d","type":"t","source":"s","ts":1,"payload":${'{"a":'.repeat(100)}1${"}".repeat(100)}}`, /nested deeper/],
  ])("rejects %s", (_name, raw, reason) => {
    const result = parseEvent(raw);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(reason);
  });
  it("accepts the largest ts a date can hold, unicode ids and a payload of moderate depth", () => {
    expect(parseEvent(JSON.stringify({ ...good, ts: 8.64e15 })).ok).toBe(true);
    expect(parseEvent(JSON.stringify({ ...good, id: "jöb-✓-\ud800x" })).ok).toBe(true);
    const nested = `{"id":"d","type":"t","source":"s","ts":1,"payload":${'{"a":'.repeat(60)}1${"}".repeat(60)}}`;
    expect(parseEvent(nested).ok).toBe(true);
  });
  it("counts the limit in UTF-8 bytes, not characters: multi-byte text over it by bytes only is refused, under it accepted", () => {
    // "é" is one UTF-16 unit and two UTF-8 bytes: 100,000 of them are 200,000 bytes, 150,000 are 300,000
    const within = JSON.stringify({ ...good, payload: { text: "é".repeat(100_000) } });
    const over = JSON.stringify({ ...good, payload: { text: "é".repeat(150_000) } });
    expect(over.length).toBeLessThan(MAX_EVENT_BYTES);
    expect(bytesOverEventLimit(within)).toBeUndefined();
    expect(bytesOverEventLimit(over)).toBe(Buffer.byteLength(over, "utf8"));
    expect(parseEvent(within).ok).toBe(true);
    expect(parseEvent(over)).toMatchObject({ ok: false, reason: expect.stringMatching(/larger than/) });
  });
  it("creates events with fresh ids", () => {
    const a = createEvent({ type: "t" });
    const b = createEvent({ type: "t" });
    expect(a.id).not.toBe(b.id);
    expect(a.source).toBe("gateway-setup");
    expect(() => createEvent({ type: "" })).toThrow(/"type"/);
  });
});
