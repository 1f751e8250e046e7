import * as z from 'zod';
import { InputInvalid } from './errors';
import type { Caller } from './job';
import { submitJob, type RobotCatalog, type SubmitDeps, type SubmitResult } from './jobs';
import { parseOrThrow, plainMessage } from './validation';
import { isItemRobot, type ItemRobot } from './robot';
import { extractItems, type ItemValidator, type RowError } from './spreadsheet';

/**
 * Spreadsheet intake: a job whose items come from a column of an uploaded .xlsx/.csv. The file
 * fills the robot's items field; everything else goes through submitJob exactly like a JSON
 * submission (same validation, same Idempotency-Key rules, hashed on the resulting input).
 */

/** A multipart/form-data body: text fields and file parts. */
export interface UploadForm {
  fields: Record<string, string>;
  files: ReadonlyArray<{ field: string; filename: string; bytes: Uint8Array }>;
}

export interface SpreadsheetUpload {
  robot: string;
  /** The robot's other input fields. */
  input: Record<string, unknown>;
  column?: string;
  callbackUrl?: string;
  file: Uint8Array;
}

export interface SpreadsheetPreview {
  robot: string;
  column: { header: string | null; letter: string };
  items: unknown[];
  count: number;
  duplicatesDropped: number;
  blanksDropped: number;
  errors: RowError[];
}

const FILE_FIELD = 'file';

export const uploadFieldsSchema = z.strictObject({
  robot: z.string().min(1).max(64),
  input: z
    .string()
    .default('{}')
    .transform((text, ctx) => {
      try {
        const parsed: unknown = JSON.parse(text);
        if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
      } catch {
        // reported below
      }
      ctx.addIssue({ code: 'custom', message: 'must be a JSON object of the robot input fields other than the items' });
      return z.NEVER;
    }),
  column: z.string().trim().min(1).max(128).optional(),
  callbackUrl: z.string().optional(),
});

/** Validates the form's fields (robot, input, column, callbackUrl) and its one file part. */
export function spreadsheetUploadOf(form: UploadForm): SpreadsheetUpload {
  if (FILE_FIELD in form.fields) throw fileInvalid('must be sent as a file part (with a filename), not as a text field');
  const fields = parseOrThrow(uploadFieldsSchema, form.fields, 'Upload form is invalid');
  const stray = form.files.find((part) => part.field !== FILE_FIELD);
  if (stray) throw new InputInvalid(`Unexpected file part "${stray.field}"`, { fields: [{ field: stray.field, message: `only "${FILE_FIELD}" may carry a file` }] });
  const [file, ...more] = form.files;
  if (!file) throw fileInvalid('is required: the .xlsx or .csv sheet with the items');
  if (more.length) throw fileInvalid('must be sent once');
  return {
    robot: fields.robot,
    input: fields.input,
    file: file.bytes,
    ...(fields.column === undefined ? {} : { column: fields.column }),
    ...(fields.callbackUrl === undefined ? {} : { callbackUrl: fields.callbackUrl }),
  };
}

/** Parses the sheet into the items the job would get (the dry run); creates nothing. */
export async function previewSpreadsheet(robots: RobotCatalog, upload: SpreadsheetUpload): Promise<SpreadsheetPreview> {
  return (await readUpload(robots, upload)).preview;
}

/** Creates the job from the sheet, or refuses it whole (400 with every bad row) — never half. */
export async function submitSpreadsheet(deps: SubmitDeps, caller: Caller, upload: SpreadsheetUpload, idempotencyKey?: string): Promise<SubmitResult> {
  const { robot, preview } = await readUpload(deps.robots, upload);
  if (preview.errors.length > 0) {
    const count = preview.errors.length;
    const message = count === 1 ? '1 row of the sheet is invalid' : `${count} rows of the sheet are invalid`;
    throw new InputInvalid(message, { fields: [{ field: FILE_FIELD, message }], rows: preview.errors });
  }
  if (preview.count === 0) throw fileInvalid(`has no items in column ${preview.column.letter}`);
  const body = {
    robot: robot.name,
    input: { ...upload.input, [robot.itemsField]: preview.items },
    ...(upload.callbackUrl === undefined ? {} : { callbackUrl: upload.callbackUrl }),
  };
  return submitJob(deps, caller, body, idempotencyKey);
}

async function readUpload(robots: RobotCatalog, upload: SpreadsheetUpload): Promise<{ robot: ItemRobot; preview: SpreadsheetPreview }> {
  const robot = itemRobotNamed(robots, upload.robot);
  if (robot.itemsField in upload.input) {
    throw new InputInvalid(`input.${robot.itemsField} comes from the file`, {
      fields: [{ field: `input.${robot.itemsField}`, message: 'must be left out: the file fills it' }],
    });
  }
  const { column, items, duplicatesDropped, blanksDropped, errors } = await extractItems(upload.file, {
    ...(upload.column === undefined ? {} : { column: upload.column }),
    defaultHeaders: [robot.itemsField, robot.itemsField.replace(/s$/, '')],
    validate: itemValidator(robot),
  });
  return {
    robot,
    preview: { robot: robot.name, column: { header: column.header, letter: column.letter }, items, count: items.length, duplicatesDropped, blanksDropped, errors },
  };
}

function itemRobotNamed(robots: RobotCatalog, name: string): ItemRobot {
  const robot = robots.find(name);
  if (robot && isItemRobot(robot)) return robot;
  const itemRobots = robots.names().filter((candidate) => {
    const found = robots.find(candidate);
    return found !== undefined && isItemRobot(found);
  });
  const message = robot ? `Robot "${name}" takes no list of items, so it cannot read a spreadsheet` : `Unknown robot "${name}"`;
  throw new InputInvalid(message, { fields: [{ field: 'robot', message: `must be one of the robots that take items: ${itemRobots.join(', ') || '(none)'}` }] });
}

/** Each cell is checked with the element schema of the robot's items array (e.g. 6-12 digits). */
function itemValidator(robot: ItemRobot): ItemValidator {
  const schema = itemSchemaOf(robot);
  return (text) => {
    const result = schema.safeParse(text, { error: plainMessage });
    return result.success ? { ok: true, value: result.data } : { ok: false, message: result.error.issues.map((issue) => issue.message).join('; ') };
  };
}

export function itemSchemaOf(robot: ItemRobot): z.ZodType {
  const array = arrayUnder(robot.input instanceof z.ZodObject ? robot.input.shape[robot.itemsField] : undefined);
  if (!array) throw new Error(`Robot ${robot.name}: input.${robot.itemsField} must be a z.array() in a z.object() input schema`);
  return array.element as z.ZodType;
}

/** The array under .optional(), .default(), .nullable() and .transform(). */
function arrayUnder(schema: unknown): z.ZodArray | undefined {
  if (schema instanceof z.ZodArray) return schema;
  if (schema instanceof z.ZodOptional || schema instanceof z.ZodDefault || schema instanceof z.ZodNullable) return arrayUnder(schema.unwrap());
  if (schema instanceof z.ZodPipe) return arrayUnder(schema.in);
  return undefined;
}

function fileInvalid(message: string): InputInvalid {
  return new InputInvalid(`${FILE_FIELD} ${message}`, { fields: [{ field: FILE_FIELD, message }] });
}
