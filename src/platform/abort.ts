// Waiting that stops when the user cancels (or a deadline passes): the signal's reason is thrown.

export class AbortedError extends Error {
  constructor(reason: unknown) {
    super(reason instanceof Error ? reason.message : "cancelled");
  }
}

/** `promise`, unless `signal` aborts first (then rejects with AbortedError). */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(new AbortedError(signal.reason));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new AbortedError(signal.reason));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

/** setTimeout as a promise that rejects with AbortedError when `signal` aborts. */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return abortable(new Promise<void>((resolve) => setTimeout(resolve, ms)), signal);
}

/** `signal` or a deadline `ms` from now, whichever comes first. */
export function withDeadline(ms: number, signal?: AbortSignal): AbortSignal {
  const deadline = AbortSignal.timeout(ms);
  if (!signal) return deadline;
  // AbortSignal.any would say this in one line, but needs Node 20.3; we promise any Node 20
  const either = new AbortController();
  for (const source of [signal, deadline]) {
    if (source.aborted) {
      either.abort(source.reason);
      break;
    }
    source.addEventListener("abort", () => either.abort(source.reason), { once: true });
  }
  return either.signal;
}
