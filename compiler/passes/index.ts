/** The pass pipeline: pure functions from graph to graph. */
import { flow } from 'fp-ts/function';
import type { Graph } from '../ir';
import { graphNodes } from '../ir';
import { cse } from './cse';
import { foldConstants } from './fold';
import { simplify } from './simplify';
import { lowerComposites } from './lower';
import { splitLongReductions } from './split-reductions';
import { splitOversized } from './split-oversized';
import { plainFlashWhereLseUnused } from './unused-lse';

export { cse, foldConstants, simplify, lowerComposites, splitLongReductions, splitOversized, plainFlashWhereLseUnused };

/** Dead code needs no pass of its own: a graph holds only what its outputs reach. */
export const optimize: (g: Graph) => Graph = flow((g: Graph) => lowerComposites(g, undefined, true), simplify, foldConstants, simplify, cse, plainFlashWhereLseUnused, splitLongReductions);

export function countNodes(g: Graph): number {
  return graphNodes(g).length;
}
