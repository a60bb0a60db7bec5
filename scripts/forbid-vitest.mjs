// `node --import ./scripts/forbid-vitest.mjs …`: makes `vitest` unresolvable in that
// process, as in an application that does not have it, so code that still imports it fails.
import { register } from 'node:module';

const hook = `
export async function resolve(specifier, context, next) {
  if (specifier === 'vitest' || specifier.startsWith('vitest/')) {
    throw Object.assign(new Error('Cannot find package vitest (forbidden in this process)'), {
      code: 'ERR_MODULE_NOT_FOUND',
    });
  }
  return next(specifier, context);
}`;
register(`data:text/javascript,${encodeURIComponent(hook)}`);
