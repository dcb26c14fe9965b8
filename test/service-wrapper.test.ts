// The central-session wrapper for real: real tmux (a private server via TMUX_TMPDIR), a stand-in pi.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { renderWrapper } from "../src/components/service/wrapper.ts";

const tmuxBin = spawnSync("sh", ["-c", "command -v tmux"], { encoding: "utf8" }).stdout.trim();
const running: ChildProcess[] = [];
let tmuxDir = "";

afterEach(() => {
  for (const child of running.splice(0)) child.kill("SIGKILL");
  if (tmuxDir) spawnSync(tmuxBin, ["kill-server"], { env: { ...process.env, TMUX_TMPDIR: tmuxDir } });
});

function setup() {
  const dir = mkdtempSync(join(tmpdir(), "gw-wrapper-"));
  tmuxDir = mkdtempSync(join(tmpdir(), "gw-tmux-"));
  const starts = join(dir, "starts.log");
  const fakePi = join(dir, "fake-pi");
  writeFileSync(fakePi, `#!/bin/sh\necho "started role=$GATEWAY_ROLE args=$*" >> ${JSON.stringify(starts)}\nexec sleep 300\n`);
  chmodSync(fakePi, 0o755);
  const wrapper = join(dir, "run-central.sh");
  writeFileSync(wrapper, renderWrapper({ tmux: tmuxBin, session: "pi-gateway", workdir: dir, piArgv: [fakePi, "--mode", "it's quoted"], pollSeconds: 1 }));
  chmodSync(wrapper, 0o755);
  const env = { PATH: "/usr/bin:/bin", HOME: dir, TMUX_TMPDIR: tmuxDir };
  const start = () => {
    const child = spawn("/bin/sh", [wrapper], { env, stdio: ["ignore", "ignore", "pipe"] });
    running.push(child);
    let stderr = "";
    child.stderr!.on("data", (d) => (stderr += d));
    const exited = new Promise<{ code: number | null; stderr: string }>((resolve) => child.once("exit", (code) => resolve({ code, stderr })));
    return { child, exited };
  };
  const tmux = (...args: string[]) => spawnSync(tmuxBin, args, { env, encoding: "utf8" });
  return { starts, start, tmux, wrapper };
}

async function until(condition: () => boolean, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("the central-session wrapper", () => {
  it("starts pi once in tmux, never a second session, and exits non-zero when the session ends", async () => {
    const { starts, start, tmux, wrapper } = setup();
    expect(spawnSync("sh", ["-n", wrapper]).status).toBe(0);
    const first = start();
    await until(() => existsSync(starts), 10_000, "pi to start");
    expect(readFileSync(starts, "utf8")).toBe("started role=central args=--mode it's quoted\n");
    const second = start();
    await new Promise((r) => setTimeout(r, 1500));
    expect(tmux("list-sessions", "-F", "#{session_name}").stdout.trim().split("\n")).toEqual(["pi-gateway"]);
    expect(readFileSync(starts, "utf8").trim().split("\n")).toHaveLength(1);
    expect(first.child.exitCode).toBeNull();
    expect(second.child.exitCode).toBeNull();

    expect(tmux("kill-session", "-t", "=pi-gateway").status).toBe(0);
    const [a, b] = await Promise.all([first.exited, second.exited]);
    expect(a.code).toBe(1);
    expect(b.code).toBe(1);
    expect(a.stderr).toContain("tmux session pi-gateway ended");

    // the service manager restarts it: pi comes back
    start();
    await until(() => readFileSync(starts, "utf8").trim().split("\n").length === 2, 10_000, "pi to start again");
  });
});
