/**
 * `require('shale')` (and `shale/level`, `shale/testing`): shale is an ES module,
 * which `require` can load on runtimes that support require(esm) — Node 20.19+,
 * 22.12+ and later, Bun, Deno. These CommonJS entry points load the same ES
 * module (the same instance `import` gets) where that works, and otherwise
 * fail with an error that says what to do, instead of ERR_REQUIRE_ESM.
 */

/** Whether this runtime's `require` loads ES modules without a flag. */
function requireLoadsEsm(): boolean {
  const features = process.features as { require_module?: boolean };
  if (features.require_module !== undefined) return features.require_module;
  return process.versions['bun'] !== undefined || process.versions['deno'] !== undefined;
}

/** Runs `load` (a `require` of the entry point's ES module) where require(esm) works. */
export function requireEsm(entryPoint: string, load: () => unknown): unknown {
  if (!requireLoadsEsm()) {
    const error = new Error(
      `${entryPoint} is an ES module, and require() of ES modules needs Node 20.19+, 22.12+ or 23+ ` +
        `(this is Node ${process.version}): use import ${JSON.stringify(entryPoint)} or await import(${JSON.stringify(entryPoint)}) instead`,
    ) as Error & { code: string };
    error.code = 'ERR_REQUIRE_ESM';
    throw error;
  }
  return load();
}
