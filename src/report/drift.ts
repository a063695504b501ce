import type { DriftEntry } from '../diff/drift.js';
import type { CheckOutput } from './check.js';
import { driftFields } from './markdown.js';

/** The drift watch's check run on an app's deployed commit: neutral, it reports, it does not block. */
export function formatDriftCheck(app: string, drift: DriftEntry[], healing: boolean): CheckOutput {
  return {
    conclusion: 'neutral',
    title: `Drift in ${app}: ${drift.length} object${drift.length > 1 ? 's differ' : ' differs'} from this commit${healing ? '; re-applying (selfHeal)' : ''}`,
    summary: drift.map((e) => `- \`${e.ref}\`: ${driftFields(e, 're-applying')}`).join('\n'),
    text: '',
    annotations: [],
  };
}
