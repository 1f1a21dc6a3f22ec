import { InvalidArgumentError } from 'commander';

/** Parsers for option values: a bad value is a usage error that names the flag. */

export const collect = (value: string, previous: string[] = []) => [...previous, value];

export const integer = (name: string) => (value: string) => {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`${name} must be a whole number`);
  return Number(value);
};

export const decimal = (name: string) => (value: string) => {
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0) throw new InvalidArgumentError(`${name} must be a positive number`);
  return number;
};

export const keyValue = (value: string, previous: Record<string, string> = {}) => {
  const index = value.indexOf('=');
  if (index <= 0) throw new InvalidArgumentError(`"${value}" must be NAME=VALUE`);
  return { ...previous, [value.slice(0, index)]: value.slice(index + 1) };
};

const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000 } as const;

/**
 * A span such as `7d`, `36h`, `90m` or `45s`, in milliseconds; `0` alone needs no unit. Any other
 * bare number is refused: `7` could mean days as easily as seconds.
 */
export const duration = (name: string) => (value: string) => {
  const text = value.trim();
  if (/^0+$/.test(text)) return 0;
  const match = /^(\d+)([dhms])$/.exec(text);
  const ms = match ? Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS] : NaN;
  if (!Number.isSafeInteger(ms)) throw new InvalidArgumentError(`${name} must be a duration such as 7d, 36h or 90m (or 0)`);
  return ms;
};
