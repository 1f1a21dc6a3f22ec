import * as fs from 'node:fs';
import { z } from 'zod';
import { replaceFile } from '../ground/syncedWrite.js';

const sha256 = z.string().regex(/^[0-9a-f]{64}$/);

/** A reviewer's word on one file. Unset means the group's default: taken for plain changes, held for risky ones. */
export const reviewChoiceSchema = z.enum(['accept', 'reject']);
export type ReviewChoice = z.infer<typeof reviewChoiceSchema>;

export const reviewFileStateSchema = z.object({
  choice: reviewChoiceSchema.optional(),
  /** The bytes the reviewer settled on in place of the box's (hunks reverted, text edited), by sha256 in the task's blob store. */
  edited: sha256.optional(),
  /** The apply (undo record id) that wrote this file; it leaves the review until that apply is undone. */
  applied: z.string().optional(),
  /** Changed in the box since the review started and refreshed: nobody has looked at the new content yet. */
  refreshed: z.boolean().optional(),
});
export type ReviewFileState = z.infer<typeof reviewFileStateSchema>;

/**
 * One review in progress: which change set it shows and what the reviewer decided about each file.
 * It lives in the task's state folder, so it survives a window reload, an extension-host restart
 * and a second window, and goes with the task's other review state when the box ends.
 */
export const reviewStateSchema = z.object({
  version: z.literal(1),
  task: z.string(),
  changeSet: sha256,
  startedAt: z.string(),
  files: z.record(z.string(), reviewFileStateSchema),
});
export type ReviewState = z.infer<typeof reviewStateSchema>;

export class ReviewStateStore {
  constructor(readonly file: string) {}

  /**
   * The saved review, or undefined when there is none. A file that does not parse is treated as no
   * review (its choices are not trusted, so nothing is taken by them), and left for the next save.
   */
  load(task: string): ReviewState | undefined {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch {
      return undefined;
    }
    try {
      const parsed = reviewStateSchema.safeParse(JSON.parse(text));
      return parsed.success && parsed.data.task === task ? parsed.data : undefined;
    } catch {
      return undefined;
    }
  }

  save(state: ReviewState): void {
    replaceFile(this.file, JSON.stringify(state));
  }

  clear(): void {
    fs.rmSync(this.file, { force: true });
  }
}

/** What a saved review keeps from the blob sweep: its change set, and the reviewer's own bytes. */
export function reviewPins(file: string, task: string): { changeSets: string[]; blobs: string[] } {
  const state = new ReviewStateStore(file).load(task);
  if (!state) return { changeSets: [], blobs: [] };
  return { changeSets: [state.changeSet], blobs: Object.values(state.files).flatMap((entry) => (entry.edited ? [entry.edited] : [])) };
}
