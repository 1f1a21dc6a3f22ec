import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as core from '../../src/core/index.js';
import { fileChangeSchema } from '../../src/core/changes/changeSet.js';
import { choiceWords, diffTitle, GROUP_LABELS, itemSentence, statusLetter } from '../../src/extension/review/reviewLabels.js';
import type { FileChange, ReviewItem } from '../../src/core/index.js';

const SHA_A = 'a'.repeat(64);
const SHA_B = 'b'.repeat(64);
const REFRESHED = 'changed in the task since the review showed it: not taken until you look';

/**
 * Box text that tries everything a tooltip or a title must not obey: a forged second line, an OSC 52
 * clipboard write and a screen clear, a bidi override, an 8-bit CSI, a line separator, and a
 * markdown command link.
 */
const HOSTILE = 'evil\n— accepted\u001b]52;c;aGk=\u0007\u001b[2J\u202Etxt.exe](command:x)\u009b31m\u2028';
const HOSTILE_SHOWN = 'evil\\n— accepted^[]52;c;aGk=^G^[[2J<U+202E>txt.exe](command:x)<U+009B>31m<U+2028>';

/** A FileChange as the change set holds it (checked against its schema, so the fixture cannot drift). */
function fileChange(overrides: Partial<FileChange> = {}): FileChange {
  return fileChangeSchema.parse({
    path: 'src/app.ts', status: 'modified', before: { kind: 'file', mode: 0o644, size: 12, sha256: SHA_A }, after: { kind: 'file', mode: 0o644, size: 20, sha256: SHA_B },
    binary: false, hunks: 1, risk: [], notes: [], ...overrides,
  });
}

/** A ReviewItem with its group and default "taken" worked out the way TaskReview does. */
function reviewItem(change: FileChange, overrides: Partial<ReviewItem> = {}): ReviewItem {
  const group = change.refusal ? 'never' : overrides.conflict ? 'conflicts' : change.risk.length ? 'risky' : 'changes';
  const choice = overrides.choice;
  const refreshed = overrides.refreshed ?? false;
  const taken = !change.refusal && (choice === 'accept' || (choice === undefined && !refreshed && !change.risk.length));
  return { path: change.path, change, group, taken, edited: false, refreshed, mergeable: false, what: change.status, textual: true, editable: !change.refusal, ...overrides };
}

/** One line a person reads as it is: no control, format or separator character is left raw. */
function assertOnePrintableLine(text: string) {
  for (const char of text) {
    const code = char.codePointAt(0)!;
    assert.ok(code >= 0x20 && !(code >= 0x7f && code <= 0x9f), `raw U+${code.toString(16).padStart(4, '0')} in ${JSON.stringify(text)}`);
  }
  assert.doesNotMatch(text, /[\u202E\u2028\u2029]/);
  assert.equal(core.hasUnsafeText(text), false, JSON.stringify(text));
}

describe('the review tooltip: one sentence per file', () => {
  test('a risky file names its risks and waits for a choice', () => {
    const change = fileChange({ path: 'run.sh', after: { kind: 'file', mode: 0o755, size: 20, sha256: SHA_B }, risk: ['exec bit is new', 'a script the host runs'] });
    const item = reviewItem(change, { what: 'mode 100644 → 100755' });
    assert.equal(item.group, 'risky');
    assert.equal(itemSentence(core, item, false), 'mode 100644 → 100755 — risky: exec bit is new; a script the host runs — not chosen');
  });

  test('an accepted risky file says it was accepted as risky; a rejected one says rejected', () => {
    const change = fileChange({ risk: ['exec bit is new'] });
    assert.equal(itemSentence(core, reviewItem(change, { choice: 'accept' }), false), 'modified — risky: exec bit is new — accepted (risky)');
    assert.equal(itemSentence(core, reviewItem(change, { choice: 'reject' }), false), 'modified — risky: exec bit is new — rejected');
    assert.equal(itemSentence(core, reviewItem(fileChange(), { choice: 'reject' }), false), 'modified — rejected');
  });

  test('a refused file says why it is never applied', () => {
    const refusal = 'a symlink that points outside the workspace (/etc/passwd)';
    const item = reviewItem(fileChange({ path: 'link', status: 'added', before: undefined, after: { kind: 'symlink', mode: 0o777, size: 11, target: '/etc/passwd' }, refusal }), { what: 'symlink → /etc/passwd' });
    assert.equal(item.group, 'never');
    const sentence = itemSentence(core, item, false);
    assert.match(sentence, /^symlink → \/etc\/passwd — never applied: a symlink that points outside the workspace \(\/etc\/passwd\)/);
    assert.ok(sentence.includes(`never applied: ${refusal}`));
  });

  test('a file that changed in the task since the review showed it says so, and is not taken', () => {
    const item = reviewItem(fileChange(), { refreshed: true });
    assert.equal(item.taken, false);
    assert.equal(itemSentence(core, item, false), `modified — ${REFRESHED}`);
  });

  test('an edited file says it was edited in the review; notes and conflicts are in the sentence too', () => {
    assert.equal(itemSentence(core, reviewItem(fileChange(), { edited: true }), false), 'modified — edited in the review — taken');
    const noted = fileChange({ notes: ['setuid/setgid/sticky bits are stripped on apply'] });
    assert.equal(itemSentence(core, reviewItem(noted, { conflict: 'changed on the host since the task started' }), false), 'modified — changed on the host since the task started — setuid/setgid/sticky bits are stripped on apply — taken');
  });

  test('in a review of an agent\'s request every file is requested, risky or not; a refused one is still never applied', () => {
    assert.equal(itemSentence(core, reviewItem(fileChange(), { taken: true }), true), 'modified — requested');
    assert.equal(itemSentence(core, reviewItem(fileChange({ risk: ['exec bit is new'] }), { taken: true }), true), 'modified — risky: exec bit is new — requested');
    assert.equal(itemSentence(core, reviewItem(fileChange({ refusal: 'a path under .git/' })), true), 'modified — never applied: a path under .git/');
  });

  test('text from the box cannot forge a line or hide characters in the sentence', () => {
    assert.equal(core.printableLine(HOSTILE), HOSTILE_SHOWN);
    const change = fileChange({ path: `src/${HOSTILE}`, risk: [HOSTILE], notes: [HOSTILE], refusal: HOSTILE });
    const sentence = itemSentence(core, reviewItem(change, { what: HOSTILE, conflict: HOSTILE, edited: true }), false);
    assertOnePrintableLine(sentence);
    assert.equal(sentence, `${HOSTILE_SHOWN} — risky: ${HOSTILE_SHOWN} — never applied: ${HOSTILE_SHOWN} — ${HOSTILE_SHOWN} — ${HOSTILE_SHOWN} — edited in the review`);
    for (const readOnly of [false, true]) {
      for (const item of [reviewItem(fileChange({ risk: [HOSTILE] }), { what: HOSTILE }), reviewItem(fileChange({ notes: [HOSTILE] }), { what: HOSTILE, refreshed: true })]) {
        const shown = itemSentence(core, item, readOnly);
        assertOnePrintableLine(shown);
        assert.ok(shown.includes(HOSTILE_SHOWN), shown);
      }
    }
  });
});

describe('the diff editor title', () => {
  test('a plain change shows the file name and the task, nothing more', () => {
    assert.equal(diffTitle(core, reviewItem(fileChange()), 'shop'), 'app.ts (shop)');
    assert.equal(diffTitle(core, reviewItem(fileChange({ path: 'README.md', status: 'added', before: undefined })), 'shop'), 'README.md (shop)');
    assert.equal(diffTitle(core, reviewItem(fileChange({ path: 'a/b/old.ts', status: 'deleted', after: undefined })), 'shop'), 'old.ts (shop)');
  });

  test('a binary, mode or symlink change shows what it is', () => {
    const binary = fileChange({ path: 'assets/logo.png', binary: true, hunks: 0 });
    assert.equal(diffTitle(core, reviewItem(binary, { what: 'binary, 12 B → 20 B', textual: false }), 'shop'), 'logo.png (shop · binary, 12 B → 20 B)');
    const mode = fileChange({ path: 'bin/run.sh', before: { kind: 'file', mode: 0o755, size: 12, sha256: SHA_A }, hunks: 0 });
    assert.equal(diffTitle(core, reviewItem(mode, { what: 'mode 100755 → 100644' }), 'shop'), 'run.sh (shop · mode 100755 → 100644)');
    const rename = fileChange({ path: 'src/new.ts', status: 'renamed', oldPath: 'src/old.ts' });
    assert.equal(diffTitle(core, reviewItem(rename, { what: 'renamed from src/old.ts', edited: true }), 'shop'), 'new.ts (shop · renamed from src/old.ts · edited)');
  });

  test('a risky change shows its first reason', () => {
    const symlinkRisk = 'symlink (applied only when chosen, and only if it points inside the workspace)';
    const link = fileChange({ path: 'lib/current', status: 'added', before: undefined, after: { kind: 'symlink', mode: 0o777, size: 6, target: '../v2' }, risk: [symlinkRisk, 'second reason'] });
    assert.equal(diffTitle(core, reviewItem(link, { what: 'symlink → ../v2', textual: false }), 'shop'), `current (shop · symlink → ../v2 · risky: ${symlinkRisk})`);
    assert.equal(diffTitle(core, reviewItem(fileChange({ risk: ['exec bit is new', 'second reason'] })), 'shop'), 'app.ts (shop · risky: exec bit is new)');
  });

  test('hostile names stay one printable line', () => {
    const change = fileChange({ path: `src/${HOSTILE}/${HOSTILE}`, risk: [HOSTILE] });
    const title = diffTitle(core, reviewItem(change, { what: HOSTILE }), HOSTILE);
    assertOnePrintableLine(title);
    assert.equal(title, `${HOSTILE_SHOWN} (${HOSTILE_SHOWN} · ${HOSTILE_SHOWN} · risky: ${HOSTILE_SHOWN})`);
  });
});

describe('status letters, choice words and group labels', () => {
  test('each status has the letter VS Code\'s source-control views use', () => {
    const letters = { added: 'A', modified: 'M', deleted: 'D', renamed: 'R', typechange: 'T' } as const;
    for (const [status, letter] of Object.entries(letters)) {
      assert.equal(statusLetter(reviewItem(fileChange({ status: status as FileChange['status'] }))), letter, status);
    }
  });

  test('every state of a file has its words', () => {
    const plain = fileChange();
    const risky = fileChange({ risk: ['exec bit is new'] });
    const refused = fileChange({ refusal: 'a path under .git/' });
    assert.equal(choiceWords(reviewItem(plain), false), 'taken');
    assert.equal(choiceWords(reviewItem(risky), false), 'not chosen');
    assert.equal(choiceWords(reviewItem(plain, { choice: 'accept' }), false), 'accepted');
    assert.equal(choiceWords(reviewItem(risky, { choice: 'accept' }), false), 'accepted (risky)');
    assert.equal(choiceWords(reviewItem(risky, { choice: 'reject' }), false), 'rejected');
    assert.equal(choiceWords(reviewItem(plain, { refreshed: true }), false), REFRESHED);
    assert.equal(choiceWords(reviewItem(refused), false), 'never applied');
    assert.equal(choiceWords(reviewItem(plain, { taken: true }), true), 'requested');
    assert.equal(choiceWords(reviewItem(refused), true), 'never applied');
  });

  test('the four groups, in the order a reviewer meets them', () => {
    assert.deepEqual(Object.entries(GROUP_LABELS), [
      ['conflicts', 'Conflicts'],
      ['risky', 'Risky (each needs your choice)'],
      ['changes', 'Changes'],
      ['never', 'Never applied'],
    ]);
  });
});
