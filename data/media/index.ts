/** Media decoding for datasets: ffmpeg-backed frames and audio, WAV in TypeScript, and
 * per-item errors that a loader can skip. */
export { MediaError, safeDecode, type MediaErrorKind } from './errors';
export { probeMedia, type MediaInfo } from './probe';
export { decodeFrames, uniformIndices, type Frames, type FrameOptions } from './frames';
export { decodeAudio, type AudioOptions } from './audio';
export { readWav, type Wav, type WavFormat } from './wav';
export { mediaTools } from './tools';
