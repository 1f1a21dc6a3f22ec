import * as fs from 'node:fs';
import * as path from 'node:path';
import { AirlockError } from '../ground/errors.js';
import { replaceFile } from '../ground/syncedWrite.js';
import { changeSetDigest, changeSetSchema, type IdentifiedChangeSet, shortChangeSetId } from './changeSet.js';
import { folderNames } from '../ground/folderNames.js';

const FULL_ID = /^[0-9a-f]{64}$/;
/**
 * The shortest prefix that names a change set. Anyone in the box can compute ids of change sets
 * they could produce, so a short prefix could be ground until a hostile set shares it: a pair of
 * sets sharing 64 bits takes about 2^32 hashes, one sharing 128 bits about 2^64.
 */
export const MIN_CHANGE_SET_PREFIX = 32;

/** What to do when the change set a review named cannot be used: look at the task again. */
const STALE_HINT = "Review the task's changes afresh and apply from that review.";

/**
 * The change sets of one task that a review may still name, one JSON file each, by id. What they
 * point at (blobs) stays in the blob store for as long as the set is kept (blobRetention.ts).
 */
export class ChangeSetStore {
  constructor(readonly dir: string) {}

  private file(id: string): string {
    if (!FULL_ID.test(id)) throw new Error(`not a change set id: ${id}`);
    return path.join(this.dir, `${id}.json`);
  }

  /** Keeps the set; saving one that is already kept marks it as the newest. */
  save(changeSet: IdentifiedChangeSet): void {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const file = this.file(changeSet.id);
    if (fs.existsSync(file)) {
      const now = new Date();
      fs.utimesSync(file, now, now);
      return;
    }
    replaceFile(file, JSON.stringify(changeSet));
  }

  /** Kept ids, newest first. */
  ids(): string[] {
    return folderNames(this.dir)
      .filter((name) => FULL_ID.test(name.replace(/\.json$/, '')) && name.endsWith('.json'))
      .map((name) => ({ id: name.slice(0, -5), at: fs.statSync(path.join(this.dir, name)).mtimeMs }))
      .sort((a, b) => b.at - a.at)
      .map((entry) => entry.id);
  }

  /** The set a review named, by full id or a prefix of at least MIN_CHANGE_SET_PREFIX characters. */
  load(task: string, idOrPrefix: string): IdentifiedChangeSet {
    const wanted = idOrPrefix.toLowerCase();
    if (!/^[0-9a-f]+$/.test(wanted) || wanted.length < MIN_CHANGE_SET_PREFIX || wanted.length > 64) {
      throw new AirlockError(`changeSet: "${idOrPrefix}" is not a change set id`, { code: 'changeSet.invalidId', hint: `Give the change set id the review showed (at least ${MIN_CHANGE_SET_PREFIX} hex characters).`, field: 'changeSet', actions: [{ kind: 'reviewChanges', task }] });
    }
    const matches = this.ids().filter((id) => id.startsWith(wanted));
    if (matches.length === 0) throw new AirlockError(`changeSet: task ${task} has no change set ${wanted} on this machine (it was never taken, or it is no longer kept)`, { code: 'changeSet.notFound', hint: STALE_HINT, field: 'changeSet', actions: [{ kind: 'reviewChanges', task }] });
    if (matches.length > 1) throw new AirlockError(`changeSet: ${wanted} names more than one change set of task ${task}`, { code: 'changeSet.ambiguousId', hint: 'Give the full id.', field: 'changeSet' });
    const id = matches[0];
    const parsed = changeSetSchema.safeParse(JSON.parse(fs.readFileSync(this.file(id), 'utf8')));
    // The file is the host's own, but a set whose content no longer hashes to its name is not the one reviewed.
    if (!parsed.success || parsed.data.task !== task || changeSetDigest(parsed.data) !== id) {
      throw new AirlockError(`changeSet: the stored change set ${shortChangeSetId(id)} does not match its id; it was not applied`, { code: 'changeSet.tampered', hint: STALE_HINT, field: 'changeSet', actions: [{ kind: 'reviewChanges', task }] });
    }
    return { ...parsed.data, id };
  }

  /** Every kept set, for the blob sweep. Unreadable files are skipped: they pin nothing. */
  all(): IdentifiedChangeSet[] {
    return this.ids().flatMap((id) => {
      try {
        const parsed = changeSetSchema.parse(JSON.parse(fs.readFileSync(this.file(id), 'utf8')));
        return [{ ...parsed, id }];
      } catch {
        return [];
      }
    });
  }

  /** The newest kept set, briefly (what a task list shows): undefined when none is kept or it is unreadable. */
  newest(): { id: string; files: number; createdAt: string } | undefined {
    // The folder can be emptied while this reads it (a task's end releases its review state).
    try {
      const [id] = this.ids();
      if (!id) return undefined;
      const parsed = changeSetSchema.parse(JSON.parse(fs.readFileSync(this.file(id), 'utf8')));
      return { id, files: parsed.files.length, createdAt: parsed.createdAt };
    } catch {
      return undefined;
    }
  }

  remove(id: string): void {
    fs.rmSync(this.file(id), { force: true });
  }

  clear(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
