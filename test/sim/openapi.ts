// Validates JSON answers against the response schemas of RingCentral's OpenAPI description
// (rc-public-openapi.yml), with ajv. Used by the simulator's schema test; other tests may use it too.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import yaml from 'js-yaml';

const SPEC_ID = 'https://rc-openapi.sim/spec.json';

type Json = Record<string, unknown>;

export interface OpenApiDoc {
  paths: Record<string, Record<string, Json>>;
  components: { schemas: Record<string, unknown>; responses: Record<string, Json> };
}

let cached: OpenApiDoc | undefined;

/** $RC_OPENAPI_YML, else the gzipped copy beside this file, else the shared reference folder beside the repository. */
export function loadOpenApi(): OpenApiDoc {
  if (cached) return cached;
  const candidates = [
    process.env.RC_OPENAPI_YML,
    join(__dirname, 'spec', 'rc-public-openapi.yml.gz'),
    join(__dirname, '..', '..', '..', 'shared', 'ringcentral', 'rc-public-openapi.yml'),
  ];
  const path = candidates.find((p): p is string => !!p && existsSync(p));
  if (!path) throw new Error('rc-public-openapi.yml not found (set RC_OPENAPI_YML)');
  const raw = readFileSync(path);
  const text = (path.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8');
  cached = yaml.load(text) as OpenApiDoc;
  return cached;
}

/** Rewrites local "#/components/..." references so they resolve against the registered document. */
function rebase(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(rebase);
  if (node && typeof node === 'object') {
    const out: Json = {};
    for (const [k, v] of Object.entries(node as Json)) {
      out[k] = k === '$ref' && typeof v === 'string' && v.startsWith('#/') ? `${SPEC_ID}${v}` : rebase(v);
    }
    return out;
  }
  return node;
}

export interface ValidationResult {
  valid: boolean;
  errors: ErrorObject[];
  /** One line per error, for assertion messages. */
  text: string;
}

export class OpenApiValidator {
  readonly doc: OpenApiDoc;
  private readonly ajv: Ajv;
  private readonly compiled = new Map<string, ValidateFunction>();

  constructor(doc = loadOpenApi()) {
    this.doc = doc;
    this.ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
    addFormats(this.ajv);
    for (const f of ['int32', 'int64', 'float', 'double', 'binary', 'byte', 'password'])
      this.ajv.addFormat(f, true);
    // OpenAPI 3.0 `nullable` is understood by ajv itself; `example`, `x-*` etc. are ignored (strict: false)
    this.ajv.addSchema({ $id: SPEC_ID, components: { schemas: doc.components.schemas } });
  }

  /** The JSON schema of an operation's answer with the given status (resolving components.responses). */
  responseSchema(operationId: string, status: number | string): unknown {
    for (const item of Object.values(this.doc.paths)) {
      for (const op of Object.values(item)) {
        if (!op || typeof op !== 'object' || op.operationId !== operationId) continue;
        const responses = op.responses as Record<string, Json>;
        let response = responses[String(status)] ?? responses.default;
        if (!response) throw new Error(`${operationId} declares no ${status} answer`);
        const ref = response.$ref;
        if (typeof ref === 'string') {
          response = this.doc.components.responses[ref.split('/').pop() as string];
        }
        const content = response.content as Record<string, { schema?: unknown }> | undefined;
        const schema = content?.['application/json']?.schema;
        if (!schema) throw new Error(`${operationId} ${status} has no JSON schema`);
        return schema;
      }
    }
    throw new Error(`operation ${operationId} not in the OpenAPI description`);
  }

  private run(key: string, schema: () => unknown, data: unknown): ValidationResult {
    let validate = this.compiled.get(key);
    if (!validate) {
      validate = this.ajv.compile(rebase(schema()) as Json);
      this.compiled.set(key, validate);
    }
    const valid = validate(data) as boolean;
    const errors = validate.errors ?? [];
    return {
      valid,
      errors: [...errors],
      text: errors.map((e) => `${e.instancePath || '/'} ${e.message}`).join('\n'),
    };
  }

  /** Validates an answer body of `operationId` with HTTP `status`. */
  validateResponse(operationId: string, status: number | string, data: unknown): ValidationResult {
    return this.run(`op:${operationId}:${status}`, () => this.responseSchema(operationId, status), data);
  }

  /** Validates against a named schema of components.schemas (e.g. "ApiErrorResponseModel"). */
  validateSchema(name: string, data: unknown): ValidationResult {
    if (!(name in this.doc.components.schemas))
      throw new Error(`schema ${name} not in the OpenAPI description`);
    return this.run(`schema:${name}`, () => ({ $ref: `#/components/schemas/${name}` }), data);
  }

  /** Validates against a named entry of components.responses (e.g. "TooManyRequests"). */
  validateNamedResponse(name: string, data: unknown): ValidationResult {
    const response = this.doc.components.responses[name];
    if (!response) throw new Error(`response ${name} not in the OpenAPI description`);
    const content = response.content as Record<string, { schema?: unknown }>;
    return this.run(`response:${name}`, () => content['application/json'].schema, data);
  }
}
