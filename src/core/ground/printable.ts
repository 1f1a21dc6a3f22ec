/**
 * Text from a box or a repository, made safe to print, show or log. A terminal obeys control
 * characters (ESC and the 8-bit CSI U+009B start sequences that move the cursor, retitle the
 * window, write the clipboard or make the terminal type a reply); newlines and carriage returns
 * forge or overprint the lines a reviewer reads next; bidirectional overrides ("Trojan Source"),
 * zero-width and other format characters make text read differently from what it is. Ground
 * module: it imports nothing from the rest of Airlock, so every part of it can use this.
 *
 * One form everywhere: C0 controls in caret notation (ESC is `^[`, DEL is `^?`), every other
 * unsafe character as `<U+XXXX>`; in one-line text newline, carriage return and tab as `\n`,
 * `\r`, `\t`. Backslashes and carets are left as they are: the aim is that nothing is obeyed,
 * not that every name can be typed back.
 */

import { StringDecoder } from 'node:string_decoder';

/**
 * Characters that are not shown as themselves: controls (C0, DEL, C1), format characters (bidi
 * marks and overrides, zero-width characters, the BOM, tag characters), line and paragraph
 * separators, lone surrogates, and the Hangul fillers that render as nothing.
 */
const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\u115f\u1160\u3164\uffa0]/u;
const UNSAFE_ALL = new RegExp(UNSAFE.source, 'gu');

function codePoint(char: string): string {
  return `<U+${char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}>`;
}

/** True when `text` holds a character that printing would change. */
export function hasUnsafeText(text: string): boolean {
  return UNSAFE.test(text);
}

/**
 * Text that keeps its own line structure (a file's lines in a diff, a stream of output): newline
 * and tab stay, and so does a carriage return that ends the text (the CR of a CRLF line); every
 * other unsafe character is escaped.
 */
export function printable(text: string): string {
  return text.replace(UNSAFE_ALL, (char, offset: number) => {
    if (char === '\n' || char === '\t' || (char === '\r' && offset === text.length - 1)) return char;
    const code = char.charCodeAt(0);
    if (code < 0x20) return `^${String.fromCharCode(code + 64)}`;
    if (code === 0x7f) return '^?';
    return codePoint(char);
  });
}

/**
 * A byte stream from a box (output of commands it runs without a terminal) made `printable`
 * chunk by chunk; a UTF-8 character split across chunks is kept whole.
 */
export function printableStream(): (chunk: Buffer) => string {
  const decoder = new StringDecoder('utf8');
  // The box chooses where chunks end: a CR at a chunk's end is held back until the next chunk shows
  // whether it ends a CRLF line or would overprint the line.
  let heldCr = false;
  return (chunk) => {
    let text = (heldCr ? '\r' : '') + decoder.write(chunk);
    heldCr = text.endsWith('\r');
    if (heldCr) text = text.slice(0, -1);
    return text.split('\n').map(printable).join('\n');
  };
}

/**
 * Text for one line of a terminal, a list or a notification (a file name, a command, a host, a
 * value): newline, carriage return and tab as `\n`, `\r`, `\t`, everything else as `printable`,
 * so nothing in it can forge the line a reviewer reads next.
 */
export function printableLine(text: string): string {
  return printable(text.replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t'));
}

/**
 * A message whose own newlines mean something (a list of problems, a warning with its items):
 * each line made a printable line, joined again by newlines. A newline inside a quoted value
 * cannot be told from the message's own here; where that matters, the value must be made a
 * printable line where the message is built.
 */
export function printableLines(text: string): string {
  return text.split('\n').map(printableLine).join('\n');
}

/**
 * JSON text with every unsafe character written as a `\uXXXX` escape. The JSON means exactly the
 * same (unsafe characters can only occur inside strings, where the escape is equivalent), but
 * JSON.stringify leaves DEL, C1 controls, bidi overrides and U+2028/U+2029 raw, and those reach a
 * terminal that prints the JSON. Newlines between lines (or from indentation) stay.
 */
export function printableJsonText(json: string): string {
  return json.replace(UNSAFE_ALL, (char) => {
    if (char === '\n') return char;
    let escaped = '';
    for (let index = 0; index < char.length; index++) escaped += `\\u${char.charCodeAt(index).toString(16).padStart(4, '0')}`;
    return escaped;
  });
}

/** JSON.stringify for output a person may read on a terminal: see `printableJsonText`. */
export function printableJson(value: unknown, space?: number): string {
  return printableJsonText(JSON.stringify(value, null, space) ?? 'null');
}
