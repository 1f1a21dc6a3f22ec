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
