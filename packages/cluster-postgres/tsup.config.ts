import { packageBuild } from '../../tsup.preset.ts';

export default packageBuild({ index: 'src/index.ts' });
