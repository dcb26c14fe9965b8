// Long replies cut for Telegram: every chunk within the limit in UTF-16 units, in order, nothing
// lost but the whitespace at the cuts, and the cut where a reader would make it.
import { describe, expect, it } from "vitest";
import { splitForTelegram } from "../src/runtime/daemon/telegram/split.ts";
import { splitProblem } from "./helpers/fake-telegram.ts";

function expectSplitPreserves(original: string, chunks: readonly string[], limit = 4096): void {
  expect(splitProblem(original, chunks, limit)).toBeUndefined();
}

function paragraphs(count: number, length: number): string {
  return Array.from({ length: count }, (_, i) => `Paragraph ${i}: ${"lorem ipsum ".repeat(length / 12)}`.trim()).join("\n\n");
}

describe("splitForTelegram", () => {
  it("gives nothing for empty or blank text and one chunk for a short one", () => {
    expect(splitForTelegram("")).toEqual([]);
    expect(splitForTelegram(" \n\n ")).toEqual([]);
    expect(splitForTelegram("hello")).toEqual(["hello"]);
    expect(splitForTelegram("x".repeat(4096))).toEqual(["x".repeat(4096)]);
  });

  it("cuts a 10,000-character reply on paragraph boundaries, in order", () => {
    const text = paragraphs(25, 400);
    expect(text.length).toBeGreaterThan(10_000);
    const chunks = splitForTelegram(text);
    expect(chunks.length).toBe(3);
    expectSplitPreserves(text, chunks);
    for (const chunk of chunks) expect(chunk).toMatch(/^Paragraph \d+:/);
    expect(chunks.join("\n\n")).toBe(text);
  });

  it("falls back to line breaks, then spaces, then a hard cut", () => {
    const lines = Array.from({ length: 300 }, (_, i) => `line ${i} ${"x".repeat(30)}`).join("\n");
    const byLine = splitForTelegram(lines);
    expectSplitPreserves(lines, byLine);
    for (const chunk of byLine) expect(chunk).toMatch(/^line \d+ x+$/m);
    expect(byLine.join("\n")).toBe(lines);

    const words = "word ".repeat(3000).trim();
    const byWord = splitForTelegram(words);
    expectSplitPreserves(words, byWord);
    expect(byWord.every((chunk) => /^word( word)*$/.test(chunk))).toBe(true);

    const solid = "a".repeat(10_000);
    expect(splitForTelegram(solid)).toEqual(["a".repeat(4096), "a".repeat(4096), "a".repeat(1808)]);
  });

  it("measures UTF-16 units and never cuts a surrogate pair in half", () => {
    const emoji = "😀"; // two UTF-16 units
    const text = `${"a".repeat(4095)}${emoji.repeat(10)}`;
    const chunks = splitForTelegram(text);
    expect(chunks[0]).toBe("a".repeat(4095));
    expect(chunks.join("")).toBe(text);
    for (const chunk of chunks) {
      expect(chunk.length).toBeLessThanOrEqual(4096);
      expect(chunk.charCodeAt(0)).not.toSatisfy((code: number) => code >= 0xdc00 && code <= 0xdfff);
    }

    const onlyEmoji = emoji.repeat(5000);
    const emojiChunks = splitForTelegram(onlyEmoji);
    expect(emojiChunks.map((chunk) => chunk.length)).toEqual([4096, 4096, 1808]);
    expect(emojiChunks.join("")).toBe(onlyEmoji);
  });

  it("prefers a late line break over an early paragraph break", () => {
    const text = `intro\n\n${Array.from({ length: 200 }, (_, i) => `row ${i} ${"y".repeat(40)}`).join("\n")}`;
    const chunks = splitForTelegram(text);
    expect(chunks[0]!.length).toBeGreaterThan(2048);
    expectSplitPreserves(text, chunks);
  });

  it("honours a smaller limit", () => {
    const text = paragraphs(10, 100);
    const chunks = splitForTelegram(text, 300);
    expectSplitPreserves(text, chunks, 300);
  });
});
