import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { q, startTask } from '../helpers/changeFixtures.js';
import { initRepo, makeTempDir, removeTempDirs, writeFiles } from '../helpers/tempWorkspace.js';

/** Issue 13 §10: credential files of common tools are not copied into the box. */
describe('credential files against a real engine (integration)', () => {
  after(removeTempDirs);

  const RED_TEAM = ['.pgpass', '.my.cnf', '.cargo/credentials.toml', '.config/gh/hosts.yml', 'terraform.tfvars.json'];

  for (const kind of ['folder', 'git repository'] as const) {
    test(`.pgpass, .my.cnf, .cargo/credentials.toml, .config/gh/hosts.yml and terraform.tfvars.json in a ${kind} cannot be read in the box`, async (t) => {
      const ws = makeTempDir('airlock-creds-');
      const files = { 'keep.txt': 'keep\n', ...Object.fromEntries(RED_TEAM.map((rel) => [rel, `secret in ${rel}\n`])) };
      if (kind === 'git repository') initRepo(ws, files);
      else writeFiles(ws, files);
      const task = await startTask(t, ws);
      if (!task) return;
      assert.equal(await task.sh('cat keep.txt'), 'keep\n');
      // One shell, one line per file: "<path> <exit code of cat>", and nothing of the secrets.
      const out = await task.sh(RED_TEAM.map((rel) => `cat ${q(rel)} >/dev/null 2>&1; echo ${q(rel)} $?`).join('; ') + '; grep -r "secret in" . 2>/dev/null | wc -l');
      const lines = out.trim().split('\n');
      assert.deepEqual(lines.slice(0, -1), RED_TEAM.map((rel) => `${rel} 1`));
      assert.equal(lines.at(-1)!.trim(), '0');
      if (kind === 'git repository') {
        // Nor through history: the box's commits were rewritten without them.
        const history = await task.sh(`git log --all -p 2>/dev/null | grep -c "secret in" || true; ${RED_TEAM.map((rel) => `git cat-file -e HEAD:${q(rel)} 2>/dev/null; echo $?`).join('; ')}`);
        assert.deepEqual(history.trim().split('\n'), ['0', ...RED_TEAM.map(() => '128')]);
      }
    });
  }
});
