// `npm run try` (scripts/try.sh sets everything up, then runs this): a real VS Code (code-server) on
// 127.0.0.1 with the freshly built airlock.vsix and a sample workspace copied from
// scripts/try-workspace/. Needs no browser here: open the printed URL in yours. Ctrl-C stops the
// server and any task started meanwhile, and deletes the sample, the state and the server's folders.
import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type CodeServer, startCodeServer } from './codeServer.js';

const ROOT = path.resolve(__dirname, '..');
const SAMPLE = path.join(ROOT, 'scripts/try-workspace');
const VSIX = path.join(ROOT, 'airlock.vsix');
const CLI = path.join(ROOT, 'dist/cli.js');

const say = (line = '') => process.stdout.write(`${line}\n`);

/** A git repository of the sample, with everything committed except `.env`, which stays an untracked secret. */
function makeWorkspace(root: string): string {
  const workspace = path.join(root, 'airlock-sample');
  fs.cpSync(SAMPLE, workspace, { recursive: true });
  // Kept as sample.env in this repository, so no file named like a secret is committed here.
  fs.renameSync(path.join(workspace, 'sample.env'), path.join(workspace, '.env'));
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=Airlock Try', '-c', 'user.email=try@example.invalid', '-c', 'commit.gpgsign=false', ...args], {
      cwd: workspace,
      env: { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  git('init', '-q', '-b', 'main');
  git('add', '-A', '--', '.', ':!.env');
  git('commit', '-q', '-m', 'Sample project for trying Airlock');
  return workspace;
}

function runCli(env: NodeJS.ProcessEnv, ...args: string[]): Promise<string> {
  return new Promise((resolve) => execFile(process.execPath, [CLI, ...args], { env, timeout: 60_000 }, (_error, stdout) => resolve(stdout)));
}

/** Tasks started from the try session live in its own state folder; each one still running is stopped. */
async function stopTasks(env: NodeJS.ProcessEnv): Promise<void> {
  let tasks: { id: string }[];
  try {
    tasks = JSON.parse((await runCli(env, 'ls', '--json')) || '[]') as { id: string }[];
  } catch {
    return;
  }
  for (const task of tasks) {
    say(`[try] stopping task ${task.id}`);
    await runCli(env, 'stop', task.id);
  }
}

async function main(): Promise<void> {
  for (const [file, fix] of [[VSIX, 'npm run package'], [CLI, 'npm run package']] as const) {
    if (!fs.existsSync(file)) throw new Error(`${path.relative(ROOT, file)} is missing: run \`${fix}\` (npm run try does)`);
  }
  const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-try-')));
  let server: CodeServer | undefined;
  let cleaning: Promise<void> | undefined;
  const stateDir = path.join(root, 'state');
  const bin = path.join(root, 'bin');
  const image = process.env.AIRLOCK_IMAGE || process.env.AIRLOCK_TEST_IMAGE;
  // The terminal in VS Code gets `airlock` (this build) on PATH and the same state folder as the extension.
  const env: NodeJS.ProcessEnv = { AIRLOCK_STATE_DIR: stateDir, PATH: `${bin}${path.delimiter}${process.env.PATH ?? ''}`, ...(image ? { AIRLOCK_IMAGE: image } : {}) };
  const cliEnv = { ...process.env, ...env };

  const cleanUp = (why: string) =>
    (cleaning ??= (async () => {
      say(`\n[try] ${why}: stopping tasks and code-server, removing ${root}`);
      await stopTasks(cliEnv).catch(() => undefined);
      await server?.stop().catch(() => undefined);
      fs.rmSync(root, { recursive: true, force: true });
      say('[try] done');
    })());
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => void cleanUp(signal).finally(() => process.exit(signal === 'SIGINT' ? 130 : 143)));
  }

  try {
    fs.mkdirSync(stateDir);
    fs.mkdirSync(bin);
    fs.writeFileSync(path.join(bin, 'airlock'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} "$@"\n`, { mode: 0o755 });
    const workspace = makeWorkspace(root);
    say(`[try] sample workspace: ${workspace}`);
    say('[try] starting code-server with airlock.vsix installed…');
    server = await startCodeServer({
      workspace,
      vsix: VSIX,
      env,
      port: Number(process.env.AIRLOCK_TRY_PORT ?? 0),
      // A person trying it gets VS Code's own trust prompt, as anyone opening a new folder would.
      settings: { 'security.workspace.trust.startupPrompt': 'once', 'security.workspace.trust.banner': 'untilDismissed', ...(image ? { 'airlock.image': image } : {}) },
    });
  } catch (error) {
    await cleanUp('start failed');
    throw error;
  }

  say();
  say(`  Open ${server.workbenchUrl}`);
  say(`  (only this machine can reach it; from another one: ssh -L ${server.port}:127.0.0.1:${server.port} <this host>)`);
  say();
  say('  Then try, in VS Code:');
  say('    - the shield in the activity bar: the Tasks and Approvals views');
  say('    - F1 → "Airlock: Doctor", "Airlock: Show Effective Policy", "Airlock: Accept Repository Policy…"');
  say('    - "Airlock: Start Task for This Workspace", then in the terminal: airlock ls, airlock exec <id> -- ls -a');
  say('      (.env is left out), airlock exec <id> -- git push origin main (waits in Approvals)');
  say('    - README.md in the sample says more.');
  say(`  Engine image: ${image ?? 'the built-in default (node:22-bookworm, pulled on first use)'}`);
  say(`  code-server log: ${server.logFile}`);
  say();
  say('  Ctrl-C stops everything and deletes the sample.');

  const { code, signal } = await server.exited;
  if (!cleaning) {
    process.stderr.write(`${server.logTail(40)}\n`);
    await cleanUp(`code-server exited on its own (${signal ?? `code ${code}`})`);
    process.exit(1);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`[try] ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
