/** `require('shale/level')`: see require-esm.cts. */
import { requireEsm } from './require-esm.cjs';

export = requireEsm('shale/level', () => require('../level/index.js'));
