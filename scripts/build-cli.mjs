// Bundles the CLI (src/cli/main.ts, src/cli/quick-entry.ts and each command apart, see below) into
// chunks in dist/cli-bundle/, split at every `await import()`:
// a command loads its own chunk and the few it shares, not each module of ours one file at a time.
// Then builds the package's bin, bin/gateway-setup.js, from src/cli/front-door.ts, and renders the
// program's --help with commander itself, which the bin prints without loading commander or the CLI.
import { chmodSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { build, transform } from "esbuild";
import { lighterIoredis } from "./lighter-ioredis.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
// two levels under the package root, like every module of ours: src/platform/package-root.ts counts on it
const OUT = join(ROOT, "dist/cli-bundle");
const BIN = join(ROOT, "bin/gateway-setup.js");
// What stays in node_modules: the pi SDK and grammY (the daemon's; as shipped, with their own files),
// and jiti (it loads its own files by path). plist and diff are required where they are used
// (createRequire), so no chunk holds them; the daemon's `await import("ioredis")` is a chunk of its own.
const EXTERNAL = ["@mariozechner/*", "grammy", "jiti"];

// Builds into one folder: each command's module (src/cli/*-command.ts) on its own, split only at
// its own `await import()`s; then the full CLI (main.ts) and the quick entry (setup, push, status
// and doctor without commander), whose `await import("./<name>-command.ts")` loads that command's build.
// A command so reads a few files of ours, not the dozens of chunks one split of the whole CLI cuts
// its modules into along every line its commands draw (~15 ms of a push's cold start, more of a
// setup's). What commands share is in each of their builds: a bigger package, every command as
// lean as its own code.
const COMMANDS = readdirSync(join(ROOT, "src/cli"))
  .filter((file) => file.endsWith("-command.ts"))
  .map((file) => file.slice(0, -".ts".length));
const files = new Map();
const inputs = {};
/** module of src/cli/ (`push-command.ts`) -> its build's entry file (`.cjs`, or `.js` where it stays an ES module) */
const entryFiles = {};
for (const [name, module] of [
  ...COMMANDS.map((command) => [command, `${command}.ts`]),
  ["main", "main.ts"],
  ["quick", "quick-entry.ts"],
  ["push-entry", "push-entry.ts"],
]) {
  for (const [chunk, { file, text, sources }] of await splitBuild(name, join(ROOT, "src/cli", module))) {
    // chunks are named by their content: a name two builds made holds the same code
    if (files.has(chunk) && files.get(chunk).text !== text) throw new Error(`two builds made different chunks named ${chunk}`);
    files.set(chunk, { file, text });
    inputs[file] = sources;
    if (chunk === `${name}.js`) entryFiles[module] = file;
  }
}

mkdirSync(OUT, { recursive: true });
for (const { file, text } of files.values()) writeFileSync(join(OUT, file), text);
await buildFrontDoor();
// which sources each chunk holds: test/cold-start.test.ts names what a command loaded from it
writeFileSync(join(OUT, "inputs.json"), `${JSON.stringify(inputs, null, 1)}\n`);

const { buildProgram } = createRequire(import.meta.url)(join(OUT, "main.cjs"));
let help = "";
buildProgram()
  .configureOutput({ writeOut: (text) => (help += text) })
  .outputHelp();
writeFileSync(join(OUT, "help.txt"), help);

// what an earlier build left (chunks are named by their content), and the code cache of its chunks
const built = new Set([...[...files.values()].map(({ file }) => file), "inputs.json", "help.txt"]);
for (const file of readdirSync(OUT)) if (!built.has(file)) rmSync(join(OUT, file), { force: true, recursive: true });
console.log(`built ${relative(ROOT, OUT)}/: ${files.size} chunks`);

/**
 * The package's bin (src/cli/front-door.ts) as one CommonJS file: it installs the code cache before
 * the first chunk loads, so it cannot be one of them; its `import()`s of the entries become requires.
 */
async function buildFrontDoor() {
  await build({
    entryPoints: [join(ROOT, "src/cli/front-door.ts")],
    outfile: BIN,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    supported: { "dynamic-import": false },
    define: { "import.meta.dirname": "__dirname" },
    logLevel: "warning",
    plugins: [entriesBuiltApart(relative(dirname(BIN), OUT))],
  });
  chmodSync(BIN, 0o755);
}

/** One entry bundled and split at every `await import()`: chunk name -> its file's name, text and sources. */
async function splitBuild(name, entry) {
  // esbuild splits ES modules only; the chunks are made CommonJS after (see commonJsWherePossible)
  const { metafile, outputFiles } = await build({
    entryPoints: { [name]: entry },
    outdir: OUT,
    bundle: true,
    splitting: true,
    platform: "node",
    target: "node20",
    format: "esm",
    external: EXTERNAL,
    metafile: true,
    write: false,
    logLevel: "warning",
    plugins: [entriesBuiltApart(), lighterIoredis()],
  });
  const chunks = new Map(outputFiles.map(({ path, text }) => [relative(OUT, path), { text, output: metafile.outputs[relative(ROOT, path)] }]));
  if ([...chunks.keys()].some((chunk) => chunk.includes("/"))) throw new Error(`every chunk must sit in ${OUT} itself: ${[...chunks.keys()].join(", ")}`);
  const files = await commonJsWherePossible(chunks);
  return new Map(
    [...chunks].map(([chunk, { output }]) => [
      chunk,
      {
        ...files.get(chunk),
        sources: Object.entries(output.inputs)
          .filter(([, input]) => input.bytesInOutput > 0)
          .map(([input]) => input),
      },
    ]),
  );
}

/**
 * `await import("./<name>-command.ts")` loads that command's own build, and the front door's
 * `import()` of an entry that entry's build (each built before what imports it); `from` is the
 * chunks' folder as the importing file sees it.
 */
function entriesBuiltApart(from = ".") {
  return {
    name: "entries-built-apart",
    setup(build) {
      build.onResolve({ filter: /^\.\/[\w-]+\.ts$/ }, ({ path, kind }) => {
        if (kind !== "dynamic-import") return undefined;
        const module = path.slice("./".length);
        if (from === "." && !module.endsWith("-command.ts")) return undefined;
        const built = entryFiles[module];
        if (!built) throw new Error(`${path} is imported before its own build was made`);
        return { path: `${from}/${built}`, external: true };
      });
    },
  };
}

/**
 * Node's ES module loader costs a CLI ~6 ms before its first module and ~0.4 ms a module after;
 * CommonJS much less (~10 ms a command, measured). So every chunk becomes CommonJS (`.cjs`) but
 * those that import a package statically (the pi SDK is an ES module only; grammY goes with it) or
 * a chunk that stays an ES module: those keep their `.js`. Chunk name -> its file's name and text.
 */
async function commonJsWherePossible(chunks) {
  const staticImports = (chunk) => chunks.get(chunk).output.imports.filter(({ kind }) => kind === "import-statement");
  const importsPackage = (chunk) => staticImports(chunk).some(({ path, external }) => external && !path.startsWith("node:"));
  const importsChunkIn = (chunk, set) => staticImports(chunk).some(({ path, external }) => !external && set.has(relative(OUT, join(ROOT, path))));
  const esm = new Set([...chunks.keys()].filter(importsPackage));
  for (let grew = true; grew; ) {
    const before = esm.size;
    for (const chunk of chunks.keys()) if (importsChunkIn(chunk, esm)) esm.add(chunk);
    grew = esm.size > before;
  }
  const fileOf = (chunk) => (esm.has(chunk) ? chunk : chunk.replace(/\.js$/, ".cjs"));
  // a chunk of esbuild's helpers alone (__commonJS, __require): requiring it does nothing but define them
  const holdsNoInput = ({ output }) => Object.values(output.inputs).every((input) => input.bytesInOutput === 0);
  const helpersOnly = new Set([...chunks].filter(([, chunk]) => holdsNoInput(chunk)).map(([chunk]) => fileOf(chunk)));
  const files = new Map();
  for (const [chunk, { text }] of chunks) {
    const pointing = text.replace(/"\.\/([\w-]+\.js)"/g, (quoted, name) => (chunks.has(name) ? `"./${fileOf(name)}"` : quoted));
    const requiring = requireCommonJsChunks(pointing);
    files.set(chunk, { file: fileOf(chunk), text: esm.has(chunk) ? withRequire(requiring) : withoutUnusedHelpers(await toCommonJs(requiring), helpersOnly) });
  }
  return files;
}

/** drops the require() of a helpers-only chunk whose helpers this chunk does not use (esbuild keeps it for the import's order): a file less to load */
function withoutUnusedHelpers(text, helpersOnly) {
  return text.replace(/^var (import_[\w$]+) = require\("\.\/([\w-]+\.cjs)"\);\n/gm, (line, binding, file) =>
    helpersOnly.has(file) && text.split(binding).length === 2 ? "" : line,
  );
}

/** an ES module chunk: esbuild's __require, which bundled CommonJS code calls, needs a real require */
function withRequire(text) {
  const preamble = 'import { createRequire as __gatewayCreateRequire } from "node:module";\nconst require = __gatewayCreateRequire(import.meta.url);\n';
  return /\brequire\b/.test(text) ? preamble + text : text;
}

/**
 * `import()` of a CommonJS chunk becomes a require(), in every chunk: the namespace esbuild's code
 * expects (`default` the package itself, for `await import("ioredis")`), which node's import() of a
 * CommonJS file would wrap once more
 */
function requireCommonJsChunks(text) {
  return text.replace(/\bimport\("(\.\/[\w-]+\.cjs)"\)/g, 'Promise.resolve().then(() => require("$1"))');
}

/**
 * an ES module chunk as CommonJS; `import()` of a node built-in becomes a require(), so the chunk
 * has no import() of its own and is compiled with V8's code cache (src/cli/compile-cache.ts)
 */
async function toCommonJs(requiring) {
  const usesUrl = requiring.includes("import.meta.url");
  const builtinsRequired = requiring.replace(/\bimport\("(node:[\w/]+)"\)/g, 'Promise.resolve().then(() => require("$1"))');
  const { code, warnings } = await transform(builtinsRequired, {
    format: "cjs",
    platform: "node",
    target: "node20",
    // import.meta.dirname is __dirname at no cost; the url is computed when the chunk loads
    define: { "import.meta.dirname": "__dirname", ...(usesUrl ? { "import.meta.url": "__gatewayModuleUrl" } : {}) },
    ...(usesUrl ? { banner: 'const __gatewayModuleUrl = require("node:url").pathToFileURL(__filename).href;' } : {}),
  });
  // e.g. an import.meta other than its url, which CommonJS has no equivalent of
  if (warnings.length) throw new Error(`a chunk does not convert to CommonJS: ${warnings.map(({ text }) => text).join("; ")}`);
  return code;
}
