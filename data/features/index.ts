/** Feature extraction for the Omni-Emotion encoders, and the feature cache (see each file). */
export { featureOptions, featureShapes, optionsKey, melFrames, audioSamples, DEFAULT_FACE_CROP, FEATURES_VERSION, PRESETS, type FeatureOptions, type FeatureOverrides, type FaceCropOptions, type PresetName } from './options';
export {
  SIGLIP_MEAN, SIGLIP_STD, IMAGENET_MEAN, IMAGENET_STD, resizeRgb, rgbToChw, siglipPixelValues, trackFaces, trackFromDetections, cropRegion, cutRegion, faceValues,
  centreBox, autoDetectorSize, iou, type Box, type BoxSource, type CropRegion, type Detection, type FaceDetector, type FaceTrack, type RgbFrames,
} from './preprocess';
export { tinyFaceDetector } from './detector';
export { extractFeatures, decodeMedia, computeFeatures, writeFeatures, featureTensors, padOrTrimAudio, FEATURE_FIELDS, type Features, type FeatureField, type FeatureMeta, type MediaSources, type ExtractContext } from './extract';
export { buildFeatureCache, FeatureCache, INDEX_NAME, type BuildOptions, type BuildResult, type CacheEntry, type CacheFailure, type CacheProgress, type CachedSample } from './cache';
