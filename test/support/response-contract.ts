import { readFileSync } from 'node:fs';
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';

/**
 * Checks API responses against the OpenAPI document (docs/openapi.json, what GET /openapi.json
 * serves): the status must be documented for the operation, and the body must match that
 * response's schema. A path or method the document does not have must be answered with an error
 * in the documented error shape. The e2e client (local-client.ts) records every response here;
 * test/e2e/setup-contract.ts fails a file with any violation and prints the counts.
 */
const DOCUMENT_ID = 'https://roboport.local/openapi.json';

interface Operation {
  responses?: Record<string, { content?: Record<string, { schema: unknown }> }>;
}

interface PathTemplate {
  template: string;
  pattern: RegExp;
  parameters: number;
  methods: Record<string, Operation>;
}

export class ResponseContract {
  private readonly ajv: Ajv2020;
  private readonly templates: PathTemplate[];
  private readonly validators = new Map<string, ValidateFunction>();
  checked = 0;
  readonly violations: string[] = [];

  constructor(document: { paths: Record<string, Record<string, Operation>> }) {
    this.ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(this.ajv);
    this.ajv.addSchema(document as object, DOCUMENT_ID);
    // Literal segments win over parameters: /jobs/{jobId} never shadows a fixed path of the same length.
    this.templates = Object.entries(document.paths)
      .map(([template, methods]) => ({
        template,
        pattern: new RegExp(`^${template.replace(/[.]/g, '\\.').replace(/\{\w+\}/g, '[^/]+')}$`),
        parameters: (template.match(/\{/g) ?? []).length,
        methods,
      }))
      .sort((a, b) => a.parameters - b.parameters);
  }

  /** Checks one response; returns (and records) why it breaks the contract, or undefined. */
  check(method: string, pathAndQuery: string, status: number, body: unknown): string | undefined {
    this.checked += 1;
    const violation = this.violationOf(method.toLowerCase(), new URL(pathAndQuery, 'http://api').pathname, status, body);
    if (violation) this.violations.push(`${method} ${pathAndQuery} → ${status}: ${violation}`);
    return violation;
  }

  private violationOf(method: string, path: string, status: number, body: unknown): string | undefined {
    const template = this.templates.find((candidate) => candidate.pattern.test(path) && candidate.methods[method]);
    if (!template) {
      // No such operation: the gateway's 404/405, which must still be the error shape.
      if (status < 400) return 'no documented operation answers this path and method, yet it succeeded';
      return this.schemaViolation('#/components/schemas/Error', body);
    }
    const responses = template.methods[method]!.responses ?? {};
    const key = [String(status), `${String(status)[0]}XX`, 'default'].find((candidate) => candidate in responses);
    if (!key) return `status ${status} is not documented for ${method.toUpperCase()} ${template.template} (documented: ${Object.keys(responses).join(', ')})`;
    const content = responses[key]!.content?.['application/json'];
    if (!content) return body === undefined ? undefined : 'a body where the document has none';
    if (body === undefined) return 'no body where the document has one';
    return this.schemaViolation(`#/paths/${pointerSegment(template.template)}/${method}/responses/${key}/content/${pointerSegment('application/json')}/schema`, body);
  }

  private schemaViolation(pointer: string, body: unknown): string | undefined {
    let validate = this.validators.get(pointer);
    if (!validate) {
      validate = this.ajv.compile({ $ref: `${DOCUMENT_ID}${pointer}` });
      this.validators.set(pointer, validate);
    }
    if (validate(body)) return undefined;
    return (validate.errors ?? []).map((error) => `${error.instancePath || '(body)'} ${error.message ?? ''} ${JSON.stringify(error.params)}`).join('; ');
  }
}

/** A JSON pointer segment (RFC 6901) as a URI fragment holds it, for a key such as "/jobs/{jobId}". */
const pointerSegment = (key: string) => encodeURIComponent(key.replace(/~/g, '~0').replace(/\//g, '~1'));

/** The document the local API serves, checked by every e2e file's client. */
export const responseContract = new ResponseContract(JSON.parse(readFileSync(new URL('../../docs/openapi.json', import.meta.url), 'utf8')));
