// The user's crontab through the `crontab` binary (found on PATH, like every system binary).
import { describeFailure, type Env, run } from "./exec.ts";

export async function readCrontab(env: Env): Promise<string> {
  const result = await run("crontab", ["-l"], { env, timeoutMs: 15_000 });
  if (result.code === 0) return result.stdout;
  if (/no crontab for/i.test(result.stderr)) return "";
  throw new Error(describeFailure(result));
}

export async function writeCrontab(text: string, env: Env): Promise<void> {
  const result = text === "" ? await run("crontab", ["-r"], { env, timeoutMs: 15_000 }) : await run("crontab", ["-"], { env, input: text, timeoutMs: 15_000 });
  if (result.code !== 0 && !(text === "" && /no crontab for/i.test(result.stderr))) throw new Error(describeFailure(result));
}
