import { z } from 'zod';

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** Parses docker-style sizes ("512m", "1g", "1.5G", "1048576"); undefined when it is not one. */
export function parseByteSize(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([bkmgt]?)(?:i?b)?\s*$/i.exec(text);
  if (!match) return undefined;
  const bytes = Number(match[1]) * UNITS[match[2].toLowerCase()];
  return Number.isFinite(bytes) ? Math.floor(bytes) : undefined;
}

export function formatByteSize(bytes: number): string {
  for (const [unit, size] of [['g', 1024 ** 3], ['m', 1024 ** 2], ['k', 1024]] as const) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return `${bytes}`;
}

/** A zod field for a size given as bytes or as text like "512m"; the message names `field`. */
export const byteSizeSchema = (field: string) =>
  z.union([z.number().int().positive(), z.string()], { error: `${field} must be a size like 512m or 2g (or a whole number of bytes)` }).transform((value, ctx) => {
    const bytes = typeof value === 'number' ? value : parseByteSize(value);
    if (bytes === undefined || bytes <= 0) {
      ctx.addIssue({ code: 'custom', message: `${field} must be a size like 512m or 2g` });
      return z.NEVER;
    }
    return bytes;
  });
