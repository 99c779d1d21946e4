/** The table tests take their seeds and PRNG from the shared test helpers. */
export { SeededRandom, testSeed } from '../helpers.js';
