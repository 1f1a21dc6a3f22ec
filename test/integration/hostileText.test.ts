import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { copyBundle } from '../helpers/cliBundle.js';
import { type CliResult, launchNode } from '../helpers/cliProcess.js';
import { realEngine, TEST_IMAGE } from '../helpers/realEngine.js';
import { makeTempDir, removeTempDirs, writeFiles } from '../helpers/tempWorkspace.js';

/**
 * Text a hostile repository or box chooses (file names, setup commands, policy keys and values,
 * host names in the network log) printed by the bundled CLI against the real engine: a terminal
 * must never receive a control sequence (ESC, BEL, the 8-bit CSI U+009B), a bidi override, or a
 * newline that forges a line of Airlock's own.
 */

const SLOW = { timeout: 180_000 };
/** Sets the terminal's title; any ESC or BEL reaching the terminal is the attack working. */
const TITLE = '\x1b]0;pwned\x07';
const TITLE_SHOWN = '^[]0;pwned^G';

let cli = '';
let state = '';
const tasks = new Set<string>();

function airlock(args: string[], timeoutMs = 120_000): Promise<CliResult> {
  return launchNode([cli, ...args], { env: { AIRLOCK_STATE_DIR: state, AIRLOCK_IMAGE: TEST_IMAGE, AIRLOCK_MACHINE_POLICY: '' }, timeoutMs, cwd: state }).result;
}

async function start(workspace: string, flags: string[] = []): Promise<CliResult> {
  const result = await airlock(['start', '--workspace', workspace, '--image', TEST_IMAGE, '--ttl', '600', '--approval-timeout', '3', ...flags], 180_000);
  const id = result.stdout.trim();
  if (result.status === 0 && /^[0-9a-f]{12}$/.test(id)) tasks.add(id);
  return result;
}

async function stop(id: string): Promise<void> {
  const stopped = await airlock(['stop', id]);
  assert.equal(stopped.status, 0, stopped.stderr);
  tasks.delete(id);
}

/** Nothing a terminal obeys: no ESC, BEL or C1 byte, no control or format character but line breaks. */
function assertNothingObeyed(result: CliResult): void {
  for (const [name, text] of [['stdout', result.stdout], ['stderr', result.stderr]] as const) {
    const bytes = Buffer.from(text, 'utf8');
    for (const byte of [0x1b, 0x07, 0x9b]) assert.equal(bytes.indexOf(byte), -1, `${name} carries byte 0x${byte.toString(16)}: ${JSON.stringify(text)}`);
    const found = [...text].find((char) => char !== '\n' && /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\ufffd]/u.test(char));
    assert.equal(found, undefined, `${name} carries U+${found?.codePointAt(0)?.toString(16).padStart(4, '0')}: ${JSON.stringify(text)}`);
  }
}

/** No line of the output starts with text the attacker placed after a newline. */
function assertNoForgedLine(result: CliResult, forged: string): void {
  for (const line of `${result.stdout}\n${result.stderr}`.split('\n')) assert.ok(!line.startsWith(forged), `a forged line reached the terminal: ${JSON.stringify(line)}`);
}

function workspace(files: Record<string, string>): string {
  const dir = makeTempDir('airlock-hostile-ws-');
  writeFiles(dir, { 'README.md': 'hostile text\n', ...files });
  return dir;
}

describe('text from a hostile repository or box never drives the terminal', () => {
  before(() => {
    const dir = makeTempDir('airlock-hostile-');
    cli = copyBundle(dir);
    state = path.join(dir, 'state');
    fs.mkdirSync(state);
  });

  after(async () => {
    for (const id of [...tasks]) await airlock(['stop', id]).catch(() => undefined);
    removeTempDirs();
  });

  test('a secret file named with a terminal title sequence and a newline is printed escaped by start', SLOW, async (t) => {
    if (!(await realEngine(t))) return;
    const name = `.env.${TITLE}\nairlock: nothing was left out`;
    const ws = workspace({ [name]: 'TOKEN=1\n' });
    const result = await start(ws);
    assert.equal(result.status, 0, result.stderr);
    assertNothingObeyed(result);
    assertNoForgedLine(result, 'airlock: nothing was left out');
    assert.ok(result.stderr.includes(`airlock: left out as secrets: .env.${TITLE_SHOWN}\\nairlock: nothing was left out\n`), result.stderr);
    await stop(result.stdout.trim());
  });

  test('a repository setup command with ESC sequences is printed escaped in its progress line, and so is its output', SLOW, async (t) => {
    if (!(await realEngine(t))) return;
    // The command's own text carries ESC, BEL and CSI; what it prints carries them too.
    const command = `printf 'setup out \\033]0;pwned\\007\\033[2J\\n' # ${TITLE}\u009b2J`;
    const ws = workspace({ '.airlock.json': JSON.stringify({ setupCommands: [command] }) });
    const result = await start(ws);
    assert.equal(result.status, 0, result.stderr);
    assertNothingObeyed(result);
    assert.ok(result.stderr.includes(`airlock: setup 1/1: printf 'setup out \\033]0;pwned\\007\\033[2J\\n' # ${TITLE_SHOWN}<U+009B>2J\n`), result.stderr);
    assert.ok(result.stderr.includes(`setup out ${TITLE_SHOWN}^[[2J\n`), 'the setup output is shown, escaped');
    await stop(result.stdout.trim());
  });

  test('a refused repository setup command with ESC sequences is printed escaped in the refusal', SLOW, async (t) => {
    if (!(await realEngine(t))) return;
    const ws = workspace({ '.airlock.json': JSON.stringify({ setupCommands: [`printf x # ${TITLE}\nairlock: setup passed`] }) });
    const result = await start(ws, ['--command-deny', 'printf']);
    assert.equal(result.status, 1, result.stderr);
    assert.equal(result.stdout, '');
    assertNothingObeyed(result);
    assertNoForgedLine(result, 'airlock: setup passed');
    assert.match(result.stderr, /^airlock: setupCommands\.0: printf x # \^\[\]0;pwned\^G\\nairlock: setup passed: refused: .*the task was not started$/m);
  });

  test('an ignored loosening value with ESC and the 8-bit CSI is printed escaped by start and by policy show', SLOW, async (t) => {
    if (!(await realEngine(t))) return;
    const value = `notes${TITLE}\u009b2J\u202e.txt`;
    const shown = `notes${TITLE_SHOWN}<U+009B>2J<U+202E>.txt`;
    const ws = workspace({ '.airlock.json': JSON.stringify({ secretFiles: { include: [value] } }) });

    const started = await start(ws);
    assert.equal(started.status, 0, started.stderr);
    assertNothingObeyed(started);
    assert.ok(started.stderr.includes(`  secretFiles.include: ${shown} (`), started.stderr);
    await stop(started.stdout.trim());

    const policy = await airlock(['policy', 'show', '--workspace', ws]);
    assert.equal(policy.status, 0, policy.stderr);
    assertNothingObeyed(policy);
    assert.match(policy.stdout, new RegExp(`^  secretFiles\\.include: ${shown.replace(/[\^[\]+.<>]/g, '\\$&')} \\(`, 'm'));

    // JSON keeps the exact value, with the characters JSON.stringify leaves raw as \u escapes.
    const json = await airlock(['policy', 'show', '--workspace', ws, '--json']);
    assert.equal(json.status, 0, json.stderr);
    assertNothingObeyed(json);
    assert.deepEqual((JSON.parse(json.stdout) as { ignored: Array<{ value: string }> }).ignored.map((item) => item.value), [value]);
  });

  test('policy errors quoting a hostile key are printed escaped by policy validate, policy show and start', SLOW, async (t) => {
    if (!(await realEngine(t))) return;
    const key = `${TITLE}\u009b2J\u202e`;
    const shown = `${TITLE_SHOWN}<U+009B>2J<U+202E>`;
    const ws = workspace({ '.airlock.json': `{ "${key.replace(/[\x00-\x1f\u007f-\u009f\u202e]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`)}": 1 }` });
    for (const args of [['policy', 'validate', path.join(ws, '.airlock.json')], ['policy', 'show', '--workspace', ws]]) {
      const result = await airlock(args);
      assert.equal(result.status, 1, `${args.join(' ')}: ${result.stderr}`);
      assertNothingObeyed(result);
      assert.ok(result.stderr.includes(`unknown field "${shown}"`), result.stderr);
    }
    const started = await start(ws);
    assert.equal(started.status, 1, started.stderr);
    assertNothingObeyed(started);
    assert.ok(started.stderr.includes(`unknown field "${shown}"`), started.stderr);
  });

  test('a hostile hostname in the network log is printed escaped by net, net --json and audit', SLOW, async (t) => {
    if (!(await realEngine(t))) return;
    const result = await start(workspace({}));
    assert.equal(result.status, 0, result.stderr);
    const id = result.stdout.trim();
    // What a hostile box would get recorded if a host name ever got past the proxy's parser.
    const host = `evil${TITLE}\u009b2J\u202e.test`;
    const log = path.join(state, 'tasks', id, 'audit.jsonl');
    fs.appendFileSync(log, JSON.stringify({ time: new Date().toISOString(), type: 'network', task: id, phase: 'agent', method: 'CONNECT', host, port: 443, decision: 'deny', reason: `no rule allows it\u2028forged`, bytesUp: 0, bytesDown: 0 }) + '\n');
    fs.appendFileSync(log, JSON.stringify({ time: new Date().toISOString(), type: 'approval.requested', task: id, request: { id: 'b'.repeat(24), subject: `${host}:443`, reason: `asked\nairlock: allowed`, phase: 'agent' } }) + '\n');

    const net = await airlock(['net', id]);
    assert.equal(net.status, 0, net.stderr);
    assertNothingObeyed(net);
    assertNoForgedLine(net, 'airlock: allowed');
    assert.ok(net.stdout.includes('evil\\u001b]0;pwned\\u0007\\u009b2J\\u202e.test:443'), net.stdout);

    const json = await airlock(['net', id, '--json']);
    assert.equal(json.status, 0, json.stderr);
    assertNothingObeyed(json);
    assert.ok((JSON.parse(json.stdout) as Array<{ host?: string }>).some((record) => record.host === host), 'the JSON keeps the exact host');

    const audit = await airlock(['audit', id]);
    assert.equal(audit.status, 0, audit.stderr);
    assertNothingObeyed(audit);
    const records = audit.stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as { host?: string });
    assert.ok(records.some((record) => record.host === host), 'the audit log reads back the same');
    await stop(id);
  });
});
