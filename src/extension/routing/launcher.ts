import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The three launchers' paths: what settings and terminals name to reach the `airlock` CLI. */
export interface LauncherPaths {
  dir: string;
  /** `airlock ARGS…`: the CLI itself. */
  airlock: string;
  /**
   * A shell for settings that take one executable path and no arguments (Cline, Roo Code and the
   * terminal profiles): interactive, it is `airlock shell`; as `airlock-shell [-l] -c LINE`, the
   * way tools and VS Code tasks run one command through "the shell", it is `airlock run LINE`.
   */
  shell: string;
  /** `airlock run LINE`: the value of Claude Code's CLAUDE_CODE_SHELL_PREFIX. */
  run: string;
}

export type LauncherName = 'airlock' | 'airlock-shell' | 'airlock-run';

export function launcherPaths(globalStorageDir: string): LauncherPaths {
  const dir = path.join(globalStorageDir, 'bin');
  return { dir, airlock: path.join(dir, 'airlock'), shell: path.join(dir, 'airlock-shell'), run: path.join(dir, 'airlock-run') };
}

/** One word for a POSIX shell, whatever it holds (spaces, quotes, `$`, backticks, newlines). */
export function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

const HEADER = '# Written by the Airlock extension at activation and rewritten when its paths change: edits are lost.';

/**
 * The launchers' text. The node that runs the CLI is the extension host's own executable
 * (`process.execPath`: Electron in desktop VS Code, node in code-server), with ELECTRON_RUN_AS_NODE
 * exported rather than passed through `env`, so no PATH lookup stands between a tool and the CLI.
 * With `fastPath` (the build's dist/airlock, when the extension ships it), they go through that
 * script, which hands `run` and `exec` to the user's Airlock daemon instead of starting node for
 * each command, and runs `AIRLOCK_NODE cli.js` for everything else.
 */
export function launcherScripts(nodePath: string, cliPath: string, fastPath?: string): Record<LauncherName, string> {
  const start = ['#!/bin/sh', HEADER, `node=${shellQuote(nodePath)}`, `cli=${shellQuote(cliPath)}`, 'ELECTRON_RUN_AS_NODE=1', 'export ELECTRON_RUN_AS_NODE'];
  if (fastPath) start.push(`fast=${shellQuote(fastPath)}`, 'AIRLOCK_NODE=$node', 'export AIRLOCK_NODE');
  const invoke = fastPath ? 'exec /bin/sh "$fast"' : 'exec "$node" "$cli"';
  const script = (...lines: string[]) => [...start, ...lines, ''].join('\n');
  return {
    airlock: script(`${invoke} "$@"`),
    'airlock-shell': script(
      '# Login and interactive options (-l, -i, --login) are accepted and ignored: the shell in the task is',
      '# interactive anyway. An option cluster holding c (-c, -lc, -ic) runs the one line that follows',
      '# (after --, so a line starting with "-" is not taken for an option of `airlock run`).',
      'while [ "$#" -gt 0 ]; do',
      '  case $1 in',
      '    --) shift; break ;;',
      '    --*) case $1 in --login|--interactive|--noprofile|--norc|--noediting) shift ;; *) break ;; esac ;;',
      '    -*c*)',
      '      shift',
      '      if [ "$#" -eq 0 ]; then echo "airlock-shell: -c needs a command line" >&2; exit 2; fi',
      `      ${invoke} run -- "$1" ;;`,
      '    -?*) shift ;;',
      '    *) break ;;',
      '  esac',
      'done',
      `${invoke} shell "$@"`,
    ),
    // Claude Code quotes the prefix's path itself and passes each command as one shell-quoted
    // argument ($1) to re-evaluate; stdio MCP servers get the joined command line the same way.
    // `--` keeps a line that starts with "-" from being read as one of `airlock run`'s options.
    'airlock-run': script(`${invoke} run -- "$@"`),
  };
}

const FILE_FOR: Record<LauncherName, keyof Omit<LauncherPaths, 'dir'>> = { airlock: 'airlock', 'airlock-shell': 'shell', 'airlock-run': 'run' };

/**
 * Writes the launchers into `paths.dir`: each only when its text or mode differs from what is
 * there, through a temporary file in the same folder renamed over the old one, so a tool starting
 * a launcher at that moment runs the old one or the new one, never half of either.
 * Returns the files it (re)wrote.
 */
export async function writeLaunchers(paths: LauncherPaths, scripts: Record<LauncherName, string>): Promise<string[]> {
  await fs.promises.mkdir(paths.dir, { recursive: true, mode: 0o700 });
  const written: string[] = [];
  for (const name of Object.keys(scripts) as LauncherName[]) {
    const file = paths[FILE_FOR[name]];
    const text = scripts[name];
    const current = await fs.promises.readFile(file, 'utf8').catch(() => undefined);
    if (current === text) {
      const mode = (await fs.promises.stat(file)).mode & 0o777;
      if (mode === 0o755) continue;
    }
    await writeAtomically(file, text);
    written.push(file);
  }
  return written;
}

async function writeAtomically(file: string, text: string): Promise<void> {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const handle = await fs.promises.open(temp, 'wx', 0o700);
  try {
    await handle.writeFile(text, 'utf8');
    // The umask may have taken bits away from open's mode; the launchers are 0755 whatever it is.
    await handle.chmod(0o755);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await fs.promises.rm(temp, { force: true });
    throw error;
  }
  await handle.close();
  try {
    await fs.promises.rename(temp, file);
  } catch (error) {
    await fs.promises.rm(temp, { force: true });
    throw error;
  }
}

/** The launchers for this extension host: written (or confirmed) under the extension's global storage. */
export async function ensureLaunchers(globalStorageDir: string, extensionPath: string, nodePath = process.execPath): Promise<{ paths: LauncherPaths; written: string[] }> {
  const paths = launcherPaths(globalStorageDir);
  const fast = path.join(extensionPath, 'dist', 'airlock');
  const hasFast = await fs.promises.access(fast, fs.constants.R_OK).then(() => true, () => false);
  const written = await writeLaunchers(paths, launcherScripts(nodePath, path.join(extensionPath, 'dist', 'cli.js'), hasFast ? fast : undefined));
  return { paths, written };
}
