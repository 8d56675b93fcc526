/**
 * The end-to-end suite proves the built artifact, so it refuses to run against a
 * dist/ that is missing or older than src/.
 */
import { distProblem } from '../helpers/dist.js';

export default function setup(): void {
  const problem = distProblem();
  if (problem) throw new Error(`the end-to-end tests run the built plugin, but ${problem}`);
}
