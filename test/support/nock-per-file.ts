import { afterAll } from '@jest/globals';
import nock from 'nock';

/**
 * nock patches Node's http on import, and every test file imports a nock of its own (jest
 * gives each file a fresh module registry, but Node's http module is one per worker). Left
 * active, the next file's nock wraps this one's: after N files a request runs through N
 * interceptors, each holding its file's whole module graph alive. A worker then outgrew a
 * 4 GB heap on the 200-app write-budget test late in a full run. Each file takes its nock
 * off on the way out, so the next starts from Node's own http.
 */
afterAll(() => {
  nock.cleanAll();
  nock.restore();
});
