/** The training data path: dataset (manifest + feature cache + tokenizer) and the batch loader. */
export { createDataset, signatureOf, FIELDS_FOR, type Dataset, type DatasetItem, type DatasetOptions, type SkippedItem } from './dataset';
export { createLoader, planEpoch, type Batch, type Loader, type LoaderOptions, type Position } from './loader';
