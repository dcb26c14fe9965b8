// Handlebars rendering of templates/. Values go through the `json` helper wherever they land
// in code and the `sh` helper wherever they land in a shell script, so a path or URL can never
// break out of its string literal.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import Handlebars from "handlebars";
import { PACKAGE_ROOT } from "./package-root.ts";
import { shellQuote } from "./shell.ts";

const handlebars = Handlebars.create();
handlebars.registerHelper("json", (value: unknown) => JSON.stringify(value));
handlebars.registerHelper("sh", (value: unknown) => shellQuote(String(value)));

const compiled = new Map<string, HandlebarsTemplateDelegate>();

export function renderTemplate(name: string, data: Record<string, unknown>): string {
  let template = compiled.get(name);
  if (!template) {
    const source = readFileSync(join(PACKAGE_ROOT, "templates", name), "utf8");
    template = handlebars.compile(source, { noEscape: true, strict: true });
    compiled.set(name, template);
  }
  return template(data);
}
