/**
 * `npm run bench -- git [files] [commits]`: the cost of giving a sandbox a
 * history without secret paths (issue 13 §2), on a generated repository (git fast-import, then
 * gc): every commit changes three files; with secrets, a .env, an .npmrc with a token or a key
 * appears every 50 commits and stays, so nearly every commit is rewritten (the worst case).
 * Compared, in the same run, with what the copy did before: reading the object files as they are on
 * disk (the baseline). Prints one line per case; not a test.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_SECRET_FILE_PATTERNS } from '../src/core/config/taskOptions.js';
import { buildGitMetadata } from '../src/core/snapshot/gitMetadata.js';

const FILES = 3000;
const COMMITS = 1500;
const env = { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' };

function generate(withSecrets: boolean, FILES: number, COMMITS: number): string {
  const repo = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-histbench-'));
  execFileSync('git', ['init', '-q', '-b', 'main', repo], { env });
  let seed = 13;
  const random = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
  const dirs = Array.from({ length: 150 }, (_, index) => `pkg${Math.floor(index / 10)}/mod${index % 10}`);
  const files = Array.from({ length: FILES }, (_, index) => `${dirs[random(dirs.length)]}/file${index}.ts`);
  const content = new Map(files.map((file) => [file, Array.from({ length: 30 }, (_, line) => `export const v${line} = ${random(1e9)}; // ${file}\n`).join('')]));
  const parts: string[] = [];
  const data = (text: string) => parts.push(`data ${Buffer.byteLength(text)}\n${text}\n`);
  for (let n = 0; n < COMMITS; n++) {
    parts.push(`commit refs/heads/main\nmark :${n + 1}\nauthor Dev <dev@example.invalid> ${1.6e9 + n * 3600} +0000\ncommitter Dev <dev@example.invalid> ${1.6e9 + n * 3600} +0000\n`);
    data(n === 0 ? 'initial' : `change ${n}`);
    if (n > 0) parts.push(`from :${n}\n`);
    const changed = n === 0 ? files : [files[random(FILES)], files[random(FILES)], files[random(FILES)]];
    for (const file of changed) {
      if (n > 0) content.set(file, `${content.get(file)}export const extra${n} = ${n};\n`);
      parts.push(`M 100644 inline ${file}\n`);
      data(content.get(file)!);
    }
    if (withSecrets && n > 0 && n % 50 === 0) {
      const secret = [`${dirs[random(dirs.length)]}/.env`, `${dirs[random(dirs.length)]}/.npmrc`, 'deploy/id_rsa'][(n / 50) % 3];
      parts.push(`M 100644 inline ${secret}\n`);
      data(`_authToken=bench-secret-${n}\n`);
    }
  }
  execFileSync('git', ['fast-import', '--quiet'], { cwd: repo, env, input: parts.join('') + 'done\n', maxBuffer: 1 << 30 });
  execFileSync('git', ['checkout', '-q', 'main'], { cwd: repo, env });
  execFileSync('git', ['gc', '-q'], { cwd: repo, env });
  return repo;
}

function objectFilesBytes(objectsDir: string): number {
  let bytes = 0;
  const visit = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) visit(file);
      else bytes += fs.statSync(file).size;
    }
  };
  visit(objectsDir);
  return bytes;
}

const mib = (bytes: number) => `${(bytes / 1048576).toFixed(2)} MiB`;

/** Reads every object file once, as the copy did before history was filtered: the baseline. */
function readObjectFiles(objectsDir: string): void {
  const visit = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) visit(file);
      else fs.readFileSync(file);
    }
  };
  visit(objectsDir);
}

export async function benchGitHistory(files = FILES, commits = COMMITS): Promise<string[]> {
  const out = [`\nGit history for the box without secret paths (issue 13 §2): ${files} files, ${commits} commits`];
  for (const withSecrets of [false, true]) {
    const repo = generate(withSecrets, files, commits);
    const objects = path.join(repo, '.git', 'objects');
    const baselineStart = performance.now();
    readObjectFiles(objects);
    const baselineMs = performance.now() - baselineStart;
    for (const depth of [undefined, 1]) {
      const start = performance.now();
      const cpu = process.cpuUsage();
      const meta = await buildGitMetadata(repo, path.join(repo, '.git'), depth, DEFAULT_SECRET_FILE_PATTERNS);
      const ms = performance.now() - start;
      const used = process.cpuUsage(cpu);
      const bytes = meta.entries.reduce((sum, entry) => sum + ('content' in entry ? entry.content.length : entry.size), 0);
      if (meta.cleanup) fs.rmSync(meta.cleanup, { recursive: true, force: true });
      out.push(`  ${withSecrets ? 'with secrets' : 'no secrets  '}, depth ${String(depth ?? 'all').padEnd(3)}: ${ms.toFixed(0).padStart(6)} ms (node cpu ${((used.user + used.system) / 1000).toFixed(0)} ms) vs ${baselineMs.toFixed(0)} ms reading the object files as before → ${(ms / Math.max(baselineMs, 1)).toFixed(1)}×; ${mib(bytes)} into the box (objects on disk ${mib(objectFilesBytes(objects))}); ${meta.rewrittenCommits} of ${meta.commits} commits rewritten (${meta.historyCopy})`);
    }
    fs.rmSync(repo, { recursive: true, force: true });
  }
  return out;
}
