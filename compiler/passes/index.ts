/** The pass pipeline: pure functions from graph to graph. */
import { flow } from 'fp-ts/function';
import type { Graph } from '../ir';
import { graphNodes } from '../ir';
import { cse } from './cse';
import { foldConstants } from './fold';
import { simplify } from './simplify';
import { lowerComposites } from './lower';

export { cse, foldConstants, simplify, lowerComposites };

/** Dead code needs no pass of its own: a graph holds only what its outputs reach. */
export const optimize: (g: Graph) => Graph = flow(lowerComposites, simplify, foldConstants, simplify, cse);

export function countNodes(g: Graph): number {
  return graphNodes(g).length;
}
