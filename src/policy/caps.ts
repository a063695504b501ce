import type { RepoCaps } from '../config/caps.js';
import type { App } from '../config/repo-config.js';
import { REPO_CONFIG_PATH } from '../config/repo-config.js';
import type { Problem } from '../errors.js';

/**
 * The config-level caps (how many apps, how long a health wait), checked before anything
 * renders or touches the cluster. Each problem names the cap, its setting and what to do.
 */
export function checkRepoCaps(apps: App[], caps: RepoCaps): Problem[] {
  const out: Problem[] = [];
  if (apps.length > caps.maxApps) {
    out.push({
      message: `${REPO_CONFIG_PATH} lists ${apps.length} apps; the operator allows at most ${caps.maxApps} per repository (MERGEOPS_MAX_APPS_PER_REPO): merge apps or split the repository`,
      file: REPO_CONFIG_PATH,
      line: 1,
    });
  }
  for (const app of apps) {
    if (app.waitMs > caps.maxWaitMs) {
      out.push({
        message: `app ${app.name}: wait ${formatMs(app.waitMs)} is longer than the ${formatMs(caps.maxWaitMs)} the operator allows (MERGEOPS_MAX_WAIT_MS); shorten wait:`,
        file: REPO_CONFIG_PATH,
        line: 1,
      });
    }
  }
  return out;
}

function formatMs(ms: number): string {
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = s % 60;
  return [h ? `${h}h` : '', m ? `${m}m` : '', rest || (!h && !m) ? `${rest}s` : ''].join('');
}
