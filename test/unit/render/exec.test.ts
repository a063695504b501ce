import { describe, expect, it } from '@jest/globals';
import { DEFAULT_TOOL_LIMITS, runTool, ToolError } from '../../../src/render/exec.js';
import { rejection } from '../../support/expect-error.js';

describe('runTool', () => {
  it('a missing renderer says who must install what, not a developer command', async () => {
    const err = await rejection(runTool('/nonexistent/bin/kustomize', ['build', '.'], '/', DEFAULT_TOOL_LIMITS), ToolError);
    expect(err.message).toContain('kustomize is not installed where mergeops runs');
    expect(err.message).toContain('the operator');
    expect(err.message).toContain('MERGEOPS_KUSTOMIZE');
    expect(err.message).not.toContain('npm run');
  });
});
