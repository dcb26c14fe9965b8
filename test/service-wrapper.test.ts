// The central-session wrapper for real: real tmux (private servers via TMUX_TMPDIR), a stand-in pi.
// The wrapper runs pi on its own tmux server (-L pi-gateway), never on the user's default one.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { renderWrapper, TMUX_SOCKET } from "../src/components/service/wrapper.ts";
import { waitFor } from "./helpers/wait.ts";

const tmuxBin = spawnSync("sh", ["-c", "command -v tmux"], { encoding: "utf8" }).stdout.trim();
const running: ChildProcess[] = [];
let tmuxDir = "";

afterEach(() => {
  for (const child of running.splice(0)) child.kill("SIGKILL");
  for (const socket of [["-L", TMUX_SOCKET], []]) spawnSync(tmuxBin, [...socket, "kill-server"], { env: { ...process.env, TMUX_TMPDIR: tmuxDir } });
});

/** `pi` is the stand-in's shell body; it records its start, arguments and environment */
function setup(pi = "exec sleep 300") {
  const dir = mkdtempSync(join(tmpdir(), "gw-wrapper-"));
  tmuxDir = mkdtempSync(join(tmpdir(), "gw-tmux-"));
  const home = join(dir, "home");
  mkdirSync(home);
  // a user config that would keep a dead pane forever and leak into every session: it must not matter
  writeFileSync(join(home, ".tmux.conf"), "set -g remain-on-exit on\nset -g default-command /bin/false\n");
  const starts = join(dir, "starts.log");
  const fakePi = join(dir, "fake pi");
  writeFileSync(
    fakePi,
    `#!/bin/sh\necho "started role=$GATEWAY_ROLE agent=$PI_CODING_AGENT_DIR home=$HOME path=$PATH args=$*" >> ${JSON.stringify(starts)}\n${pi}\n`,
  );
  chmodSync(fakePi, 0o755);
  const wrapper = join(dir, "run-central.sh");
  const log = join(dir, "central-session.log");
  const environment = { PATH: "/usr/local/bin:/usr/bin:/bin", HOME: home, PI_CODING_AGENT_DIR: join(dir, "my agent"), GATEWAY_ROLE: "central" };
  writeFileSync(
    wrapper,
    renderWrapper({ tmux: tmuxBin, session: "pi-gateway", workdir: dir, piArgv: [fakePi, "--mode", "it's quoted"], environment, log, pollSeconds: 1 }),
  );
  chmodSync(wrapper, 0o755);
  // what the service manager gives the wrapper; TMUX_TMPDIR keeps every tmux server of the test private
  const env = { PATH: "/usr/bin:/bin", HOME: home, GATEWAY_ROLE: "central", TMUX_TMPDIR: tmuxDir };
  const start = () => {
    const child = spawn("/bin/sh", [wrapper], { env, stdio: ["ignore", "ignore", "pipe"] });
    running.push(child);
    let stderr = "";
    child.stderr!.on("data", (d) => (stderr += d));
    const exited = new Promise<{ code: number | null; stderr: string }>((resolve) => child.once("exit", (code) => resolve({ code, stderr })));
    return { child, exited };
  };
  /** the dedicated server the wrapper uses */
  const gatewayTmux = (...args: string[]) => spawnSync(tmuxBin, ["-L", TMUX_SOCKET, ...args], { env, encoding: "utf8" });
  /** the user's own default server, with the user's ~/.tmux.conf */
  const userTmux = (...args: string[]) => spawnSync(tmuxBin, args, { env: { PATH: env.PATH, HOME: home, TMUX_TMPDIR: tmuxDir }, encoding: "utf8" });
  // only complete lines: the shell creates the file before its echo lands
  const startLines = () => (existsSync(starts) ? readFileSync(starts, "utf8").split("\n").slice(0, -1) : []);
  return { dir, starts, startLines, start, gatewayTmux, userTmux, wrapper, log, environment };
}

/** the wrapper is in its watch loop: its `sleep {{pollSeconds}}` is running */
const watching = (child: ChildProcess) => spawnSync("pgrep", ["-P", String(child.pid), "-x", "sleep"]).status === 0;

describe("the central-session wrapper", () => {
  it("starts pi once in tmux, never a second session, and exits non-zero when the session ends", async () => {
    const { startLines, start, gatewayTmux, wrapper, environment } = setup();
    expect(spawnSync("sh", ["-n", wrapper]).status).toBe(0);
    const first = start();
    await waitFor(() => startLines().length > 0, "pi to start", 10_000);
    expect(startLines()).toEqual([
      `started role=central agent=${environment.PI_CODING_AGENT_DIR} home=${environment.HOME} path=${environment.PATH} args=--mode it's quoted`,
    ]);
    const second = start();
    // the second wrapper has seen the session and is watching it (its poll loop's sleep is running);
    // a fixed pause could end before it even looked, and it would then start a second pi below
    await waitFor(() => watching(second.child), "the second wrapper to watch the session", 10_000);
    expect(gatewayTmux("list-sessions", "-F", "#{session_name}").stdout.trim().split("\n")).toEqual(["pi-gateway"]);
    // only pi gets the central role: a window the user opens on this server does not
    expect(gatewayTmux("show-environment", "-g", "GATEWAY_ROLE").stdout).not.toContain("GATEWAY_ROLE=central");
    expect(startLines()).toHaveLength(1);
    expect(first.child.exitCode).toBeNull();
    expect(second.child.exitCode).toBeNull();

    expect(gatewayTmux("kill-session", "-t", "=pi-gateway").status).toBe(0);
    const [a, b] = await Promise.all([first.exited, second.exited]);
    expect(a.code).toBe(1);
    expect(b.code).toBe(1);
    expect(a.stderr).toContain("tmux session pi-gateway ended");

    // the service manager restarts it: pi comes back
    start();
    await waitFor(() => startLines().length === 2, "pi to start again", 10_000);
  });

  it("leaves the user's own tmux server alone: its sessions live on, and no GATEWAY_ROLE leaks into it", async () => {
    const { startLines, start, userTmux, gatewayTmux, environment } = setup();
    expect(userTmux("new-session", "-d", "-s", "mine", "sleep 300").status).toBe(0);
    const wrapper = start();
    await waitFor(() => startLines().length > 0, "pi to start", 10_000);
    // pi got everything it needs although a tmux server was already running
    expect(startLines()[0]).toContain(`agent=${environment.PI_CODING_AGENT_DIR} home=${environment.HOME}`);
    expect(userTmux("list-sessions", "-F", "#{session_name}").stdout.trim()).toBe("mine");
    expect(userTmux("show-environment", "-g", "GATEWAY_ROLE").stdout).toBe("");
    expect(gatewayTmux("has-session", "-t", "=mine").status).not.toBe(0);

    // ending the central session (as uninstall does) leaves the user's server running
    expect(gatewayTmux("kill-session", "-t", "=pi-gateway").status).toBe(0);
    expect((await wrapper.exited).code).toBe(1);
    expect(userTmux("has-session", "-t", "=mine").status).toBe(0);
  });

  it("exits non-zero when pi dies at once, whatever the tmux config says, and logs pi's last words and exit status", async () => {
    const { start, log, gatewayTmux } = setup('echo "pi: cannot load extension gateway" >&2; exit 3');
    const { code, stderr } = await start().exited;
    expect(code).toBe(1);
    expect(stderr).toContain(`its last output is in ${log}`);
    const logged = readFileSync(log, "utf8");
    expect(logged).toMatch(/the central pi ended; its last output:\npi: cannot load extension gateway\n\[gateway-setup\] pi exited with status 3\n$/);
    // no dead pane is left behind: the next start begins afresh
    expect(gatewayTmux("has-session", "-t", "=pi-gateway").status).not.toBe(0);
  });

  it("notices a pi that ended while the wrapper watched, even on a server that keeps dead panes", async () => {
    // pi ends when the test says so, not after a fixed 2 s the checks below may outlast under load
    const { startLines, start, gatewayTmux, environment } = setup('while [ ! -e "$HOME/pi-may-end" ]; do sleep 0.1; done; exit 0');
    const wrapper = start();
    await waitFor(() => startLines().length > 0, "pi to start", 10_000);
    expect(gatewayTmux("show-options", "-g", "remain-on-exit").stdout.trim()).toBe("remain-on-exit on");
    await waitFor(() => watching(wrapper.child), "the wrapper to watch pi", 10_000);
    writeFileSync(join(environment.HOME, "pi-may-end"), "");
    expect((await wrapper.exited).code).toBe(1);
  });
});
