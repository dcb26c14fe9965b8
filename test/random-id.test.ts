import { describe, expect, it } from "vitest";
import { randomUuid } from "../src/runtime/protocol/random-id.ts";

describe("randomUuid (event ids without node:crypto)", () => {
  it("is a version-4, RFC 4122 variant UUID, and never repeats across pool refills", () => {
    // 4096-byte pools, 16 bytes an id: 3,000 ids cross a dozen refills
    const ids = Array.from({ length: 3000 }, randomUuid);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("uses every hex digit in the random positions (not a fixed or zeroed pool)", () => {
    const digits = new Set(Array.from({ length: 200 }, randomUuid).join("").replace(/-/g, "").split(""));
    expect(digits.size).toBe(16);
  });
});
