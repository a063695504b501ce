import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { Ajv } from 'ajv';
import { CHART_VALUES_SCHEMA_FILE, chartClustersJsonSchema, loadClusterTargets } from '../../../src/config/clusters.js';

const file = path.resolve(CHART_VALUES_SCHEMA_FILE);

/** Where the JSON value starting at `start` ends (strings and their escapes skipped). */
function valueEnd(text: string, start: number): number {
  let depth = 0;
  for (let i = start; i < text.length; i++) {
    const ch = text[i];
    if (ch === '"') {
      for (i++; text[i] !== '"'; i++) if (text[i] === '\\') i++;
    } else if (ch === '{' || ch === '[') depth++;
    else if (ch === '}' || ch === ']') {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  throw new Error('unterminated JSON value');
}

/**
 * The schema file with its `properties.clusters` value replaced by the generated one, every
 * other byte kept: the rest of the file is written by hand, compactly.
 */
function withGeneratedClusters(text: string): string {
  const key = '\n    "clusters": ';
  const at = text.indexOf(key);
  if (at < 0) throw new Error(`${CHART_VALUES_SCHEMA_FILE} has no top-level "clusters" property`);
  const start = at + key.length;
  const value = JSON.stringify(chartClustersJsonSchema(), null, 2).replace(/\n/g, '\n    ');
  return text.slice(0, start) + value + text.slice(valueEnd(text, start));
}

const generated = withGeneratedClusters(fs.readFileSync(file, 'utf8'));

describe("the chart's values schema for clusters:", () => {
  it('is the one generated from the schema MERGEOPS_CLUSTERS is read with (npm run schema rewrites it)', () => {
    if (process.env['MERGEOPS_UPDATE_SCHEMA'] === '1') fs.writeFileSync(file, generated);
    expect(fs.readFileSync(file, 'utf8')).toBe(generated);
  });

  it('accepts every key the app reads and refuses a key the app refuses', () => {
    const ajv = new Ajv({ strict: false });
    const validate = ajv.compile(JSON.parse(generated) as object);
    const clusters = {
      default: {
        inCluster: true,
        inventoryNamespace: 'ops-inventory',
        grants: [{ repos: ['acme/*'], namespaces: ['shop-*'], clusterKinds: ['Namespace'], denyKinds: ['rbac.authorization.k8s.io/RoleBinding'], namespaceMetadata: true, branches: ['main', 'release/*'], commands: { rollback: 'maintain' } }],
      },
      dropped: null,
    };
    expect([validate({ clusters }), validate.errors]).toEqual([true, null]);
    // The app reads the same map (a dropped cluster aside, which Helm removes before rendering).
    const dir = fs.mkdtempSync(path.join(process.env['TMPDIR'] ?? '/tmp', 'mergeops-values-'));
    try {
      fs.writeFileSync(path.join(dir, 'clusters.json'), JSON.stringify({ clusters: { default: clusters.default } }));
      expect(loadClusterTargets(path.join(dir, 'clusters.json')).get('default')?.inventoryNamespace).toBe('ops-inventory');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    expect(validate({ clusters: { default: { inCluster: true, grant: [] } } })).toBe(false);
    expect(validate({ clusters: { default: { inCluster: true, grants: [{ repo: ['acme/*'] }] } } })).toBe(false);
    expect(validate({ clusters: null })).toBe(true);
  });
});
