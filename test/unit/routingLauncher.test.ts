import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { ensureLaunchers, launcherPaths, launcherScripts, shellQuote } from '../../src/extension/routing/launcher.js';
import { terminalVerdict } from '../../src/extension/routing/terminalVerdict.js';
import { makeTempDir, removeTempDirs } from '../helpers/tempWorkspace.js';

after(removeTempDirs);

/** Every character a path may hold that a shell would otherwise act on. */
const AWKWARD = `it's "quoted" $HOME \`id\` *;&|<>(){}!\\ tab\tnew\nline`;

/**
 * A folder laid out like the extension: a stand-in "node" (a shell script at an awkward path that
 * prints ELECTRON_RUN_AS_NODE and then each argument NUL-terminated) and dist/cli.js below an
 * awkward extension path; the launchers under an awkward global storage folder.
 */
function install(): { node: string; cli: string; storage: string; extension: string } {
  const root = makeTempDir('airlock-launcher-');
  const node = path.join(root, `fake node ${AWKWARD}`);
  fs.writeFileSync(node, `#!/bin/sh\nprintf '%s\\0' "ELECTRON_RUN_AS_NODE=$ELECTRON_RUN_AS_NODE" "$@"\n`, { mode: 0o755 });
  const extension = path.join(root, `extensions ${AWKWARD}`, 'airlock.airlock-0.1.0');
  const cli = path.join(extension, 'dist', 'cli.js');
  fs.mkdirSync(path.dirname(cli), { recursive: true });
  fs.writeFileSync(cli, '');
  return { node, cli, storage: path.join(root, `globalStorage ${AWKWARD}`, 'airlock.airlock'), extension };
}

/** Runs a launcher the way a tool does (exec of the file) and returns what the "node" it reached saw. */
function run(file: string, args: string[]): { status: number | null; seen: string[]; stderr: string } {
  const child = spawnSync(file, args, { encoding: 'utf8', env: { PATH: '/usr/bin:/bin' } });
  return { status: child.status, seen: child.stdout.split('\0').slice(0, -1), stderr: child.stderr };
}

describe('the launchers: the airlock CLI for tools that take an executable path', () => {
  test('shellQuote gives one shell word back unchanged, whatever it holds', () => {
    for (const text of [AWKWARD, '', "'", "''", 'plain', '-c', '$(rm -rf /)']) {
      const echoed = spawnSync('/bin/sh', ['-c', `printf '%s' ${shellQuote(text)}`], { encoding: 'utf8' });
      assert.equal(echoed.stdout, text);
    }
  });

  test('airlock runs the CLI with ELECTRON_RUN_AS_NODE=1 and every argument as given, from awkward paths', async () => {
    const { node, cli, storage, extension } = install();
    const { paths, written } = await ensureLaunchers(storage, extension, node);
    assert.deepEqual(written.sort(), [paths.airlock, paths.run, paths.shell].sort());
    assert.equal(path.dirname(paths.airlock), path.join(storage, 'bin'));
    const result = run(paths.airlock, ['ls', 'two words', AWKWARD]);
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(result.seen, ['ELECTRON_RUN_AS_NODE=1', cli, 'ls', 'two words', AWKWARD]);
  });

  test('airlock-run passes Claude Code\'s one quoted command line through as one argument', async () => {
    const { node, cli, storage, extension } = install();
    const { paths } = await ensureLaunchers(storage, extension, node);
    assert.deepEqual(run(paths.run, ["cd src && grep -r 'x y' . | head"]).seen, ['ELECTRON_RUN_AS_NODE=1', cli, 'run', '--', "cd src && grep -r 'x y' . | head"]);
  });

  test('airlock-shell: interactive, it is `airlock shell`; with -c (as tools and tasks call a shell), `airlock run LINE`', async () => {
    const { node, cli, storage, extension } = install();
    const { paths } = await ensureLaunchers(storage, extension, node);
    const seen = (...args: string[]) => run(paths.shell, args).seen.slice(1);
    assert.deepEqual(seen(), [cli, 'shell']);
    assert.deepEqual(seen('-l'), [cli, 'shell']);
    assert.deepEqual(seen('--login', '-i'), [cli, 'shell']);
    assert.deepEqual(seen('-l', '-c', 'echo "$HOME"; ls'), [cli, 'run', '--', 'echo "$HOME"; ls']);
    assert.deepEqual(seen('-lc', 'npm test'), [cli, 'run', '--', 'npm test']);
    assert.deepEqual(seen('-c', AWKWARD), [cli, 'run', '--', AWKWARD]);
    assert.deepEqual(seen('-c', '--version'), [cli, 'run', '--', '--version']);
    assert.deepEqual(seen('--', 'a1b2c3d4e5f6'), [cli, 'shell', 'a1b2c3d4e5f6']);
    const bare = run(paths.shell, ['-c']);
    assert.equal(bare.status, 2);
    assert.match(bare.stderr, /-c needs a command line/);
  });

  test('written atomically with mode 0755 whatever the umask; unchanged files are left alone', async () => {
    const { node, storage, extension } = install();
    const umask = process.umask(0o077);
    try {
      const { paths } = await ensureLaunchers(storage, extension, node);
      for (const file of [paths.airlock, paths.shell, paths.run]) assert.equal(fs.statSync(file).mode & 0o777, 0o755, file);
      const inodes = [paths.airlock, paths.shell, paths.run].map((file) => fs.statSync(file).ino);
      const again = await ensureLaunchers(storage, extension, node);
      assert.deepEqual(again.written, []);
      assert.deepEqual([paths.airlock, paths.shell, paths.run].map((file) => fs.statSync(file).ino), inodes, 'not rewritten');
      fs.chmodSync(paths.run, 0o644);
      assert.deepEqual((await ensureLaunchers(storage, extension, node)).written, [paths.run]);
      assert.equal(fs.statSync(paths.run).mode & 0o777, 0o755);
      assert.deepEqual(fs.readdirSync(paths.dir).sort(), ['airlock', 'airlock-run', 'airlock-shell'], 'no temporary file left behind');
    } finally {
      process.umask(umask);
    }
  });

  test('a new extension path or node (an update) rewrites all three', async () => {
    const { node, storage, extension } = install();
    await ensureLaunchers(storage, extension, node);
    const updated = path.join(path.dirname(extension), 'airlock.airlock-0.2.0');
    fs.mkdirSync(path.join(updated, 'dist'), { recursive: true });
    fs.writeFileSync(path.join(updated, 'dist', 'cli.js'), '');
    const { paths, written } = await ensureLaunchers(storage, updated, node);
    assert.equal(written.length, 3);
    assert.deepEqual(run(paths.airlock, ['ls']).seen, ['ELECTRON_RUN_AS_NODE=1', path.join(updated, 'dist', 'cli.js'), 'ls']);
    const otherNode = path.join(path.dirname(node), 'node 24');
    fs.copyFileSync(node, otherNode);
    fs.chmodSync(otherNode, 0o755);
    assert.equal((await ensureLaunchers(storage, updated, otherNode)).written.length, 3);
    assert.ok(fs.readFileSync(paths.shell, 'utf8').includes(shellQuote(otherNode)));
  });

  test('with the build\'s dist/airlock shipped, the launchers go through it (the daemon\'s fast path for run), naming the node to use', async () => {
    const { node, cli, storage, extension } = install();
    const fast = path.join(extension, 'dist', 'airlock');
    fs.writeFileSync(fast, `printf '%s\\0' "FAST $0" "AIRLOCK_NODE=$AIRLOCK_NODE" "ELECTRON_RUN_AS_NODE=$ELECTRON_RUN_AS_NODE" "$@"\n`);
    const { paths } = await ensureLaunchers(storage, extension, node);
    assert.deepEqual(run(paths.run, ['npm test']).seen, [`FAST ${fast}`, `AIRLOCK_NODE=${node}`, 'ELECTRON_RUN_AS_NODE=1', 'run', '--', 'npm test']);
    assert.deepEqual(run(paths.shell, ['-lc', 'ls']).seen.slice(3), ['run', '--', 'ls']);
    assert.deepEqual(run(paths.shell, []).seen.slice(3), ['shell']);
    assert.deepEqual(run(paths.airlock, ['ls', 'a b']).seen.slice(3), ['ls', 'a b']);
    // A build without it (today's package) gets the direct form back at the next activation.
    fs.rmSync(fast);
    assert.equal((await ensureLaunchers(storage, extension, node)).written.length, 3);
    assert.deepEqual(run(paths.run, ['npm test']).seen, ['ELECTRON_RUN_AS_NODE=1', cli, 'run', '--', 'npm test']);
  });

  test('the scripts parse as /bin/sh (dash on Debian) and name their paths only as quoted words', () => {
    const scripts = { ...launcherScripts('/opt/code server/node', "/ext/it's/dist/cli.js"), ...Object.fromEntries(Object.entries(launcherScripts('/opt/code server/node', "/ext/it's/dist/cli.js", "/ext/it's/dist/airlock")).map(([name, text]) => [`${name} (fast)`, text])) };
    for (const [name, text] of Object.entries(scripts)) {
      assert.ok(text.startsWith('#!/bin/sh\n'), name);
      assert.ok(text.includes(`node='/opt/code server/node'`) && text.includes(`cli='/ext/it'\\''s/dist/cli.js'`), name);
      const parsed = spawnSync('/bin/sh', ['-n'], { input: text, encoding: 'utf8' });
      assert.equal(parsed.status, 0, `${name}: ${parsed.stderr}`);
    }
    assert.deepEqual(launcherPaths('/g'), { dir: '/g/bin', airlock: '/g/bin/airlock', shell: '/g/bin/airlock-shell', run: '/g/bin/airlock-run' });
  });
});

describe('which terminals run outside the sandbox', () => {
  const routing = { launchers: ['/g/bin/airlock', '/g/bin/airlock-shell', '/g/bin/airlock-run'], defaultIsAirlock: true };

  test('a launcher is in the sandbox; any other executable is on the host', () => {
    assert.equal(terminalVerdict({ name: 'Airlock sandbox', shellPath: '/g/bin/airlock-shell', pseudoterminal: false }, routing), 'routed');
    assert.equal(terminalVerdict({ name: 'x', shellPath: '/g//bin/./airlock', pseudoterminal: false }, routing), 'routed');
    assert.equal(terminalVerdict({ name: 'bash', shellPath: '/bin/bash', pseudoterminal: false }, routing), 'unrouted');
    assert.equal(terminalVerdict({ name: 'Python', shellPath: 'python3', pseudoterminal: false }, routing), 'unrouted');
  });

  test('a terminal with no executable of its own gets the default profile: routed only while that is Airlock\'s', () => {
    assert.equal(terminalVerdict({ name: 'Cline', pseudoterminal: false }, routing), 'routed');
    assert.equal(terminalVerdict({ name: 'Cline', pseudoterminal: false }, { ...routing, defaultIsAirlock: false }), 'unrouted');
  });

  test('another extension\'s pseudoterminal counts only when it looks like a shell', () => {
    assert.equal(terminalVerdict({ name: 'Remote Shell', pseudoterminal: true }, routing), 'unrouted');
    assert.equal(terminalVerdict({ name: 'pwsh (remote)', pseudoterminal: true }, routing), 'unrouted');
    assert.equal(terminalVerdict({ name: 'Task - build', pseudoterminal: true }, routing), 'notShell');
    assert.equal(terminalVerdict({ name: 'Hashing progress', pseudoterminal: true }, routing), 'notShell');
  });
});
