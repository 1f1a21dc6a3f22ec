import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { abbreviations, GEM_COMMANDS, NPM_COMMANDS, resolveSubcommand, resolveSubcommandPattern, type SubcommandTable } from '../../src/core/commands/subcommandNames.js';
import { splitGitCommandLine } from '../../src/core/commands/gitCommandLine.js';

describe('npm abbreviations are read as npm reads them (issue 13 §11: npm pub, npm publ, npm publis)', () => {
  test("abbreviations gives the unique prefixes, as npm's abbrev does", () => {
    // the example from abbrev's README
    assert.deepEqual(Object.fromEntries(abbreviations(['foo', 'fool', 'folding', 'flop'])), { fl: 'flop', flo: 'flop', flop: 'flop', fol: 'folding', fold: 'folding', foldi: 'folding', foldin: 'folding', folding: 'folding', foo: 'foo', fool: 'fool' });
  });

  const rows: Array<[typed: string, commands: string[]]> = [
    ['pub', ['publish']],
    ['publ', ['publish']],
    ['publis', ['publish']],
    ['pu', ['publish']],
    ['unp', ['unpublish']],
    ['dep', ['deprecate']],
    ['dist-tags', ['dist-tag']],
    ['distTag', ['dist-tag']],
    ['install-cl', ['ci']],
    ['insta', ['install']],
    ['x', ['exec']],
    ['exe', ['exec']],
    ['run-script', ['run']],
    ['pa', ['pack']],
    ['prune', ['prune']],
    ['pr', ['prefix', 'profile', 'prune']],
    ['zz', []],
  ];
  for (const [typed, commands] of rows) {
    test(`npm ${typed} runs ${commands.join(' or ') || 'nothing'}`, () => assert.deepEqual(resolveSubcommand(NPM_COMMANDS, typed).sort(), commands));
  }

  test('a pattern in the subcommand place reads as every command a file name it matches would run', () => {
    assert.deepEqual(resolveSubcommandPattern(NPM_COMMANDS, 'p?b'), ['publish']);
    assert.ok(resolveSubcommandPattern(NPM_COMMANDS, 'pub*').includes('publish'));
    assert.deepEqual(resolveSubcommandPattern(NPM_COMMANDS, 'pa*'), ['pack']);
  });

  test("every prefix of every spelling the installed npm knows resolves as that npm's deref does", () => {
    const root = execFileSync('npm', ['root', '-g'], { encoding: 'utf8' }).trim();
    const real = createRequire(path.join(root, 'npm', 'lib', 'x.js'))('./utils/cmd-list.js') as { commands: string[]; aliases: Record<string, string>; deref: (word: string) => string | undefined };
    const table: SubcommandTable = { tool: 'npm', abbreviations: 'npm', camelCase: true, commands: real.commands, aliases: real.aliases };
    const words = new Set(['distTag', 'installTest', 'Publish']);
    for (const spelling of [...real.commands, ...Object.keys(real.aliases)]) for (let length = 1; length <= spelling.length; length++) words.add(spelling.slice(0, length));
    let disagreements = 0;
    for (const word of words) {
      const npm = real.deref(word);
      const ours = resolveSubcommand(table, word);
      // where npm refuses a word as ambiguous, ours names every command it could be in some version
      if (npm === undefined) assert.ok(ours.length !== 1 || ours.every((command) => [...real.commands].includes(command)), word);
      else if (ours.length !== 1 || ours[0] !== npm) disagreements++;
    }
    assert.equal(disagreements, 0);
  });
});

describe('gem subcommands are read as RubyGems reads them', () => {
  const rows: Array<[typed: string, commands: string[]]> = [
    ['pu', ['push']],
    ['PUSH', ['push']],
    ['ya', ['yank']],
    ['i', ['install']],
    ['login', ['signin']],
    ['p', ['pristine', 'push']],
  ];
  for (const [typed, commands] of rows) {
    test(`gem ${typed} runs ${commands.join(' or ')}`, () => assert.deepEqual(resolveSubcommand(GEM_COMMANDS, typed).sort(), commands));
  }
});

describe("git alias values are split as git's split_cmdline splits them", () => {
  const rows: Array<[text: string, words: string[] | undefined]> = [
    ['push', ['push']],
    ['push --force origin', ['push', '--force', 'origin']],
    [`-c x.y=1 push`, ['-c', 'x.y=1', 'push']],
    [`commit -m 'a b'`, ['commit', '-m', 'a b']],
    [`commit -m "a \\"b\\""`, ['commit', '-m', 'a "b"']],
    [`pu\\sh`, ['push']],
    [`push 'open`, undefined],
  ];
  for (const [text, words] of rows) {
    test(JSON.stringify(text), () => assert.deepEqual(splitGitCommandLine(text), words));
  }
});
