/** SynthEmo: the project's embedded, seeded multimodal emotion corpus (see generate.ts). */
export { generateSynthEmo, MANIFEST_NAME, type SynthOptions, type SynthProgress, type SynthResult } from './generate';
export { CLASSES, PROMPT, type EmotionClass } from './classes';
export { planSample, assignSplits, classOf, DEFAULT_SHAPE, type SamplePlan, type SynthShape } from './sample';
export { renderFrame, faceBox, type Scene } from './frame';
export { expression } from './face';
export { Rng } from './rng';
