/**
 * Scrubs credentials from text headed for logs, check runs or comments: GitHub tokens,
 * bearer/basic auth headers, JWTs (Kubernetes service-account tokens), PEM blocks and URL
 * userinfo. A safety net — code should not put secrets in messages in the first place.
 */
const PATTERNS: [RegExp, string][] = [
  [/\b(gh[pousr]_|github_pat_)[A-Za-z0-9_]{10,}/g, '$1***'],
  [/\b(v1\.)[0-9a-f]{40}\b/g, '$1***'],
  [/(authorization["']?\s*[:=]\s*["']?)(bearer|basic|token)\s+(["']?)[^\s"',}]+\3/gi, '$1$2 ***'],
  // JWTs: Kubernetes service-account tokens (kubeconfig `token:`, projected volumes), GitHub
  // App JWTs, OIDC id tokens. A base64url JSON header always starts with "eyJ" ("{\"").
  [/\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g, '[jwt redacted]'],
  // A cut-off key (no END line) is still a key.
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)/g, '[private key redacted]'],
  // Any userinfo: user:pass@, :pass@ (Redis), token@ (git), even with a "/" in the password.
  [/([a-z][a-z0-9+.-]*:\/\/)[^\s/@]*(?::[^\s@]*)?@/gi, '$1***@'],
];

export function redactSecrets(text: string): string {
  let out = text;
  for (const [re, rep] of PATTERNS) out = out.replace(re, rep);
  return out;
}
