import { beforeEach, describe, expect, it } from '@jest/globals';
import crypto from 'node:crypto';
import { GitHubContract, takeViolations, type GitHubReply, type GitHubRequest } from '../../support/github-contract.js';
import { assertWebhookPayload } from '../../support/webhook-schemas.js';
import { prPayload, sha } from '../../support/harness.js';
import { APP_ID, PRIVATE_KEY } from '../../support/github.js';

const API = 'https://api.github.com';
const REPO = `${API}/repos/acme/deploys`;
let clock = Date.parse('2026-12-02T01:00:00Z');
let contract: GitHubContract;
let token: string;

function jwt(claims: Record<string, unknown>, key = PRIVATE_KEY): string {
  const enc = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  const head = `${enc({ alg: 'RS256', typ: 'JWT' })}.${enc(claims)}`;
  return `${head}.${crypto.sign('sha256', Buffer.from(head), key).toString('base64url')}`;
}

function req(method: string, url: string, body?: unknown, auth: string | null = `token ${token}`): GitHubRequest {
  return { method, url, headers: auth ? { authorization: auth } : {}, body };
}

async function refusal(r: GitHubRequest): Promise<GitHubReply> {
  const reply = await contract.check(r);
  if (!reply) throw new Error(`GitHub would have accepted ${r.method} ${r.url}`);
  const v = takeViolations();
  expect(v).toHaveLength(1);
  expect(v[0]?.status).toBe(reply.status);
  return reply;
}

async function accepted(r: GitHubRequest): Promise<void> {
  const reply = await contract.check(r);
  expect(reply).toBeNull();
  expect(takeViolations()).toEqual([]);
}

const check = { name: 'mergeops / preview', head_sha: sha('x'), status: 'in_progress' };
const annotation = (i: number): Record<string, unknown> => ({ path: 'deploy/a.yaml', start_line: i + 1, end_line: i + 1, annotation_level: 'failure', message: `problem ${i}` });

beforeEach(() => {
  contract = new GitHubContract({ appId: APP_ID, privateKey: PRIVATE_KEY, now: () => clock });
  token = contract.issueToken(424242).token;
  takeViolations();
});

describe('GitHub contract: the OpenAPI description', () => {
  it('accepts what GitHub accepts', async () => {
    await accepted(req('POST', `${REPO}/check-runs`, check));
    await accepted(req('POST', `${REPO}/issues/7/comments`, { body: 'hello' }));
    await accepted(req('GET', `${REPO}/pulls?head=acme:mergeops/bump/shop&state=open&per_page=20`));
    await accepted(req('GET', `${REPO}/contents/.github/mergeops.yml?ref=main`));
    await accepted(req('GET', `${REPO}/git/ref/heads%2Fmain`));
  });

  it('answers 404 for a path GitHub has no operation for, and for a method the path does not take', async () => {
    expect((await refusal(req('GET', `${REPO}/check-runz`))).status).toBe(404);
    expect((await refusal(req('PUT', `${REPO}/check-runs`, check))).status).toBe(404);
  });

  it('refuses a body that does not match the request schema, in GitHub\'s "Invalid request" shape', async () => {
    const r = await refusal(req('POST', `${REPO}/check-runs`, { ...check, conclusion: 'bogus' }));
    expect(r.status).toBe(422);
    expect(r.body).toMatchObject({ message: expect.stringMatching(/^Invalid request\.\n\nFor 'properties\/conclusion', "bogus" is not a member of enum\.$/), documentation_url: expect.stringContaining('docs.github.com') });
    expect((await refusal(req('POST', `${REPO}/check-runs`, { head_sha: sha('x') }))).body).toMatchObject({ message: expect.stringContaining('"name" wasn\'t supplied') });
    expect((await refusal(req('POST', `${REPO}/issues/7/comments`, { body: 42 }))).status).toBe(422);
  });

  it('refuses query parameters the operation does not declare, or values it does not allow', async () => {
    expect((await refusal(req('GET', `${REPO}/pulls?state=opened`))).body).toMatchObject({ message: expect.stringContaining("'query/state'") });
    expect((await refusal(req('GET', `${REPO}/pulls?branch=main`))).body).toMatchObject({ message: expect.stringContaining('"branch" is not a permitted query parameter') });
    expect((await refusal(req('GET', `${REPO}/pulls?per_page=lots`))).status).toBe(422);
  });
});

describe('GitHub contract: limits documented only in prose', () => {
  it('a 70,000-character comment: 422 "body is too long (maximum is 65536 characters)"; 65,536 is fine', async () => {
    const r = await refusal(req('POST', `${REPO}/issues/7/comments`, { body: 'x'.repeat(70_000) }));
    expect(r).toMatchObject({ status: 422, body: { message: 'Validation Failed', errors: [{ resource: 'IssueComment', field: 'body', code: 'custom', message: 'body is too long (maximum is 65536 characters)' }] } });
    expect((await refusal(req('PATCH', `${REPO}/issues/comments/9001`, { body: 'x'.repeat(65_537) }))).status).toBe(422);
    await accepted(req('POST', `${REPO}/issues/7/comments`, { body: 'x'.repeat(65_536) }));
  });

  it('a pull request body over 65,536 characters', async () => {
    expect((await refusal(req('POST', `${REPO}/pulls`, { title: 't', head: 'b', base: 'main', body: 'x'.repeat(65_537) }))).status).toBe(422);
  });

  it('51 annotations in one request: 422; 50 are fine', async () => {
    const output = (n: number): Record<string, unknown> => ({ title: 't', summary: 's', annotations: Array.from({ length: n }, (_, i) => annotation(i)) });
    expect((await refusal(req('POST', `${REPO}/check-runs`, { ...check, output: output(51) }))).status).toBe(422);
    await accepted(req('POST', `${REPO}/check-runs`, { ...check, output: output(50) }));
  });

  it('an annotation title over 255 characters, and a message over 64 KB', async () => {
    const withAnn = (a: Record<string, unknown>): Record<string, unknown> => ({ ...check, output: { title: 't', summary: 's', annotations: [a] } });
    expect((await refusal(req('POST', `${REPO}/check-runs`, withAnn({ ...annotation(0), title: 'x'.repeat(256) })))).body).toMatchObject({ errors: [{ message: 'title is too long (maximum is 255 characters)' }] });
    await accepted(req('POST', `${REPO}/check-runs`, withAnn({ ...annotation(0), title: 'x'.repeat(255) })));
    expect((await refusal(req('POST', `${REPO}/check-runs`, withAnn({ ...annotation(0), message: 'é'.repeat(33_000) })))).status).toBe(422);
  });

  it('check output summary or text over 65,535 characters', async () => {
    expect((await refusal(req('POST', `${REPO}/check-runs`, { ...check, output: { title: 't', summary: 's', text: 'x'.repeat(65_536) } }))).status).toBe(422);
    expect((await refusal(req('POST', `${REPO}/check-runs`, { ...check, output: { title: 't', summary: 'x'.repeat(65_536) } }))).status).toBe(422);
  });

  it('a completed check run needs a conclusion', async () => {
    contract.checkRunCreated(1001);
    const r = await refusal(req('PATCH', `${REPO}/check-runs/1001`, { status: 'completed', output: { title: 't', summary: 's' } }));
    expect(r).toMatchObject({ status: 422, body: { message: expect.stringContaining('"conclusion" wasn\'t supplied') } });
    expect((await refusal(req('POST', `${REPO}/check-runs`, { ...check, status: 'completed' }))).status).toBe(422);
    await accepted(req('PATCH', `${REPO}/check-runs/1001`, { status: 'completed', conclusion: 'success' }));
  });

  it('PATCH of a check run id GitHub never created: 404', async () => {
    contract.checkRunCreated(1001);
    expect((await refusal(req('PATCH', `${REPO}/check-runs/1002`, { status: 'in_progress' }))).status).toBe(404);
  });

  it('secondary rate limit: the 81st content-creating request within a minute gets 403 with retry-after; reads do not count', async () => {
    for (let i = 0; i < 80; i++) await accepted(req('POST', `${REPO}/issues/${i + 1}/comments`, { body: 'hi' }));
    await accepted(req('GET', `${REPO}/issues/1/comments`));
    const r = await refusal(req('POST', `${REPO}/issues/99/comments`, { body: 'hi' }));
    expect(r.status).toBe(403);
    expect(r.headers?.['retry-after']).toBe('60');
    expect(r.body).toMatchObject({ message: expect.stringContaining('secondary rate limit') });
    // Another installation has its own budget; this one's frees up a minute later.
    const other = contract.issueToken(5).token;
    expect(await contract.check(req('POST', `${REPO}/issues/1/comments`, { body: 'hi' }, `token ${other}`))).toBeNull();
    clock += 61_000;
    await accepted(req('POST', `${REPO}/issues/99/comments`, { body: 'hi' }));
  });
});

describe('GitHub contract: credentials', () => {
  it('an installation endpoint needs a token the stand-in issued, not expired', async () => {
    expect((await refusal(req('POST', `${REPO}/check-runs`, check, null))).body).toMatchObject({ message: 'Bad credentials' });
    expect((await refusal(req('POST', `${REPO}/check-runs`, check, 'token ghs_madeup000000000000000000000000000'))).status).toBe(401);
    clock += 3601_000;
    expect((await refusal(req('POST', `${REPO}/check-runs`, check))).status).toBe(401);
  });

  it('/app endpoints need an RS256 JWT of this App, signed with its key and expiring within 10 minutes', async () => {
    const url = `${API}/app/installations/424242/access_tokens`;
    const now = Math.floor(clock / 1000);
    await accepted(req('POST', url, undefined, `Bearer ${jwt({ iat: now - 30, exp: now + 570, iss: APP_ID })}`));
    expect((await refusal(req('POST', url, undefined, `token ${token}`))).status).toBe(401);
    const otherKey = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
    expect((await refusal(req('POST', url, undefined, `Bearer ${jwt({ iat: now, exp: now + 500, iss: APP_ID }, otherKey)}`))).status).toBe(401);
    expect((await refusal(req('POST', url, undefined, `Bearer ${jwt({ iat: now, exp: now + 3600, iss: APP_ID })}`))).status).toBe(401);
    expect((await refusal(req('POST', url, undefined, `Bearer ${jwt({ iat: now, exp: now + 500, iss: 999 })}`))).status).toBe(401);
  });

  it('the download host serves only its own short-lived links', async () => {
    const path = '/acme/deploys/legacy.tar.gz/abc';
    const t = contract.issueDownload(path);
    await accepted(req('GET', `https://codeload.github.com${path}?token=${t}`, undefined, null));
    expect((await refusal(req('GET', `https://codeload.github.com${path}?token=nope`, undefined, null))).status).toBe(404);
    clock += 6 * 60_000;
    expect((await refusal(req('GET', `https://codeload.github.com${path}?token=${t}`, undefined, null))).status).toBe(404);
  });
});

describe('GitHub contract: GraphQL', () => {
  const mutation = 'mutation($id: ID!) { enablePullRequestAutoMerge(input: { pullRequestId: $id, mergeMethod: SQUASH }) { clientMutationId } }';

  it('accepts a document valid against GitHub\'s schema with matching variables', async () => {
    await accepted(req('POST', `${API}/graphql`, { query: mutation, variables: { id: 'PR_1' } }));
  });

  it('answers a document GitHub would not run with 200 and `errors`', async () => {
    const bad = await refusal(req('POST', `${API}/graphql`, { query: mutation.replace('SQUASH', 'SQUISH'), variables: { id: 'PR_1' } }));
    expect(bad.status).toBe(200);
    expect((bad.body as { errors: { message: string }[] }).errors[0]?.message).toMatch(/SQUISH/);
    expect(((await refusal(req('POST', `${API}/graphql`, { query: '{ viewer { loginx } }' }))).body as { errors: unknown[] }).errors).toHaveLength(1);
    expect((await refusal(req('POST', `${API}/graphql`, { query: mutation, variables: {} }))).status).toBe(200);
    expect((await refusal(req('POST', `${API}/graphql`, { query: 'mutation {' }))).status).toBe(200);
  });
});

describe('webhook payloads against @octokit/webhooks-schemas', () => {
  it('accepts the payloads the tests build, refuses a broken one naming the field', () => {
    const p = prPayload('opened', 7, sha('h'), sha('b'));
    expect(() => assertWebhookPayload('pull_request', p)).not.toThrow();
    const broken = structuredClone(p) as Record<string, any>;
    delete broken['pull_request']['head'];
    expect(() => assertWebhookPayload('pull_request', broken)).toThrow(/pull_request\$opened/);
    expect(() => assertWebhookPayload('pull_request', { ...p, number: 'seven' })).toThrow(/number/);
    expect(() => assertWebhookPayload('no_such_event', {})).toThrow(/not one GitHub sends/);
  });
});
