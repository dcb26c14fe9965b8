// What the CLI prints: wrapping under its own column, and a failed command's head and tail.
import { describe, expect, it } from "vitest";
import { wrapLine, wrapText } from "../src/cli/wrap.ts";
import { describeFailure } from "../src/platform/exec.ts";

describe("wrapping our own text", () => {
  it("continues a labelled line under its text, a list item under its words", () => {
    expect(wrapLine("files     12 runtime files under ~/.pi/agent/extensions/gateway/lib (12 new)", 70)).toEqual([
      "files     12 runtime files under ~/.pi/agent/extensions/gateway/lib",
      "          (12 new)",
    ]);
    expect(wrapText("  2. load the installed extension as pi does and deliver a test event through Redis", 60).split("\n")).toEqual([
      "  2. load the installed extension as pi does and deliver a",
      "     test event through Redis",
    ]);
  });

  it("keeps short lines as they are and splits a word longer than the line", () => {
    expect(wrapLine("short", 40)).toEqual(["short"]);
    expect(wrapLine(`id ${"x".repeat(50)}`, 30).every((line) => line.length <= 30)).toBe(true);
  });
});

describe("describeFailure", () => {
  it("keeps the first lines (what failed) and the last (where the log is) of a long output", () => {
    const lines = [
      "npm error code ENOTFOUND",
      "npm error network request failed",
      ...Array.from({ length: 40 }, (_, i) => `    at frame ${i}`),
      "npm error A complete log: /tmp/x.log",
    ];
    const text = describeFailure({ command: ["npm", "install"], code: 1, signal: null, stdout: "", stderr: lines.join("\n"), timedOut: false });
    expect(text).toMatch(/^`npm install` exited with code 1:\nnpm error code ENOTFOUND\nnpm error network request failed\n/);
    expect(text).toMatch(/… \(29 more lines\)/);
    expect(text).toMatch(/npm error A complete log: \/tmp\/x.log$/);
  });
});
