/**
 * The one error type the core throws for anything a person can act on: a short description, the
 * field or argument it concerns when there is one, and what to do about it. Front ends print
 * `message` and `hint`; details (stacks, engine responses) belong in logs only.
 */
export class AirlockError extends Error {
  override readonly name = 'AirlockError';
  constructor(
    message: string,
    readonly hint?: string,
    readonly field?: string,
  ) {
    super(message);
  }

  static is(error: unknown): error is AirlockError {
    return error instanceof AirlockError;
  }
}

/** Thrown when an AbortSignal ends long work; front ends treat it as a quiet cancellation. */
export class CancelledError extends Error {
  override readonly name = 'CancelledError';
  constructor(message = 'cancelled') {
    super(message);
  }

  static is(error: unknown): error is CancelledError {
    return error instanceof CancelledError;
  }
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new CancelledError();
}

/** One line for a person: message plus hint, never a stack. */
export function describeError(error: unknown): string {
  if (AirlockError.is(error)) return error.hint ? `${error.message}\n  → ${error.hint}` : error.message;
  if (CancelledError.is(error)) return 'cancelled';
  if (error instanceof Error) return error.message;
  return String(error);
}
