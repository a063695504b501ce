import { describe, expect, it } from '@jest/globals';
import { displayPath, leafPaths, ownsPath, unionFieldSets, valueAt, type FieldSet } from '../../src/managed-fields.js';

const set = (o: object) => o as FieldSet;

describe('managedFields field sets', () => {
  const fields = set({ 'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } }, 'f:spec': { 'f:ports': { 'k:{"port":80,"protocol":"TCP"}': { '.': {}, 'f:port': {} } }, 'f:finalizers': { 'v:"a"': {} }, 'f:args': { 'i:1': {} } } });

  it('lists leaves, skipping the "." self markers', () => {
    expect(leafPaths(fields).map(displayPath)).toEqual(['.metadata.labels.app', '.spec.ports[port=80,protocol=TCP].port', '.spec.finalizers[=a]', '.spec.args[1]']);
  });

  it('resolves list items by key, set members by value and indexes', () => {
    const obj = { metadata: { labels: { app: 'web' } }, spec: { ports: [{ port: 443, protocol: 'TCP' }, { port: 80, protocol: 'TCP' }], finalizers: ['b', 'a'], args: ['x', 'y'] } };
    expect(leafPaths(fields).map((p) => valueAt(obj, p))).toEqual(['web', 80, 'a', 'y']);
    expect(valueAt(obj, ['f:spec', 'f:ports', 'k:{"port":8080,"protocol":"TCP"}', 'f:port'])).toBeUndefined();
    expect(valueAt(obj, ['f:nope'])).toBeUndefined();
  });

  it('checks ownership and unions sets', () => {
    expect(ownsPath(fields, ['f:metadata', 'f:labels', 'f:app'])).toBe(true);
    expect(ownsPath(fields, ['f:metadata', 'f:labels', 'f:tier'])).toBe(false);
    const u = unionFieldSets(set({ 'f:data': { 'f:a': {} } }), set({ 'f:data': { 'f:b': {} }, 'f:metadata': {} }));
    expect(u).toEqual({ 'f:data': { 'f:a': {}, 'f:b': {} }, 'f:metadata': {} });
  });

  it('quotes keys that are not identifiers', () => {
    expect(displayPath(['f:metadata', 'f:annotations', 'f:mergeops.dev/repo'])).toBe('.metadata.annotations["mergeops.dev/repo"]');
  });
});
