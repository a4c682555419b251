import { fileURLToPath } from 'node:url';

/** Absolute path of the built `testkit` command, to run with `node` (e.g. inside a netns). */
export const testkitCli: string = fileURLToPath(new URL('./cli.js', import.meta.url));
