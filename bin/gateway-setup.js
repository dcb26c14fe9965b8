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

/**
 * Written to the file descriptor, not through process.stdout: making that stream loads node's stream
 * code, which would cost a --help a tenth of node's own start. A reader that went away
 * (`gateway-setup --help | head -1`) is no error; a pipe that cannot take it all at once now gets
 * the rest through process.stdout, which waits for it.
 */
function answer(text) {
  const bytes = Buffer.from(text);
  let written = 0;
  try {
    while (written < bytes.length) written += require("node:fs").writeSync(1, bytes, written);
  } catch (error) {
    if (error.code !== "EAGAIN") return;
    process.stdout.on("error", () => {});
    process.stdout.write(bytes.subarray(written));
  }
}
