/**
 * Scrubs credentials from text headed for logs, check runs or comments: GitHub tokens,
 * bearer/basic auth headers, PEM blocks and URL userinfo. A safety net — code should not
 * put secrets in messages in the first place.
 */
const PATTERNS: [RegExp, string][] = [
  [/\b(gh[pousr]_|github_pat_)[A-Za-z0-9_]{10,}/g, '$1***'],
  [/\b(v1\.)[0-9a-f]{40}\b/g, '$1***'],
  [/(authorization["']?\s*[:=]\s*["']?)(bearer|basic|token)\s+[^\s"',}]+/gi, '$1$2 ***'],
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g, '[private key redacted]'],
  [/(\/\/)[^/\s:@]+:[^/\s@]+@/g, '$1***:***@'],
];

export function redactSecrets(text: string): string {
  let out = text;
  for (const [re, rep] of PATTERNS) out = out.replace(re, rep);
  return out;
}
