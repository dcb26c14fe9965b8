// The test suite's one polling wait: for a condition no event announces (a file appearing, a
// process going away, a Redis list emptying). Where something does announce it, wait on that
// instead: VerificationHost.waitFor, PiRpc.waitForLine, FakeModel.waitForRequest, TmuxSession.waitForText.

const POLL_MS = 50;

/**
 * Resolves once `condition` holds: checked at once, then every 50 ms, and a last time after the
 * deadline. Rejects after `timeoutMs` with "timed out after <timeoutMs> ms waiting for <what>";
 * `what` may be a function, to describe the state found at that moment. A condition that throws
 * ends the wait with its error.
 */
export async function waitFor(condition: () => boolean | Promise<boolean>, what: string | (() => string), timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === "string" ? what : what()}`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
