/** A Kubernetes object as JSON; only the fields every object has are typed. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [field: string]: unknown;
}

/** Where an object came from in the checkout: path relative to the repo root, 1-based line. */
export interface SourceRef {
  file: string;
  line: number;
}

export interface RenderedObject {
  object: KubeObject;
  source: SourceRef;
}

/** A failure the user must fix in the repo; file/line become a check-run annotation. */
export class RenderError extends Error {
  constructor(
    message: string,
    readonly file?: string,
    readonly line?: number,
  ) {
    super(message);
    this.name = 'RenderError';
  }
}

/** Group + kind + namespace + name: the same object whichever version names it. */
export function identity(o: Pick<KubeObject, 'apiVersion' | 'kind' | 'metadata'>): string {
  const group = o.apiVersion.includes('/') ? o.apiVersion.split('/')[0] : '';
  return `${group}/${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name ?? ''}`;
}

export function objectRef(o: Pick<KubeObject, 'apiVersion' | 'kind' | 'metadata'>): string {
  const ns = o.metadata.namespace ? `${o.metadata.namespace}/` : '';
  return `${o.apiVersion} ${o.kind} ${ns}${o.metadata.name ?? '<unnamed>'}`;
}
