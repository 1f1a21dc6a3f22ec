import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { applySelectedHunks, diffableText, filePatch, formatPatch, isBinary, TEXT_DIFF_LIMIT } from '../../src/core/changes/textDiff.js';
import { mergeThreeWay } from '../../src/core/changes/threeWayMerge.js';

/** `count` lines "line 1".."line N", each ending with `eol` (the last one too unless `finalEol` is false). */
function numbered(count: number, eol = '\n', finalEol = true): string[] {
  return Array.from({ length: count }, (_, index) => `line ${index + 1}`).map((line, index) => (index < count - 1 || finalEol ? line + eol : line));
}
const edit = (lines: string[], changes: Record<number, string>) => lines.map((line, index) => changes[index + 1] ?? line).join('');

describe('isBinary', () => {
  test('a NUL byte makes content binary', () => {
    assert.equal(isBinary(Buffer.from('text\0more')), true);
  });
  test('invalid UTF-8 is binary', () => {
    assert.equal(isBinary(Buffer.from([0x68, 0x69, 0xff, 0xfe])), true);
    assert.equal(isBinary(Buffer.from([0xc3])), true, 'a truncated multi-byte sequence');
  });
  test('UTF-8 text with emoji and accents is text', () => {
    assert.equal(isBinary(Buffer.from('héllo 👋 wörld\n中文\n')), false);
  });
  test('empty content is text', () => {
    assert.equal(isBinary(Buffer.alloc(0)), false);
  });
  test('a NUL after the first 8000 bytes alone does not count (git rule), but the bytes must still be UTF-8', () => {
    const late = Buffer.concat([Buffer.alloc(8000, 0x61), Buffer.from([0])]);
    assert.equal(isBinary(late), false);
  });
  test('diffableText: undefined for binary, the text otherwise, empty string for a missing side', () => {
    assert.equal(diffableText(Buffer.from([0, 1, 2])), undefined);
    assert.equal(diffableText(Buffer.from('ü\n')), 'ü\n');
    assert.equal(diffableText(undefined), '');
    assert.equal(diffableText(Buffer.alloc(TEXT_DIFF_LIMIT + 1, 0x61)), undefined);
  });
});

describe('filePatch and applySelectedHunks', () => {
  const base = numbered(40);
  const before = base.join('');
  const after = edit(base, { 5: 'line 5 changed\n', 30: 'line 30 changed\n' });
  const patch = filePatch('f.txt', 'f.txt', before, after);

  test('two separated edits in a 40-line file are two hunks', () => {
    assert.equal(patch.hunks.length, 2);
    assert.equal(patch.oldFileName, 'a/f.txt');
    assert.equal(patch.newFileName, 'b/f.txt');
    assert.deepEqual(
      patch.hunks.map((hunk) => [hunk.oldStart, hunk.oldLines]),
      [
        [2, 7],
        [27, 7],
      ],
    );
  });

  test('two edits within the context distance are one hunk', () => {
    assert.equal(filePatch('f', 'f', before, edit(base, { 5: 'x\n', 12: 'y\n' })).hunks.length, 1);
    assert.equal(filePatch('f', 'f', before, edit(base, { 5: 'x\n', 13: 'y\n' })).hunks.length, 2);
  });

  test('identical texts have no hunks', () => {
    assert.equal(filePatch('f', 'f', before, before).hunks.length, 0);
  });

  test('hunk 1 only', () => {
    assert.equal(applySelectedHunks(before, patch, [1]), edit(base, { 5: 'line 5 changed\n' }));
  });
  test('hunk 2 only', () => {
    assert.equal(applySelectedHunks(before, patch, [2]), edit(base, { 30: 'line 30 changed\n' }));
  });
  test('hunks 1 and 2 give the new text', () => {
    assert.equal(applySelectedHunks(before, patch, [1, 2]), after);
    assert.equal(applySelectedHunks(before, patch, [2, 1]), after);
  });
  test('no hunks give the base text', () => {
    assert.equal(applySelectedHunks(before, patch, []), before);
  });

  test('hunk 2 alone after a hunk 1 that changed the line count', () => {
    const grown = base.slice(0, 4).join('') + 'inserted a\ninserted b\ninserted c\n' + base.slice(4, 29).join('') + 'line 30 changed\n' + base.slice(30).join('');
    const p = filePatch('f', 'f', before, grown);
    assert.equal(p.hunks.length, 2);
    assert.equal(applySelectedHunks(before, p, [2]), edit(base, { 30: 'line 30 changed\n' }));
    assert.equal(applySelectedHunks(before, p, [1]), base.slice(0, 4).join('') + 'inserted a\ninserted b\ninserted c\n' + base.slice(4).join(''));
  });

  test('an out-of-range hunk is a RangeError', () => {
    assert.throws(() => applySelectedHunks(before, patch, [3]), RangeError);
    assert.throws(() => applySelectedHunks(before, patch, [0]), RangeError);
    assert.throws(() => applySelectedHunks(before, patch, [1.5]), RangeError);
    assert.throws(() => applySelectedHunks(before, patch, [-1]), /hunk -1 does not exist \(this file has 2\)/);
  });

  test('CRLF files keep CRLF bytes exactly', () => {
    const crlf = numbered(40, '\r\n');
    const crlfBefore = crlf.join('');
    const crlfAfter = edit(crlf, { 5: 'line 5 changed\r\n', 30: 'line 30 changed\r\n' });
    const p = filePatch('w.txt', 'w.txt', crlfBefore, crlfAfter);
    assert.equal(p.hunks.length, 2);
    const both = applySelectedHunks(crlfBefore, p, [1, 2]);
    assert.deepEqual(Buffer.from(both), Buffer.from(crlfAfter));
    const second = applySelectedHunks(crlfBefore, p, [2]);
    assert.deepEqual(Buffer.from(second), Buffer.from(edit(crlf, { 30: 'line 30 changed\r\n' })));
    assert.equal(second.split('\r\n').length, 41, 'every line still ends in CRLF');
    assert.ok(!/[^\r]\n/.test(second), 'no bare LF crept in');
  });

  test('a file without a trailing newline', () => {
    const lines = numbered(40, '\n', false);
    const noEol = lines.join('');
    assert.ok(!noEol.endsWith('\n'));
    const changedEnd = edit(lines, { 3: 'line 3 changed\n', 40: 'line 40 changed' });
    const p = filePatch('f', 'f', noEol, changedEnd);
    assert.equal(p.hunks.length, 2);
    assert.equal(applySelectedHunks(noEol, p, [1, 2]), changedEnd);
    assert.equal(applySelectedHunks(noEol, p, [2]), edit(lines, { 40: 'line 40 changed' }));
    assert.equal(applySelectedHunks(noEol, p, [1]), edit(lines, { 3: 'line 3 changed\n' }));
  });

  test('adding the missing final newline', () => {
    const lines = numbered(10, '\n', false);
    const noEol = lines.join('');
    const p = filePatch('f', 'f', noEol, `${noEol}\n`);
    assert.equal(p.hunks.length, 1);
    assert.equal(applySelectedHunks(noEol, p, [1]), `${noEol}\n`);
  });

  test('formatPatch tags each hunk with its number', () => {
    const text = formatPatch(patch, ['diff --git a/f.txt b/f.txt']);
    assert.equal(text.split('\n')[0], 'diff --git a/f.txt b/f.txt');
    assert.match(text, /^--- a\/f\.txt\n\+\+\+ b\/f\.txt$/m);
    assert.match(text, /^@@ -2,7 \+2,7 @@ hunk 1$/m);
    assert.match(text, /^@@ -27,7 \+27,7 @@ hunk 2$/m);
    assert.match(text, /^-line 30\n\+line 30 changed$/m);
  });
});

describe('formatPatch and hostile text', () => {
  test('an 8-bit CSI, a title sequence and a zero-width space in a changed line or a file name are shown escaped', () => {
    const name = 'n\u009b2J\u200b.txt';
    const text = formatPatch(filePatch(name, name, 'one\n', 'one\nhidden\u009b1A\x1b]0;pwned\x07\u200b\n'));
    assert.ok(!/[\x1b\x07\u009b\u200b]/.test(text), JSON.stringify(text));
    assert.match(text, /^\+hidden<U\+009B>1A\^\[\]0;pwned\^G<U\+200B>$/m);
    assert.match(text, /^\+\+\+ b\/n<U\+009B>2J<U\+200B>\.txt$/m);
  });
});

describe('mergeThreeWay', () => {
  const base = numbered(20);
  const baseText = base.join('');

  test('non-overlapping edits merge cleanly', () => {
    const host = edit(base, { 2: 'host line 2\n' });
    const container = edit(base, { 15: 'container line 15\n' });
    assert.deepEqual(mergeThreeWay(baseText, host, container), { clean: true, text: edit(base, { 2: 'host line 2\n', 15: 'container line 15\n' }) });
  });

  test('insertions on both sides in different places merge cleanly', () => {
    const host = 'header\n' + baseText;
    const container = baseText + 'footer\n';
    assert.deepEqual(mergeThreeWay(baseText, host, container), { clean: true, text: `header\n${baseText}footer\n` });
  });

  test('overlapping edits are one conflict', () => {
    assert.deepEqual(mergeThreeWay(baseText, edit(base, { 10: 'host\n' }), edit(base, { 10: 'container\n' })), { clean: false, conflicts: 1 });
  });

  test('two overlapping regions are two conflicts', () => {
    const host = edit(base, { 3: 'h3\n', 17: 'h17\n' });
    const container = edit(base, { 3: 'c3\n', 17: 'c17\n' });
    assert.deepEqual(mergeThreeWay(baseText, host, container), { clean: false, conflicts: 2 });
  });

  test('identical edits on both sides are clean', () => {
    const both = edit(base, { 7: 'same edit\n' });
    assert.deepEqual(mergeThreeWay(baseText, both, both), { clean: true, text: both });
  });

  test('only one side changed gives that side', () => {
    const container = edit(base, { 1: 'first\n' });
    assert.deepEqual(mergeThreeWay(baseText, baseText, container), { clean: true, text: container });
    assert.deepEqual(mergeThreeWay(baseText, container, baseText), { clean: true, text: container });
  });

  test('CRLF files merge back byte for byte', () => {
    const crlf = numbered(20, '\r\n');
    const merged = mergeThreeWay(crlf.join(''), edit(crlf, { 2: 'h\r\n' }), edit(crlf, { 18: 'c\r\n' }));
    assert.deepEqual(merged, { clean: true, text: edit(crlf, { 2: 'h\r\n', 18: 'c\r\n' }) });
  });

  test('a file without a trailing newline merges and stays without one', () => {
    const lines = numbered(20, '\n', false);
    const merged = mergeThreeWay(lines.join(''), edit(lines, { 1: 'h\n' }), edit(lines, { 20: 'line 20 changed' }));
    assert.deepEqual(merged, { clean: true, text: edit(lines, { 1: 'h\n', 20: 'line 20 changed' }) });
  });
});
