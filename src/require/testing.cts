/** `require('shale/testing')`: see require-esm.cts. */
import { requireEsm } from './require-esm.cjs';

export = requireEsm('shale/testing', () => require('../testing/index.js'));
