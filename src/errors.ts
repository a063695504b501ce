import crypto from 'node:crypto';
import { redactSecrets } from './util/redact.js';

/**
 * Something the user must fix (or at least must be told about); file/line become a
 * check-run annotation, ref names the object it concerns.
 */
export interface Problem {
  message: string;
  file?: string;
  line?: number;
  /** The object it concerns, when there is one. */
  ref?: string;
}

/** Where in the repository a user-facing error points. */
export interface Blame {
  file?: string;
  line?: number;
  ref?: string;
}

/**
 * The one line between "the user's" and "ours". A UserError is reported where the user
 * looks (a failed check run, a CLI message) and never retried: the same input fails the
 * same way. Every other error is ours: logged (redacted) and retried by the queue.
 * Config, render and archive errors are UserErrors; so is a cluster the operator did not
 * configure, since the check run is where the repo's owner learns of it. A cluster that
 * cannot be reached right now is a TransientError: retried, then shown.
 */
export class UserError extends Error {
  readonly file?: string;
  readonly line?: number;
  readonly ref?: string;

  constructor(message: string, blame: Blame = {}) {
    super(message);
    this.name = 'UserError';
    if (blame.file !== undefined) this.file = blame.file;
    if (blame.line !== undefined) this.line = blame.line;
    if (blame.ref !== undefined) this.ref = blame.ref;
  }

  /** The problem as the user reads it; subclasses may word it for the report. */
  problem(): Problem {
    const p: Problem = { message: this.message };
    if (this.file) p.file = this.file;
    if (this.line) p.line = this.line;
    if (this.ref) p.ref = this.ref;
    return p;
  }
}

/** A failure the user must fix in the repo's manifests, charts or kustomizations. */
export class RenderError extends UserError {
  constructor(message: string, file?: string, line?: number) {
    super(message, { ...(file !== undefined ? { file } : {}), ...(line !== undefined ? { line } : {}) });
    this.name = 'RenderError';
  }
}

/**
 * The API server refused one request with an error Status (validation, admission, a
 * field-manager conflict, RBAC). About one object of a plan or an apply, that is the
 * object's verdict and the user's to fix; raised anywhere else (discovery, listing) it is
 * ours, like any other error.
 */
export class ServerVerdictError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ServerVerdictError';
  }
}

/**
 * A failure another attempt may well not meet: the API server timed out, reset the
 * connection, shed load (429) or failed (5xx), or another writer moved a record we hold a
 * version of. Neither the user's to fix nor a bug: the queue retries the job with backoff
 * and the check run says "retrying (n/N)". Its message names no insides (a cluster's name,
 * what to check), so a check run may show it once retries ran out.
 */
export class TransientError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TransientError';
  }
}

/** Whether another attempt may succeed: a TransientError, or the server's 429 or 5xx (after the client's own retries). */
export function isTransient(err: unknown): boolean {
  return err instanceof TransientError || (err instanceof ServerVerdictError && (err.status === 429 || err.status >= 500));
}

export function isUserError(err: unknown): err is UserError {
  return err instanceof UserError;
}

/** The user's problem for a user-facing error; anything else is ours and is rethrown. */
export function toProblem(err: unknown): Problem {
  if (err instanceof UserError) return err.problem();
  throw err;
}

/**
 * The verdict text of a request about one object, or a rethrow when the error is not the
 * server's verdict (the cluster went away, a bug): that is ours and retried.
 */
export function objectVerdict(err: unknown): ServerVerdictError {
  if (err instanceof ServerVerdictError) return err;
  throw err;
}

/**
 * The message of any thrown value, redacted: every error text that reaches a log, a check
 * run or a comment goes through here. Errors of node built-ins may come from another
 * realm (jest's VM), so this reads `message` rather than trusting instanceof Error.
 */
export function errorText(err: unknown): string {
  const m = (err as { message?: unknown } | null)?.message;
  return redactSecrets(typeof m === 'string' ? m : String(err));
}

/**
 * What a public check run or comment may say about a failure that ended a job. A user
 * error's text is for the user. Ours (a Redis host:port, a stack fragment, an API path)
 * is not: the reader gets only that it happened and an id, and `log` receives the id with
 * the detail, so an operator can find it (`grep <id>`) and nobody else learns the insides.
 */
export function publicFailure(err: unknown, log: (id: string, detail: string) => void): string {
  // A transient failure's text is the cluster's name or the API server's own verdict: no insides.
  if (err instanceof UserError || isTransient(err)) return errorText(err);
  const id = crypto.randomBytes(6).toString('hex');
  log(id, errorText(err));
  return `mergeops hit an internal error; the operator can find the details in its logs under id ${id}`;
}
