// templates/*.hbs are rendered by platform/templates.ts, no engine loaded: the part of Handlebars'
// syntax they use, with its rules (a block tag alone on its line takes the line; a plain value the
// data lacks is an error), and an error for anything else. The goldens hold the real templates' output.
import { describe, expect, it } from "vitest";
import { compileTemplate, renderTemplate } from "../src/platform/templates.ts";

const render = (source: string, data: Record<string, unknown>) => compileTemplate(source)(data);

describe("rendering a template", () => {
  it("puts values in as they are, through json or sh where asked", () => {
    expect(render("a={{a}} b={{{b.c}}} n={{n}} f={{f}}", { a: "<&>", b: { c: "x y" }, n: 0, f: false })).toBe("a=<&> b=x y n=0 f=false");
    expect(render("url: {{{json url}}};\nDIR={{{sh dir}}}", { url: 'redis://"h"', dir: "/it's here" })).toBe(`url: "redis://\\"h\\"";\nDIR='/it'\\''s here'`);
  });

  it("keeps an if's body only for a truthy value, and a block tag alone on its line takes the whole line", () => {
    const source = "start\n  {{#if on}}  \nkept {{value}}\n{{/if}}\nend{{#if off}}x{{/if}}{{#if none}}y{{/if}}{{#if empty}}z{{/if}}\n";
    expect(render(source, { on: true, value: 1, off: 0, empty: [] })).toBe("start\nkept 1\nend\n");
    expect(render(source, { on: false, off: 0, empty: [] })).toBe("start\nend\n");
  });

  it("repeats an each's body per item, the item as this", () => {
    expect(render("env{{#each vars}} {{{sh this}}}{{/each}};", { vars: ["A=1", "B=x y"] })).toBe("env A=1 'B=x y';");
    expect(render("env{{#each vars}} {{this}}{{/each}};", { vars: [] })).toBe("env;");
  });

  it("refuses a plain value the data lacks, as Handlebars' strict mode (a helper's or a block's may be absent)", () => {
    expect(() => render("{{missing}}", {})).toThrow(/"missing" not defined/);
    expect(() => render("{{a.b}}", { a: {} })).toThrow(/"b" not defined/);
    expect(render("[{{{json absent}}}{{#if absent}}x{{/if}}]", {})).toBe("[]");
  });

  it("refuses what it does not support, and unbalanced blocks, before rendering anything", () => {
    for (const source of ["{{else}}", "{{> partial}}", "{{!-- note --}}", "{{upper name}}", "{{#unless a}}{{/unless}}", "{{#if a b}}{{/if}}"]) {
      expect(() => compileTemplate(source, "t.hbs"), source).toThrow(/^t\.hbs: /);
    }
    expect(() => compileTemplate("{{#if a}}", "t.hbs")).toThrow(/never closed/);
    expect(() => compileTemplate("{{#if a}}{{/each}}", "t.hbs")).toThrow(/closes no open/);
  });

  it("renders the extension's index.ts from templates/", () => {
    const text = renderTemplate("extension/index.ts.hbs", {
      version: "9.9.9",
      bundle: "gateway-extension.mjs",
      mode: "single",
      sessionId: "main",
      prefix: "p",
      redisUrl: "redis://127.0.0.1:6379",
      dedupeTtlSeconds: 1,
      maxBatch: 2,
      pollIntervalMs: 3,
    });
    expect(text).toContain('  prefix: "p",\n  redisUrl: "redis://127.0.0.1:6379",\n  dedupeTtlSeconds: 1,\n');
    expect(text).not.toMatch(/secretsFile|heartbeat:|\{\{/);
  });
});
