import { ClusterUnreachableError, KubeApiError } from '../cluster/client.js';
import { KubeconfigError } from '../config/clusters.js';
import { RenderError, UserError, errorText } from '../errors.js';
import { ToolError } from '../render/exec.js';
import type { Problem } from '../report/types.js';
import { CliError } from './arguments.js';

/** What the CLI says about a failure: one line, naming what to do next. */
export function problemLine(p: Problem): string {
  const where = p.file ? ` (${p.file}${p.line ? `:${p.line}` : ''})` : '';
  return `${p.ref ? `${p.ref}: ` : ''}${oneLine(p.message)}${where}`;
}

export function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}

/** `where` names the cluster as the user chose it (context and kubeconfig). */
export function describeError(err: unknown, where = 'the cluster'): string {
  if (err instanceof CliError || err instanceof KubeconfigError) return err.message;
  if (err instanceof ClusterUnreachableError) {
    const cause = /is unreachable: (.*?)\. Check that/.exec(err.message)?.[1] ?? err.message;
    return `cannot reach the API server of ${where}: ${cause}; check that it is up and that --kubeconfig/--context (or KUBECONFIG) point at the right cluster`;
  }
  if (err instanceof KubeApiError) {
    if (err.status === 401) return `the API server of ${where} rejected the credentials (HTTP 401: ${oneLine(err.message)}); log in again or pick another --context`;
    if (err.status === 403) return `the credentials of ${where} are not allowed to do this (HTTP 403: ${oneLine(err.message)}); use credentials that may get, list and patch the app's objects`;
    return `the API server of ${where} answered HTTP ${err.status}: ${oneLine(err.message)}`;
  }
  if (err instanceof RenderError || err instanceof ToolError) return `${oneLine(err.message)}; fix it and run again`;
  if (err instanceof UserError) return `${oneLine(err.message)}; fix it and run again`;
  return `unexpected error: ${oneLine(errorText(err))} (set DEBUG=1 for a stack trace)`;
}
