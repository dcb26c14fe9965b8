// Waits that end early when the bridge stops, so stop() leaves no timer behind.

/** Resolves after `ms`, or at once when `signal` aborts (it never rejects). */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

/** A loop's idle wait: ends on `wake()`, after `ms` when given, or when the signal aborts. */
export class Waker {
  private wakeUp: (() => void) | undefined;
  private woken = false;

  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  async wait(signal: AbortSignal, ms?: number): Promise<void> {
    if (this.woken || signal.aborted) {
      this.woken = false;
      return;
    }
    const idle = new AbortController();
    const stop = (): void => idle.abort();
    signal.addEventListener("abort", stop, { once: true });
    this.wakeUp = stop;
    try {
      await sleep(ms ?? 2 ** 31 - 1, idle.signal);
    } finally {
      this.wakeUp = undefined;
      this.woken = false;
      signal.removeEventListener("abort", stop);
    }
  }
}

/** A wait as a log line says it: "300 ms", "30 s". */
export function duration(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`;
}
