import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';

/**
 * Writes a whole file, private to this user, and flushes it to disk before returning: the step
 * before a rename or link makes it visible, so nobody ever finds a half-written record.
 * `wx` fails if the file exists.
 */
export function writeSynced(file: string, data: string | Buffer, flag: 'w' | 'wx' = 'w'): void {
  const fd = fs.openSync(file, flag, 0o600);
  try {
    if (typeof data === 'string') fs.writeSync(fd, data);
    else for (let written = 0; written < data.length; ) written += fs.writeSync(fd, data, written, data.length - written);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Replaces a whole file so that readers see the old content or the new, never a part: a synced
 * temporary file beside it (unique per process and call), then a rename over the target.
 */
export function replaceFile(file: string, data: string | Buffer): void {
  const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeSynced(temp, data);
  fs.renameSync(temp, file);
}
