import { describe, expect, it } from '@jest/globals';
import { redactSecrets } from '../../../src/util/redact.js';

const GHS = 'ghs_16C7e42F292c6912E7710c838347Ae178B4a';
const GHP = 'ghp_abcdefghijklmnopqrstuvwxyzABCDEF0123';
const GHO = 'gho_16C7e42F292c6912E7710c838347Ae178B4a';
const GHU = 'ghu_16C7e42F292c6912E7710c838347Ae178B4a';
const GHR = 'ghr_1B4a2e77838347a7E420ce178F2E7c6912E169246c34E1ccbF66C46812d16D5B1A9Dc86A1498';
const PAT = 'github_pat_11ABCDEFG0aBcDeFgHiJkL_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV';
const V1 = 'v1.0123456789abcdef0123456789abcdef01234567';

describe('redactSecrets: GitHub tokens', () => {
  it.each([
    ['ghs_', GHS],
    ['ghp_', GHP],
    ['gho_', GHO],
    ['ghu_', GHU],
    ['ghr_', GHR],
    ['github_pat_', PAT],
  ])('scrubs %s tokens, keeping the prefix', (prefix, token) => {
    const out = redactSecrets(`request failed with token ${token}, retrying`);
    expect(out).toBe(`request failed with token ${prefix}***, retrying`);
    expect(out).not.toContain(token.slice(prefix.length));
  });

  it('scrubs legacy v1 installation tokens', () => {
    expect(redactSecrets(`token ${V1} expired`)).toBe('token v1.*** expired');
  });

  it('scrubs several tokens in one text, including inside JSON', () => {
    const out = redactSecrets(JSON.stringify({ token: GHS, other: [GHP], nested: { pat: PAT } }));
    for (const t of [GHS, GHP, PAT]) expect(out).not.toContain(t);
    expect(JSON.parse(out)).toEqual({ token: 'ghs_***', other: ['ghp_***'], nested: { pat: 'github_pat_***' } });
  });

  it('leaves short look-alikes and ordinary text alone', () => {
    const text = 'ghs_short is not a token; ghost_writer, the_ghp_x and v1.2.3 are fine';
    expect(redactSecrets(text)).toBe(text);
  });
});

describe('redactSecrets: Authorization headers', () => {
  it.each([
    ['Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOjF9.c2lnbmF0dXJl', 'Authorization: Bearer ***'],
    ['authorization: token abcdef0123456789', 'authorization: token ***'],
    ['Authorization: Basic dXNlcjpwYXNzd29yZA==', 'Authorization: Basic ***'],
    ['AUTHORIZATION=bearer s3cr3t-value', 'AUTHORIZATION=bearer ***'],
    ['Proxy-Authorization: Basic Zm9vOmJhcg==', 'Proxy-Authorization: Basic ***'],
  ])('scrubs %p', (input, expected) => {
    expect(redactSecrets(input)).toBe(expected);
  });

  it('scrubs a header inside a JSON dump of request options', () => {
    const text = JSON.stringify({ headers: { authorization: 'Bearer abc.def-ghi_jkl', accept: 'application/json' } });
    const out = redactSecrets(text);
    expect(out).not.toContain('abc.def-ghi_jkl');
    expect(JSON.parse(out)).toEqual({ headers: { authorization: 'Bearer ***', accept: 'application/json' } });
  });

  it('scrubs a token-scheme header that carries a GitHub token', () => {
    const out = redactSecrets(`authorization: token ${GHS}`);
    expect(out).not.toContain(GHS.slice(4));
    expect(out).toMatch(/^authorization: token /);
  });
});

describe('redactSecrets: PEM private keys', () => {
  const body = 'MIIEowIBAAKCAQEA1234567890abcdefghijklmnopqrstuvwxyz\nQWERTYUIOPASDFGHJKLZXCVBNM0987654321+/==';

  it.each(['RSA PRIVATE KEY', 'PRIVATE KEY', 'EC PRIVATE KEY', 'OPENSSH PRIVATE KEY', 'ENCRYPTED PRIVATE KEY'])('scrubs a %s block', (label) => {
    const pem = `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----`;
    const out = redactSecrets(`could not load key: ${pem}\nnext line`);
    expect(out).toBe('could not load key: [private key redacted]\nnext line');
  });

  it('scrubs a key whose newlines were escaped (JSON-encoded)', () => {
    const pem = `-----BEGIN RSA PRIVATE KEY-----\n${body}\n-----END RSA PRIVATE KEY-----`;
    const out = redactSecrets(JSON.stringify({ privateKey: pem }));
    expect(out).not.toContain('MIIEowIBAAKCAQEA');
    expect(out).toContain('[private key redacted]');
  });

  it('scrubs two keys separately, keeping the text between them', () => {
    const pem = (n: number): string => `-----BEGIN PRIVATE KEY-----\nKEY${n}${body}\n-----END PRIVATE KEY-----`;
    expect(redactSecrets(`${pem(1)} and ${pem(2)}`)).toBe('[private key redacted] and [private key redacted]');
  });

  it('leaves public certificates alone', () => {
    const cert = '-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----';
    expect(redactSecrets(cert)).toBe(cert);
  });
});

describe('redactSecrets: URL userinfo', () => {
  it.each([
    ['https://x-access-token:s3cr3tValue@github.com/acme/deploys.git', 'https://***@github.com/acme/deploys.git'],
    ['clone of https://user:p4ss@example.com/repo failed', 'clone of https://***@example.com/repo failed'],
    ['redis://default:hunter2@redis.internal:6379/0', 'redis://***@redis.internal:6379/0'],
  ])('scrubs %p', (input, expected) => {
    expect(redactSecrets(input)).toBe(expected);
  });

  it('scrubs a GitHub token used as a URL password', () => {
    const out = redactSecrets(`https://x-access-token:${GHS}@github.com/acme/deploys.git`);
    expect(out).not.toContain(GHS.slice(4));
    expect(out).toContain('@github.com/acme/deploys.git');
  });

  it('leaves URLs without credentials alone', () => {
    const text = 'see https://github.com/acme/deploys/pull/1 and http://localhost:8080/path?a=b:c';
    expect(redactSecrets(text)).toBe(text);
  });
});

describe('redactSecrets: general', () => {
  it('returns ordinary text unchanged', () => {
    const text = 'apps[0].wait: expected a duration like "300s", got string "soon"';
    expect(redactSecrets(text)).toBe(text);
    expect(redactSecrets('')).toBe('');
  });

  it('is idempotent', () => {
    const text = `Authorization: Bearer ${GHS} https://u:p@h/x -----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----`;
    const once = redactSecrets(text);
    expect(redactSecrets(once)).toBe(once);
  });
});

describe('redactSecrets: regressions', () => {
  it.each([
    ['redis://:hunter2@redis:6379', 'redis://***@redis:6379'],
    ['https://s3cr3tT0kenValue@example.com/x.git', 'https://***@example.com/x.git'],
    ['rediss://default:pa/ss@h:1', 'rediss://***@h:1'],
    ['connect to rediss://default:pa/ss@h:1 failed', 'connect to rediss://***@h:1 failed'],
  ])('scrubs URL userinfo without a user or with a "/" in the password: %p', (input, expected) => {
    const out = redactSecrets(input);
    expect(out).toBe(expected);
    for (const secret of ['hunter2', 's3cr3tT0kenValue', 'pa/ss', 'ss@']) expect(out).not.toContain(secret);
  });

  it('scrubs a PEM private key that has no END line, to the end of the text', () => {
    const text = 'could not load key: -----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA1234567890abcdef\nQWERTYUIOPASDFGH';
    const out = redactSecrets(text);
    expect(out).toBe('could not load key: [private key redacted]');
    expect(out).not.toContain('MIIEowIBAAKCAQEA');
  });

  it.each([
    ['Authorization: Bearer "abc"', 'Authorization: Bearer ***'],
    ["Authorization: Bearer 'abc'", 'Authorization: Bearer ***'],
    ['authorization: token "ghs_notquiteatoken"', 'authorization: token ***'],
  ])('scrubs a quoted header value %p', (input, expected) => {
    const out = redactSecrets(input);
    expect(out).toBe(expected);
    expect(out).not.toMatch(/abc|notquite/);
  });

  it('keeps a JSON authorization field valid JSON', () => {
    const out = redactSecrets('{"authorization":"Bearer abc.def"}');
    expect(out).not.toContain('abc.def');
    expect(JSON.parse(out)).toEqual({ authorization: 'Bearer ***' });
  });

  it.each(['https://host/path@v1', 'https://registry.npmjs.org/@types/node', 'see https://github.com/acme/x/tree/main@{1}'])(
    'leaves an "@" after the host alone: %p',
    (text) => {
      expect(redactSecrets(text)).toBe(text);
    },
  );

  it('is idempotent on the new cases', () => {
    for (const text of ['redis://:hunter2@redis:6379', 'rediss://default:pa/ss@h:1', 'Authorization: Bearer "abc"', '-----BEGIN PRIVATE KEY-----\nabc']) {
      const once = redactSecrets(text);
      expect(redactSecrets(once)).toBe(once);
    }
  });
});

describe('redactSecrets: JWTs (Kubernetes service-account tokens)', () => {
  const b64url = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  // The shape the kubelet projects into /var/run/secrets/kubernetes.io/serviceaccount/token.
  const SA_TOKEN = [
    b64url({ alg: 'RS256', kid: 'Jb3TQ2Zx9sbT0sG7k1xQ2Pq3hWb8n0sYh7f8C1f4m2s' }),
    b64url({ aud: ['https://kubernetes.default.svc'], exp: 1893456000, iss: 'https://kubernetes.default.svc', 'kubernetes.io': { namespace: 'mergeops', serviceaccount: { name: 'mergeops' } }, sub: 'system:serviceaccount:mergeops:mergeops' }),
    Buffer.from('x'.repeat(256)).toString('base64url').replace(/x/g, 'Q'),
  ].join('.');

  it('scrubs a service-account token wherever it appears: kubeconfig YAML, an error, JSON', () => {
    for (const text of [`users:\n- name: sa\n  user:\n    token: ${SA_TOKEN}\n`, `Unauthorized (token ${SA_TOKEN} expired)`, JSON.stringify({ token: SA_TOKEN })]) {
      const out = redactSecrets(text);
      expect(out).not.toContain(SA_TOKEN.split('.')[1]);
      expect(out).not.toContain(SA_TOKEN.split('.')[2]);
      expect(out).toContain('[jwt redacted]');
    }
    expect(JSON.parse(redactSecrets(JSON.stringify({ token: SA_TOKEN })))).toEqual({ token: '[jwt redacted]' });
  });

  it('scrubs it as a bearer header too, and is idempotent', () => {
    const once = redactSecrets(`Authorization: Bearer ${SA_TOKEN}`);
    expect(once).toBe('Authorization: Bearer ***');
    expect(redactSecrets(redactSecrets(`token ${SA_TOKEN}`))).toBe(redactSecrets(`token ${SA_TOKEN}`));
  });

  it('leaves dotted words and short base64 alone', () => {
    const text = 'eyJhbGciOi is a prefix, a.b.c is a path, eyJ.x.y too';
    expect(redactSecrets(text)).toBe(text);
  });
});
