import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { CATEGORIES, type SecurityCase } from '../security/securityCase.js';

/**
 * The red-team suite as data: at least 60 named cases, every category of the threat model
 * covered, each case saying in one sentence what it would have let an attacker do, and SECURITY.md
 * listing every case by id beside the file that runs it. Importing the case lists registers no test
 * and starts nothing.
 */

const CASES_DIR = path.resolve('test/security/cases');

async function allCases(): Promise<Array<{ file: string; item: SecurityCase<unknown> }>> {
  const found: Array<{ file: string; item: SecurityCase<unknown> }> = [];
  for (const name of fs.readdirSync(CASES_DIR).filter((entry) => entry.endsWith('.ts')).sort()) {
    const module = (await import(path.join(CASES_DIR, name))) as Record<string, unknown>;
    for (const value of Object.values(module)) {
      if (!Array.isArray(value)) continue;
      for (const item of value as unknown[]) {
        if (item && typeof item === 'object' && 'attack' in item && 'run' in item) found.push({ file: name.replace(/\.ts$/, ''), item: item as SecurityCase<unknown> });
      }
    }
  }
  return found;
}

describe('the red-team catalog', () => {
  test('at least 60 cases, unique ids named after their category, each with one sentence of what it stops', async () => {
    const cases = await allCases();
    assert.ok(cases.length >= 60, `${cases.length} cases`);
    const ids = cases.map(({ item }) => item.id);
    assert.deepEqual(ids.filter((id, index) => ids.indexOf(id) !== index), [], 'duplicate ids');
    for (const { item } of cases) {
      assert.ok(Object.hasOwn(CATEGORIES, item.category), `${item.id}: category ${item.category}`);
      assert.match(item.id, new RegExp(`^${item.category}\\.[a-z0-9]+(-[a-z0-9]+)*$`), `${item.id}: <category>.<name>`);
      assert.ok(item.title.length > 10, `${item.id}: a title`);
      assert.match(item.attack, /^[A-Z`].*[.)]$/s, `${item.id}: one sentence, capitalised and ended`);
      assert.ok(item.attack.length <= 400, `${item.id}: one sentence, not a paragraph`);
      assert.equal(typeof item.run, 'function');
    }
    for (const category of Object.keys(CATEGORIES)) assert.ok(cases.some(({ item }) => item.category === category), `no case for ${category}`);
  });

  test('SECURITY.md states the count and lists every case by id with the file that runs it', async () => {
    const cases = await allCases();
    const doc = fs.readFileSync(path.resolve('SECURITY.md'), 'utf8');
    assert.match(doc, new RegExp(`\\b${cases.length} cases\\b`), `SECURITY.md says ${cases.length} cases`);
    const missing = cases.filter(({ file, item }) => !new RegExp(`\`${item.id.replace(/\./g, '\\.')}\`[^\\n]*${file}\\.test\\.ts`).test(doc));
    assert.deepEqual(missing.map(({ item }) => item.id), [], 'cases SECURITY.md does not list (as `id` … <file>.test.ts on one line)');
  });
});
