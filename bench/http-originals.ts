// Node's HTTP client functions as they are before nock loads (bench/run.ts imports this
// first), so bench/harness.ts can take the API server's traffic back from nock.
import http from 'node:http';
import https from 'node:https';

export const originals = {
  httpRequest: http.request,
  httpGet: http.get,
  httpsRequest: https.request,
  httpsGet: https.get,
};
