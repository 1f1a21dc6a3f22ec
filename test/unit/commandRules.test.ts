import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { matchPattern, parseArgvPattern, PatternError, positionals, strictest, toolName, type PatternMatch, type Positional } from '../../src/core/commands/commandRules.js';
import { commandSettingsSchema } from '../../src/core/commands/commandSettings.js';
import { exact, type Token } from '../../src/core/commands/shellWords.js';

const unknown = (text: string, many = true): Token => ({ kind: 'unknown', text, many });
const glob = (text: string): Token => ({ kind: 'glob', text });
const words = (...texts: string[]) => texts.map(exact);

/** matchPattern on a command written as exact words, the first being the command name. */
function match(pattern: string, ...argv: Array<string | Token>): PatternMatch {
  const [name, ...args] = argv.map((word) => (typeof word === 'string' ? exact(word) : word));
  assert.equal(name.kind, 'exact');
  return matchPattern(parseArgvPattern(pattern), name.text, args);
}

const SURE: PatternMatch = { surely: true, always: true, possibly: true };
const NONE: PatternMatch = { surely: false, always: false, possibly: false };
const MAYBE: PatternMatch = { surely: false, always: false, possibly: true };

describe('parseArgvPattern', () => {
  test('splits words and flags, normalising blanks', () => {
    const pattern = parseArgvPattern('  git   clean  -fd --force ');
    assert.equal(pattern.text, 'git clean -fd --force');
    assert.deepEqual(pattern.wordText, ['git', 'clean']);
    assert.deepEqual(pattern.shortFlags, ['f', 'd']);
    assert.deepEqual(pattern.longFlags, ['--force']);
    assert.equal(pattern.words.length, 2);
  });

  test('words are globs', () => {
    const pattern = parseArgvPattern('npm run publish-*');
    assert.ok(pattern.words[2]('publish-docs'));
    assert.ok(pattern.words[2]('publish-'));
    assert.ok(!pattern.words[2]('publisher'));
  });

  test('a brace in a pattern word is literal, not an alternation', () => {
    const pattern = parseArgvPattern('git {push,pull}');
    assert.ok(!pattern.words[1]('push'));
    assert.ok(pattern.words[1]('{push,pull}'));
  });

  const refused: Array<[string, RegExp]> = [
    ['', /is empty/],
    ['   ', /is empty/],
    ['\t\n', /is empty/],
    ['-f', /starts with an option \("-f"\)/],
    ['--force git push', /starts with an option \("--force"\)/],
    ['- git', /starts with an option/],
    ['git -', /neither -x nor --name/],
    ['git ---x', /neither -x nor --name/],
    ['git --=x', /neither -x nor --name/],
    ['git -f=x', /neither -x nor --name/],
  ];
  for (const [text, message] of refused) {
    test(`refuses ${JSON.stringify(text)}`, () => {
      assert.throws(() => parseArgvPattern(text), (error: unknown) => error instanceof PatternError && message.test(error.message));
    });
  }
});

describe('matchPattern', () => {
  test('git push matches git push with arguments', () => {
    assert.deepEqual(match('git push', 'git', 'push', 'origin', 'main'), SURE);
  });

  test('git push does not match git pushd (argv words, not string prefixes)', () => {
    assert.deepEqual(match('git push', 'git', 'pushd'), NONE);
  });

  test('git push does not match git log --grep push', () => {
    assert.deepEqual(match('git push', 'git', 'log', '--grep', 'push'), NONE);
  });

  test('git push does not match git stash push', () => {
    assert.deepEqual(match('git push', 'git', 'stash', 'push'), NONE);
  });

  test('npm does not match npx, and matches every npm command', () => {
    assert.deepEqual(match('npm', 'npx', 'publish'), NONE);
    assert.deepEqual(match('npm', 'npm', 'publish'), SURE);
  });

  test('the command name is matched by its last path part', () => {
    assert.deepEqual(match('git push', '/usr/bin/git', 'push'), SURE);
    assert.equal(toolName('/usr/local/bin/git'), 'git');
  });

  test('a pattern naming a path matches that path', () => {
    assert.deepEqual(match('/opt/tool/run', '/opt/tool/run'), SURE);
  });

  test('git global options with values are skipped', () => {
    assert.deepEqual(match('git push', 'git', '-C', 'dir', 'push'), SURE);
    assert.deepEqual(match('git push', 'git', '-c', 'push.default=x', 'push'), SURE);
    assert.deepEqual(match('git push', 'git', '--git-dir=.git', 'push'), SURE);
    assert.deepEqual(match('git push', 'git', '--no-pager', 'push'), SURE);
  });

  test('kubectl -n ns apply matches kubectl apply', () => {
    assert.deepEqual(match('kubectl apply', 'kubectl', '-n', 'ns', 'apply', '-f', 'x.yaml'), SURE);
  });

  test('an unknown option read two ways: surely (some reading) but not always', () => {
    // `--mystery` standing alone leaves `x` as the subcommand; taking `x` as its value leaves `push`.
    assert.deepEqual(match('git push', 'git', '--mystery', 'x', 'push'), { surely: true, always: false, possibly: true });
  });

  test('-fdx satisfies -f', () => {
    assert.deepEqual(match('git clean -f', 'git', 'clean', '-fdx'), SURE);
    assert.deepEqual(match('git clean -f', 'git', 'clean', '-xdf'), SURE);
    assert.deepEqual(match('git clean -f', 'git', 'clean', '-d', '-f'), SURE);
  });

  test('a missing flag is no match', () => {
    assert.deepEqual(match('git clean -f', 'git', 'clean', '-n'), NONE);
    assert.deepEqual(match('git clean -f', 'git', 'clean', '--force-with-lease'), NONE);
  });

  test('all the pattern flags are needed', () => {
    assert.deepEqual(match('git branch -d -f', 'git', 'branch', '-d', 'x'), NONE);
    assert.deepEqual(match('git branch -d -f', 'git', 'branch', '-df', 'x'), SURE);
  });

  test('short flags are case-sensitive', () => {
    assert.deepEqual(match('git branch -D', 'git', 'branch', '-d', 'x'), NONE);
    assert.deepEqual(match('git branch -D', 'git', 'branch', '-D', 'x'), SURE);
  });

  test('--prod=x satisfies --prod', () => {
    assert.deepEqual(match('vercel --prod', 'vercel', '--prod=true'), SURE);
    assert.deepEqual(match('vercel --prod', 'vercel', 'deploy', '--prod'), SURE);
    assert.deepEqual(match('vercel --prod', 'vercel', 'deploy', '--production'), NONE);
  });

  test('flags after -- are operands, not flags', () => {
    assert.deepEqual(match('git clean -f', 'git', 'clean', '--', '-f'), NONE);
  });

  test('an unknown subcommand word gives possibly, not surely', () => {
    assert.deepEqual(match('git push', 'git', unknown('$SUB')), MAYBE);
    assert.deepEqual(match('git push', 'git', unknown('"$SUB"', false)), MAYBE);
  });

  test('an unknown word before the subcommand may stand for nothing', () => {
    assert.deepEqual(match('git push', 'git', unknown('$OPTS'), 'push'), MAYBE);
    assert.deepEqual(match('git status', 'git', unknown('$OPTS'), 'status'), MAYBE);
  });

  test('a single unknown word cannot stand for two pattern words', () => {
    assert.deepEqual(match('terraform state rm', 'terraform', unknown('"$A"', false)), NONE);
    assert.deepEqual(match('terraform state rm', 'terraform', unknown('$A')), MAYBE);
  });

  test('an unknown word after the matched words does not weaken the match', () => {
    assert.deepEqual(match('git push', 'git', 'push', unknown('$REMOTE')), SURE);
  });

  test('an unknown word where a flag could be gives possibly', () => {
    assert.deepEqual(match('git clean -f', 'git', 'clean', unknown('$FLAGS')), MAYBE);
  });

  test('a file pattern word gives possibly when it could expand to the subcommand', () => {
    assert.deepEqual(match('git push', 'git', glob('pu*')), MAYBE);
    assert.deepEqual(match('git push', 'git', glob('p?sh')), MAYBE);
    assert.deepEqual(match('git push', 'git', glob('st*')), NONE);
  });

  test('a glob pattern word and a glob argument overlap', () => {
    assert.deepEqual(match('npm run publish-*', 'npm', 'run', glob('publish-[a-z]*')), MAYBE);
    assert.deepEqual(match('npm run publish-*', 'npm', 'run', 'publish-docs'), SURE);
  });

  test('a different command name never matches, whatever its arguments', () => {
    assert.deepEqual(match('git push', 'hg', unknown('$X')), NONE);
  });
});

describe('positionals', () => {
  const cases: Array<[string, string, Token[], boolean, Positional[]]> = [
    ['git skips -C and its value', 'git', words('-C', 'dir', 'push', 'origin'), false, [{ kind: 'word', text: 'push' }, { kind: 'word', text: 'origin' }]],
    ['git skips --opt=value', 'git', words('--work-tree=w', 'status'), false, [{ kind: 'word', text: 'status' }]],
    ['an unknown option stands alone when not cautious', 'git', words('--mystery', 'x', 'push'), false, [{ kind: 'word', text: 'x' }, { kind: 'word', text: 'push' }]],
    ['an unknown option takes the next word when cautious', 'git', words('--mystery', 'x', 'push'), true, [{ kind: 'word', text: 'push' }]],
    ['a known flag never takes the next word', 'git', words('--no-pager', 'push'), true, [{ kind: 'word', text: 'push' }]],
    ['-- ends the options', 'rm', words('-rf', '--', '-x', 'y'), false, [{ kind: 'word', text: '-x' }, { kind: 'word', text: 'y' }]],
    ['an unknown word is any', 'git', [unknown('$A'), unknown('"$B"', false)], false, [{ kind: 'any', many: true }, { kind: 'any', many: false }]],
    ['a file pattern is a pattern', 'rm', [exact('-rf'), glob('*.o')], false, [{ kind: 'pattern', text: '*.o' }]],
    ['kubectl skips -n and its value', 'kubectl', words('-n', 'prod', 'apply', '-f', 'x.yaml'), false, [{ kind: 'word', text: 'apply' }]],
    ['a lone - is an operand', 'cat', words('-'), false, [{ kind: 'word', text: '-' }]],
    ['no arguments, no positionals', 'git', [], true, []],
  ];
  for (const [name, tool, args, cautious, expected] of cases) {
    test(name, () => {
      assert.deepEqual(positionals(tool, args, cautious), expected);
    });
  }
});

describe('strictest', () => {
  test('deny beats ask beats allow', () => {
    assert.equal(strictest(['allow', 'deny', 'ask']), 'deny');
    assert.equal(strictest(['allow', 'ask', 'allow']), 'ask');
    assert.equal(strictest(['allow']), 'allow');
    assert.equal(strictest([]), 'allow');
    assert.equal(strictest([], 'ask'), 'ask');
  });
});

describe('commandSettingsSchema', () => {
  test('defaults', () => {
    assert.deepEqual(commandSettingsSchema.parse({}), { allow: [], ask: [], deny: [], default: 'allow', approvalTimeoutSeconds: 600 });
  });

  test('valid patterns pass through unchanged', () => {
    const settings = commandSettingsSchema.parse({ allow: ['git status'], ask: ['npm run publish-*'], deny: ['curl', 'git clean -f'], default: 'ask' });
    assert.deepEqual(settings.deny, ['curl', 'git clean -f']);
    assert.equal(settings.default, 'ask');
  });

  test('a bad pattern gives an issue whose path names its list and index', () => {
    const result = commandSettingsSchema.safeParse({ deny: ['curl', ''], ask: ['ok', '-f'], allow: ['git ---x'] });
    assert.equal(result.success, false);
    const issues = result.error.issues.map((issue): [string, string] => [issue.path.join('.'), issue.message]);
    assert.deepEqual(
      issues.map(([path]) => path).sort(),
      ['allow.0', 'ask.1', 'deny.1'],
    );
    const byPath = new Map(issues);
    assert.match(byPath.get('deny.1')!, /^"" is empty/);
    assert.match(byPath.get('ask.1')!, /^"-f" starts with an option/);
    assert.match(byPath.get('allow.0')!, /^"git ---x" has an option "---x"/);
  });

  test('deny.0 for a first bad deny pattern', () => {
    const result = commandSettingsSchema.safeParse({ deny: ['--rf'] });
    assert.equal(result.success, false);
    assert.deepEqual(result.error.issues.map((issue) => issue.path), [['deny', 0]]);
  });

  const refused: Array<[string, unknown, string]> = [
    ['an unknown key', { allow: [], extra: true }, ''],
    ['default deny (only allow or ask)', { default: 'deny' }, 'default'],
    ['a pattern that is not a string', { allow: [42] }, 'allow.0'],
    ['a list that is not a list', { ask: 'git push' }, 'ask'],
    ['a zero approval timeout', { approvalTimeoutSeconds: 0 }, 'approvalTimeoutSeconds'],
    ['a fractional approval timeout', { approvalTimeoutSeconds: 1.5 }, 'approvalTimeoutSeconds'],
    ['an approval timeout over a week', { approvalTimeoutSeconds: 7 * 24 * 3600 + 1 }, 'approvalTimeoutSeconds'],
  ];
  for (const [name, input, path] of refused) {
    test(`refuses ${name}`, () => {
      const result = commandSettingsSchema.safeParse(input);
      assert.equal(result.success, false);
      assert.ok(
        result.error.issues.some((issue) => issue.path.join('.') === path),
        `issues at ${result.error.issues.map((issue) => issue.path.join('.') || '(root)').join(', ')}`,
      );
    });
  }
});
