import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AirlockError, describeError } from '../../src/core/ground/errors.js';
import { hasUnsafeText, printable, printableJson, printableJsonText, printableLine, printableLines, printableStream } from '../../src/core/ground/printable.js';
import { printableLine as textDiffPrintableLine, printable as textDiffPrintable } from '../../src/core/changes/textDiff.js';
import { formatNetworkLog } from '../../src/core/egress/networkLog.js';
import { formatRequest } from '../../src/cli/approvalCommands.js';
import { formatTaskTable } from '../../src/cli/taskTable.js';
import type { ApprovalRequest, TaskRecord } from '../../src/core/index.js';

/** What a terminal obeys or hides: controls, format characters, separators, lone surrogates. */
const OBEYED = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u;

/** Output is clean when nothing in it but its own line breaks is a control or format character. */
function assertClean(text: string, what = 'output'): void {
  const found = [...text].find((char) => char !== '\n' && OBEYED.test(char));
  assert.equal(found, undefined, `${what} carries U+${found?.codePointAt(0)?.toString(16).padStart(4, '0')}: ${JSON.stringify(text)}`);
  for (const char of ['\x1b', '\x07', '\u009b']) assert.ok(!text.includes(char), `${what} carries ${JSON.stringify(char)}`);
}

const TITLE = '\x1b]0;pwned\x07';

describe('printableLine: one line of a terminal', () => {
  test('a terminal title sequence (OSC … BEL) and a newline in a file name become one visible line', () => {
    const shown = printableLine(`.env.${TITLE}\nairlock: nothing was left out`);
    assert.equal(shown, '.env.^[]0;pwned^G\\nairlock: nothing was left out');
    assertClean(shown);
  });

  test('the 8-bit CSI U+009B and every other C1 control are escaped (the 7-bit ESC [ form too)', () => {
    assert.equal(printableLine('\u009b2J\x1b[2J'), '<U+009B>2J^[[2J');
    assert.equal(printableLine('next\u0085line'), 'next<U+0085>line', 'NEL is a line break to some terminals');
    for (let code = 0x80; code <= 0x9f; code++) assert.equal(printableLine(String.fromCharCode(code)), `<U+00${code.toString(16).toUpperCase()}>`);
  });

  test('carriage return, tab and DEL cannot overprint or hide text', () => {
    assert.equal(printableLine('evil\rgood\tx\x7f'), 'evil\\rgood\\tx^?');
  });

  test('bidi overrides and isolates, zero-width characters, the BOM, separators and tag characters are shown, not obeyed', () => {
    const cases: Array<[string, string]> = [
      ['\u202a\u202b\u202c\u202d\u202e', '<U+202A><U+202B><U+202C><U+202D><U+202E>'],
      ['\u2066\u2067\u2068\u2069', '<U+2066><U+2067><U+2068><U+2069>'],
      ['\u200b\u200c\u200d\u200e\u200f', '<U+200B><U+200C><U+200D><U+200E><U+200F>'],
      ['\ufeff\u061c\u2060\u00ad', '<U+FEFF><U+061C><U+2060><U+00AD>'],
      ['a\u2028b\u2029c', 'a<U+2028>b<U+2029>c'],
      ['tag\u{e0041}\u{e007f}', 'tag<U+E0041><U+E007F>'],
      ['\u3164\u115f', '<U+3164><U+115F>'],
      ['lone \ud800 surrogate', 'lone <U+D800> surrogate'],
    ];
    for (const [text, shown] of cases) assert.equal(printableLine(text), shown, JSON.stringify(text));
  });

  test('no code point a terminal obeys or hides survives, anywhere in Unicode', () => {
    const all: string[] = [];
    for (let code = 0; code <= 0x10ffff; code++) if (code < 0xd800 || code > 0xdfff) all.push(String.fromCodePoint(code));
    const shown = printableLine(all.join(''));
    assertClean(shown.replace(/\n/g, 'x'));
    assert.ok(!shown.includes('\n'));
  });

  test('ordinary text is left exactly as it is', () => {
    for (const text of ['src/index.ts', 'héllo wörld', '中文/文件.txt', 'emoji 👋🏽 ok', 'a b\u00a0c', 'C:\\path\\x', 'caret ^[ stays', "quote's \"x\""]) {
      assert.equal(printableLine(text), text);
      assert.equal(hasUnsafeText(text), false, text);
    }
    assert.equal(hasUnsafeText('x\x1b'), true);
  });

  test('textDiff re-exports the same functions, so diffs and every other line use one form', () => {
    assert.equal(textDiffPrintableLine, printableLine);
    assert.equal(textDiffPrintable, printable);
  });
});

describe('printable and printableLines: text with its own lines', () => {
  test('newlines, tabs and a CRLF ending stay; ESC, BEL, C1 and a mid-line CR do not', () => {
    assert.equal(printable(`line one\n\tindented${TITLE}\u009b2J\r\n`), 'line one\n\tindented^[]0;pwned^G<U+009B>2J^M\n');
    assert.equal(printable('crlf line\r'), 'crlf line\r');
    assert.equal(printable('over\rprint'), 'over^Mprint');
  });

  test("a warning's own line breaks stay, each line is a printable line", () => {
    const warning = `.airlock.json loosens these, which are ignored:\n  secretFiles.include: x${TITLE}\t(copies a file)`;
    assert.equal(printableLines(warning), '.airlock.json loosens these, which are ignored:\n  secretFiles.include: x^[]0;pwned^G\\t(copies a file)');
  });

  test('a stream keeps a UTF-8 character split across chunks whole and escapes ESC sequences', () => {
    const write = printableStream();
    const bytes = Buffer.from(`ok ✓ ${TITLE}\u009b2J done\n`);
    const cut = bytes.indexOf(Buffer.from('✓')) + 1;
    const shown = write(bytes.subarray(0, cut)) + write(bytes.subarray(cut));
    assert.equal(shown, 'ok ✓ ^[]0;pwned^G<U+009B>2J done\n');
  });
});

describe('printableJson: JSON a terminal may show', () => {
  test('the same JSON value, with DEL, C1, bidi and separators as \\u escapes (JSON.stringify leaves them raw)', () => {
    const value = { host: `evil\u009b2J\u202e.test`, note: 'a\u2028b\x7f', tag: 'x\u{e0041}', nested: [TITLE, 'ü'] };
    assert.ok(OBEYED.test(JSON.stringify(value)), 'JSON.stringify alone leaves some raw');
    for (const text of [printableJson(value), printableJson(value, 2)]) {
      assertClean(text);
      assert.deepEqual(JSON.parse(text), value);
    }
    assert.match(printableJson(value), /evil\\u009b2J\\u202e\.test/);
    assert.match(printableJson(value), /x\\udb40\\udc41/);
  });

  test('JSON lines (an audit log) stay one record a line', () => {
    const log = [JSON.stringify({ type: 'network', host: 'a\u009bb' }), JSON.stringify({ type: 'warning', message: 'm\u202e' })].join('\n') + '\n';
    const shown = printableJsonText(log);
    assertClean(shown);
    assert.deepEqual(shown.split('\n').filter(Boolean).map((line) => JSON.parse(line)), log.split('\n').filter(Boolean).map((line) => JSON.parse(line)));
  });
});

describe('describeError: where every front end prints errors', () => {
  test('policy errors quoting a hostile key are escaped, and the message keeps its own lines', () => {
    const key = `${TITLE}\u009b2J\u202e`;
    const error = new AirlockError(`.airlock.json:1:2: ${key}: unknown field "${key}"\n.airlock.json:3:4: image: expected a string`, { code: 'file.invalid', hint: `Fix these fields in .airlock.json${TITLE} and try again.`, field: key });
    const shown = describeError(error);
    assertClean(shown);
    assert.deepEqual(shown.split('\n'), [
      '.airlock.json:1:2: ^[]0;pwned^G<U+009B>2J<U+202E>: unknown field "^[]0;pwned^G<U+009B>2J<U+202E>"',
      '.airlock.json:3:4: image: expected a string',
      '  → Fix these fields in .airlock.json^[]0;pwned^G and try again.',
    ]);
  });

  test('a message given as lines keeps a newline inside a quoted key as data: no line can be forged', () => {
    const key = 'x\nairlock: policy accepted';
    const error = new AirlockError([`.airlock.json:1:2: ${key}: unknown field "${key}"`, '.airlock.json:3:4: image: expected a string'], { code: 'file.invalid', hint: 'Fix these fields.' });
    assert.equal(error.message, `.airlock.json:1:2: ${key}: unknown field "${key}"\n.airlock.json:3:4: image: expected a string`);
    const lines = describeError(error).split('\n');
    assert.equal(lines.length, 3);
    assert.equal(lines[0], '.airlock.json:1:2: x\\nairlock: policy accepted: unknown field "x\\nairlock: policy accepted"');
    assert.ok(!lines.some((line) => line.startsWith('airlock:')));
  });

  test('plain errors and thrown strings from the engine or the box are escaped too', () => {
    assertClean(describeError(new Error(`engine said ${TITLE}\u009b2J`)));
    assert.equal(describeError(`raw ${TITLE}`), 'raw ^[]0;pwned^G');
  });
});

describe('CLI formatting of box and repository text', () => {
  test('an approval request with a hostile subject, reason and push file names is one visible line per field', () => {
    const request: ApprovalRequest = {
      id: 'a'.repeat(24),
      task: 'abcdef012345',
      kind: 'push',
      subject: `git push origin x${TITLE}`,
      reason: `why\u009b2J\nforged: yes`,
      details: { files: [`file${TITLE}\nairlock: approved`, 'ok.txt'], branch: 'airlock/x\u202e' },
      createdAt: new Date().toISOString(),
      expiresAt: new Date(Date.now() + 60_000).toISOString(),
    };
    const shown = formatRequest(request);
    assertClean(shown);
    assert.ok(shown.includes('file^[]0;pwned^G\\nairlock: approved'));
    assert.ok(!shown.split('\n').some((line) => /^(forged|airlock):/.test(line)));
  });

  test('the task table escapes an image named by a repository and a hostile workspace folder', () => {
    const record = { id: 'abcdef012345', image: `evil${TITLE}:1`, runtime: 'runc', workspace: `/w/x\nabcdef999999  running`, expiresAt: new Date(Date.now() + 60_000).toISOString() } as unknown as TaskRecord;
    const table = formatTaskTable([{ record, state: 'running' }]);
    assertClean(table);
    assert.equal(table.trimEnd().split('\n').length, 2, 'a header and one row');
    assert.ok(table.includes('evil^[]0;pwned^G:1 (runc)'));
  });

  test('a hostile hostname in the network log is escaped', () => {
    const records = [
      { type: 'network', time: new Date().toISOString(), phase: 'agent', decision: 'deny', method: 'CONNECT', host: `evil${TITLE}\u009b2J.test`, port: 443, reason: `no rule\ufeff\u2028allows it` },
      { type: 'approval.requested', time: new Date().toISOString(), request: { id: 'r1', subject: `x\u202e.test:443`, reason: 'asked', phase: 'agent' } },
    ] as unknown as Parameters<typeof formatNetworkLog>[0];
    const shown = printableLines(formatNetworkLog(records));
    assertClean(shown);
    assert.equal(shown.trimEnd().split('\n').length, 3);
  });
  test('a carriage return at the end of a chunk the box chose cannot overprint a line', () => {
    const stream = printableStream();
    const out = [stream(Buffer.from('safe\r')), stream(Buffer.from('FORGED\n')), stream(Buffer.from('crlf\r')), stream(Buffer.from('\nnext\r\n'))].join('');
    assert.equal(out, 'safe^MFORGED\ncrlf\r\nnext\r\n');
  });
});
