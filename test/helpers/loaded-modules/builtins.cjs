// Preloaded into a CLI run (`node --require`) by test/cold-start.test.ts: writes node's own public
// modules the run loaded after node's start (`crypto`, `child_process`, ...) to $LOADED_BUILTINS_FILE,
// one a line. A CommonJS preload that loads nothing itself, so that all it lists is the CLI's doing.
const file = process.env.LOADED_BUILTINS_FILE;
delete process.env.LOADED_BUILTINS_FILE;
delete process.env.NODE_OPTIONS;
if (file) {
  const before = new Set(process.moduleLoadList);
  process.on("exit", () => {
    const loaded = process.moduleLoadList.filter((entry) => !before.has(entry) && /^NativeModule (?!internal\/)/.test(entry));
    require("node:fs").writeFileSync(file, loaded.map((entry) => `${entry.slice("NativeModule ".length)}\n`).join(""));
  });
}
