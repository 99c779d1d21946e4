/** `require('shale')`: see require-esm.cts. */
import { requireEsm } from './require-esm.cjs';

export = requireEsm('shale', () => require('../index.js'));
