import { packageBuild } from '../../tsup.preset.ts';

export default [
  packageBuild({ index: 'src/index.ts' }),
  packageBuild({ bin: 'src/bin.ts' }, { format: ['esm'], dts: false, clean: false }),
];
