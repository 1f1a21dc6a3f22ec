import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AirlockError } from '../ground/errors.js';
import { processAlive as holderAlive } from '../ground/processAlive.js';

/**
 * One apply or undo at a time per task, across every process on this host (CLI, extension, MCP
 * server). The lock file names its holder's pid, so a holder that was killed leaves a lock the
 * next taker recognises as dead and breaks: a dead holder is also how an interrupted apply is
 * told from one still running.
 */
export interface ApplyLock {
  release(): void;
}

const LOCK = 'apply.lock';

function readHolder(file: string): number | undefined {
  try {
    return Number(fs.readFileSync(file, 'utf8').trim());
  } catch {
    return undefined;
  }
}

/** Takes the task's apply lock, or says who holds it. `dir` is the task's state folder. */
export function takeApplyLock(dir: string, task: string): ApplyLock {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, LOCK);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      fs.writeFileSync(file, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      let released = false;
      return {
        release: () => {
          if (released) return;
          released = true;
          if (readHolder(file) === process.pid) fs.rmSync(file, { force: true });
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = readHolder(file);
    // Read between its create and its write: a live taker a moment ago. Look again.
    if (holder === undefined || Number.isNaN(holder)) continue;
    if (holderAlive(holder)) {
      throw new AirlockError(`task ${task}: another apply or undo is running (process ${holder}); nothing was written`, { code: 'apply.busy', hint: 'Wait for it to finish, then try again.', field: 'ID' });
    }
    // A dead holder's lock: moved aside first, so of two breakers only one removes it and the other retries.
    const aside = `${file}.dead-${randomBytes(4).toString('hex')}`;
    try {
      fs.renameSync(file, aside);
    } catch {
      continue; // someone else broke it first
    }
    // What was moved is a live taker's new lock, not the dead one: put it back unless a third has one.
    if (readHolder(aside) !== holder) {
      try {
        fs.linkSync(aside, file);
      } catch {
        // a third taker holds it now; theirs stands
      }
    }
    fs.rmSync(aside, { force: true });
  }
  throw new AirlockError(`task ${task}: the apply lock could not be taken; nothing was written`, { code: 'apply.busy', hint: 'Try again.', field: 'ID' });
}

/** Whether the lock is held by a live process right now (without taking it). */
export function applyLockHeld(dir: string): boolean {
  const holder = readHolder(path.join(dir, LOCK));
  return holder !== undefined && holderAlive(holder);
}
