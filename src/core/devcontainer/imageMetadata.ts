import { z } from 'zod';
import { AirlockError } from '../ground/errors.js';
import { mergeSettings, readSettingsEntry, settingsShape, SettingsReport } from './devcontainerFile.js';
import type { DevcontainerSettings } from './devcontainerPlan.js';

/** The image label in which the devcontainer CLI records the settings baked into an image (its features' and its base images'). */
const LABEL = 'devcontainer.metadata';
const LABEL_HINT = `Rebuild the image with a current devcontainer CLI, or build it without the ${LABEL} label.`;

/** One entry of the label: the devcontainer.json fields an image may carry, plus a feature's id and entrypoint. */
const metadataEntrySchema = z.looseObject({
  ...settingsShape,
  id: z.string().optional(),
  entrypoint: z.string().optional(),
});

/**
 * Reads an image's `devcontainer.metadata` label (a JSON array of devcontainer.json-style objects,
 * or one object) and merges it as the spec does. Fields are named `metadata.<index>.<name>`; there
 * is no line or column, since the label is not a file.
 */
export function readImageMetadata(label: string | undefined): DevcontainerSettings {
  if (label === undefined || label.trim() === '') return mergeSettings([], []);
  let parsed: unknown;
  try {
    parsed = JSON.parse(label);
  } catch (error) {
    throw new AirlockError(`The image label ${LABEL} is not valid JSON (${(error as Error).message}).`, { code: 'image.invalidMetadata', hint: LABEL_HINT, field: LABEL });
  }
  const entries = Array.isArray(parsed) ? parsed : [parsed];
  const reports: SettingsReport[] = [];
  const read = entries.map((value, index) => {
    const result = metadataEntrySchema.safeParse(value);
    if (!result.success) {
      const issue = result.error.issues[0];
      const field = ['metadata', index, ...issue.path.map(String)].join('.');
      throw new AirlockError(`The image label ${LABEL} is not in the devcontainer.json format: ${field}: ${issue.message}.`, { code: 'image.invalidMetadata', hint: LABEL_HINT, field: LABEL });
    }
    const report = new SettingsReport(['metadata', index]);
    reports.push(report);
    if (result.data.entrypoint !== undefined) report.refuse(['entrypoint'], 'Airlock runs its own init and does not run image entrypoints');
    for (const key of Object.keys(result.data)) if (!(key in metadataEntrySchema.shape)) report.unknown([key]);
    return readSettingsEntry(result.data, report, undefined);
  });
  return mergeSettings(read, reports);
}
