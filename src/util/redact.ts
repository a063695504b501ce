/**
 * Scrubs credentials from text headed for logs, check runs or comments: GitHub tokens,
 * bearer/basic auth headers, PEM blocks and URL userinfo. A safety net — code should not
 * put secrets in messages in the first place.
 */
const PATTERNS: [RegExp, string][] = [
  [/\b(gh[pousr]_|github_pat_)[A-Za-z0-9_]{10,}/g, '$1***'],
  [/\b(v1\.)[0-9a-f]{40}\b/g, '$1***'],
  [/(authorization["']?\s*[:=]\s*["']?)(bearer|basic|token)\s+(["']?)[^\s"',}]+\3/gi, '$1$2 ***'],
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
