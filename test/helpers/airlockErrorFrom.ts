import assert from 'node:assert/strict';
import { AirlockError } from '../../src/core/ground/errors.js';

/** Runs `work`, asserts it throws an AirlockError, and returns it for further checks. */
export function airlockErrorFrom(work: () => unknown): AirlockError {
  try {
    work();
  } catch (error) {
    assert.ok(error instanceof AirlockError, `expected AirlockError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected an AirlockError, but nothing was thrown');
}
