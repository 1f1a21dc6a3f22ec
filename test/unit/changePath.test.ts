import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { actsAsGitFolder, hostEquivalentName, symlinkTargetInside, unsafePathReason } from '../../src/core/changes/changePath.js';

describe('unsafePathReason', () => {
  const refused: Array<[string, string, RegExp]> = [
    ['empty', '', /empty path/],
    ['absolute', '/abs', /absolute path/],
    ['absolute /etc/passwd', '/etc/passwd', /absolute path/],
    ['leading ..', '../x', /"\.\."/],
    ['inner ..', 'a/../b', /"\.\."/],
    ['trailing ..', 'a/..', /"\.\."/],
    ['double slash', 'a//b', /not normalised/],
    ['trailing slash', 'a/', /not normalised/],
    ['leading ./', './a', /not normalised/],
    ['inner /./', 'a/./b', /not normalised/],
    ['backslash', 'a\\b', /backslash/],
    ['backslash traversal', 'a\\..\\..\\x', /backslash/],
    ['drive letter', 'C:x', /drive letter/],
    ['drive letter lower case', 'c:/x', /drive letter/],
    ['NUL byte', 'a\0b', /NUL/],
    ['newline', 'a\nb', /control character/],
    ['escape', 'a\x1b[31mb', /control character/],
    ['DEL', 'a\x7fb', /control character/],
    ['git hooks', '.git/hooks/pre-commit', /\.git/],
    ['.git itself', '.git', /\.git/],
    ['nested .GIT upper case', 'sub/.GIT/config', /\.git/],
    ['.Git mixed case', '.Git/HEAD', /\.git/],
    // Each of these is .git once a Windows or macOS host opens it.
    ['.git. (Win32 drops trailing dots)', '.git./config', /\.git/],
    ['".git  " (Win32 drops trailing spaces)', '.git  /hooks/pre-commit', /\.git/],
    ['.GIT.. nested', 'sub/.GIT../config', /\.git/],
    ['.g\u200cit (HFS+ ignores ZWNJ)', '.g\u200cit/config', /\.git/],
    ['.git\ufeff (HFS+ ignores the BOM)', '.git\ufeff/hooks/post-checkout', /\.git/],
    ['git~1 (the NTFS short name of .git)', 'GIT~1/config', /\.git/],
    ['.git::$INDEX_ALLOCATION (an NTFS stream of the folder)', '.git::$INDEX_ALLOCATION/config', /\.git/],
    ['too long', `${'abcdefgh/'.repeat(456)}x`, /longer than 4096 bytes/],
    ['too long in multi-byte characters', `${'ü'.repeat(200)}/`.repeat(11) + 'x', /longer than 4096 bytes/],
    ['component over 255 bytes', `dir/${'a'.repeat(256)}`, /component is longer than 255 bytes/],
  ];
  for (const [name, rel, reason] of refused) {
    test(`refuses: ${name}`, () => {
      const got = unsafePathReason(rel);
      assert.ok(got !== undefined, `expected ${JSON.stringify(rel)} to be refused`);
      assert.match(got, reason);
    });
  }

  // Look-alikes no file system folds to .git: a Cyrillic і, a zero-width space (HFS+ keeps it), a combining dot.
  const lookAlikes = ['.g\u0456t/config', '.git\u200b/config', '.gi\u0307t/config', 'git~2/config', '.gitx./y'];
  const accepted = ['dir/file.txt', 'a b/ü.txt', 'README.md', '.gitignore', '.github/workflows/ci.yml', 'x.git/y', 'a/.gitx', '...', 'a/..b/c', `dir/${'a'.repeat(255)}`, `${'abcdefgh/'.repeat(454)}abc`, ...lookAlikes];
  for (const rel of accepted) {
    test(`accepts ${JSON.stringify(rel.length > 40 ? `${rel.slice(0, 20)}…(${Buffer.byteLength(rel)} bytes)` : rel)}`, () => {
      assert.equal(unsafePathReason(rel), undefined);
    });
  }

  test('the limit is exactly 4096 bytes', () => {
    const exactly = `${'a'.repeat(200)}/`.repeat(20) + 'a'.repeat(76);
    assert.equal(Buffer.byteLength(exactly), 4096);
    assert.equal(unsafePathReason(exactly), undefined);
    assert.match(unsafePathReason(`${exactly}a`) ?? '', /4096/);
  });
});

describe('symlinkTargetInside', () => {
  const cases: Array<[string, string, string | undefined]> = [
    ['docs/link', '../README.md', 'README.md'],
    ['link', 'README.md', 'README.md'],
    ['a/b/link', '../c/./d', 'a/c/d'],
    ['a/b/link', 'x//y', 'a/b/x/y'],
    ['a/link', '..', ''],
    ['a/link', '../../etc', undefined],
    ['link', '../outside', undefined],
    ['a/link', '/etc/passwd', undefined],
    ['link', 'x/../../y', undefined],
    ['a/b/link', 'x/../../../y', 'y'],
    ['a/b/link', 'x/../../../../y', undefined],
    ['a/b/link', '../../../y/../a', undefined],
    ['link', '.git/hooks/pre-commit', undefined],
    ['link', '.GIT/config', undefined],
    ['sub/link', '../.git', undefined],
    ['sub/link', '../x/.git/y', undefined],
    ['link', '', undefined],
    ['link', 'a\0b', undefined],
    ['link', 'C:\\Windows', undefined],
    ['link', 'a\\..\\..\\x', undefined],
    ['link', '.git./hooks', undefined],
    ['sub/link', '../.G\u200cIT/config', undefined],
  ];
  for (const [link, target, expected] of cases) {
    test(`${link} → ${JSON.stringify(target)} lands at ${expected === undefined ? 'nowhere (outside)' : JSON.stringify(expected)}`, () => {
      assert.equal(symlinkTargetInside(link, target), expected);
    });
  }
});

describe('hostEquivalentName', () => {
  const cases: Array<[string, string]> = [
    ['.vscode', '.vscode'],
    ['.vscode.', '.vscode'],
    ['Makefile . .', 'Makefile'],
    ['.vs\u200dcode', '.vscode'],
    ['\u202etasks.json', 'tasks.json'],
    ['file.txt:stream', 'file.txt'],
    ['.git \ufeff', '.git'],
    // Kept: HFS+ compares these, and NFC and NFD spellings stay as they are (no host folds them into ASCII).
    ['.git\u200b', '.git\u200b'],
    ['.gi\u0307t', '.gi\u0307t'],
  ];
  for (const [name, expected] of cases) {
    test(`${JSON.stringify(name)} opens as ${JSON.stringify(expected)}`, () => assert.equal(hostEquivalentName(name), expected));
  }

  test('actsAsGitFolder is exactly the .git spellings', () => {
    assert.deepEqual(
      ['.git', '.GIT', '.Git.', '.g\u200cit', 'git~1', 'Git~1 ', '.git:x', '.gitignore', '.g\u0456t', 'git~2', 'git'].map(actsAsGitFolder),
      [true, true, true, true, true, true, true, false, false, false, false],
    );
  });
});
