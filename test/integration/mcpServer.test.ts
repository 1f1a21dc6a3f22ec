import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { z } from 'zod';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ApprovalBoard } from '../../src/core/approvals/approvalBoard.js';
import { ChangeService } from '../../src/core/changes/changeService.js';
import type { TaskRecord } from '../../src/core/state/taskRecord.js';
import type { TaskService } from '../../src/core/task/taskService.js';
import { AGENT_TOOLS } from '../../src/core/usecases/agentTools.js';
import { realEngine, run, serviceFor, TEST_IMAGE } from '../helpers/realEngine.js';
import { makeTempDir, removeTempDirs, writeFiles } from '../helpers/tempWorkspace.js';
import { until } from '../helpers/cliProcess.js';

/**
 * `airlock mcp` as an agent's client sees it: the CLI from source, spawned over stdio with the
 * SDK's own client, against a real task. Every tool acts on the box (never the host), gated
 * commands wait for a person without running, and stdout carries nothing but the protocol.
 */

const REPO = process.cwd();
const SLOW = { timeout: 300_000 };
const CALL = { timeout: 180_000 };
const BINARY = Buffer.from(Array.from({ length: 256 }, (_, index) => index));

interface CallResult {
  text: string;
  isError: boolean;
}

let service: TaskService | undefined;
let record: TaskRecord;
let workspace: string;
let client: Client;
let serverErr = '';
let stateRoot = '';
const protocolErrors: Error[] = [];

async function call(name: string, args: Record<string, unknown>): Promise<CallResult> {
  const result = await client.callTool({ name, arguments: args }, undefined, CALL);
  const content = result.content as Array<{ type: string; text?: string }>;
  assert.equal(content.length, 1, `${name}: one text part`);
  assert.equal(content[0].type, 'text');
  return { text: content[0].text ?? '', isError: Boolean(result.isError) };
}

/** A shell line straight through the TaskService: what is in the box, seen without the MCP server. */
async function inBox(line: string): Promise<{ exitCode: number; stdout: string }> {
  const result = await run(service!, record.id, ['sh', '-c', line], { gate: false });
  return { exitCode: result.exitCode, stdout: result.stdout };
}

/** Outside CI without an engine the tests skip (realEngine fails them in CI). */
const ready = (t: { skip(message: string): void }) => {
  if (service) return true;
  t.skip('no engine');
  return false;
};

before(async (t) => {
  const connection = await realEngine(t as never);
  if (!connection) return;
  const made = serviceFor(connection);
  service = made.service;
  stateRoot = made.stateRoot;
  workspace = makeTempDir('airlock-mcp-ws-');
  writeFiles(workspace, { 'README.md': 'hello from the host\n', 'src/a.txt': 'A\n', 'bin.dat': BINARY });
  record = await service.start({ workspace, image: TEST_IMAGE, ttlSeconds: 900, commands: { ask: ['touch'], deny: ['curl'] } });
  const transport = new StdioClientTransport({
    command: process.execPath,
    // From source, as the shipped CLI runs it; tsx by absolute path, since the server starts in the workspace.
    args: ['--import', require.resolve('tsx'), path.join(REPO, 'src/cli/main.ts'), 'mcp'],
    cwd: workspace,
    env: { ...(process.env as Record<string, string>), AIRLOCK_STATE_DIR: made.stateRoot },
    stderr: 'pipe',
  });
  transport.stderr?.on('data', (chunk: Buffer) => (serverErr += chunk.toString('utf8')));
  client = new Client({ name: 'airlock-test', version: '1.0.0' });
  client.onerror = (error) => protocolErrors.push(error);
  await client.connect(transport, CALL);
}, SLOW);

after(async () => {
  await client?.close().catch(() => undefined);
  if (service && record) await service.stop(record.id).catch(() => undefined);
  service?.dispose();
  removeTempDirs();
  if (stateRoot) fs.rmSync(stateRoot, { recursive: true, force: true });
});

describe('airlock mcp (integration)', () => {
  test('lists every tool with its hints and the input schema generated from its zod schema', SLOW, async (t) => {
    if (!ready(t)) return;
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((tool) => tool.name), AGENT_TOOLS.map((tool) => tool.name));
    for (const tool of AGENT_TOOLS) {
      const listed = tools.find((item) => item.name === tool.name)!;
      assert.deepEqual(listed.inputSchema, z.toJSONSchema(tool.inputSchema, { target: 'draft-7', io: 'input' }), `${tool.name}: inputSchema`);
      assert.deepEqual(listed.annotations, { title: tool.title, ...tool.annotations }, `${tool.name}: annotations`);
      assert.equal(listed.description, tool.description);
    }
  });

  test('run_command: the exit code and both streams, in the folder the server started in; box text made printable', SLOW, async (t) => {
    if (!ready(t)) return;
    const ran = await call('run_command', { command: 'echo out; echo err >&2; pwd; cat README.md; exit 3' });
    assert.equal(ran.isError, false, ran.text);
    assert.match(ran.text, /^exit code 3; ran in \/workspace of task [0-9a-f]{12}/);
    assert.match(ran.text, /--- stdout \(\d+ bytes\) ---\nout\n\/workspace\nhello from the host\n/);
    assert.match(ran.text, /--- stderr \(4 bytes\) ---\nerr\n/);
    const hostile = await call('run_command', { command: "printf '\\033]0;owned\\007\\033[2Jcleared\\n'", cwd: 'src' });
    assert.equal(hostile.isError, false, hostile.text);
    assert.match(hostile.text, /ran in \/workspace\/src /);
    assert.ok(hostile.text.includes('^[]0;owned^G^[[2Jcleared'), hostile.text);
    assert.doesNotMatch(hostile.text, /\x1b|\x07/);
    const timedOut = await call('run_command', { command: 'sleep 30', timeout: 1 });
    assert.match(timedOut.text, /^timed out after 1 s/);
  });

  test('read_file: text as text, other bytes as base64, a range on request; never outside /workspace', SLOW, async (t) => {
    if (!ready(t)) return;
    const text = await call('read_file', { path: 'README.md' });
    assert.equal(text.isError, false, text.text);
    assert.equal(text.text, '/workspace/README.md: 20 bytes\nhello from the host\n');
    const binary = await call('read_file', { path: '/workspace/bin.dat' });
    assert.equal(binary.isError, false, binary.text);
    assert.equal(binary.text.split('\n').at(-1), BINARY.toString('base64'));
    const piece = await call('read_file', { path: 'README.md', offset: 6, maxBytes: 4 });
    assert.equal(piece.text, '/workspace/README.md: 20 bytes; bytes 6–10 shown (offset 10 reads on)\nfrom');
    const outside = await call('read_file', { path: '../etc/passwd' });
    assert.equal(outside.isError, true);
    assert.match(outside.text, /^path: \.\.\/etc\/passwd is outside \/workspace/);
    const missing = await call('read_file', { path: 'nope.txt' });
    assert.equal(missing.isError, true);
    assert.match(missing.text, /does not exist in the task/);
  });

  test('write_file: into the box as the sandbox user, never the host; a path through a symlink is refused', SLOW, async (t) => {
    if (!ready(t)) return;
    const wrote = await call('write_file', { path: 'notes/deep/new.txt', content: 'from the tool\n' });
    assert.equal(wrote.isError, false, wrote.text);
    assert.match(wrote.text, /^wrote 14 bytes to \/workspace\/notes\/deep\/new\.txt in task [0-9a-f]{12} \(new file; made notes, notes\/deep\); the host is unchanged$/);
    const seen = await inBox('cat notes/deep/new.txt; stat -c "%u:%g %a" notes notes/deep notes/deep/new.txt');
    assert.equal(seen.stdout, `from the tool\n${record.user} 755\n${record.user} 755\n${record.user} 644\n`);
    assert.equal(fs.existsSync(path.join(workspace, 'notes')), false, 'nothing on the host');
    const replaced = await call('write_file', { path: 'README.md', content: Buffer.from('box bytes\n').toString('base64'), encoding: 'base64' });
    assert.match(replaced.text, /\(replaced\)/);
    assert.equal((await inBox('cat README.md')).stdout, 'box bytes\n');
    assert.equal(fs.readFileSync(path.join(workspace, 'README.md'), 'utf8'), 'hello from the host\n', 'the host file is untouched');
    const written = service!.store.audit(record.id).records().filter((entry) => entry.type === 'file.written');
    assert.deepEqual(
      written.map((entry) => [entry.path, entry.bytes, entry.created, entry.by]),
      [
        ['/workspace/notes/deep/new.txt', 14, true, 'write_file'],
        ['/workspace/README.md', 10, false, 'write_file'],
      ],
      'each write is in the audit log',
    );
    assert.equal(written[0].sha256, createHash('sha256').update('from the tool\n').digest('hex'));
    assert.equal((await inBox('ln -s /etc link && mkdir real')).exitCode, 0);
    const through = await call('write_file', { path: 'link/evil.conf', content: 'x' });
    assert.equal(through.isError, true);
    assert.match(through.text, /^path: \/workspace\/link is a symlink/);
    assert.equal((await inBox('test -e /etc/evil.conf')).exitCode, 1, 'nothing was written through the link');
    const onLink = await call('write_file', { path: 'link', content: 'x' });
    assert.equal(onLink.isError, true);
    assert.match(onLink.text, /is a symlink; nothing was written/);
  });

  test('list_changes: the change set with the written file and its diff', SLOW, async (t) => {
    if (!ready(t)) return;
    const listed = await call('list_changes', {});
    assert.equal(listed.isError, false, listed.text);
    assert.match(listed.text, /^change set [0-9a-f]{32} of task [0-9a-f]{12}: \d+ change\(s\)/);
    assert.match(listed.text, /\n {2}added {4}notes\/deep\/new\.txt\n/);
    assert.match(listed.text, /\n {2}modified README\.md\n/);
    assert.match(listed.text, /\n\+from the tool\n/);
    const only = await call('list_changes', { paths: ['notes'], diff: false });
    assert.match(only.text, /, 1 under the paths named\n {2}added {4}notes\/deep\/new\.txt$/);
  });

  test('request_apply: a request for a reviewer; nothing written until the allow, then exactly what it named, once', SLOW, async (t) => {
    if (!ready(t)) return;
    const asked = await call('request_apply', { paths: ['notes'] });
    assert.equal(asked.isError, false, asked.text);
    const id = /^apply request ([0-9a-f]{24}) filed/.exec(asked.text)?.[1];
    assert.ok(id, asked.text);
    assert.match(asked.text, /\n {2}added notes\/deep\/new\.txt sha256:[0-9a-f]{64}\n/);
    const pending = new ApprovalBoard(service!.store).pending(record.id);
    const request = pending.find((item) => item.id === id);
    assert.equal(request?.kind, 'apply');
    assert.deepEqual(request?.details?.paths, ['notes/deep/new.txt']);
    assert.equal(request?.details?.writer, 'reviewer', "nobody waits for it: the reviewer's allow writes it");
    assert.equal(fs.existsSync(path.join(workspace, 'notes')), false, 'the host is unchanged');

    const waiting = await call('request_apply', { approval: id });
    assert.equal(waiting.isError, false, waiting.text);
    assert.match(waiting.text, new RegExp(`^apply request ${id}: apply 1 change\\(s\\) to .+\nstill waiting for a person`));
    const mixed = await call('request_apply', { approval: id, paths: ['README.md'] });
    assert.equal(mixed.isError, true);
    assert.match(mixed.text, /^approval: give it alone/);

    // What a reviewer's front end does on Approve: record the allow, then write exactly the request.
    const queue = new ApprovalBoard(service!.store).queue(record.id);
    assert.equal(queue.decide(id, { decision: 'allow', scope: 'once', by: 'reviewer' }), 'decided');
    assert.match((await call('request_apply', { approval: id })).text, /\nallowed by reviewer at .+; not written yet/);
    assert.equal((await inBox('echo changed-since > notes/deep/new.txt')).exitCode, 0);
    const changes = new ChangeService(service!);
    const { report } = await changes.applyApproved(request);
    assert.deepEqual(report.written.filter((item) => item.action !== 'mkdir').map((item) => item.path), ['notes/deep/new.txt']);
    assert.equal(fs.readFileSync(path.join(workspace, 'notes/deep/new.txt'), 'utf8'), 'from the tool\n', 'the requested bytes, not what the box has now');
    assert.equal(fs.readFileSync(path.join(workspace, 'README.md'), 'utf8'), 'hello from the host\n', 'nothing the request did not name');
    await assert.rejects(changes.applyApproved(request), (error: Error & { code?: string }) => error.code === 'apply.requestUsed');
    const done = await call('request_apply', { approval: id });
    assert.equal(done.isError, false, done.text);
    assert.match(done.text, /\nallowed by reviewer and written to the host at \S+: 1 file\(s\)\n {2}write notes\/deep\/new\.txt$/);
    fs.rmSync(path.join(workspace, 'notes'), { recursive: true });
  });

  test('a command an ask rule gates waits without running; once approved the same call runs it, once', SLOW, async (t) => {
    if (!ready(t)) return;
    const first = await call('run_command', { command: 'touch made-by-ask.txt' });
    assert.equal(first.isError, false, first.text);
    const id = /^waiting for approval ([0-9a-f]{24}): the command did not run\./.exec(first.text)?.[1];
    assert.ok(id, first.text);
    assert.match(first.text, /\ncommand: touch made-by-ask\.txt\n/);
    assert.match(first.text, /airlock approve [0-9a-f]{24}/, 'the CLI says where to decide');
    assert.equal((await inBox('test -e made-by-ask.txt')).exitCode, 1, 'it did not run');
    const queue = new ApprovalBoard(service!.store).queue(record.id);
    assert.equal(queue.find(id)?.subject, 'touch made-by-ask.txt');

    const again = await call('run_command', { command: 'touch made-by-ask.txt', approval: id });
    assert.match(again.text, new RegExp(`^still waiting for approval ${id}`));
    assert.equal((await inBox('test -e made-by-ask.txt')).exitCode, 1, 'still not run');
    assert.equal(queue.requests().filter((item) => item.kind === 'command').length, 1, 'no second request');

    assert.equal(queue.decide(id, { decision: 'allow', scope: 'once', by: 'reviewer' }), 'decided');
    const ran = await call('run_command', { command: 'touch made-by-ask.txt', approval: id });
    assert.equal(ran.isError, false, ran.text);
    assert.match(ran.text, /^exit code 0/);
    assert.equal((await inBox('test -e made-by-ask.txt')).exitCode, 0, 'it ran');
    const audit = service!.store.audit(record.id).records();
    assert.ok(audit.some((entry) => entry.type === 'command' && (entry as { line?: string }).line === 'touch made-by-ask.txt'), 'the audit records the typed line');

    const twice = await call('run_command', { command: 'touch made-by-ask.txt', approval: id });
    assert.equal(twice.isError, true);
    assert.match(twice.text, /was allowed once and has been used/);
  });

  test('a command a deny rule refuses answers with the refusal, as an error, and does not run', SLOW, async (t) => {
    if (!ready(t)) return;
    const refused = await call('run_command', { command: 'curl -o got.txt http://127.0.0.1:9/' });
    assert.equal(refused.isError, true);
    assert.match(refused.text, /^refused: curl .*; the command did not run$/);
    assert.equal((await inBox('test -e got.txt')).exitCode, 1);
  });

  test('with --task it serves that task from any folder, refuses another, and ends when its client goes (its calls aborted)', SLOW, async (t) => {
    if (!ready(t)) return;
    const elsewhere = makeTempDir('airlock-mcp-elsewhere-');
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: ['--import', require.resolve('tsx'), path.join(REPO, 'src/cli/main.ts'), 'mcp', '--task', record.id.slice(0, 6)],
      cwd: elsewhere,
      env: { ...(process.env as Record<string, string>), AIRLOCK_STATE_DIR: service!.store.root },
      stderr: 'pipe',
    });
    const second = new Client({ name: 'airlock-test-2', version: '1.0.0' });
    await second.connect(transport, CALL);
    const answer = async (args: Record<string, unknown>) => {
      const result = await second.callTool({ name: 'run_command', arguments: args }, undefined, CALL);
      return { text: (result.content as Array<{ text: string }>)[0].text, isError: Boolean(result.isError) };
    };
    const here = await answer({ command: 'pwd' });
    assert.match(here.text, new RegExp(`^exit code 0; ran in /workspace of task ${record.id}`), 'a folder outside the workspace runs at its root');
    const other = await answer({ command: 'pwd', task: 'ffffff' });
    assert.equal(other.isError, true);
    assert.match(other.text, /^no task "ffffff"/);

    const child = (transport as unknown as { _process?: ChildProcess })._process!;
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    // No ps in the image: the box's processes by their command lines, from /proc.
    const sleepers = async () => (await inBox('for p in /proc/[0-9]*; do tr "\\0" " " < $p/cmdline 2>/dev/null; echo; done | grep -c "^sleep 120 "')).stdout.trim();
    const sleeping = second.callTool({ name: 'run_command', arguments: { command: 'sleep 120 # mcp-inflight' } }, undefined, CALL).catch(() => undefined);
    assert.ok(await until(async () => (await sleepers()) !== '0', 20_000), 'the command started');
    const closing = Date.now();
    await second.close();
    assert.equal(await exited, 0);
    assert.ok(Date.now() - closing < 1900, `it ended when stdin closed, not on the SIGTERM that follows 2 s later (${Date.now() - closing} ms)`);
    await sleeping;
    assert.ok(await until(async () => (await sleepers()) === '0', 10_000), 'the aborted call killed its command in the box');
  });

  test('stdout carried nothing but the protocol', (t) => {
    if (!ready(t)) return;
    assert.deepEqual(protocolErrors.map((error) => error.message), [], `server stderr:\n${serverErr}`);
  });
});
