import { ok, warn } from "../../doctor/finding.ts";
import type { DoctorCheck } from "../../doctor/check.ts";
import { CommandNotFoundError, run } from "../../platform/exec.ts";

export const piCheck: DoctorCheck = {
  id: "pi",
  async run({ env }) {
    try {
      const result = await run("pi", ["--version"], { env, timeoutMs: 15_000 });
      const version = result.stdout.trim() || result.stderr.trim();
      if (result.code === 0 && version) return ok("pi", `pi ${version} is installed`);
      return warn("pi", `pi --version failed (exit ${result.code})`, "npm install -g @mariozechner/pi-coding-agent");
    } catch (error) {
      if (error instanceof CommandNotFoundError) {
        return warn("pi", "pi is not on PATH", "npm install -g @mariozechner/pi-coding-agent");
      }
      throw error;
    }
  },
};
