// V8's code cache for the CLI's own chunks. A cold start compiles every function of ours it runs;
// the bytecode V8 made for a chunk the first time a command that ran it succeeded is kept beside the
// chunks (`.compile-cache/<node version>/`, written when that process exits) and handed back to V8 on
// the next start: a few milliseconds of a push, more of doctor's and status's. Node 22 does this itself
// (module.enableCompileCache); node 20 does not, so the chunks are compiled here as node's loader
// would, with the cache. Only chunks of this folder without an `import()` of their own are: code that
// vm compiles cannot load an ES module on node 20 (the build turns `import("node:...")` into require).
// The cache is as trusted as the chunks beside it, and nothing breaks without it: a folder that
// cannot be written (a global install by root) has none; V8 refuses a cache made by another V8 or
// for other source, and the chunk is compiled as usual then, and cached again.

import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { Script } from "node:vm";

/** The folder of a chunk's cache, under the chunks' own folder. */
export const COMPILE_CACHE_FOLDER = ".compile-cache";

interface CommonJsModule {
  exports: unknown;
  require(id: string): unknown;
  _compile(content: string, filename: string, ...more: unknown[]): unknown;
}
interface ModuleInternals {
  prototype: CommonJsModule;
  wrap(content: string): string;
  _resolveFilename(request: string, parent: CommonJsModule): string;
  _cache: unknown;
}

/**
 * Compiles the `.cjs` chunks of `folder` required from now on with V8's code cache. The loader is
 * the main module's class (loading node:module for it costs a start ~0.5 ms): with no CommonJS main
 * module (the CLI's front door is one) there is no cache.
 */
export function cacheCompiledChunks(folder: string): void {
  const internals = process.mainModule?.constructor as unknown as ModuleInternals | undefined;
  if (!internals) return;
  const compile = internals.prototype._compile;
  const cacheFolder = join(folder, COMPILE_CACHE_FOLDER, `node-${process.version}-${process.arch}`);
  const unsaved: { script: Script; name: string; tookPartial: boolean }[] = [];
  internals.prototype._compile = function compileWithCache(this: CommonJsModule, content: string, filename: string, ...more: unknown[]) {
    if (dirname(filename) !== folder || !filename.endsWith(".cjs") || content.includes("import(")) return compile.call(this, content, filename, ...more);
    const name = join(cacheFolder, cacheName(filename));
    const whole = readCache(`${name}.cache`);
    const cachedData = whole ?? readCache(`${name}${PARTIAL}`);
    const script = new Script(internals.wrap(content), { filename, ...(cachedData ? { cachedData } : {}) });
    const taken = cachedData !== undefined && !script.cachedDataRejected;
    if (!taken || !whole) unsaved.push({ script, name, tookPartial: taken });
    const require = Object.assign((id: string) => this.require(id), {
      resolve: (request: string) => internals._resolveFilename(request, this),
      cache: internals._cache,
      main: process.mainModule,
    });
    return script.runInThisContext()(this.exports, require, this, filename, folder);
  };
  // V8's cache holds what the run compiled (a push that found no Redis compiled less than one that
  // pushed): a run that failed leaves a partial cache, and the next run that succeeds, started from
  // it, writes the whole one
  process.once("exit", (code) => {
    for (const { script, name, tookPartial } of unsaved) {
      if (code === 0) {
        saveCache(`${name}.cache`, script);
        if (tookPartial) rmSync(`${name}${PARTIAL}`, { force: true });
      } else if (!tookPartial) saveCache(`${name}${PARTIAL}`, script);
    }
  });
}

/** the cache of a chunk as a failed run left it: taken until a run that succeeds writes the whole one */
const PARTIAL = ".partial.cache";

/**
 * V8 checks a cache against its source's length, not its text: the chunk's size and modification
 * time name its cache, so a chunk changed in place (patch-package, say) is not run from bytecode
 * made for the old text.
 */
function cacheName(filename: string): string {
  const { size, mtimeMs } = statSync(filename);
  return `${basename(filename)}.${size}.${Math.trunc(mtimeMs)}`;
}

function readCache(file: string): Buffer | undefined {
  try {
    return readFileSync(file);
  } catch {
    return undefined;
  }
}

/** Written whole or not at all (rename), so a process starting meanwhile never reads half a cache. */
function saveCache(file: string, script: Script): void {
  try {
    mkdirSync(dirname(file), { recursive: true });
    const partial = `${file}.${process.pid}`;
    writeFileSync(partial, script.createCachedData());
    renameSync(partial, file);
  } catch {
    // no cache then: the next start compiles as usual
  }
}
