/**
 * VS Code's shell integration (OSC 633), written by `airlock shell` itself: VS Code cannot inject
 * its scripts into a shell behind an engine exec, and the marks must come from the host anyway,
 * so that nothing printed inside the box can forge an exit code or a command line (see
 * sequenceFilter.ts). Only in VS Code's terminal (TERM_PROGRAM=vscode), with its nonce, so the
 * command lines count as trusted.
 */
export class ShellMarks {
  constructor(private readonly enabled: boolean, private readonly nonce: string | undefined) {}

  static fromEnv(env: NodeJS.ProcessEnv = process.env): ShellMarks {
    return new ShellMarks(env.TERM_PROGRAM === 'vscode', env.VSCODE_NONCE || undefined);
  }

  private mark(body: string): string {
    return this.enabled ? `\x1b]633;${body}\x07` : '';
  }

  /** Said once: this shell reports every command itself (VS Code then trusts its command lines). */
  richDetection(): string {
    return this.mark('P;HasRichCommandDetection=True');
  }
  promptStart(): string {
    return this.mark('A');
  }
  promptEnd(): string {
    return this.mark('B');
  }
  commandLine(line: string): string {
    return this.mark(`E;${escapeValue(line)}${this.nonce ? `;${this.nonce}` : ''}`);
  }
  executed(): string {
    return this.mark('C');
  }
  finished(exitCode?: number): string {
    return this.mark(exitCode === undefined ? 'D' : `D;${exitCode}`);
  }
  cwd(folder: string): string {
    return this.mark(`P;Cwd=${escapeValue(folder)}`);
  }
}

/** As VS Code's own scripts escape values: backslashes doubled, `;` and control bytes as \xNN. */
export function escapeValue(value: string): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    if (byte === 0x5c) out += '\\\\';
    else if (byte === 0x3b || byte < 0x20 || byte === 0x7f) out += `\\x${byte.toString(16).padStart(2, '0')}`;
    else out += String.fromCharCode(byte);
  }
  // The loop went byte by byte; put multi-byte characters back together.
  return Buffer.from(out, 'latin1').toString('utf8');
}
