// Preloaded into a CLI run (`node --import`) by test/cold-start.test.ts: writes every module the
// run loaded to $LOADED_MODULES_FILE at exit, one file URL a line: ES modules as the loader
// resolves them (hooks.mjs), CommonJS ones from require's cache (createRequire, and what a
// CommonJS package requires itself). Programs the CLI starts do not inherit it.
import { appendFileSync } from "node:fs";
import { createRequire, register } from "node:module";
import { pathToFileURL } from "node:url";

const file = process.env.LOADED_MODULES_FILE;
delete process.env.LOADED_MODULES_FILE;
delete process.env.NODE_OPTIONS;
if (file) {
  register("./hooks.mjs", import.meta.url, { data: { file } });
  const requireCache = createRequire(import.meta.url).cache;
  process.on("exit", () => {
    const urls = Object.keys(requireCache).map((path) => pathToFileURL(path).href);
    appendFileSync(file, urls.map((url) => `${url}\n`).join(""));
  });
}
