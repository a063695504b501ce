import { createRequire } from 'node:module';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

/**
 * Every webhook payload a test (or the benchmarks) sends is one GitHub could send: checked
 * against `@octokit/webhooks-schemas` (pinned, the same release as the examples the payloads
 * are built from) for its event and action before it is signed.
 */
const require = createRequire(import.meta.url);
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv) => Ajv;
const SCHEMA_ID = 'https://octokit.github.io/webhooks/schema.json';

let ajv: Ajv | null = null;
const validators = new Map<string, ValidateFunction>();

function validatorFor(event: string, action: unknown): { name: string; validate: ValidateFunction } {
  if (!ajv) {
    ajv = new Ajv({ strict: false, allErrors: false, logger: false });
    addFormats(ajv);
    const schema = require('@octokit/webhooks-schemas/schema.json') as { definitions: Record<string, unknown> };
    ajv.addSchema({ ...schema, $id: SCHEMA_ID, oneOf: undefined });
  }
  const defs = (ajv.getSchema(SCHEMA_ID)?.schema as { definitions: Record<string, unknown> }).definitions;
  const candidates = [typeof action === 'string' ? `${event}$${action}` : '', `${event}$event`, `${event}_event`].filter((n) => n && n in defs);
  const name = candidates[0];
  if (!name) throw new Error(`webhook event "${event}"${typeof action === 'string' ? ` with action "${action}"` : ''} is not one GitHub sends (no schema in @octokit/webhooks-schemas)`);
  let validate = validators.get(name);
  if (!validate) {
    validate = ajv.compile({ $ref: `${SCHEMA_ID}#/definitions/${name.replace(/~/g, '~0').replace(/\//g, '~1')}` });
    validators.set(name, validate);
  }
  return { name, validate };
}

/** Throws, naming the first mismatch, when `payload` is not a valid `event` payload. */
export function assertWebhookPayload(event: string, payload: unknown): void {
  const action = (payload as { action?: unknown } | null)?.action;
  const { name, validate } = validatorFor(event, action);
  if (!validate(payload)) {
    const e = validate.errors?.[0];
    throw new Error(`webhook payload is not a valid ${name} (@octokit/webhooks-schemas): ${e?.instancePath || '/'} ${e?.message ?? ''} ${e?.params ? JSON.stringify(e.params) : ''}`.trim());
  }
}

const examples = require('@octokit/webhooks-examples/api.github.com/index.json') as { name: string; examples: Record<string, unknown>[] }[];

/**
 * A copy of the first of GitHub's example payloads for `event` (and `action`) that is valid
 * against the schemas: some recorded examples predate fields GitHub sends today
 * (`auto_merge`, `repository.visibility`, …), and a payload GitHub would not send proves nothing.
 */
export function webhookExample(event: string, action?: string, where: (p: Record<string, any>) => boolean = () => true): Record<string, any> {
  const all = examples.find((e) => e.name === event)?.examples ?? [];
  for (const p of all) {
    if (action !== undefined && p['action'] !== action) continue;
    if (!where(p)) continue;
    try {
      assertWebhookPayload(event, p);
      return structuredClone(p) as Record<string, any>; // fixture JSON is untyped
    } catch {
      // an outdated recording; try the next
    }
  }
  throw new Error(`@octokit/webhooks-examples has no ${event}${action ? `.${action}` : ''} example valid against @octokit/webhooks-schemas`);
}
