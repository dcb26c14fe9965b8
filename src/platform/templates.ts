// Renders templates/*.hbs: the small part of Handlebars' syntax they use, with no engine to load
// (Handlebars itself cost setup ~40 ms at every run, to render one small file). Values go through
// the `json` helper wherever they land in code and the `sh` helper wherever they land in a shell
// script, so a path or URL can never break out of its string literal.
//
//   {{name}} {{{name}}} {{a.b}}   the value as it is (no HTML escaping: none of these is HTML); a
//                                  name the data does not have is an error, as Handlebars' strict mode
//   {{{json name}}} {{{sh name}}}  the value through a helper
//   {{#if name}}...{{/if}}         kept when the value is truthy (an empty list is not)
//   {{#each name}}...{{/each}}     once per item of a list, the item as `this`
//
// A block tag alone on its line takes the whole line with it, as in Handlebars. Anything else
// (another helper, {{else}}, partials, comments) is an error at the first render, never output.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PACKAGE_ROOT } from "./package-root.ts";
import { shellQuote } from "./shell.ts";

type Node = string | { value: string; helper?: Helper } | { block: "if" | "each"; path: string; body: Node[] };
type Helper = (value: unknown) => string | undefined;

const HELPERS: Record<string, Helper> = {
  json: (value) => JSON.stringify(value),
  sh: (value) => shellQuote(String(value)),
};

const TAG = /\{\{\{\s*([^}]*?)\s*\}\}\}|\{\{\s*([^}]*?)\s*\}\}/g;
const STANDALONE_BLOCK_TAG = /^[ \t]*(\{\{[#/][^}]*\}\})[ \t]*(?:\r?\n|$)/gm;
const PATH = /^(this|[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*)$/;

export function compileTemplate(source: string, name = "template"): (data: Record<string, unknown>) => string {
  const nodes = parse(source.replace(STANDALONE_BLOCK_TAG, "$1"), name);
  return (data) => render(nodes, data);
}

function parse(source: string, name: string): Node[] {
  const root: Node[] = [];
  const open: { block: "if" | "each"; body: Node[] }[] = [];
  const into = () => open.at(-1)?.body ?? root;
  const unsupported = (tag: string) => new Error(`${name}: {{${tag}}} is not supported by platform/templates.ts`);
  let at = 0;
  for (const match of source.matchAll(TAG)) {
    if (match.index > at) into().push(source.slice(at, match.index));
    at = match.index + match[0].length;
    const tag = (match[1] ?? match[2])!;
    const [head, ...args] = tag.split(/\s+/);
    if (head === "#if" || head === "#each") {
      if (args.length !== 1 || !PATH.test(args[0]!)) throw unsupported(tag);
      const block = { block: head.slice(1) as "if" | "each", path: args[0]!, body: [] };
      into().push(block);
      open.push(block);
    } else if (head === "/if" || head === "/each") {
      if (open.pop()?.block !== head.slice(1)) throw new Error(`${name}: {{${tag}}} closes no open {{#${head.slice(1)}}}`);
    } else if (args.length === 0 && PATH.test(head!) && head !== "else") {
      into().push({ value: head! });
    } else if (args.length === 1 && HELPERS[head!] && PATH.test(args[0]!)) {
      into().push({ value: args[0]!, helper: HELPERS[head!] });
    } else throw unsupported(tag);
  }
  if (open.length) throw new Error(`${name}: {{#${open.at(-1)!.block}}} is never closed`);
  if (at < source.length) root.push(source.slice(at));
  return root;
}

function render(nodes: Node[], context: unknown): string {
  let out = "";
  for (const node of nodes) {
    if (typeof node === "string") out += node;
    else if ("block" in node) {
      const value = lookup(context, node.path, false);
      if (node.block === "if") {
        if (Array.isArray(value) ? value.length > 0 : Boolean(value)) out += render(node.body, context);
      } else for (const item of Array.isArray(value) ? value : []) out += render(node.body, item);
    } else if (node.helper) out += node.helper(lookup(context, node.value, false)) ?? "";
    else out += String(lookup(context, node.value, true) ?? "");
  }
  return out;
}

/** `strict`: a name the data does not have throws (Handlebars' strict mode checks plain values, not a helper's or a block's) */
function lookup(context: unknown, path: string, strict: boolean): unknown {
  if (path === "this") return context;
  let value = context;
  for (const key of path.split(".")) {
    if (value === null || typeof value !== "object" || !(key in value)) {
      if (strict) throw new Error(`"${key}" not defined in the data for {{${path}}}`);
      return undefined;
    }
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

const compiled = new Map<string, (data: Record<string, unknown>) => string>();

export function renderTemplate(name: string, data: Record<string, unknown>): string {
  let template = compiled.get(name);
  if (!template) {
    template = compileTemplate(readFileSync(join(PACKAGE_ROOT, "templates", name), "utf8"), name);
    compiled.set(name, template);
  }
  return template(data);
}
