import { z } from 'zod';
import { parseArgvPattern, PatternError } from './commandRules.js';

/** One argv pattern ("git push", "npm run publish-*"); refused with the parser's reason when malformed. */
export const commandPatternText = z.string().superRefine((text, context) => {
  try {
    parseArgvPattern(text);
  } catch (error) {
    if (!(error instanceof PatternError)) throw error;
    context.addIssue({ code: 'custom', message: `"${text}" ${error.message}` });
  }
});

export const COMMAND_DEFAULTS = ['allow', 'ask'] as const;

const patternList = z.array(commandPatternText).default([]);

/** A task's command rules: argv patterns per decision, and what happens to commands no rule names. */
export const commandSettingsSchema = z
  .object({
    allow: patternList,
    ask: patternList,
    deny: patternList,
    /** Decision for commands no rule matches. `ask` turns the allow list into the only way through. */
    default: z.enum(COMMAND_DEFAULTS).default('allow'),
    /** How long a gated command waits for a person before it is refused. */
    approvalTimeoutSeconds: z.number().int().min(1).max(7 * 24 * 3600).default(600),
  })
  .strict();

export type CommandSettingsInput = z.input<typeof commandSettingsSchema>;
export type CommandSettings = z.output<typeof commandSettingsSchema>;

/** A task's command settings, defaults filled in (tasks recorded before command rules have none). */
export const taskCommandSettings = (record: { options: Record<string, unknown> }): CommandSettings => commandSettingsSchema.parse(record.options.commands ?? {});
