import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { applyChanges } from '../../src/core/changes/applyChanges.js';
import { formatPatch, filePatch, printable, printableLine } from '../../src/core/changes/textDiff.js';
import { changeSetFor, fakeBase, hostWorkspace } from '../helpers/fakeChangeSet.js';
import { makeTempDir, removeTempDirs } from '../helpers/tempWorkspace.js';

after(removeTempDirs);

test('text from the sandbox cannot drive the reviewer\'s terminal', () => {
  assert.equal(printable('a\x1b[2K\x1b[1Ab'), 'a^[[2K^[[1Ab');
  // A mid-line carriage return would overprint the start of the line; a CRLF ending stays as it is.
  assert.equal(printable('evil();\rgood();'), 'evil();^Mgood();');
  assert.equal(printable('crlf line\r'), 'crlf line\r');
  assert.equal(printable('bell\x07 nul\x00 del\x7f'), 'bell^G nul^@ del^?');
  assert.equal(printable('tabs\tstay'), 'tabs\tstay');
  // Trojan Source: bidirectional overrides are shown, not obeyed.
  assert.equal(printable('if (admin) {\u202e } \u2066'), 'if (admin) {<U+202E> } <U+2066>');
  const text = formatPatch(filePatch('a.txt', 'a.txt', 'one\n', 'one\nhidden\x1b[1A\x1b[2K\n'));
  assert.ok(!text.includes('\x1b'));
  assert.match(text, /\+hidden\^\[\[1A\^\[\[2K/);
});

test('a container symlink whose target crosses a host symlink is refused', () => {
  const fixture = fakeBase({ 'README.md': { content: 'r\n' } });
  const changeSet = changeSetFor(fixture, { 'README.md': { content: 'r\n' }, link: { symlink: 'out/passwd' } });
  const root = hostWorkspace(fixture);
  const outside = makeTempDir('airlock-outside-');
  fs.symlinkSync(outside, path.join(root, 'out'));
  const report = applyChanges({ root, changeSet, content: fixture.content, blobs: fixture.blobs, journal: fixture.journal }, { allowRisky: ['link'] });
  assert.deepEqual(report.written, []);
  assert.match(report.refused.find((entry) => entry.path === 'link')?.reason ?? '', /goes through out, which is a symlink on the host/);
  assert.equal(fs.existsSync(path.join(root, 'link')), false);
});

test('a file name with a newline cannot forge the diff headers a reviewer reads', () => {
  const forged = 'notes.txt\n+++ b/harmless.txt';
  const out = formatPatch(filePatch(forged, forged, 'a\n', 'b\n'), [`diff --airlock a/${forged} b/${forged}`].map(printableLine));
  const lines = out.split('\n');
  assert.equal(lines.filter((line) => line.startsWith('+++ ')).length, 1);
  assert.ok(lines.every((line) => !line.startsWith('+++ b/harmless')));
  assert.match(out, /notes\.txt\\n\+\+\+ b\/harmless\.txt/);
});
