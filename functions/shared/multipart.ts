import busboy from 'busboy';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { InputInvalid, PayloadTooLarge } from '../../core/errors';
import { bodyBytes, headerOf } from './http';

/**
 * multipart/form-data bodies of API Gateway proxy events. API Gateway hands them over
 * base64-encoded (multipart/form-data is a binary media type of the API), already whole, so the
 * body is parsed from memory with busboy under explicit limits.
 */
export interface MultipartFile {
  field: string;
  filename: string;
  contentType: string;
  bytes: Buffer;
}

export interface MultipartForm {
  fields: Record<string, string>;
  files: MultipartFile[];
}

export interface MultipartLimits {
  maxFileBytes: number;
  maxFiles: number;
  maxFields: number;
  maxFieldBytes: number;
}

export function isMultipartForm(event: APIGatewayProxyEvent): boolean {
  return /^multipart\/form-data\b/i.test(headerOf(event, 'content-type') ?? '');
}

export function multipartFormOf(event: APIGatewayProxyEvent, limits: MultipartLimits): Promise<MultipartForm> {
  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers: { 'content-type': headerOf(event, 'content-type') ?? '' },
      defParamCharset: 'utf8',
      limits: { fileSize: limits.maxFileBytes, files: limits.maxFiles, fields: limits.maxFields, fieldSize: limits.maxFieldBytes },
    });
  } catch (error) {
    return Promise.reject(malformed(error));
  }

  return new Promise((resolve, reject) => {
    const form: MultipartForm = { fields: {}, files: [] };
    let failure: Error | undefined;
    const fail = (error: Error) => {
      failure ??= error;
    };
    const claim = (name: string) => {
      if (name in form.fields || form.files.some((file) => file.field === name)) {
        fail(new InputInvalid(`Form field "${name}" is sent more than once`, { fields: [{ field: name, message: 'must be sent once' }] }));
      }
    };

    parser.on('field', (name, value, info) => {
      claim(name);
      if (info.valueTruncated) {
        fail(new InputInvalid(`Form field "${name}" is longer than ${limits.maxFieldBytes} bytes`, { fields: [{ field: name, message: `must be at most ${limits.maxFieldBytes} bytes` }] }));
      }
      form.fields[name] = value;
    });
    parser.on('file', (name, stream, info) => {
      claim(name);
      const chunks: Buffer[] = [];
      // Read to the end even past a limit, or busboy never reaches 'close'.
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      // A body cut inside a file ("Unexpected end of form") errors the file stream too; unheard,
      // that 'error' event would be thrown by the emitter and end the process.
      stream.on('error', (error: Error) => reject(malformed(error)));
      stream.on('limit', () => fail(new PayloadTooLarge(`File "${info.filename}" is larger than ${limits.maxFileBytes} bytes`)));
      stream.on('end', () => form.files.push({ field: name, filename: info.filename, contentType: info.mimeType, bytes: Buffer.concat(chunks) }));
    });
    parser.on('filesLimit', () => fail(new InputInvalid(`At most ${limits.maxFiles} file(s) may be uploaded`)));
    parser.on('fieldsLimit', () => fail(new InputInvalid(`At most ${limits.maxFields} form fields may be sent`)));
    parser.on('error', (error) => reject(malformed(error)));
    parser.on('close', () => (failure ? reject(failure) : resolve(form)));
    // The promise settles once: whichever of 'error' and 'close' comes first decides.
    try {
      parser.end(bodyBytes(event));
    } catch (error) {
      reject(malformed(error));
    }
  });
}

function malformed(error: unknown): InputInvalid {
  return new InputInvalid('Body is not valid multipart/form-data', { reason: error instanceof Error ? error.message : String(error) });
}
