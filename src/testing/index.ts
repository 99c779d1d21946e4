/**
 * The test kit of `shale/testing`: a seeded random stream, a crash-simulating
 * in-memory file system and a fault-injecting wrapper. Users' own crash-recovery
 * tests build on these; shale's tests do too.
 */
export { Rng, seedFromEnv } from './rng.js';
export { CrashableFS } from './crashable-fs.js';
export type { CrashMode, CrashableFileInfo, FileSystemOp } from './crashable-fs.js';
export { FaultFS } from './fault-fs.js';
export type { FaultError, FaultOp, FaultRule } from './fault-fs.js';
