// @ambient/model — resource schemas and YAML loading (pure: no node: imports).

export { formatLoadError, type LoadError, type Loaded, loadYaml, objectRef } from './load.js';
export * from './schemas.js';
