/**
 * `npm run bench -- review`: the review at 1,000 changed files plus one 10 MB text file (issue 16).
 * Time to first render is what the reviewer waits for between Review Changes and rows on screen:
 * the look at the box, the review's items, and each row's sentence (what the source-control view
 * is handed; VS Code's own drawing is not in it). Side by side with what it is built from, in the
 * same run: the look alone (`airlock diff --json` does the same look), and the whole set re-diffed
 * as a unified diff, which is what clicking a file must not cost (it reads that file's two sides).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type * as Core from '../src/core/index.js';
import { ChangeService, formatChanges } from '../src/core/changes/changeService.js';
import type { TaskService } from '../src/core/task/taskService.js';
import { TaskReview } from '../src/core/usecases/taskReview.js';
import { itemSentence } from '../src/extension/review/reviewLabels.js';
import { printableLine } from '../src/core/ground/printable.js';
import { median } from './stats.js';

const CHANGED = 1000;
const BIG_BYTES = 10 * 1024 * 1024;

function generate(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-bench-review-'));
  for (let index = 0; index < CHANGED; index++) {
    const dir = path.join(root, `src${String(Math.floor(index / 50)).padStart(2, '0')}`);
    if (index % 50 === 0) fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, `file${index}.ts`), Array.from({ length: 40 }, (_, line) => `export const value${line} = ${index * 40 + line};\n`).join(''));
  }
  const line = 'const filler = "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz";\n';
  fs.writeFileSync(path.join(root, 'big.js'), line.repeat(Math.ceil(BIG_BYTES / line.length)));
  return root;
}

async function timed<T>(work: () => Promise<T> | T): Promise<{ ms: number; value: T }> {
  const start = process.hrtime.bigint();
  const value = await work();
  return { ms: Number(process.hrtime.bigint() - start) / 1e6, value };
}

/** What the extension hands the source-control view per row: built here the same way, without VS Code. */
function rows(review: TaskReview): number {
  const core = { printableLine } as unknown as typeof Core;
  let total = 0;
  for (const item of review.items()) total += itemSentence(core, item, review.readOnly).length;
  return total;
}

export async function benchReview(service: TaskService, image: string, runs = 5): Promise<string[]> {
  const changes = new ChangeService(service);
  const workspace = generate();
  const task = await service.start({ workspace, image });
  try {
    // Every file gets one line changed near its top and one near its end (two hunks); the big file one line.
    const script = `for f in src*/*.ts; do sed -i -e 's/= \\([0-9]*\\);$/= \\1 + 1;/;3s/$/ \\/\\/ edited/;38s/$/ \\/\\/ edited/' "$f"; done && sed -i '1000s/filler/edited/' big.js`;
    const result = await service.exec(task.id, { argv: ['sh', '-c', script] });
    if (result.exitCode !== 0) throw new Error(`setting up the changes failed (exit ${result.exitCode})`);
    const look: number[] = [];
    const first: number[] = [];
    const resume: number[] = [];
    const rediff: number[] = [];
    const click: number[] = [];
    let files = 0;
    for (let run = 0; run <= runs; run++) {
      const alone = await timed(() => changes.changes(task.id));
      const opened = await timed(async () => {
        const review = await TaskReview.open(changes, task.id, { fresh: true });
        rows(review);
        return review;
      });
      const resumed = await timed(async () => {
        const review = await TaskReview.open(changes, task.id);
        rows(review);
        return review;
      });
      const whole = await timed(() => formatChanges(alone.value));
      const one = await timed(() => [opened.value.base('big.js'), opened.value.proposed('big.js')]);
      files = opened.value.items().length;
      opened.value.dispose();
      resumed.value.dispose();
      if (run === 0) continue; // warm-up
      look.push(alone.ms);
      first.push(opened.ms);
      resume.push(resumed.ms);
      rediff.push(whole.ms);
      click.push(one.ms);
    }
    const ms = (values: number[]) => `${median(values).toFixed(1)} ms`;
    const ratio = (a: number[], b: number[]) => `${(median(a) / median(b)).toFixed(2)}×`;
    return [
      `\nReview at ${files} changed files (${CHANGED} two-hunk edits + one 10 MB text file), p50 of ${runs}`,
      `  ${'what'.padEnd(58)}${'p50'.padStart(12)}${'ratio'.padStart(22)}`,
      `  ${'first render: fresh look + items + row sentences'.padEnd(58)}${ms(first).padStart(12)}${`${ratio(first, look)} of the look`.padStart(22)}`,
      `  ${'after a reload: saved review + items + row sentences'.padEnd(58)}${ms(resume).padStart(12)}${`${ratio(resume, look)} of the look`.padStart(22)}`,
      `  ${'baseline: the look alone (what airlock diff --json does)'.padEnd(58)}${ms(look).padStart(12)}${'1.00×'.padStart(22)}`,
      `  ${'click the 10 MB file: its two sides'.padEnd(58)}${ms(click).padStart(12)}${`${ratio(click, rediff)} of a re-diff`.padStart(22)}`,
      `  ${'baseline: re-diffing the whole set (unified diff)'.padEnd(58)}${ms(rediff).padStart(12)}${'1.00×'.padStart(22)}`,
    ];
  } finally {
    await service.stop(task.id);
    fs.rmSync(workspace, { recursive: true, force: true });
  }
}
