// Handlebars rendering of templates/. Values go through the `json` helper wherever they land
// in code and the `sh` helper wherever they land in a shell script, so a path or URL can never
// break out of its string literal. Handlebars is loaded at the first render: doctor, status and
// push never render a template and do not pay for it.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import type HandlebarsModule from "handlebars";
import { PACKAGE_ROOT } from "./package-root.ts";
import { shellQuote } from "./shell.ts";

let engine: typeof HandlebarsModule | undefined;

function handlebars(): typeof HandlebarsModule {
  if (!engine) {
    // require, not import: synchronous, and a CommonJS package loads faster this way than through the ESM loader
    engine = (createRequire(import.meta.url)("handlebars") as typeof HandlebarsModule).create();
    engine.registerHelper("json", (value: unknown) => JSON.stringify(value));
    engine.registerHelper("sh", (value: unknown) => shellQuote(String(value)));
  }
  return engine;
}

const compiled = new Map<string, HandlebarsTemplateDelegate>();

export function renderTemplate(name: string, data: Record<string, unknown>): string {
  let template = compiled.get(name);
  if (!template) {
    const source = readFileSync(join(PACKAGE_ROOT, "templates", name), "utf8");
    template = handlebars().compile(source, { noEscape: true, strict: true });
    compiled.set(name, template);
  }
  return template(data);
}
