// `node --import ./scripts/forbid-vitest.mjs …`: makes `vitest` unresolvable in that
// process, as in an application that does not have it, so code that still imports it fails.
// In-thread hooks (`module.registerHooks`, Node 22.15+) where Node has them; `module.register`,
// which Node 26 deprecates with a warning on stderr, only on older ones (22.0–22.14, and the
// machine's Node 20 when a test runs there).
import * as mod from 'node:module';

function forbidden(specifier) {
  return specifier === 'vitest' || specifier.startsWith('vitest/');
}
function refusal() {
  return Object.assign(new Error('Cannot find package vitest (forbidden in this process)'), {
    code: 'ERR_MODULE_NOT_FOUND',
  });
}

if (typeof mod.registerHooks === 'function') {
  mod.registerHooks({
    resolve(specifier, context, next) {
      if (forbidden(specifier)) throw refusal();
      return next(specifier, context);
    },
  });
} else {
  const hook = `
export async function resolve(specifier, context, next) {
  if (specifier === 'vitest' || specifier.startsWith('vitest/')) {
    throw Object.assign(new Error('Cannot find package vitest (forbidden in this process)'), {
      code: 'ERR_MODULE_NOT_FOUND',
    });
  }
  return next(specifier, context);
}`;
  mod.register(`data:text/javascript,${encodeURIComponent(hook)}`);
}
