/** A plan cannot be made (Redis missing, a binary missing, an impossible choice); `fix` says what to do. */
export class PlanError extends Error {
  constructor(message: string, readonly fix?: string) {
    super(message);
  }
}
