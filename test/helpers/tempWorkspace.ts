import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const created: string[] = [];

/** A fresh folder under the OS temp dir; removed by `removeTempDirs()` (call it from `after`). */
export function makeTempDir(prefix = 'airlock-test-'): string {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
  created.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  while (created.length > 0) fs.rmSync(created.pop()!, { recursive: true, force: true });
}

/** Writes each `relative path → content` pair under `root`, creating parent folders. */
export function writeFiles(root: string, files: Record<string, string | Buffer>): void {
  for (const [rel, content] of Object.entries(files)) {
    const file = path.join(root, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, content);
  }
}

/** Environment for test git runs: no user/system config, so results do not depend on this machine. */
const gitEnv = (): NodeJS.ProcessEnv => ({
  ...process.env,
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_TERMINAL_PROMPT: '0',
});

/** Runs git in `cwd` with a fixed identity and no signing; returns stdout. */
export function runGit(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=Airlock Test', '-c', 'user.email=test@example.invalid', '-c', 'commit.gpgsign=false', ...args], {
    cwd,
    env: gitEnv(),
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** `git init` on branch main, then writes and commits `files` (when any are given). */
export function initRepo(root: string, files: Record<string, string> = {}): void {
  runGit(root, 'init', '-q', '-b', 'main');
  if (Object.keys(files).length === 0) return;
  writeFiles(root, files);
  runGit(root, 'add', '-A');
  runGit(root, 'commit', '-q', '-m', 'initial');
}


