import * as readline from 'node:readline';

/**
 * Whether a typed line is unfinished, as a shell would wait for more: an open quote, a trailing
 * backslash, or a trailing `|`, `&&` or `||`. (Heredocs and open `if`/`for` blocks are not
 * followed: bash in the box reports them as a syntax error instead.)
 */
export function unfinished(text: string): boolean {
  let quote: string | undefined;
  for (let index = 0; index < text.length; index++) {
    const char = text[index];
    if (quote === "'") {
      if (char === "'") quote = undefined;
    } else if (char === '\\') {
      if (index === text.length - 1) return true;
      index++;
    } else if (quote) {
      if (char === quote) quote = undefined;
    } else if (char === "'" || char === '"' || char === '`') {
      quote = char;
    } else if (char === '#' && (index === 0 || /\s/.test(text[index - 1]))) {
      const newline = text.indexOf('\n', index);
      if (newline < 0) break;
      index = newline;
    }
  }
  return Boolean(quote) || /(?:\|\||&&|\|)\s*$/.test(text);
}

/** Reads one command line on a terminal, with editing and history; undefined at end of input (Ctrl-D). */
export class TerminalLineInput {
  private readonly history: string[] = [];

  constructor(private readonly input: NodeJS.ReadStream, private readonly output: NodeJS.WriteStream) {}

  /** `prompt` is shown first, `continuation` for each further line of an unfinished one. */
  async read(prompt: string, continuation: string, onInterrupt: () => void): Promise<string | undefined> {
    let text: string | undefined;
    let shown = prompt;
    for (;;) {
      const line = await this.readOne(shown, onInterrupt);
      if (line === undefined) return text;
      text = text === undefined ? line : `${text}\n${line}`;
      if (!unfinished(text)) break;
      shown = continuation;
    }
    if (text.trim()) this.history.unshift(text.replace(/\n/g, ' '));
    return text;
  }

  private readOne(prompt: string, onInterrupt: () => void): Promise<string | undefined> {
    return new Promise((resolve) => {
      const rl = readline.createInterface({ input: this.input, output: this.output, terminal: true, history: this.history, historySize: 1000, removeHistoryDuplicates: true, prompt });
      let answered = false;
      rl.on('line', (line) => {
        answered = true;
        rl.close();
        resolve(line);
      });
      // Ctrl-C clears the line, as in a shell; the caller draws a new prompt.
      rl.on('SIGINT', () => {
        answered = true;
        this.output.write('^C\r\n');
        rl.close();
        onInterrupt();
        resolve('');
      });
      rl.on('close', () => {
        if (!answered) resolve(undefined);
      });
      rl.prompt();
    });
  }
}
