import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InvalidArgumentError } from 'commander';
import { duration } from '../../src/cli/flagValues.js';

const keepEnded = duration('--keep-ended');
const HOUR = 3_600_000;

describe('duration flag values such as --keep-ended (unit)', () => {
  test('days, hours, minutes and seconds read as milliseconds', () => {
    assert.equal(keepEnded('7d'), 7 * 24 * HOUR);
    assert.equal(keepEnded('36h'), 36 * HOUR);
    assert.equal(keepEnded('90m'), 90 * 60_000);
    assert.equal(keepEnded('45s'), 45_000);
    assert.equal(keepEnded(' 2h '), 2 * HOUR, 'spaces around the value are ignored');
  });

  test('0 needs no unit and means nothing is kept', () => {
    assert.equal(keepEnded('0'), 0);
    assert.equal(keepEnded('00'), 0);
    assert.equal(keepEnded('0d'), 0);
  });

  test('anything else is refused with a message naming the flag', () => {
    // A bare 7 could be days or seconds; a negative or fractional span, a unit we do not know,
    // two units, or a number too big to count in milliseconds are all mistakes to say out loud.
    for (const value of ['7', '-1d', '1.5h', '7w', '1d12h', 'd', '', 'soon', '7 d', `${Number.MAX_SAFE_INTEGER}d`]) {
      assert.throws(() => keepEnded(value), (error: unknown) => error instanceof InvalidArgumentError && error.message === '--keep-ended must be a duration such as 7d, 36h or 90m (or 0)', `"${value}" must be refused`);
    }
  });
});
