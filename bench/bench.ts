/**
 * `npm run bench`: task start and command round-trip through Airlock, side by side with the
 * baselines the foundation issue names (docker CLI exec, host spawn), and change-set time against
 * copying the whole workspace out (changes issue), and egress through the gateway against direct
 * (egress issue), and the git history filter against copying the object files as they are (issue 13).
 * Prints tables; not a test.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { connectEngine } from '../src/core/engine/locateEngine.js';
import { TaskService } from '../src/core/task/taskService.js';
import { TaskStore } from '../src/core/state/taskStore.js';
import { benchActivation } from './activationBench.js';
import { benchChangeSet } from './changeSetBench.js';
import { benchEgress } from './egressBench.js';
import { benchExtension } from './extensionBench.js';
import { benchGitHistory } from './gitHistoryBench.js';
import { benchLoad } from './loadBench.js';
import { benchReview } from './reviewBench.js';
import { benchRouting } from './routingBench.js';
import { benchScale } from './scaleBench.js';
import { benchStart } from './startBench.js';
import { percentile } from './stats.js';

const IMAGE = process.env.AIRLOCK_TEST_IMAGE || process.env.AIRLOCK_IMAGE || 'airlock-test:bookworm';
const DOCKER = fs.existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';
const FILES = 10_000;
const TOTAL_BYTES = 100 * 1024 * 1024;

async function time(work: () => unknown): Promise<number> {
  const start = process.hrtime.bigint();
  await work();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

async function sample(count: number, work: () => unknown): Promise<number[]> {
  await work(); // warm-up, not counted
  const values: number[] = [];
  for (let index = 0; index < count; index++) values.push(await time(work));
  return values;
}

/** 10,000 files, 100 MB in all, spread over 100 folders, incompressible content. */
function generateWorkspace(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-bench-ws-'));
  const size = Math.floor(TOTAL_BYTES / FILES);
  const block = Buffer.alloc(size);
  for (let index = 0; index < FILES; index++) {
    const dir = path.join(root, `dir${String(index % 100).padStart(3, '0')}`);
    if (index < 100) fs.mkdirSync(dir);
    block.writeUInt32LE(index, 0);
    for (let offset = 4; offset + 4 <= size; offset += 4) block.writeUInt32LE((index * 2654435761 + offset * 40503) >>> 0, offset);
    fs.writeFileSync(path.join(dir, `file${index}.dat`), block);
  }
  return root;
}

const ms = (value: number) => `${value.toFixed(1)} ms`;

async function main(): Promise<void> {
  const engine = await connectEngine();
  const store = new TaskStore(fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-bench-state-')));
  const service = new TaskService(engine, store);
  // `npm run bench -- changes` runs only the change-set section.
  // `npm run bench -- egress` runs only the egress section.
  // `npm run bench -- git [files] [commits]` runs only the git-history section.
  const gitAt = process.argv.indexOf('git');
  if (gitAt >= 0) {
    const [files, commits] = process.argv.slice(gitAt + 1).map(Number);
    process.stdout.write((await benchGitHistory(files || undefined, commits || undefined)).join('\n') + '\n');
    service.dispose();
    return;
  }
  // `npm run bench -- activate` runs only the extension-activation section.
  if (process.argv.includes('activate')) {
    process.stdout.write(benchActivation().join('\n') + '\n');
    service.dispose();
    return;
  }
  // `npm run bench -- extension` runs only the Tasks view's first render and the extension host's memory (issue 18).
  if (process.argv.includes('extension')) {
    process.stdout.write((await benchExtension(engine, IMAGE)).join('\n') + '\n');
    service.dispose();
    return;
  }
  if (process.argv.includes('egress')) {
    process.stdout.write((await benchEgress(engine, IMAGE)).join('\n') + '\n');
    service.dispose();
    return;
  }
  // `npm run bench -- review` runs only the review section (issue 16).
  if (process.argv.includes('review')) {
    process.stdout.write((await benchReview(service, IMAGE)).join('\n') + '\n');
    service.dispose();
    return;
  }
  // `npm run bench -- run` runs only the routed-command section (issue 17).
  if (process.argv.includes('run')) {
    process.stdout.write((await benchRouting(IMAGE)).join('\n') + '\n');
    service.dispose();
    return;
  }
  // `npm run bench -- start` runs only the task-start section (issue 18).
  if (process.argv.includes('start')) {
    const workspace = generateWorkspace();
    try {
      process.stdout.write((await benchStart(engine, { workspace, image: IMAGE, label: `${FILES} files / ${TOTAL_BYTES / 1024 / 1024} MB` })).join('\n') + '\n');
    } finally {
      fs.rmSync(workspace, { recursive: true, force: true });
      service.dispose();
    }
    return;
  }
  // `npm run bench -- scale [large] [small]` runs only the scale report (performance issue): 100k / 10k files by default.
  const scaleAt = process.argv.indexOf('scale');
  if (scaleAt >= 0) {
    const [large, small] = process.argv.slice(scaleAt + 1).map(Number);
    try {
      process.stdout.write((await benchScale(engine, IMAGE, { large: large || undefined, small: Number.isNaN(small) ? undefined : small })).join('\n') + '\n');
    } finally {
      service.dispose();
    }
    return;
  }
  // `npm run bench -- load [tasks] [commands]` runs only the load run (issue 19): 10 tasks × 100 commands by default.
  const loadAt = process.argv.indexOf('load');
  if (loadAt >= 0) {
    const [tasks, commands] = process.argv.slice(loadAt + 1).map(Number);
    try {
      process.stdout.write((await benchLoad(engine, IMAGE, { tasks: tasks || undefined, commands: commands || undefined })).join('\n') + '\n');
    } finally {
      service.dispose();
    }
    return;
  }
  if (process.argv.includes('changes')) {
    process.stdout.write((await benchChangeSet(service, IMAGE)).join('\n') + '\n');
    service.dispose();
    return;
  }
  const workspace = generateWorkspace();
  process.stderr.write(`bench: engine ${engine.version.Version}, image ${IMAGE}, workspace ${FILES} files / ${TOTAL_BYTES / 1024 / 1024} MB\n`);

  const startTimes = async (extra: { workspaceTmpfs?: string }) => {
    const values: number[] = [];
    for (let index = 0; index < 6; index++) {
      let id = '';
      const elapsed = await time(async () => (id = (await service.start({ workspace, image: IMAGE, ...extra })).id));
      if (index > 0) values.push(elapsed); // the first start warms the page cache and is not counted
      await service.stop(id);
    }
    return values;
  };
  const startRows = await benchStart(engine, { workspace, image: IMAGE, label: `${FILES} files / ${TOTAL_BYTES / 1024 / 1024} MB` });
  const memoryStarts = await startTimes({ workspaceTmpfs: '1g' });

  const task = await service.start({ workspace, image: IMAGE });
  const runner = await sample(50, () => service.exec(task.id, { argv: ['true'] }));
  const direct = await sample(50, () => service.exec(task.id, { argv: ['true'], backend: 'docker-exec' }));
  const dockerCli = await sample(50, () => spawnSync(DOCKER, ['exec', task.containerName, 'true']));
  const host = await sample(50, () => spawnSync('true'));
  const cliPath = path.resolve('dist/cli.js');
  const env = { ...process.env, AIRLOCK_STATE_DIR: store.root };
  const cliOneShot = fs.existsSync(cliPath) ? await sample(10, () => spawnSync(process.execPath, [cliPath, 'exec', task.id, '--', 'true'], { env })) : [];
  await service.stop(task.id);
  service.dispose();
  fs.rmSync(workspace, { recursive: true, force: true });

  const hostP50 = percentile(host, 50);
  const rows: Array<[string, number[]]> = [
    ['airlock exec, in-task runner (API)', runner],
    ['airlock exec, engine exec per command (API)', direct],
    ['docker exec via docker CLI', dockerCli],
    ['host spawn', host],
    ...(cliOneShot.length ? ([['`airlock exec` CLI one-shot (n=10)', cliOneShot]] as Array<[string, number[]]>) : []),
  ];
  const out: string[] = [];
  out.push(...startRows);
  out.push(`  ${'--workspace-tmpfs 1g (whole copy into memory)'.padEnd(52)}${ms(percentile(memoryStarts, 50)).padStart(10)}   min ${ms(Math.min(...memoryStarts))}   max ${ms(Math.max(...memoryStarts))}`);
  out.push(`\nCommand round-trip for \`true\` (n=50 unless noted)`);
  out.push(`  ${'path'.padEnd(46)}${'p50'.padStart(10)}${'p90'.padStart(10)}${'overhead p50'.padStart(15)}${'vs docker CLI'.padStart(15)}`);
  const dockerP50 = percentile(dockerCli, 50);
  for (const [name, values] of rows) {
    const p50 = percentile(values, 50);
    out.push(`  ${name.padEnd(46)}${ms(p50).padStart(10)}${ms(percentile(values, 90)).padStart(10)}${ms(p50 - hostP50).padStart(15)}${`${(p50 / dockerP50).toFixed(2)}×`.padStart(15)}`);
  }
  out.push(`\n  target: in-task runner overhead ≤ 10 ms p50 → measured ${ms(percentile(runner, 50) - hostP50)}`);
  process.stdout.write(out.join('\n') + '\n');
  process.stdout.write((await benchChangeSet(new TaskService(engine, store), IMAGE)).join('\n') + '\n');
  process.stdout.write((await benchReview(new TaskService(engine, store), IMAGE)).join('\n') + '\n');
  process.stdout.write((await benchRouting(IMAGE)).join('\n') + '\n');
  process.stdout.write((await benchEgress(engine, IMAGE)).join('\n') + '\n');
  process.stdout.write((await benchGitHistory()).join('\n') + '\n');
  process.stdout.write((await benchExtension(engine, IMAGE)).join('\n') + '\n');
}

main().catch((error) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
