import { packageBuild } from '../../tsup.preset.ts';

// shims: the CommonJS build reads the status page's files next to it, as the ESM one does.
export default packageBuild({ index: 'src/index.ts' }, { shims: true });
