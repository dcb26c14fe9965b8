// Whether pi took a message. pi's sendUserMessage returns before pi decides: a missing API key,
// an unset model or another extension's input handler ends the attempt with only an
// extension_error that extensions never see. A message pi took starts a turn (agent_start), so
// the hand-off counts as done only then; until then the batch stays unacknowledged in Redis.

export class NotAcceptedError extends Error {
  constructor(waitedMs: number) {
    super(`pi did not start a turn for the message within ${Math.round(waitedMs / 1000)} s (see pi's own error, e.g. no API key or model)`);
  }
}

export class Acceptance {
  private pending: { resolve(): void; reject(error: Error): void; timer: NodeJS.Timeout } | undefined;

  /**
   * Resolves on the next `accepted()`. After `timeoutMs` it rejects if pi is idle (it never
   * started), and keeps waiting while `busy()` says pi is still working on something (e.g. a
   * compaction before the turn), up to `maxWaitMs`.
   */
  wait(options: { timeoutMs: number; maxWaitMs: number; recheckMs: number; busy(): boolean }): Promise<void> {
    this.cancel(new Error("superseded by a newer message"));
    const started = Date.now();
    return new Promise((resolve, reject) => {
      const expire = () => {
        const waited = Date.now() - started;
        if (options.busy() && waited < options.maxWaitMs) {
          this.pending!.timer = schedule(expire, options.recheckMs);
          return;
        }
        this.pending = undefined;
        reject(new NotAcceptedError(waited));
      };
      this.pending = { resolve, reject, timer: schedule(expire, options.timeoutMs) };
    });
  }

  get waiting(): boolean {
    return this.pending !== undefined;
  }

  /** agent_start: pi took the message */
  accepted(): void {
    const pending = this.pending;
    if (!pending) return;
    this.pending = undefined;
    clearTimeout(pending.timer);
    pending.resolve();
  }

  cancel(error: Error): void {
    const pending = this.pending;
    if (!pending) return;
    this.pending = undefined;
    clearTimeout(pending.timer);
    pending.reject(error);
  }
}

function schedule(callback: () => void, ms: number): NodeJS.Timeout {
  const timer = setTimeout(callback, ms);
  timer.unref();
  return timer;
}
