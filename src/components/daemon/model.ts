// The model check's work, a chunk of its own: it loads pi's SDK, an ES module, which the chunk
// that holds the doctor's checks could not import with V8's code cache (src/cli/compile-cache.ts).
import { type Finding, fail, ok } from "../../core/finding.ts";

export async function checkDaemonModel(agentDir: string, configured: string | undefined): Promise<Finding> {
  const { DaemonModelError, resolveDaemonModel } = await import("../../runtime/daemon/pi-session.ts");
  try {
    const model = resolveDaemonModel({ agentDir, ...(configured ? { model: configured } : {}) });
    return ok("model", `the daemon's model ${model.label} resolves and has credentials`);
  } catch (error) {
    if (error instanceof DaemonModelError) return fail("model", error.message, error.fix);
    throw error;
  }
}
