// The one error type a person gets to see: what went wrong, what to run about it, and what kind of
// failure it is. cli/exit-codes.ts maps the kind to the exit code, in one place.

/** usage: the command line was wrong (exit 2); failed: it could not be done (exit 1); cancelled: stopped by the user (exit 130) */
export type ErrorKind = "usage" | "failed" | "cancelled";

export class GatewayError extends Error {
  constructor(
    message: string,
    readonly fix?: string,
    readonly kind: ErrorKind = "failed",
  ) {
    super(message);
  }
}

/** A plan cannot be made (Redis missing, a binary missing, an impossible choice); `fix` says what to do. */
export class PlanError extends GatewayError {}

/** A flag or an answer the command cannot take. */
export class UsageError extends GatewayError {
  constructor(message: string, fix?: string) {
    super(message, fix, "usage");
  }
}

/** Stopped by the user (Ctrl-C, Escape, SIGTERM): what was changed has been put back. */
export class CancelledError extends GatewayError {
  constructor(message: string) {
    super(message, undefined, "cancelled");
  }
}
