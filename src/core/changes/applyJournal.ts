import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { replaceFile } from '../ground/syncedWrite.js';
import { z } from 'zod';
import { hostStateSchema } from './hostState.js';
import { folderNames } from '../ground/folderNames.js';

export const journalSchema = z.object({
  id: z.string(),
  task: z.string(),
  root: z.string(),
  createdAt: z.string(),
  /** pending: written before the host was touched; applied: done; rolled-back / undone: reverted. */
  status: z.enum(['pending', 'applied', 'rolled-back', 'undone']),
  steps: z.array(z.object({ path: z.string(), before: hostStateSchema, after: hostStateSchema })),
});
export type Journal = z.infer<typeof journalSchema>;

/** Undo records, one JSON file per apply, written (and fsynced) before the host changes. */
export class ApplyJournal {
  constructor(readonly dir: string) {}

  /** Ids sort in apply order (millisecond time, bumped past the newest so two applies in one ms still order). */
  newId(): string {
    let time = Date.now();
    const newest = this.all().at(-1)?.id;
    const newestTime = newest ? Date.parse(newest.slice(0, 24).replace(/T(\d\d)-(\d\d)-/, 'T$1:$2:')) : NaN;
    if (newestTime >= time) time = newestTime + 1;
    return `${new Date(time).toISOString()}-${randomBytes(4).toString('hex')}`.replace(/:/g, '-');
  }

  write(journal: Journal): void {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const file = path.join(this.dir, `${journal.id}.json`);
    replaceFile(file, JSON.stringify(journal));
  }

  all(): Journal[] {
    const names = folderNames(this.dir).filter((name) => name.endsWith('.json'));
    return names.sort().map((name) => journalSchema.parse(JSON.parse(fs.readFileSync(path.join(this.dir, name), 'utf8'))));
  }

  /** The newest apply that still stands (or never finished), which is what `undo` reverts. */
  last(): Journal | undefined {
    return this.all().reverse().find((journal) => journal.status === 'applied' || journal.status === 'pending');
  }
}
