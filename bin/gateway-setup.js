#!/usr/bin/env node
// The CLI's front door, CommonJS because that is the cheapest file node can start (an ES module costs
// its loader). `--help` and `--version` alone are answered here: the help as commander rendered it at
// build time (scripts/build-cli.mjs), the version from package.json. Anything else goes to the quick
// entry (src/cli/quick-entry.ts): setup, push, status and doctor start there without commander; it loads
// the full CLI for whatever else it is given.
const args = process.argv.slice(2);
const only = args.length === 1 ? args[0] : undefined;

if (only === "--help" || only === "-h") answer(require("node:fs").readFileSync(`${__dirname}/../dist/cli-bundle/help.txt`, "utf8"));
else if (only === "--version" || only === "-v") answer(`${require("../package.json").version}\n`);
else require("../dist/cli-bundle/quick.cjs").main(args, fullCli);

function fullCli() {
  return require("../dist/cli-bundle/main.cjs").main();
}

function answer(text) {
  // a reader that went away (`gateway-setup --help | head -1`) is no error
  process.stdout.on("error", () => {});
  process.stdout.write(text);
}
