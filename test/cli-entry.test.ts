// bin/gateway-setup.js answers `--help`/`-h` from the text commander rendered at build time
// (dist/cli-bundle/help.txt) and `--version`/`-v` from package.json, without loading the CLI: here
// each is what commander itself prints, in any terminal width, so the two can never drift; anything
// else (a subcommand's help, a usage error) still comes from commander. Run `npm run build` first.
import { execFile, execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { closeSync, constants, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { CLI, type CliResult, createSandbox, REPO_ROOT, runCli } from "./helpers/cli.ts";

const BUNDLED_CLI = pathToFileURL(join(REPO_ROOT, "dist/cli-bundle/main.cjs")).href;
const VERSION = (JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { version: string }).version;
/** the program's help as the build rendered it, which the bin prints */
const builtHelp = () => readFileSync(join(REPO_ROOT, "dist/cli-bundle/help.txt"), "utf8");

/** What the bundled CLI's commander prints for `args`, its standard output a terminal `columns` wide when given. */
function commanderSays(args: string[], columns?: number): Promise<CliResult> {
  const script = `
    if (${columns ?? 0}) Object.assign(process.stdout, { isTTY: true, columns: ${columns ?? 0} });
    const { main } = await import(${JSON.stringify(BUNDLED_CLI)});
    await main(["node", "gateway-setup", ...${JSON.stringify(args)}]);`;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ["--input-type=module", "-e", script], { env: createSandbox().env, timeout: 60_000 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== "number") reject(error);
      else resolve({ code: typeof error?.code === "number" ? error.code : 0, stdout, stderr });
    });
  });
}

const bin = (args: string[]) => runCli(args, { env: createSandbox().env });

describe("bin/gateway-setup.js", () => {
  it("--help and -h print exactly what commander prints, whatever the terminal's width", async () => {
    const byCommander = await commanderSays(["--help"]);
    expect(byCommander).toMatchObject({ code: 0, stderr: "" });
    expect(byCommander.stdout).toContain("Usage: gateway-setup [options] | <command> [options]");
    expect(byCommander.stdout).toContain("Exit codes: 0 ok");
    for (const columns of [40, 200]) expect((await commanderSays(["--help"], columns)).stdout, `${columns} columns`).toBe(byCommander.stdout);
    for (const flag of ["--help", "-h"]) expect(await bin([flag]), flag).toEqual(byCommander);
  });

  it("--help into a file writes it whole; to a reader that is gone, it is no error (exit 0, nothing on stderr)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "gw-help-"));
    try {
      const file = join(dir, "help.txt");
      const fd = openSync(file, "w");
      const toFile = spawn(process.execPath, [CLI, "--help"], { env: createSandbox().env, stdio: ["ignore", fd, "pipe"] });
      closeSync(fd);
      let stderr = "";
      toFile.stderr!.on("data", (chunk) => (stderr += chunk));
      expect(await new Promise((resolve) => toFile.once("close", resolve))).toBe(0);
      expect(readFileSync(file, "utf8")).toBe(builtHelp());
      expect(stderr).toBe("");

      // the reading end closed before the bin starts: its write fails with EPIPE
      const gone = spawn(process.execPath, [CLI, "--help"], { env: createSandbox().env, stdio: ["ignore", "pipe", "pipe"] });
      gone.stdout!.destroy();
      let goneStderr = "";
      gone.stderr!.on("data", (chunk) => (goneStderr += chunk));
      expect(await new Promise((resolve) => gone.once("close", resolve))).toBe(0);
      expect(goneStderr).toBe("");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("--help into a full pipe that does not block (a node parent's): the rest waits for the reader, nothing is lost", async () => {
    const dir = mkdtempSync(join(tmpdir(), "gw-help-pipe-"));
    try {
      const fifo = join(dir, "out");
      execFileSync("mkfifo", [fifo]);
      const readEnd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
      const writeEnd = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
      let filled = 0;
      const filler = Buffer.alloc(4096, "x");
      try {
        for (;;) filled += writeSync(writeEnd, filler);
      } catch (error) {
        expect((error as NodeJS.ErrnoException).code).toBe("EAGAIN");
      }
      // says on standard error when the bin's direct write finds the pipe full
      const recorder = join(dir, "record-eagain.cjs");
      writeFileSync(
        recorder,
        `const fs = require("node:fs"); const write = fs.writeSync;
fs.writeSync = function (...args) {
  try { return write.apply(this, args); } catch (error) { if (error.code === "EAGAIN") write(2, "EAGAIN\\n"); throw error; }
};`,
      );
      const child = spawn(process.execPath, ["-r", recorder, CLI, "--help"], { env: createSandbox().env, stdio: ["ignore", writeEnd, "pipe"] });
      // libuv made the pipe block as the child started; a node parent's own use of it (libuv opening
      // it) makes it non-blocking again, for the child too: here, as it closes this end
      new Socket({ fd: writeEnd, readable: false, writable: true }).destroy();
      let stderr = "";
      const sawEagain = new Promise<void>((resolve) =>
        child.stderr!.on("data", (chunk) => {
          stderr += chunk;
          if (stderr.includes("EAGAIN")) resolve();
        }),
      );
      await sawEagain;
      const reader = new Socket({ fd: readEnd, readable: true, writable: false });
      const chunks: Buffer[] = [];
      reader.on("data", (chunk: Buffer) => chunks.push(chunk));
      const [[code]] = await Promise.all([once(child, "close"), once(reader, "end")]);
      expect(code).toBe(0);
      expect(stderr).toBe("EAGAIN\n");
      const read = Buffer.concat(chunks).toString("utf8");
      const help = builtHelp();
      expect(read.length).toBe(filled + help.length);
      expect(read.slice(filled)).toBe(help);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("--version and -v print the version of package.json, as commander does", async () => {
    const byCommander = await commanderSays(["--version"]);
    expect(byCommander).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: "" });
    for (const flag of ["--version", "-v"]) expect(await bin([flag]), flag).toEqual(byCommander);
  });

  it("a subcommand's help and a usage error come from commander", async () => {
    const doctorHelp = await bin(["doctor", "--help"]);
    expect(doctorHelp).toEqual(await commanderSays(["doctor", "--help"]));
    expect(doctorHelp.stdout).toMatch(/^Usage: gateway-setup doctor \[options\]/);

    expect(await bin(["doctor", "-h"])).toEqual(doctorHelp);

    const unknownOption = await bin(["--bogus"]);
    expect(unknownOption).toEqual(await commanderSays(["--bogus"]));
    expect(unknownOption.code).toBe(2);
    expect(unknownOption.stderr).toContain("error: unknown option '--bogus'");
    expect(await bin(["push"])).toMatchObject({ code: 2, stderr: expect.stringContaining("error: missing required argument 'type'") });
    // a name every object has is no command either (the quick entry once crashed on it)
    for (const name of ["constructor", "__proto__"]) {
      const said = await bin([name]);
      expect(said, name).toEqual(await commanderSays([name]));
      expect(said, name).toMatchObject({ code: 2, stderr: expect.stringContaining("error: too many arguments") });
    }
  });
});
