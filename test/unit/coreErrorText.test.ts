import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cliFlags, cliWords, cliWordsInText } from '../helpers/frontEndWords.js';

/**
 * The core's errors are read in every front end, so their text names no CLI command, no CLI flag
 * and no VS Code command: a front end that has such words puts them in itself (src/cli/errorHints.ts),
 * from the error's code and actions. This reads the text of every error the core builds (the
 * arguments of `new AirlockError(` and its subclasses, their `super(` calls, and every `hint`
 * property or default) and fails on such words, listing each by file and line. The core's other
 * text (warnings, reasons, request details, schema descriptions) reaches front ends too: no string
 * in src/core names a CLI command or one of the CLI's own flags.
 */

const CORE = path.resolve(process.cwd(), 'src/core');

/** Genuine uses of another tool's words that the detectors cannot tell from the CLI's: each is taken out of its text before the check. */
const ALLOWED: readonly { file: string; text: string; why: string }[] = [
  { file: 'src/core/snapshot/gitMetadata.ts', text: 'clone without --filter', why: "git clone's own option, in advice about the repository" },
];

interface Token {
  kind: 'string' | 'punct' | 'word' | 'other';
  text: string;
  start: number;
}

/**
 * A small TypeScript tokenizer: enough to find calls, balance brackets, and read string and
 * template text (a template's literal parts, with its `${…}` expressions tokenized in turn).
 * Comments are skipped; a `/` that cannot end an expression starts a regular expression.
 */
function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let at = 0;
  // Open template literals: the brace depth inside the current `${` at which the template resumes.
  const templates: { depth: number }[] = [];
  let depth = 0;
  const regexMayStart = () => {
    const last = tokens.at(-1);
    if (!last) return true;
    if (last.kind === 'punct') return !(last.text === ')' || last.text === ']' || last.text === '}');
    return last.kind === 'word' && /^(?:return|typeof|case|in|of|new|delete|void|throw|yield|await)$/.test(last.text);
  };
  const readTemplate = (start: number, text: string) => {
    // Reads literal text up to the closing backtick or the next `${`.
    while (at < source.length) {
      const char = source[at];
      if (char === '\\') { text += source.slice(at, at + 2); at += 2; continue; }
      if (char === '`') { at++; tokens.push({ kind: 'string', text, start }); return; }
      if (char === '$' && source[at + 1] === '{') {
        at += 2;
        tokens.push({ kind: 'string', text: text + '${…}', start });
        templates.push({ depth });
        depth++;
        return;
      }
      text += char;
      at++;
    }
  };
  while (at < source.length) {
    const char = source[at];
    if (/\s/.test(char)) { at++; continue; }
    if (source.startsWith('//', at)) { const end = source.indexOf('\n', at); at = end < 0 ? source.length : end; continue; }
    if (source.startsWith('/*', at)) { const end = source.indexOf('*/', at + 2); at = end < 0 ? source.length : end + 2; continue; }
    const start = at;
    if (char === '"' || char === "'") {
      at++;
      let text = '';
      while (at < source.length && source[at] !== char) {
        if (source[at] === '\\') { text += source.slice(at, at + 2); at += 2; } else text += source[at++];
      }
      at++;
      tokens.push({ kind: 'string', text, start });
      continue;
    }
    if (char === '`') { at++; readTemplate(start, ''); continue; }
    if (char === '}' && templates.length && templates.at(-1)!.depth === depth - 1) {
      depth--;
      templates.pop();
      at++;
      readTemplate(start, '…');
      continue;
    }
    if (char === '/' && regexMayStart()) {
      at++;
      let inClass = false;
      while (at < source.length && (inClass || source[at] !== '/')) {
        if (source[at] === '\\') at++;
        else if (source[at] === '[') inClass = true;
        else if (source[at] === ']') inClass = false;
        at++;
      }
      at++;
      while (/[a-z]/.test(source[at] ?? '')) at++;
      tokens.push({ kind: 'other', text: source.slice(start, at), start });
      continue;
    }
    if (/[\w$]/.test(char)) {
      while (at < source.length && /[\w$]/.test(source[at])) at++;
      tokens.push({ kind: 'word', text: source.slice(start, at), start });
      continue;
    }
    if ('([{'.includes(char)) depth++;
    if (')]}'.includes(char)) depth--;
    at++;
    tokens.push({ kind: 'punct', text: char, start });
  }
  return tokens;
}

/** The index just past the bracket that closes the one at `open`. */
function closing(tokens: Token[], open: number): number {
  let depth = 0;
  for (let index = open; index < tokens.length; index++) {
    const text = tokens[index].kind === 'punct' ? tokens[index].text : '';
    if ('([{'.includes(text) && text) depth++;
    if (')]}'.includes(text) && text && --depth === 0) return index + 1;
  }
  return tokens.length;
}

/** The index of the end of the expression starting at `from`: the first `,` `)` `}` `]` or `;` at its own depth. */
function expressionEnd(tokens: Token[], from: number): number {
  let depth = 0;
  for (let index = from; index < tokens.length; index++) {
    const text = tokens[index].kind === 'punct' ? tokens[index].text : '';
    if (text && '([{'.includes(text)) depth++;
    else if (text && ')]}'.includes(text)) { if (depth === 0) return index; depth--; }
    else if ((text === ',' || text === ';') && depth === 0) return index;
  }
  return tokens.length;
}

interface ErrorText {
  file: string;
  line: number;
  text: string;
}

/** Names of the core's error classes: AirlockError and every class that extends one of them. */
function errorClasses(sources: Map<string, string>): Set<string> {
  const names = new Set(['AirlockError']);
  for (let grew = true; grew;) {
    grew = false;
    for (const source of sources.values()) {
      for (const [, name, base] of source.matchAll(/\bclass\s+(\w+)\s+extends\s+(\w+)/g)) {
        if (names.has(base) && !names.has(name)) { names.add(name); grew = true; }
      }
    }
  }
  return names;
}

/** Every piece of string or template text in the core's error messages, fields and hints. */
function errorTexts(file: string, source: string, classes: Set<string>): ErrorText[] {
  const tokens = tokenize(source);
  const ranges: [number, number][] = [];
  let errorClassBody: [number, number] | undefined;
  for (let index = 0; index < tokens.length; index++) {
    const token = tokens[index];
    const next = tokens[index + 1];
    if (token.text === 'new' && next && classes.has(next.text) && tokens[index + 2]?.text === '(') ranges.push([index + 2, closing(tokens, index + 2)]);
    if (token.text === 'class' && tokens[index + 2]?.text === 'extends' && classes.has(tokens[index + 3]?.text ?? '')) {
      const open = tokens.findIndex((candidate, at) => at > index && candidate.text === '{');
      errorClassBody = [open, closing(tokens, open)];
    }
    // A subclass's own words: its super(…) call and its constructor's parameter defaults.
    if (errorClassBody && index > errorClassBody[0] && index < errorClassBody[1]) {
      if (token.text === 'super' && next?.text === '(') ranges.push([index + 1, closing(tokens, index + 1)]);
    }
    if (token.kind === 'word' && /^hint$/i.test(token.text) && (next?.text === ':' || next?.text === '=') && tokens[index + 2]?.text !== '=' && tokens[index - 1]?.text !== '.') {
      // In a type (`hint: string`) the range holds no text, so only values are read.
      ranges.push([index + 2, expressionEnd(tokens, index + 2)]);
    }
  }
  const seen = new Set<number>();
  const texts: ErrorText[] = [];
  for (const [from, to] of ranges) {
    for (let index = from; index < to; index++) {
      const token = tokens[index];
      if (token.kind !== 'string' || seen.has(token.start)) continue;
      seen.add(token.start);
      texts.push({ file, line: source.slice(0, token.start).split('\n').length, text: token.text });
    }
  }
  return texts;
}

/**
 * `new AirlockError(…)` calls without a code of their own: the old form (a hint string, or nothing,
 * after the message) or details without `code`. Details passed as a variable are taken as coded.
 */
function uncodedErrors(file: string, source: string): string[] {
  const tokens = tokenize(source);
  const found: string[] = [];
  for (let index = 0; index < tokens.length; index++) {
    if (tokens[index].text !== 'new' || tokens[index + 1]?.text !== 'AirlockError' || tokens[index + 2]?.text !== '(') continue;
    const end = closing(tokens, index + 2) - 1;
    const messageEnd = expressionEnd(tokens, index + 3);
    const details = tokens[messageEnd]?.text === ',' && messageEnd < end ? tokens.slice(messageEnd + 1, expressionEnd(tokens, messageEnd + 1)) : [];
    const first = details[0];
    const coded = first !== undefined && first.kind !== 'string' && first.text !== 'undefined'
      && (first.text !== '{' || details.some((token, at) => token.text === 'code' && [':', ',', '}'].includes(details[at + 1]?.text ?? '')));
    if (!coded) found.push(`${file}:${source.slice(0, tokens[index].start).split('\n').length}`);
  }
  return found;
}

function coreSources(): Map<string, string> {
  const files = fs.readdirSync(CORE, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => path.join(entry.parentPath ?? entry.path, entry.name));
  return new Map(files.map((file) => [path.relative(process.cwd(), file), fs.readFileSync(file, 'utf8')]));
}

describe("the core's error text", () => {
  test('the detector finds CLI commands, CLI flags and VS Code ids, and lets other tools and plain words pass', () => {
    for (const text of ['Run `airlock ls` to see tasks.', 'Accept the repository policy (airlock policy accept) first.', 'Pass --allow-root if you really need root.', '--change-set: "x" is not a change set id', 'Repair it (git fsck) or start with --git-depth 1.', 'Run airlock.acceptPolicy.']) {
      assert.ok(cliWords(text), text);
    }
    for (const text of ['Repair the repository (git fetch --unshallow) and try again.', 'Set your name and email for commits: git config --global user.name …', 'Start Docker (`sudo systemctl start docker`), or set DOCKER_HOST.', 'Fix .airlock.json and try again.', 'Airlock keeps this per task.', 'Give more characters of the id.']) {
      assert.equal(cliWords(text), undefined, text);
    }
  });

  test('the reader finds the text of errors, subclasses and hints, across templates, and nothing else', () => {
    const source = [
      'class Sub extends AirlockError { constructor(hint = `Use --one.`) { super(`x ${y} --two`, hint); } }',
      'throw new Sub(`a ${f(`--three`)} b`, { code: \'a.b\', hint: /x/.test(s) ? \'--four\' : "ok" });',
      'const other = run(["--not-error"]); const note = { reason: "--not-hint" };',
      'interface X { hint: string; }',
    ].join('\n');
    const found = errorTexts('probe.ts', source, errorClasses(new Map([['probe.ts', source]]))).map((item) => item.text);
    for (const text of ['Use --one.', 'x ${…}', '… --two', '--three', '--four', 'ok']) assert.ok(found.includes(text), `${text} in ${JSON.stringify(found)}`);
    assert.ok(!found.some((text) => text.includes('--not-')), JSON.stringify(found));
  });

  test('the code reader tells coded errors from uncoded ones', () => {
    const source = [
      "new AirlockError('a');",
      "new AirlockError('b', 'hint', 'field');",
      "new AirlockError(`c ${x}`, undefined, 'field');",
      "new AirlockError('d', { hint: 'h', field: 'f' });",
      "new AirlockError('e', { code: 'x.y', hint: f(a, b) });",
      "new AirlockError('f', { code, hint });",
      "new AirlockError('g', details);",
    ].join('\n');
    assert.deepEqual(uncodedErrors('probe.ts', source), ['probe.ts:1', 'probe.ts:2', 'probe.ts:3', 'probe.ts:4']);
  });

  test('every AirlockError built in src/core has a code of its own', () => {
    const uncoded = [...coreSources()].flatMap(([file, source]) => uncodedErrors(file, source));
    assert.deepEqual(uncoded, [], `AirlockErrors in src/core without a code (they read as 'airlock.error'; give each \`{ code: 'area.what', hint, field, actions }\`):\n${uncoded.join('\n')}`);
  });

  test('no error message, field or hint in src/core names a CLI command, a CLI flag or a VS Code command', () => {
    const sources = coreSources();
    assert.ok(sources.size >= 20, `expected the core sources, found ${sources.size}`);
    const classes = errorClasses(sources);
    assert.ok(['SourceFileError', 'UntrustedFileError', 'CommandRefused', 'TransactionFailed', 'StoreFull'].every((name) => classes.has(name)), [...classes].join(', '));
    const offenders = [...sources].flatMap(([file, source]) => errorTexts(file, source, classes))
      .map((item) => ({ ...item, why: cliWords(ALLOWED.filter((allowed) => allowed.file === item.file).reduce((text, allowed) => text.replace(allowed.text, ''), item.text)) }))
      .filter((item) => item.why)
      .map((item) => `${item.file}:${item.line}: ${item.why}: ${JSON.stringify(item.text.length > 100 ? `${item.text.slice(0, 100)}…` : item.text)}`)
      .filter((line, index, all) => all.indexOf(line) === index);
    assert.deepEqual(offenders, [], `error text in src/core with front-end words (say it neutrally, and put a typed action on the error; the CLI words it in src/cli/errorHints.ts):\n${offenders.join('\n')}`);
  });

  test("the text detector finds the CLI's commands and flags in any string, and lets other tools' arguments pass", () => {
    const flags = cliFlags();
    assert.ok(['--allow-risky', '--max-file-size', '--allow-cidr', '--change-set', '--branch'].every((flag) => flags.has(flag)), [...flags].join(' '));
    for (const text of ['risky: x (choose it with --allow-risky x)', 'over the limit (raise it with --max-file-size)', 'ignored until you accept it (airlock policy accept):', 'push from the host with `airlock push`', 'A user setting or --image takes precedence.']) {
      assert.ok(cliWordsInText(text, flags), text);
    }
    for (const text of ['--branch', '--user', 'git clean --force', 'git branch --delete --force', 'clone without --filter', 'only a CIDR rule (allowCidr) admits it', 'airlock: warning']) {
      assert.equal(cliWordsInText(text, flags), undefined, text);
    }
  });

  test("no string in src/core names a CLI command or one of the CLI's flags", () => {
    const flags = cliFlags();
    const offenders = [...coreSources()].flatMap(([file, source]) => tokenize(source)
      .filter((token) => token.kind === 'string')
      .map((token) => ({ line: source.slice(0, token.start).split('\n').length, text: token.text, why: cliWordsInText(ALLOWED.filter((allowed) => allowed.file === file).reduce((text, allowed) => text.replace(allowed.text, ''), token.text), flags) }))
      .filter((item) => item.why)
      .map((item) => `${file}:${item.line}: ${item.why}: ${JSON.stringify(item.text.length > 100 ? `${item.text.slice(0, 100)}…` : item.text)}`));
    assert.deepEqual(offenders, [], `strings in src/core with the CLI's words (say it neutrally, give the front end the data, and let the CLI word it, e.g. in src/cli/errorHints.ts):\n${offenders.join('\n')}`);
  });
});
