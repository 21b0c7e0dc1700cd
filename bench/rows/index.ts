/**
 * Every bench row, in the order they run. The compile row comes first: it times the first call
 * of a softmax, which must not have been compiled by another row yet.
 */
import type { Row } from '../types';
import { attentionRows } from './attention';
import { compileRows } from './compile';
import { convRows } from './conv';
import { matmulRows } from './matmul';
import { mlpRows } from './mlp';
import { normRows } from './norms';
import { presetRows } from './preset';
import { omniRows } from './omni';
import { whisperLayerRows } from './whisper-layer';

export const allRows = (): Row[] => [...compileRows(), ...matmulRows(), ...normRows(), ...attentionRows(), ...convRows(), ...whisperLayerRows(), ...mlpRows(), ...omniRows(), ...presetRows()];
