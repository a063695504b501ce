import crypto from 'node:crypto';
import { createRequire } from 'node:module';
import { Ajv, type ValidateFunction, type ErrorObject } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { buildSchema, getVariableValues, parse, validate as validateGraphql, type GraphQLSchema, type OperationDefinitionNode } from 'graphql';

/**
 * There is no GitHub here, so the stand-ins are the contract. Every request the app makes to
 * a stand-in (nock in-process, test/support/fake-github.ts over HTTP, the benchmarks) goes
 * through `check` first, which holds it to what GitHub would accept:
 *
 * - GitHub's own OpenAPI description (`@octokit/openapi`, pinned): the method and path name
 *   an operation, every query parameter is one the operation declares with a valid value,
 *   the JSON body matches the operation's request schema;
 * - the limits GitHub documents only in prose (PROSE_RULES below);
 * - GraphQL documents and their variables against GitHub's schema (`@octokit/graphql-schema`);
 * - credentials: an App JWT signed with the App's key for `/app` endpoints, an installation
 *   token this stand-in issued (and not expired) everywhere else;
 * - the secondary rate limits for content-creating requests, per installation.
 *
 * A violation is answered the way GitHub answers it (422 with its message shape, 401, 403
 * with `retry-after`, 404, or a GraphQL `errors` reply) and recorded; the jest guard
 * (test/support/contract-guard.ts) fails the test during which one was recorded.
 */

const require = createRequire(import.meta.url);
// ajv-formats is CommonJS with a default export; under ESM interop it may arrive wrapped.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv) => Ajv;

/** GitHub's issue and pull request bodies: "body is too long (maximum is 65536 characters)". */
export const COMMENT_BODY_MAX = 65_536;
/** Check run output summary and text. */
export const CHECK_OUTPUT_MAX = 65_535;
export const ANNOTATIONS_PER_REQUEST = 50;
export const ANNOTATION_TITLE_MAX = 255;
/** Annotation message and raw_details: "The maximum size is 64 KB." */
export const ANNOTATION_MESSAGE_MAX_BYTES = 64 * 1024;
/** "No more than 80 content-generating requests per minute" and "500 per hour" (per installation). */
export const CONTENT_REQUESTS_PER_MINUTE = 80;
export const CONTENT_REQUESTS_PER_HOUR = 500;

export interface GitHubRequest {
  method: string;
  /** Absolute URL as sent (api.github.com, a GHE /api/v3 base, or the download host). */
  url: string;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON, a raw string when it is not JSON, or undefined when there was none. */
  body: unknown;
}

export interface GitHubReply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

export interface ContractViolation {
  /** `POST /repos/acme/deploys/check-runs`. */
  request: string;
  reason: string;
  status: number;
}

// ---------------------------------------------------------------------------------------
// Where violations go: one list per jest test file (module registry), drained by the guard.

const recorded: ContractViolation[] = [];
const contracts = new Set<WeakRef<GitHubContract>>();

/** Returns and clears the violations recorded so far. */
export function takeViolations(): ContractViolation[] {
  return recorded.splice(0);
}

/**
 * A new test starts a new minute of GitHub's secondary-limit windows: a test stands for
 * one scenario's traffic, and within it the limits hold (the guard calls this between tests).
 */
export function newRateWindow(): void {
  for (const ref of contracts) {
    const c = ref.deref();
    if (c) c.resetRateWindows();
    else contracts.delete(ref);
  }
}

// ---------------------------------------------------------------------------------------
// GitHub's OpenAPI description, loaded once per test file and only when first needed.

interface Parameter {
  name: string;
  in: 'query' | 'path' | 'header' | 'cookie';
  required?: boolean;
  schema?: Record<string, unknown>;
}

interface Operation {
  method: string;
  template: string;
  pointer: string;
  parameters: Parameter[];
  /** JSON pointer of the request body schema, when the operation takes a JSON body. */
  bodyPointer?: string;
  bodyRequired: boolean;
  docs: string;
  regex: RegExp;
  literals: number;
}

interface Spec {
  ajv: Ajv;
  operations: Operation[];
  validators: Map<string, ValidateFunction>;
}

let spec: Spec | null = null;
const SPEC_ID = 'https://api.github.com/openapi';

function escapePointer(s: string): string {
  return s.replace(/~/g, '~0').replace(/\//g, '~1');
}

/**
 * OpenAPI 3.0 lets `nullable: true` stand beside `oneOf` without a `type` (create-an-issue's
 * `milestone`: a string, a number or null); Ajv's `nullable` needs a `type` and refuses to
 * compile such a schema. Each is rewritten to what it means: the schema, or null.
 */
function nullableWithoutType(node: unknown): void {
  if (Array.isArray(node)) {
    for (const n of node) nullableWithoutType(n);
    return;
  }
  if (node === null || typeof node !== 'object') return;
  const o = node as Record<string, unknown>;
  for (const v of Object.values(o)) nullableWithoutType(v);
  if (o['nullable'] === true && o['type'] === undefined && o['$ref'] === undefined) {
    const { nullable: _nullable, ...rest } = o;
    for (const k of Object.keys(o)) delete o[k];
    o['anyOf'] = [rest, { type: 'null' }];
  }
}

function loadSpec(): Spec {
  if (spec) return spec;
  const doc = require('@octokit/openapi/generated/api.github.com.json') as {
    paths: Record<string, Record<string, { parameters?: unknown[]; requestBody?: { required?: boolean; content?: Record<string, unknown> }; externalDocs?: { url?: string } }>>;
    components: { parameters: Record<string, Parameter> };
  };
  // OpenAPI 3.0 schemas: `nullable` is Ajv's own keyword; GitHub's extensions (x-github,
  // examples) and its custom formats (repo.nwo, uri-template) are not checks, so not strict.
  const ajv = new Ajv({ strict: false, allErrors: false, verbose: true, validateSchema: false, logger: false, validateFormats: true });
  addFormats(ajv);
  nullableWithoutType(doc);
  ajv.addSchema({ ...doc, $id: SPEC_ID } as unknown as Record<string, unknown>);
  const resolveParam = (p: unknown): Parameter => {
    const ref = (p as { $ref?: string }).$ref;
    if (ref) return doc.components.parameters[ref.replace('#/components/parameters/', '')] as Parameter;
    return p as Parameter;
  };
  const operations: Operation[] = [];
  for (const [template, item] of Object.entries(doc.paths)) {
    const shared = ((item as { parameters?: unknown[] }).parameters ?? []).map(resolveParam);
    for (const [method, op] of Object.entries(item)) {
      if (!['get', 'post', 'put', 'patch', 'delete'].includes(method)) continue;
      const segments = template.split('/');
      const regex = new RegExp(`^${segments.map((s) => (/^\{.+\}$/.test(s) ? '[^/]+' : s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('/')}$`);
      const json = op.requestBody?.content?.['application/json'];
      const pointer = `#/paths/${escapePointer(template)}/${method}`;
      const o: Operation = {
        method: method.toUpperCase(),
        template,
        pointer,
        parameters: [...shared, ...(op.parameters ?? []).map(resolveParam)],
        bodyRequired: Boolean(op.requestBody?.required),
        docs: op.externalDocs?.url ?? 'https://docs.github.com/rest',
        regex,
        literals: segments.filter((s) => !/^\{.+\}$/.test(s)).length,
      };
      if (json) o.bodyPointer = `${pointer}/requestBody/content/application~1json/schema`;
      operations.push(o);
    }
  }
  // The most literal template wins: /repos/{o}/{r}/pulls/comments before /repos/{o}/{r}/pulls/{n}.
  operations.sort((a, b) => b.literals - a.literals);
  spec = { ajv, operations, validators: new Map() };
  return spec;
}

/** Templates whose last parameter is a path or ref that may hold `/` (GitHub accepts both forms). */
const GREEDY_LAST = new Set(['path', 'ref', 'name']);

function findOperation(s: Spec, method: string, path: string): Operation | undefined {
  const exact = s.operations.find((o) => o.method === method && o.regex.test(path));
  if (exact) return exact;
  return s.operations.find((o) => {
    if (o.method !== method) return false;
    const last = /\{([^}]+)\}$/.exec(o.template)?.[1];
    if (!last || !GREEDY_LAST.has(last)) return false;
    return new RegExp(o.regex.source.replace(/\[\^\/\]\+\$$/, '.+$')).test(path);
  });
}

function bodyValidator(s: Spec, op: Operation): ValidateFunction {
  let v = s.validators.get(op.pointer);
  if (!v) {
    v = s.ajv.compile({ $ref: `${SPEC_ID}${op.bodyPointer}` });
    s.validators.set(op.pointer, v);
  }
  return v;
}

/** GitHub's wording for a request that fails its JSON schema: "Invalid request.\n\nFor 'properties/x', ...". */
function schemaMessage(err: ErrorObject): string {
  const where = err.instancePath ? `properties${err.instancePath.replace(/\/(\d+)/g, '/items').replace(/\//g, '/')}` : 'request';
  const value = (err.data === undefined ? 'nil' : JSON.stringify(err.data) ?? 'nil').slice(0, 120);
  if (err.keyword === 'required') return `"${(err.params as { missingProperty: string }).missingProperty}" wasn't supplied.`;
  if (err.keyword === 'additionalProperties') return `"${(err.params as { additionalProperty: string }).additionalProperty}" is not a permitted key.`;
  if (err.keyword === 'enum') return `For '${where}', ${value} is not a member of enum.`;
  if (err.keyword === 'type') return `For '${where}', ${value} is not ${err.params['type'] === 'integer' ? 'an integer' : `a ${String(err.params['type'])}`}.`;
  if (err.keyword === 'maxItems') return `For '${where}', ${value.slice(0, 40)}… is longer than ${String(err.params['limit'])} items.`;
  if (err.keyword === 'maxLength') return `For '${where}', ${value.slice(0, 40)}… is too long (maximum is ${String(err.params['limit'])} characters).`;
  return `For '${where}', ${value} ${err.message ?? 'is not valid'}.`;
}

// ---------------------------------------------------------------------------------------
// The limits GitHub documents in prose, by operation template and method.

type Rule = (body: Record<string, unknown>, op: Operation) => GitHubReply | null;

function validationFailed(op: Operation, resource: string, field: string, message: string, code = 'custom'): GitHubReply {
  return { status: 422, body: { message: 'Validation Failed', errors: [{ resource, code, field, message }], documentation_url: op.docs, status: '422' } };
}

function invalidRequest(op: Operation, detail: string): GitHubReply {
  return { status: 422, body: { message: `Invalid request.\n\n${detail}`, documentation_url: op.docs, status: '422' } };
}

const bodyTooLong = (resource: string): Rule => (body, op) =>
  typeof body['body'] === 'string' && body['body'].length > COMMENT_BODY_MAX ? validationFailed(op, resource, 'body', `body is too long (maximum is ${COMMENT_BODY_MAX} characters)`) : null;

const checkRunRules: Rule = (body, op) => {
  const status = body['status'];
  if ((status === 'completed' || body['completed_at'] !== undefined) && body['conclusion'] === undefined) {
    return invalidRequest(op, `"conclusion" wasn't supplied.`);
  }
  const output = body['output'] as Record<string, unknown> | undefined;
  if (!output) return null;
  for (const field of ['summary', 'text'] as const) {
    const v = output[field];
    if (typeof v === 'string' && v.length > CHECK_OUTPUT_MAX) return invalidRequest(op, `For 'properties/${field}', ${JSON.stringify(v.slice(0, 20))}… is too long (maximum is ${CHECK_OUTPUT_MAX} characters).`);
  }
  const annotations = output['annotations'];
  if (Array.isArray(annotations)) {
    if (annotations.length > ANNOTATIONS_PER_REQUEST) return validationFailed(op, 'CheckRun', 'annotations', `Only ${ANNOTATIONS_PER_REQUEST} annotations are allowed per request`);
    for (const [i, a] of annotations.entries()) {
      const ann = a as Record<string, unknown>;
      if (typeof ann['title'] === 'string' && ann['title'].length > ANNOTATION_TITLE_MAX) {
        return validationFailed(op, 'CheckRunAnnotation', `annotations[${i}].title`, `title is too long (maximum is ${ANNOTATION_TITLE_MAX} characters)`);
      }
      for (const f of ['message', 'raw_details']) {
        const v = ann[f];
        if (typeof v === 'string' && Buffer.byteLength(v) > ANNOTATION_MESSAGE_MAX_BYTES) {
          return validationFailed(op, 'CheckRunAnnotation', `annotations[${i}].${f}`, `${f} is too long (maximum is 64 KB)`);
        }
      }
      const start = ann['start_line'];
      const end = ann['end_line'];
      if (typeof start === 'number' && typeof end === 'number' && end < start) return validationFailed(op, 'CheckRunAnnotation', `annotations[${i}].end_line`, 'end_line must be greater than or equal to start_line');
      if ((ann['start_column'] !== undefined || ann['end_column'] !== undefined) && start !== end) {
        return validationFailed(op, 'CheckRunAnnotation', `annotations[${i}].start_column`, 'start_column and end_column may only be given when start_line and end_line are the same');
      }
    }
  }
  return null;
};

const PROSE_RULES: Record<string, Rule> = {
  'POST /repos/{owner}/{repo}/issues/{issue_number}/comments': bodyTooLong('IssueComment'),
  'PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}': bodyTooLong('IssueComment'),
  'POST /repos/{owner}/{repo}/pulls': bodyTooLong('PullRequest'),
  'PATCH /repos/{owner}/{repo}/pulls/{pull_number}': bodyTooLong('PullRequest'),
  'POST /repos/{owner}/{repo}/check-runs': checkRunRules,
  'PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}': checkRunRules,
};

// ---------------------------------------------------------------------------------------
// GraphQL

let graphqlSchema: GraphQLSchema | null = null;

async function loadGraphqlSchema(): Promise<GraphQLSchema> {
  if (!graphqlSchema) {
    const { schema } = (await import('@octokit/graphql-schema')) as { schema: { idl: string } };
    graphqlSchema = buildSchema(schema.idl, { assumeValidSDL: true });
  }
  return graphqlSchema;
}

/** Errors GitHub would answer a GraphQL document with (HTTP 200, `errors`), or null. */
export async function graphqlErrors(body: unknown): Promise<{ message: string }[] | null> {
  const b = body as { query?: unknown; variables?: unknown } | null;
  if (!b || typeof b.query !== 'string') return [{ message: 'A query attribute must be specified and must be a string.' }];
  const schema = await loadGraphqlSchema();
  let doc;
  try {
    doc = parse(b.query);
  } catch (err) {
    return [{ message: `Parse error on ${(err as Error).message}` }];
  }
  const errors = validateGraphql(schema, doc);
  if (errors.length) return errors.map((e) => ({ message: e.message }));
  const ops = doc.definitions.filter((d): d is OperationDefinitionNode => d.kind === 'OperationDefinition');
  for (const op of ops) {
    const coerced = getVariableValues(schema, op.variableDefinitions ?? [], (b.variables ?? {}) as Record<string, unknown>);
    if (coerced.errors?.length) return coerced.errors.map((e) => ({ message: e.message }));
  }
  return null;
}

// ---------------------------------------------------------------------------------------
// Credentials


export interface ContractOptions {
  appId: number;
  /** The App's private key (PEM): JWTs for /app endpoints must verify with its public half. */
  privateKey: string;
  now?: () => number;
  /** Turns the per-installation secondary limits off, for a stand-in that models its own. */
  secondaryLimits?: boolean;
  /**
   * The length of GitHub's minute for the secondary limits (the hour is 60 of them), 60 s
   * unless a test scales GitHub's limits down in time, as it scales the app's pacer.
   */
  rateWindowMs?: number;
}

interface Issued {
  installationId: number;
  expiresAt: number;
}

/** The API a stand-in needs from the contract. */
export class GitHubContract {
  private readonly publicKey: crypto.KeyObject;
  private readonly now: () => number;
  private readonly tokens = new Map<string, Issued>();
  private readonly downloads = new Map<string, { path: string; expiresAt: number }>();
  private readonly checkRuns = new Set<number>();
  /** Content-creating requests per installation: their times (ms). */
  private readonly writes = new Map<number, number[]>();
  readonly secondaryLimits: boolean;
  /** How many content-creating requests the secondary limits refused (403) so far. */
  rateLimited = 0;

  constructor(readonly opts: ContractOptions) {
    this.publicKey = crypto.createPublicKey(opts.privateKey);
    this.now = opts.now ?? Date.now;
    this.secondaryLimits = opts.secondaryLimits ?? true;
    contracts.add(new WeakRef(this));
  }

  resetRateWindows(): void {
    this.writes.clear();
  }

  /** POST /app/installations/{id}/access_tokens: a fresh token, valid for an hour, as GitHub gives. */
  issueToken(installationId: number): { token: string; expires_at: string } {
    const token = `ghs_${crypto.randomBytes(27).toString('base64url').replace(/[-_]/g, 'x').slice(0, 36)}`;
    const expiresAt = this.now() + 3600_000;
    this.tokens.set(token, { installationId, expiresAt });
    return { token, expires_at: new Date(expiresAt).toISOString() };
  }

  issuedTokens(): string[] {
    return [...this.tokens.keys(), ...this.downloads.keys()];
  }

  /** A short-lived `?token=` for the download host GitHub redirects archive requests to. */
  issueDownload(path: string): string {
    const token = crypto.randomBytes(20).toString('hex').toUpperCase();
    this.downloads.set(token, { path, expiresAt: this.now() + 5 * 60_000 });
    return token;
  }

  /** The stand-in created this check run (PATCH of any other id is GitHub's 404). */
  checkRunCreated(id: number): void {
    this.checkRuns.add(id);
  }

  /** Records a violation the stand-in found itself (state it alone holds). */
  violation(req: Pick<GitHubRequest, 'method' | 'url'>, reason: string, status: number): void {
    recorded.push({ request: `${req.method} ${new URL(req.url).pathname}`, reason, status });
  }

  /**
   * The reply GitHub would give instead of the stand-in's normal answer, or null when GitHub
   * would accept the request. Records each refusal as a violation.
   */
  async check(req: GitHubRequest): Promise<GitHubReply | null> {
    const reply = await this.evaluate(req);
    if (reply) this.violation(req, replyReason(reply), reply.status);
    return reply;
  }

  private async evaluate(req: GitHubRequest): Promise<GitHubReply | null> {
    const url = new URL(req.url);
    const method = req.method.toUpperCase();
    if (url.hostname === 'codeload.github.com' || url.pathname.startsWith('/_codeload/')) return this.checkDownload(url);
    const path = url.pathname.replace(/^\/api\/v3(?=\/)/, '');

    if (path === '/graphql' && method === 'POST') {
      const auth = this.checkInstallationAuth(req);
      if (auth) return auth;
      const errors = await graphqlErrors(req.body);
      return errors ? { status: 200, body: { errors } } : null;
    }

    const s = loadSpec();
    const op = findOperation(s, method, path);
    if (!op) return { status: 404, body: { message: 'Not Found', documentation_url: 'https://docs.github.com/rest', status: '404' } };

    const auth = this.checkAuth(req, op);
    if (auth) return auth;

    // Query: only parameters the operation declares, with values its schema allows.
    const declared = new Map(op.parameters.filter((p) => p.in === 'query').map((p) => [p.name, p]));
    for (const [key, value] of url.searchParams) {
      const p = declared.get(key);
      if (!p) return invalidRequest(op, `"${key}" is not a permitted query parameter of ${method} ${op.template}.`);
      const problem = queryValueProblem(value, p.schema ?? {});
      if (problem) return invalidRequest(op, `For 'query/${key}', ${JSON.stringify(value)} ${problem}.`);
    }
    for (const p of op.parameters) {
      if (p.in === 'query' && p.required && !url.searchParams.has(p.name)) return invalidRequest(op, `"${p.name}" wasn't supplied.`);
    }

    // Body: JSON matching the operation's request schema, and the prose limits.
    if (op.bodyPointer) {
      if (req.body === undefined || req.body === null || req.body === '') {
        if (op.bodyRequired) return { status: 400, body: { message: 'Problems parsing JSON', documentation_url: op.docs, status: '400' } };
      } else {
        if (typeof req.body !== 'object') return { status: 400, body: { message: 'Problems parsing JSON', documentation_url: op.docs, status: '400' } };
        const validate = bodyValidator(s, op);
        if (!validate(req.body)) return invalidRequest(op, schemaMessage((validate.errors ?? [])[0] as ErrorObject));
      }
    } else if (req.body !== undefined && req.body !== null && req.body !== '' && method === 'GET') {
      return invalidRequest(op, `${method} ${op.template} takes no request body.`);
    }
    const rule = PROSE_RULES[`${method} ${op.template}`];
    const ruled = rule && req.body && typeof req.body === 'object' ? rule(req.body as Record<string, unknown>, op) : null;
    if (ruled) return ruled;

    if (method === 'PATCH' && op.template === '/repos/{owner}/{repo}/check-runs/{check_run_id}') {
      const id = Number(path.split('/').pop());
      if (!this.checkRuns.has(id)) return { status: 404, body: { message: 'Not Found', documentation_url: op.docs, status: '404' } };
    }
    return this.secondaryLimit(req, method, op);
  }

  private checkAuth(req: GitHubRequest, op: Operation): GitHubReply | null {
    if (op.template === '/app-manifests/{code}/conversions') return null;
    if (op.template.startsWith('/app') && !op.template.startsWith('/app-manifests')) return this.checkJwt(req, op);
    return this.checkInstallationAuth(req, op);
  }

  private bearer(req: GitHubRequest): string | null {
    const h = req.headers['authorization'];
    const v = Array.isArray(h) ? h[0] : h;
    const m = /^(?:token|bearer)\s+(\S+)$/i.exec(v ?? '');
    return m ? (m[1] as string) : null;
  }

  private checkJwt(req: GitHubRequest, op: Operation): GitHubReply | null {
    const jwt = this.bearer(req);
    const refuse = (why: string): GitHubReply => ({
      status: 401,
      body: { message: why, documentation_url: op.docs, status: '401' },
    });
    if (!jwt) return refuse('A JSON web token could not be decoded');
    const [h, p, sig] = jwt.split('.');
    if (!h || !p || !sig) return refuse('A JSON web token could not be decoded');
    let header: { alg?: string };
    let claims: { iss?: unknown; iat?: number; exp?: number };
    try {
      header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as { alg?: string };
      claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as typeof claims;
    } catch {
      return refuse('A JSON web token could not be decoded');
    }
    if (header.alg !== 'RS256') return refuse("'Expiration time' claim ('exp') and algorithm must be RS256");
    const ok = crypto.verify('sha256', Buffer.from(`${h}.${p}`), this.publicKey, Buffer.from(sig, 'base64url'));
    if (!ok) return refuse('A JSON web token could not be decoded');
    if (String(claims.iss) !== String(this.opts.appId)) return refuse(`'Issuer' claim ('iss') must be an Integer`);
    const nowS = Math.floor(this.now() / 1000);
    if (typeof claims.exp !== 'number' || claims.exp <= nowS) return refuse("'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires");
    if (claims.exp - nowS > 600) return refuse("'Expiration time' claim ('exp') is too far in the future");
    if (typeof claims.iat !== 'number' || claims.iat > nowS + 60) return refuse("'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued");
    return null;
  }

  private checkInstallationAuth(req: GitHubRequest, op?: Operation): GitHubReply | null {
    const token = this.bearer(req);
    const issued = token ? this.tokens.get(token) : undefined;
    if (!issued || issued.expiresAt <= this.now()) {
      return { status: 401, body: { message: 'Bad credentials', documentation_url: op?.docs ?? 'https://docs.github.com/rest', status: '401' } };
    }
    return null;
  }

  private checkDownload(url: URL): GitHubReply | null {
    const t = this.downloads.get(url.searchParams.get('token') ?? '');
    if (!t || t.expiresAt <= this.now() || t.path !== url.pathname) return { status: 404, body: '404: Not Found' };
    return null;
  }

  /** Content-creating requests: at most 80 a minute and 500 an hour per installation. */
  private secondaryLimit(req: GitHubRequest, method: string, op: Operation): GitHubReply | null {
    if (!this.secondaryLimits || method === 'GET' || op.template.startsWith('/app')) return null;
    const token = this.bearer(req);
    const inst = token ? this.tokens.get(token)?.installationId : undefined;
    if (inst === undefined) return null;
    const now = this.now();
    const minute = this.opts.rateWindowMs ?? 60_000;
    const times = (this.writes.get(inst) ?? []).filter((t) => t > now - 60 * minute);
    const lastMinute = times.filter((t) => t > now - minute).length;
    if (lastMinute >= CONTENT_REQUESTS_PER_MINUTE || times.length >= CONTENT_REQUESTS_PER_HOUR) {
      this.writes.set(inst, times);
      // GitHub's reply, as its docs and recorded replies show it: 403, retry-after in
      // seconds (until the window frees a slot), and this message with a request id.
      const freeAt = lastMinute >= CONTENT_REQUESTS_PER_MINUTE ? (times.filter((t) => t > now - minute)[lastMinute - CONTENT_REQUESTS_PER_MINUTE] as number) + minute : (times[0] as number) + 60 * minute;
      const requestId = crypto.randomBytes(10).toString('hex').toUpperCase().replace(/^(.{4})(.{4})(.{6})(.{6})$/, '$1:$2:$3:$4');
      this.rateLimited++;
      return {
        status: 403,
        headers: { 'retry-after': String(Math.max(1, Math.ceil((freeAt - now) / 1000))), 'x-ratelimit-remaining': '4000', 'x-github-request-id': requestId },
        body: {
          message: `You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID ${requestId}.`,
          documentation_url: 'https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api#about-secondary-rate-limits',
          status: '403',
        },
      };
    }
    times.push(now);
    this.writes.set(inst, times);
    return null;
  }
}

function queryValueProblem(value: string, schema: Record<string, unknown>): string | null {
  const type = schema['type'];
  if (type === 'integer' && !/^-?\d+$/.test(value)) return 'is not an integer';
  if (type === 'integer') {
    const n = Number(value);
    if (typeof schema['minimum'] === 'number' && n < schema['minimum']) return `is less than the minimum of ${schema['minimum']}`;
    if (typeof schema['maximum'] === 'number' && n > schema['maximum']) return `is greater than the maximum of ${schema['maximum']}`;
  }
  if (type === 'boolean' && value !== 'true' && value !== 'false') return 'is not a boolean';
  if (Array.isArray(schema['enum']) && !schema['enum'].includes(value)) return `is not one of ${(schema['enum'] as unknown[]).join(', ')}`;
  return null;
}

function replyReason(r: GitHubReply): string {
  const b = r.body as { message?: string; errors?: { message?: string }[] } | string;
  if (typeof b === 'string') return b;
  const detail = b.errors?.map((e) => e.message).filter(Boolean).join('; ');
  return [b.message, detail].filter(Boolean).join(': ');
}

/** For nock reply functions and the HTTP fake: a request body as the contract wants it. */
export function parseBody(raw: unknown): unknown {
  if (raw === undefined || raw === null || raw === '') return undefined;
  if (typeof raw !== 'string') return raw;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
}

