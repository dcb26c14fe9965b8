// Waiting that stops when the user cancels (or a deadline passes): the signal's reason is thrown.

export class AbortedError extends Error {
  constructor(reason: unknown) {
    super(reason instanceof Error ? reason.message : "cancelled");
  }
}

/** `promise`, unless `signal` aborts first (then rejects with AbortedError). */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  return signal ? firstOf(promise, signal) : promise;
}

/** setTimeout as a promise that rejects with AbortedError when `signal` aborts. */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return abortable(new Promise<void>((resolve) => setTimeout(resolve, ms)), signal);
}

/** `promise`, unless `signal` aborts first (AbortedError) or `ms` pass first (an Error saying so). */
export function withTimeout<T>(promise: Promise<T>, ms: number, signal?: AbortSignal): Promise<T> {
  return firstOf(promise, signal, ms);
}

/**
 * Settles with whichever comes first: the promise, the abort, the deadline. Whatever comes first
 * removes the others' listener and timer, so one signal can serve every wait of a run (setup's)
 * without piling up listeners, even when the promise never settles (a hung Redis).
 */
function firstOf<T>(promise: Promise<T>, signal?: AbortSignal, ms?: number): Promise<T> {
  if (signal?.aborted) return Promise.reject(new AbortedError(signal.reason));
  return new Promise<T>((resolve, reject) => {
    const finish = (settle: () => void) => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      settle();
    };
    const onAbort = () => finish(() => reject(new AbortedError(signal!.reason)));
    const timer = ms === undefined ? undefined : setTimeout(() => finish(() => reject(new Error(`timed out after ${ms} ms`))), ms);
    signal?.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => finish(() => resolve(value)),
      (error: unknown) => finish(() => reject(error)),
    );
  });
}
